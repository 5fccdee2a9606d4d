"""Functional forms of the layers (`import minigrad.nn.functional as F`), named like torch's.

These check their arguments (so a mistake names the op and the shapes involved) and
then call the differentiable primitives in `minigrad.ops`.
"""
import numpy as np

from .. import ops
from ..ops import conv as _conv
from ..ops import loss as _loss
from ..ops import pool as _pool
from ..ops._array import array_module as _xp
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
    op = _conv.Conv2d(stride, padding, dilation, groups)
    if bias is None:
        y = op(x, weight)
    else:
        if bias.shape != (o,) or bias.dtype != weight.dtype:
            raise ValueError(f"conv2d: bias must be ({o},) {weight.dtype} to match weight {weight.shape}, got "
                             f"{bias.shape} {bias.dtype}")
        y = op(x, weight, bias)
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
    fn = _pool.MaxPool2d(k, s, p, d, return_indices)
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
    w = None if weight is None else (weight.array if isinstance(weight, Tensor) else _xp(input.array).asarray(weight))
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
    t = target.array
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


# ================================================================ layers' functional forms
def _reduce(loss, reduction, op):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _const(value, like):
    """A constant Tensor (no grad) from a Tensor, array or scalar, on `like`'s device and dtype."""
    if isinstance(value, Tensor):
        return value
    return Tensor._make(_xp(like.array).asarray(value, dtype=like.dtype), like.device)


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the rest by 1 / (1 - p) (identity when not training)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    from ..random import rng
    mask = (rng().random(input.shape) >= p) * (1.0 / (1.0 - p))
    return input * _const(mask, input)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels: input (N, C, H, W) or (C, H, W); one draw per (n, c)."""
    if input.ndim not in (3, 4):
        raise ValueError(f"dropout2d: expected a 3-D or 4-D input, got shape {input.shape}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout2d: probability must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    from ..random import rng
    mask = (rng().random(input.shape[:-2] + (1, 1)) >= p) * (1.0 / (1.0 - p))
    return input * _const(mask, input)


def mse_loss(input, target, reduction="mean"):
    """Mean squared error; input and target of the same shape."""
    if input.shape != target.shape:
        raise ValueError(f"mse_loss: input shape {input.shape} and target shape {target.shape} differ")
    d = input - target
    return _reduce(d * d, reduction, "mse_loss")


def l1_loss(input, target, reduction="mean"):
    if input.shape != target.shape:
        raise ValueError(f"l1_loss: input shape {input.shape} and target shape {target.shape} differ")
    return _reduce((input - target).abs(), reduction, "l1_loss")


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (Huber loss divided by beta)."""
    if input.shape != target.shape:
        raise ValueError(f"smooth_l1_loss: input shape {input.shape} and target shape {target.shape} differ")
    d = input - target
    if beta == 0:
        return _reduce(d.abs(), reduction, "smooth_l1_loss")
    a = d.abs()
    small = (a.array < beta)
    loss = ops.where(small, d * d * (0.5 / beta), a - 0.5 * beta)
    return _reduce(loss, reduction, "smooth_l1_loss")


def huber_loss(input, target, reduction="mean", delta=1.0):
    return smooth_l1_loss(input, target, reduction, beta=delta) * delta


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood. input: (N, C) or (N, C, d1, ...) log-probabilities; target: (N,) / (N, d1, ...)."""
    target = target if isinstance(target, Tensor) else Tensor(target, device=input.device)
    if input.ndim == 1:
        out = nll_loss(input.unsqueeze(0), target.reshape(1), weight, ignore_index, reduction)
        return out.squeeze(0) if reduction == "none" else out
    if target.dtype.kind not in "iu":
        raise TypeError(f"nll_loss: target must hold class indices (integers), got {target.dtype}")
    if target.shape != (input.shape[0],) + input.shape[2:]:
        raise ValueError(f"nll_loss: input of shape {input.shape} needs targets of shape "
                         f"{(input.shape[0],) + input.shape[2:]}, got {target.shape}")
    c = input.shape[1]
    if input.ndim > 2:
        logp = input.permute(0, *range(2, input.ndim), 1).reshape(-1, c)
        out = nll_loss(logp, Tensor._make(target.array.reshape(-1), input.device), weight, ignore_index, reduction)
        return out.reshape(target.shape) if reduction == "none" else out
    xp = _xp(input.array)
    t = target.array
    valid = t != ignore_index
    bad = ((t < 0) | (t >= c)) & valid
    if bad.any():
        raise IndexError(f"nll_loss: target {int(t[bad].reshape(-1)[0])} is out of range for {c} classes")
    safe = xp.where(valid, t, 0)
    w = xp.ones(c, dtype=input.dtype) if weight is None else _xp(input.array).asarray(
        weight.array if isinstance(weight, Tensor) else weight, dtype=input.dtype)
    if w.shape != (c,):
        raise ValueError(f"nll_loss: weight must have shape ({c},), got {w.shape}")
    wt = w[safe] * valid
    picked = input[xp.arange(t.shape[0]), safe]
    loss = -picked * _const(wt, input)
    if reduction == "mean":
        return loss.sum() * (1.0 / wt.sum())
    return _reduce(loss, reduction, "nll_loss")


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """input: probabilities in [0, 1], target: same shape; logs clamped at -100 like torch."""
    from ..ops.nn_ops import BinaryCrossEntropy
    target = target if isinstance(target, Tensor) else _const(target, input)
    if input.shape != target.shape:
        raise ValueError(f"binary_cross_entropy: input shape {input.shape} and target shape {target.shape} differ")
    x = input.array
    if ((x < 0) | (x > 1)).any():
        raise ValueError("binary_cross_entropy: input values must lie in [0, 1]; pass logits to "
                         "binary_cross_entropy_with_logits instead")
    w = None if weight is None else (weight.array if isinstance(weight, Tensor) else _xp(x).asarray(weight))
    return _reduce(BinaryCrossEntropy(w)(input, target), reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """BCE on logits x, stable for any magnitude:  (1 - t) x + (1 + (pw - 1) t) softplus(-x).

    input, target: same shape; weight broadcasts to it; pos_weight: (C,) broadcasting over the last dim.
    """
    target = target if isinstance(target, Tensor) else _const(target, input)
    if input.shape != target.shape:
        raise ValueError(f"binary_cross_entropy_with_logits: input shape {input.shape} and target shape "
                         f"{target.shape} differ")
    sp = ops.softplus(-input)  # log(1 + exp(-x)), linear beyond the threshold: no overflow at 1e4
    if pos_weight is None:
        loss = (1.0 - target) * input + sp
    else:
        pw = _const(pos_weight.array if isinstance(pos_weight, Tensor) else pos_weight, input)
        loss = (1.0 - target) * input + (1.0 + (pw - 1.0) * target) * sp
    if weight is not None:
        loss = loss * (weight if isinstance(weight, Tensor) else _const(weight, input))
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def one_hot(tensor, num_classes=-1):
    """Integer tensor (*) -> int64 (*, num_classes) with a 1 at each index."""
    t = tensor.array if isinstance(tensor, Tensor) else np.asarray(tensor)
    if t.dtype.kind not in "iu":
        raise TypeError(f"one_hot: needs an integer tensor, got {t.dtype}")
    xp = _xp(t)
    if num_classes < 0:
        num_classes = int(t.max()) + 1 if t.size else 0
    if t.size and (t.min() < 0 or t.max() >= num_classes):
        raise ValueError(f"one_hot: class values must be in [0, {num_classes}), got range [{int(t.min())}, "
                         f"{int(t.max())}]")
    out = (t[..., None] == xp.arange(num_classes)).astype(np.int64)
    return Tensor(out, device=tensor.device if isinstance(tensor, Tensor) else None)


def embedding(input, weight, padding_idx=None, max_norm=None):
    """input: integer indices (*), weight: (num_embeddings, dim) -> (*, dim)."""
    from ..ops.nn_ops import Embedding
    if max_norm is not None:
        raise NotImplementedError("embedding: max_norm is not supported")
    idx = input.array if isinstance(input, Tensor) else np.asarray(input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got {idx.dtype}")
    n = weight.shape[0]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"embedding: index out of range for {n} embeddings (got range [{int(idx.min())}, "
                         f"{int(idx.max())}])")
    if padding_idx is not None and padding_idx < 0:
        padding_idx += n
    return Embedding(idx, padding_idx)(weight)


def _channel_shape(x, op):
    if x.ndim < 2:
        raise ValueError(f"{op}: expected an input of shape (N, C, ...), got {x.shape}")
    return (1, x.shape[1]) + (1,) * (x.ndim - 2), (0,) + tuple(range(2, x.ndim))


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-5):
    """input: (N, C) or (N, C, *); statistics per channel C.

    Training normalises with the batch's mean and biased variance and (when running
    tensors are given) updates them in place: running = (1 - momentum) running + momentum
    batch, with the unbiased variance, as torch does.
    """
    shape, axes = _channel_shape(input, "batch_norm")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and t.shape != (c,):
            raise ValueError(f"batch_norm: {name} must have shape ({c},) for input of shape {input.shape}, "
                             f"got {t.shape}")
    if training:
        n = input.array.size // c
        if n <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input "
                             f"of shape {input.shape}")
        mean = input.mean(axes, keepdim=True)
        d = input - mean
        var = (d * d).mean(axes, keepdim=True)
        if running_mean is not None:
            m = momentum
            running_mean.array[...] = (1 - m) * running_mean.array + m * mean.array.reshape(c)
            running_mean._version[0] += 1
        if running_var is not None:
            m = momentum
            running_var.array[...] = (1 - m) * running_var.array + m * var.array.reshape(c) * (n / (n - 1))
            running_var._version[0] += 1
        y = d * ((var + eps) ** -0.5)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var are needed when training=False")
        xp = _xp(input.array)
        inv = 1.0 / xp.sqrt(running_var.array + eps)
        y = (input - _const(running_mean.array.reshape(shape), input)) * _const(inv.reshape(shape), input)
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the trailing dims `normalized_shape` (biased variance), then scale and shift."""
    ns = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if input.shape[input.ndim - len(ns):] != ns:
        raise ValueError(f"layer_norm: input of shape {input.shape} does not end with normalized_shape {ns}")
    axes = tuple(range(input.ndim - len(ns), input.ndim))
    mean = input.mean(axes, keepdim=True)
    d = input - mean
    var = (d * d).mean(axes, keepdim=True)
    y = d * ((var + eps) ** -0.5)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def _adaptive_matrix(n_in, n_out, dtype):
    """(n_out, n_in) averaging matrix: row i averages [floor(i n_in / n_out), ceil((i + 1) n_in / n_out))."""
    a = np.zeros((n_out, n_in), dtype=dtype)
    for i in range(n_out):
        lo = (i * n_in) // n_out
        hi = -((-(i + 1) * n_in) // n_out)
        a[i, lo:hi] = 1.0 / (hi - lo)
    return a


def adaptive_avg_pool2d(input, output_size):
    """input: (N, C, H, W) or (C, H, W) -> (N, C, OH, OW), torch's window boundaries."""
    x, unbatched = _batched(input, "adaptive_avg_pool2d")
    oh, ow = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    h, w = x.shape[2:]
    oh, ow = h if oh is None else oh, w if ow is None else ow
    if (oh, ow) == (1, 1):
        y = x.mean((2, 3), keepdim=True)
    elif h % oh == 0 and w % ow == 0:
        y = avg_pool2d(x, (h // oh, w // ow))
    else:
        ah = _const(_adaptive_matrix(h, oh, x.dtype), x)
        aw = _const(_adaptive_matrix(w, ow, x.dtype).T.copy(), x)
        y = ah @ x @ aw
    return y.squeeze(0) if unbatched else y
