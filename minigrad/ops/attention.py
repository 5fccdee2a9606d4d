"""Scaled dot-product attention as one op: softmax(q k^T * scale + mask) v.

The fused Function hands the whole computation to the backend's `attention_forward` /
`attention_backward` kernels (contract.py). The Numba backend runs them tiled with an online
softmax (kernels/cpu/attention.py), so neither pass ever holds the (L, S) score matrix; the numpy
backend runs the plain version, which is the tests' oracle. The forward pass keeps only the
output and each row's log-sum-exp.

Masks follow torch.nn.functional.scaled_dot_product_attention: a boolean attn_mask keeps the True
positions, a float one is added to the scores, both broadcast to (..., L, S); is_causal keeps key
j <= query i (aligned top-left, so with L != S the last query rows see the first L keys only).
A query row with nothing to attend to (all masked) gives a zero output and zero gradients, as
torch 2.13 does (measured: F.scaled_dot_product_attention returns 0 there, not NaN).

Two cases take the composed path (ops for matmul, softmax, dropout), which materialises the
scores: dropout_p > 0, and a float mask that itself requires a gradient. Second derivatives
(create_graph=True) go through the same formulas written with Tensor ops.
"""
import math

import numpy as np

from ..autograd import Function
from ..tensor import Tensor
from .elementwise import where
from .matmul import matmul
from .shape import expand
from .softmax import softmax

__all__ = ["scaled_dot_product_attention"]


class ScaledDotProductAttention(Function):
    """q: (*B, L, E), k: (*B, S, E), v: (*B, S, Ev) (one batch shape B) -> (*B, L, Ev).

    mask: None or an additive mask (M, Lm, Sm) with mask_index (N,) (N = prod(B)) picking each
    batch row's mask; both raw arrays of the inputs' device (see _mask_arrays).
    """

    saves_output = True

    def __init__(self, mask, mask_index, is_causal, scale):
        self.mask, self.mask_index, self.is_causal, self.scale = mask, mask_index, is_causal, scale

    def _flat(self, a):
        return a.reshape((-1,) + a.shape[-2:])

    def forward(self, q, k, v):
        batch, (L, _), S, ev = q.shape[:-2], q.shape[-2:], k.shape[-2], v.shape[-1]
        if L * S * math.prod(batch) == 0:  # nothing to attend to: zeros, as for fully masked rows
            self.lse = self.xp.full(batch + (L,), np.inf, q.dtype)
            return self.xp.zeros(batch + (L, ev), q.dtype)
        out, lse = self.backend.attention_forward(self._flat(q), self._flat(k), self._flat(v), self.mask,
                                                  self.mask_index, self.is_causal, self.scale)
        self.lse = lse.reshape(batch + (L,))
        return out.reshape(batch + (L, ev))

    def backward(self, gy):
        q, k, v = self.inputs
        if self.create_graph:
            return self._differentiable_backward(gy)
        if q.shape[-2] * k.shape[-2] * math.prod(q.shape[:-2]) == 0:
            return tuple(Tensor._make(t.xp.zeros(t.shape, t.dtype), t.device) for t in (q, k, v))
        flat = [self._flat(t.array) for t in (gy, q, k, v, self.output)]
        grads = self.backend.attention_backward(*flat, self.lse.reshape(flat[0].shape[:2]), self.mask,
                                                self.mask_index, self.is_causal, self.scale)
        return tuple(Tensor._make(g.reshape(t.shape), t.device) for g, t in zip(grads, (q, k, v)))

    def _differentiable_backward(self, gy):
        """The same gradients from Tensor ops, so that they can be differentiated again."""
        q, k, v = self.inputs
        s = matmul(q, k.transpose(-2, -1)) * self.scale
        L, S = s.shape[-2:]
        if self.mask is not None:
            m = self.mask[self.mask_index].reshape(q.shape[:-2] + self.mask.shape[1:])
            s = s + Tensor._make(m, q.device)
        if self.is_causal:
            s = where(self.xp.tri(L, S, dtype=bool), s, float("-inf"))
        dead = self.xp.isinf(self.lse)[..., None]
        p = where(dead, 0.0, softmax(where(dead, 0.0, s), dim=-1))
        dp = matmul(gy, v.transpose(-2, -1))
        ds = p * (dp - (dp * p).sum(-1, keepdim=True)) * self.scale
        return matmul(ds, k), matmul(ds.transpose(-2, -1), q), matmul(p.transpose(-2, -1), gy)


def _composed(query, key, value, mask, is_causal, scale, dropout_p):
    """The unfused version from ops (it holds the scores): used for dropout and for masks needing a gradient."""
    from ..nn.functional import dropout
    s = matmul(query, key.transpose(-2, -1)) * scale
    L, S = s.shape[-2:]
    if is_causal:
        s = where(np.tri(L, S, dtype=bool), s, float("-inf"))
    if mask is not None:
        s = where(mask, s, float("-inf")) if mask.dtype == np.bool_ else s + mask
    dead = s.xp.isneginf(s.array).all(axis=-1, keepdims=True)
    p = where(dead, 0.0, softmax(where(dead, 0.0, s), dim=-1))
    if dropout_p > 0.0:
        p = dropout(p, dropout_p)
    return matmul(p, value)


def _mask_arrays(mask, batch, L, S, like):
    """A mask broadcasting to batch + (L, S) -> (additive mask (M, Lm, Sm) in like's dtype, index (N,))
    without materialising the broadcast: row n of the batch uses mask[index[n]]."""
    shape = (1,) * (len(batch) + 2 - mask.ndim) + mask.shape
    lead = shape[:-2]
    m = mask.reshape((math.prod(lead),) + shape[-2:])
    if m.dtype == np.bool_:
        m = np.where(m, 0.0, -np.inf)
    index = np.broadcast_to(np.arange(m.shape[0]).reshape(lead), batch).reshape(-1)
    xp = like.xp
    return xp.asarray(m, dtype=like.dtype), xp.asarray(np.ascontiguousarray(index, dtype=np.int64))


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """softmax(query key^T * scale + mask) value, as one fused op.

    query: (..., L, E), key: (..., S, E), value: (..., S, Ev) -> (..., L, Ev); the leading dims
    broadcast. attn_mask broadcasts to (..., L, S): bool keeps the True positions, float is added.
    is_causal: key j is seen by query i only when j <= i (top-left aligned). scale defaults to
    1 / sqrt(E). Rows with nothing to attend to give 0 (as torch).
    """
    name = "scaled_dot_product_attention"
    for arg, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: {arg} must be a Tensor, got {type(t).__name__}")
        if t.ndim < 2 or t.dtype.kind != "f":
            raise ValueError(f"{name}: {arg} must be a float tensor with at least 2 dims, got shape "
                             f"{tuple(t.shape)} and dtype {t.dtype}")
    if not query.dtype == key.dtype == value.dtype:
        raise TypeError(f"{name}: query, key and value must share a dtype, got {query.dtype}, {key.dtype}, "
                        f"{value.dtype}")
    (L, E), S = query.shape[-2:], key.shape[-2]
    if key.shape[-1] != E or value.shape[-2] != S:
        raise ValueError(f"{name}: query {tuple(query.shape)}, key {tuple(key.shape)} and value "
                         f"{tuple(value.shape)} do not fit (..., L, E) x (..., S, E) x (..., S, Ev)")
    try:
        batch = tuple(np.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2]))
    except ValueError:
        raise ValueError(f"{name}: the batch dims of query {tuple(query.shape)}, key {tuple(key.shape)} and value "
                         f"{tuple(value.shape)} do not broadcast") from None
    if is_causal and attn_mask is not None:
        raise ValueError(f"{name}: give attn_mask or is_causal=True, not both")
    if isinstance(dropout_p, bool) or not isinstance(dropout_p, (int, float, np.floating)) or \
            not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"{name}: dropout_p must be a number in [0, 1), got {dropout_p!r}")
    if scale is None:
        scale = 1.0 / math.sqrt(E) if E else 1.0
    elif not isinstance(scale, (int, float)) or isinstance(scale, bool) or not math.isfinite(scale):
        raise TypeError(f"{name}: scale must be a finite number or None, got {scale!r}")
    mask_t = None
    if attn_mask is not None:
        mask_t = attn_mask if isinstance(attn_mask, Tensor) else Tensor(attn_mask, device=query.device)
        if mask_t.dtype != np.bool_ and mask_t.dtype.kind != "f":
            raise TypeError(f"{name}: attn_mask must be bool or float, got dtype {mask_t.dtype}")
        try:
            ok = np.broadcast_shapes(mask_t.shape, batch + (L, S)) == batch + (L, S)
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"{name}: attn_mask of shape {tuple(mask_t.shape)} does not broadcast to the "
                             f"scores' shape {batch + (L, S)}")
        if mask_t.dtype.kind == "f" and mask_t.dtype != query.dtype:
            mask_t = mask_t.to(query.dtype)
    q, k, v = (t if tuple(t.shape[:-2]) == batch else expand(t, *batch, *t.shape[-2:]) for t in (query, key, value))
    if dropout_p > 0.0 or (mask_t is not None and mask_t.requires_grad):
        return _composed(q, k, v, mask_t, is_causal, float(scale), dropout_p)
    mask = index = None
    if mask_t is not None:
        mask, index = _mask_arrays(mask_t.numpy(), batch, L, S, q)
    return ScaledDotProductAttention(mask, index, bool(is_causal), float(scale))(q, k, v)
