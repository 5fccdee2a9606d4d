"""Functional forms of the layers (`import minigrad.nn.functional as F`), named like torch's.

The ops with a Function of their own (conv2d, max_pool2d, cross_entropy, ...) live in
`minigrad.ops` next to it and are re-exported here; the rest are composed from ops below.
Each checks its arguments, so a mistake names the op and the shapes involved.
"""
import math

import numpy as np

from ..checks import check_float
from ..ops import (avg_pool2d, binary_cross_entropy, conv1d, conv2d, cross_entropy, embedding, gelu,  # noqa: F401
                   leaky_relu, log_softmax, max_pool2d, pad, relu, sigmoid, softmax, softplus, tanh, where)
from ..ops.attention import scaled_dot_product_attention as _fused_attention
from ..ops.conv import batched
from ..ops.convert import constant
from ..ops.loss import reduce_loss
from ..tensor import Tensor


def linear(input, weight, bias=None):
    """input: (*, in_features), weight: (out_features, in_features), bias: (out_features,)."""
    if input.shape[-1] != weight.shape[-1]:
        raise ValueError(f"linear: input of shape {input.shape} has {input.shape[-1]} features but weight "
                         f"of shape {weight.shape} expects {weight.shape[-1]}")
    if input.ndim > 2:  # one 2-D product, so the weight's gradient is one GEMM, not a batch of them summed
        lead = tuple(input.shape[:-1])
        y = (input.reshape(math.prod(lead), input.shape[-1]) @ weight.T).reshape(*lead, weight.shape[0])
    else:
        y = input @ weight.T
    return y if bias is None else y + bias


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the rest by 1 / (1 - p) (identity when not training)."""
    p = check_float("dropout", "p", p, min=0, max=1)
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    from ..random import rng
    mask = (rng().random(input.shape) >= p) * (1.0 / (1.0 - p))
    return input * constant(mask, input)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels: input (N, C, H, W) or (C, H, W); one draw per (n, c)."""
    if input.ndim not in (3, 4):
        raise ValueError(f"dropout2d: expected a 3-D or 4-D input, got shape {input.shape}")
    p = check_float("dropout2d", "p", p, min=0, max=1)
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    from ..random import rng
    mask = (rng().random(input.shape[:-2] + (1, 1)) >= p) * (1.0 / (1.0 - p))
    return input * constant(mask, input)


def mse_loss(input, target, reduction="mean"):
    """Mean squared error; input and target of the same shape."""
    if input.shape != target.shape:
        raise ValueError(f"mse_loss: input shape {input.shape} and target shape {target.shape} differ")
    d = input - target
    return reduce_loss(d * d, reduction, "mse_loss")


def l1_loss(input, target, reduction="mean"):
    if input.shape != target.shape:
        raise ValueError(f"l1_loss: input shape {input.shape} and target shape {target.shape} differ")
    return reduce_loss((input - target).abs(), reduction, "l1_loss")


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (Huber loss divided by beta)."""
    if input.shape != target.shape:
        raise ValueError(f"smooth_l1_loss: input shape {input.shape} and target shape {target.shape} differ")
    d = input - target
    if beta == 0:
        return reduce_loss(d.abs(), reduction, "smooth_l1_loss")
    a = d.abs()
    small = (a.array < beta)
    loss = where(small, d * d * (0.5 / beta), a - 0.5 * beta)
    return reduce_loss(loss, reduction, "smooth_l1_loss")


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
    xp = input.xp
    t = target.array
    valid = t != ignore_index
    bad = ((t < 0) | (t >= c)) & valid
    if bad.any():
        raise IndexError(f"nll_loss: target {int(t[bad].reshape(-1)[0])} is out of range for {c} classes")
    safe = xp.where(valid, t, 0)
    w = xp.ones(c, dtype=input.dtype) if weight is None else xp.asarray(
        weight.array if isinstance(weight, Tensor) else weight, dtype=input.dtype)
    if w.shape != (c,):
        raise ValueError(f"nll_loss: weight must have shape ({c},), got {w.shape}")
    wt = w[safe] * valid
    picked = input[xp.arange(t.shape[0]), safe]
    loss = -picked * constant(wt, input)
    if reduction == "mean":
        return loss.sum() * (1.0 / wt.sum())
    return reduce_loss(loss, reduction, "nll_loss")


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """BCE on logits x, stable for any magnitude:  (1 - t) x + (1 + (pw - 1) t) softplus(-x).

    input, target: same shape; weight broadcasts to it; pos_weight: (C,) broadcasting over the last dim.
    """
    target = target if isinstance(target, Tensor) else constant(target, input)
    if input.shape != target.shape:
        raise ValueError(f"binary_cross_entropy_with_logits: input shape {input.shape} and target shape "
                         f"{target.shape} differ")
    sp = softplus(-input)  # log(1 + exp(-x)), linear beyond the threshold: no overflow at 1e4
    if pos_weight is None:
        loss = (1.0 - target) * input + sp
    else:
        pw = constant(pos_weight.array if isinstance(pos_weight, Tensor) else pos_weight, input)
        loss = (1.0 - target) * input + (1.0 + (pw - 1.0) * target) * sp
    if weight is not None:
        loss = loss * (weight if isinstance(weight, Tensor) else constant(weight, input))
    return reduce_loss(loss, reduction, "binary_cross_entropy_with_logits")


def one_hot(tensor, num_classes=-1):
    """Integer tensor (*) -> int64 (*, num_classes) with a 1 at each index."""
    t = tensor.array if isinstance(tensor, Tensor) else np.asarray(tensor)
    if t.dtype.kind not in "iu":
        raise TypeError(f"one_hot: needs an integer tensor, got {t.dtype}")
    xp = tensor.xp if isinstance(tensor, Tensor) else np
    if num_classes < 0:
        num_classes = int(t.max()) + 1 if t.size else 0
    if t.size and (t.min() < 0 or t.max() >= num_classes):
        raise ValueError(f"one_hot: class values must be in [0, {num_classes}), got range [{int(t.min())}, "
                         f"{int(t.max())}]")
    out = (t[..., None] == xp.arange(num_classes)).astype(np.int64)
    return Tensor(out, device=tensor.device if isinstance(tensor, Tensor) else None)


def _normalize(x, axes, eps):
    """((x - mean) / sqrt(var + eps), mean, var) over `axes`, with the biased variance (batch and layer norm)."""
    mean = x.mean(axes, keepdim=True)
    d = x - mean
    var = (d * d).mean(axes, keepdim=True)
    return d * ((var + eps) ** -0.5), mean, var


def _channel_shape(x, op):
    if x.ndim < 2:
        raise ValueError(f"{op}: expected an input of shape (N, C, ...), got {x.shape}")
    return (1, x.shape[1]) + (1,) * (x.ndim - 2), (0,) + tuple(range(2, x.ndim))


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-5, *, unbiased_running_var=True):
    """input: (N, C) or (N, C, *); statistics per channel C.

    Training normalises with the batch's mean and biased variance and (when running
    tensors are given) updates them in place: running = (1 - momentum) running + momentum
    batch, with the unbiased variance, as torch does (the biased one, as Keras does, with
    unbiased_running_var=False).
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
        if n <= 1 and unbiased_running_var:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input "
                             f"of shape {input.shape}")
        y, mean, var = _normalize(input, axes, eps)
        if running_mean is not None:
            m = momentum
            running_mean.array[...] = (1 - m) * running_mean.array + m * mean.array.reshape(c)
            running_mean._version[0] += 1
        if running_var is not None:
            m = momentum
            correction = n / (n - 1) if unbiased_running_var else 1.0
            running_var.array[...] = (1 - m) * running_var.array + m * var.array.reshape(c) * correction
            running_var._version[0] += 1
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var are needed when training=False")
        inv = 1.0 / input.xp.sqrt(running_var.array + eps)
        y = (input - constant(running_mean.array.reshape(shape), input)) * constant(inv.reshape(shape), input)
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
    y, _, _ = _normalize(input, tuple(range(input.ndim - len(ns), input.ndim)), eps)
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
    x, unbatched = batched(input, "adaptive_avg_pool2d")
    oh, ow = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    h, w = x.shape[2:]
    oh, ow = h if oh is None else oh, w if ow is None else ow
    if (oh, ow) == (1, 1):
        y = x.mean((2, 3), keepdim=True)
    elif h % oh == 0 and w % ow == 0:
        y = avg_pool2d(x, (h // oh, w // ow))
    else:
        ah = constant(_adaptive_matrix(h, oh, x.dtype), x)
        aw = constant(_adaptive_matrix(w, ow, x.dtype).T.copy(), x)
        y = ah @ x @ aw
    return y.squeeze(0) if unbatched else y


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """softmax(q k^T * scale + mask) v, one fused op (minigrad.ops.attention; tiled kernels on the Numba backend).

    query: (..., L, E), key: (..., S, E), value: (..., S, Ev) -> (..., L, Ev). attn_mask broadcasts to
    (..., L, S): a boolean mask keeps the True positions (SDPA's convention), a float mask is added to the
    scores. is_causal masks position j > i (aligned top-left, as torch does). Fully masked rows give 0.
    """
    return _fused_attention(query, key, value, attn_mask, dropout_p, is_causal, scale)
