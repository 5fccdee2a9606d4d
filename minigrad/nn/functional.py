"""Functional forms of the layers (`import minigrad.nn.functional as F`), named like torch's.

These check their arguments (so a mistake names the op and the shapes involved) and
then call the differentiable primitives in `minigrad.ops`.
"""
import numpy as np

from .. import ops
from ..ops import conv as _conv
from ..ops import loss as _loss
from ..ops import pool as _pool
from ..ops.elementwise import _xp
from ..tensor import Tensor

relu, leaky_relu, gelu, sigmoid, tanh = ops.relu, ops.leaky_relu, ops.gelu, ops.sigmoid, ops.tanh
softmax, log_softmax, softplus, pad = ops.softmax, ops.log_softmax, ops.softplus, ops.pad


def _pair(v, name, op):
    if isinstance(v, (int, np.integer)):
        return (int(v), int(v))
    v = tuple(int(a) for a in v)
    if len(v) != 2:
        raise ValueError(f"{op}: {name} must be an int or a pair, got {v}")
    return v


def linear(input, weight, bias=None):
    """input: (*, in_features), weight: (out_features, in_features), bias: (out_features,)."""
    if input.shape[-1] != weight.shape[-1]:
        raise ValueError(f"linear: input of shape {input.shape} has {input.shape[-1]} features but weight "
                         f"of shape {weight.shape} expects {weight.shape[-1]}")
    y = input @ weight.T
    return y if bias is None else y + bias


def _batched(x, op, dims=4):
    if x.ndim == dims - 1:
        return x.unsqueeze(0), True
    if x.ndim != dims:
        raise ValueError(f"{op}: expected a {dims}-D (batched) or {dims - 1}-D input, got shape {x.shape}")
    return x, False


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """input: (N, C, H, W), weight: (O, C // groups, KH, KW), bias: (O,) -> (N, O, OH, OW)."""
    x, unbatched = _batched(input, "conv2d")
    if weight.ndim != 4:
        raise ValueError(f"conv2d: weight must be 4-D (out, in/groups, kh, kw), got shape {weight.shape}")
    stride, dilation = _pair(stride, "stride", "conv2d"), _pair(dilation, "dilation", "conv2d")
    o, cg, kh, kw = weight.shape
    if x.shape[1] != cg * groups or o % groups:
        raise ValueError(f"conv2d: input of shape {x.shape} has {x.shape[1]} channels but weight of shape "
                         f"{weight.shape} with groups={groups} expects {cg * groups} (and out channels divisible "
                         f"by groups)")
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0, 0)
        elif padding == "same":
            if stride != (1, 1):
                raise ValueError("conv2d: padding='same' needs stride 1")
            total = (dilation[0] * (kh - 1), dilation[1] * (kw - 1))
            if total[0] % 2 or total[1] % 2:  # odd total: the extra row/column goes after, like torch
                x = ops.pad(x, (total[1] // 2, total[1] - total[1] // 2, total[0] // 2, total[0] - total[0] // 2))
                padding = (0, 0)
            else:
                padding = (total[0] // 2, total[1] // 2)
        else:
            raise ValueError(f"conv2d: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
    padding = _pair(padding, "padding", "conv2d")
    for i, (n, k) in enumerate(((x.shape[2], kh), (x.shape[3], kw))):
        if n + 2 * padding[i] < dilation[i] * (k - 1) + 1:
            raise ValueError(f"conv2d: kernel {weight.shape[2:]} (dilation {dilation}) is larger than the padded "
                             f"input {x.shape[2:]} (padding {padding})")
    if x.dtype != weight.dtype:
        raise TypeError(f"conv2d: input is {x.dtype} but weight is {weight.dtype}")
    y = _conv.Conv2d(stride, padding, dilation, groups)(x, weight)
    if bias is not None:
        y = y + bias.reshape(1, -1, 1, 1)
    return y.squeeze(0) if unbatched else y


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """input: (N, C, L), weight: (O, C // groups, K) -> (N, O, OL); a conv2d over a height of 1."""
    x, unbatched = _batched(input, "conv1d", dims=3)
    if isinstance(padding, (tuple, list)):
        padding = padding[0]
    pad2 = padding if isinstance(padding, str) else (0, int(padding))
    first = lambda v: v[0] if isinstance(v, (tuple, list)) else v  # noqa: E731
    y = conv2d(x.unsqueeze(2), weight.unsqueeze(2), bias, (1, first(stride)), pad2, (1, first(dilation)), groups)
    y = y.squeeze(2)
    return y.squeeze(0) if unbatched else y


def _pool_args(op, x, kernel_size, stride, padding, ceil_mode):
    if ceil_mode:
        raise NotImplementedError(f"{op}: ceil_mode=True is not supported")
    k = _pair(kernel_size, "kernel_size", op)
    s = k if stride is None or stride == [] else _pair(stride, "stride", op)
    p = _pair(padding, "padding", op)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"{op}: padding {p} must be at most half the kernel size {k}")
    return k, s, p


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """input: (N, C, H, W) -> (N, C, OH, OW), the largest value of every window."""
    x, unbatched = _batched(input, "max_pool2d")
    k, s, p = _pool_args("max_pool2d", x, kernel_size, stride, padding, ceil_mode)
    d = _pair(dilation, "dilation", "max_pool2d")
    if x.shape[2] + 2 * p[0] < d[0] * (k[0] - 1) + 1 or x.shape[3] + 2 * p[1] < d[1] * (k[1] - 1) + 1:
        raise ValueError(f"max_pool2d: window {k} is larger than the input {x.shape[2:]} (padding {p})")
    fn = _pool.MaxPool2d(k, s, p, d)
    y = fn(x)
    if unbatched:
        y = y.squeeze(0)
    if return_indices:
        idx = Tensor._make(fn.indices[0] if unbatched else fn.indices, y.device)
        return y, idx
    return y


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """input: (N, C, H, W) -> (N, C, OH, OW), the mean of every window."""
    if divisor_override is not None:
        raise NotImplementedError("avg_pool2d: divisor_override is not supported")
    x, unbatched = _batched(input, "avg_pool2d")
    k, s, p = _pool_args("avg_pool2d", x, kernel_size, stride, padding, ceil_mode)
    if x.shape[2] + 2 * p[0] < k[0] or x.shape[3] + 2 * p[1] < k[1]:
        raise ValueError(f"avg_pool2d: window {k} is larger than the input {x.shape[2:]} (padding {p})")
    y = _pool.AvgPool2d(k, s, p, count_include_pad)(x)
    return y.squeeze(0) if unbatched else y


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy from logits.

    input: (N, C) or (N, C, d1, ...) logits (or (C,) for one sample); target: class indices
    (N,) / (N, d1, ...) of an integer dtype, or class probabilities shaped like input.
    """
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    target = target if isinstance(target, Tensor) else Tensor(target, device=input.device)
    if input.ndim == 1:
        input, target = input.unsqueeze(0), target.unsqueeze(0)
        out = cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing)
        return out.squeeze(0) if reduction == "none" else out
    c = input.shape[1]
    w = None if weight is None else (weight.data if isinstance(weight, Tensor) else _xp(input.data).asarray(weight))
    if w is not None and w.shape != (c,):
        raise ValueError(f"cross_entropy: weight must have shape ({c},), got {w.shape}")
    if target.dtype.kind == "f":
        if target.shape != input.shape:
            raise ValueError(f"cross_entropy: probability targets must match the input's shape {input.shape}, "
                             f"got {target.shape}")
        return _soft_cross_entropy(input, target, w, reduction, label_smoothing)
    if target.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: target must hold class indices (integers) or probabilities, got {target.dtype}")
    if target.shape != (input.shape[0],) + input.shape[2:]:
        raise ValueError(f"cross_entropy: input of shape {input.shape} needs targets of shape "
                         f"{(input.shape[0],) + input.shape[2:]}, got {target.shape}")
    t = target.data
    bad = ((t < 0) | (t >= c)) & (t != ignore_index)
    if bad.any():
        raise IndexError(f"cross_entropy: target {int(t[bad].reshape(-1)[0])} is out of range for {c} classes")
    if input.ndim > 2:  # (N, C, d...) -> (N * d..., C)
        spatial = input.shape[2:]
        logits = input.permute(0, *range(2, input.ndim), 1).reshape(-1, c)
        out = cross_entropy(logits, Tensor._make(t.reshape(-1), input.device), weight, ignore_index, reduction,
                            label_smoothing)
        return out.reshape(input.shape[0], *spatial) if reduction == "none" else out
    w = None if w is None else w.astype(input.dtype, copy=False)
    return _loss.CrossEntropy(t, w, ignore_index, reduction, label_smoothing)(input)


def _soft_cross_entropy(input, target, w, reduction, eps):
    c = input.shape[1]
    p = target * (1 - eps) + eps / c if eps else target
    logp = log_softmax(input, 1)
    if w is not None:
        shape = (1, c) + (1,) * (input.ndim - 2)
        logp = logp * Tensor._make(w.reshape(shape).astype(input.dtype), input.device)
    loss = -(p * logp).sum(1)
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.mean()
