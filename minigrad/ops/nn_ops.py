"""Primitives for the neural-network layers: embedding lookup, binary cross-entropy.

Embedding:  y[..., :] = W[idx[...], :];  dW[k] = sum of gy over the positions where idx == k
            (zero for padding_idx, whose row is never trained).
BCE:        l = -w (t log x + (1 - t) log(1 - x)), each log clamped at -100 like torch;
            dl/dx = w (x - t) / max(x (1 - x), 1e-12),  dl/dt = w (log(1 - x) - log x).
"""
import numpy as np

from ..autograd import Function
from ._array import array_module as _xp
from .shape import ScatterAdd




class Embedding(Function):
    """weight: (num_embeddings, dim), indices: integer array (*) -> (*, dim)."""

    saves_inputs = False

    def __init__(self, indices, padding_idx=None):
        self.indices, self.padding_idx = indices, padding_idx

    def forward(self, weight):
        self.num = weight.shape[0]
        return weight[self.indices]

    def backward(self, gy):
        flat = self.indices.reshape(-1)
        g = gy.reshape(flat.shape[0], gy.shape[-1])
        gw = ScatterAdd(flat, (self.num, gy.shape[-1]), False)(g)
        if self.padding_idx is not None:
            keep = np.ones((self.num, 1), dtype=gy.dtype)
            keep[self.padding_idx] = 0
            gw = gw * type(gy)._make(_xp(gy.array).asarray(keep), gy.device)
        return gw


class BinaryCrossEntropy(Function):
    """Elementwise BCE of probabilities x against targets t (weight w folded in), unreduced."""

    differentiable_backward = False

    def __init__(self, weight=None):
        self.weight = weight

    def forward(self, x, t):
        xp = _xp(x)
        with np.errstate(divide="ignore"):
            log_x = xp.maximum(xp.log(x), -100.0)
            log_1mx = xp.maximum(xp.log1p(-x), -100.0)
        loss = -(t * log_x + (1 - t) * log_1mx)
        if self.weight is not None:
            loss = loss * self.weight
        self.log_x, self.log_1mx = log_x, log_1mx
        return loss.astype(x.dtype, copy=False)

    def backward(self, gy):
        x, t = self.inputs
        xp = _xp(x.array)
        g = gy.array if self.weight is None else gy.array * self.weight
        gx = g * (x.array - t.array) / xp.maximum(x.array * (1 - x.array), 1e-12)
        gt = g * (self.log_1mx - self.log_x) if t.requires_grad else None
        make = type(gy)._make
        return make(gx.astype(x.dtype, copy=False), gy.device), (
            None if gt is None else make(gt.astype(t.dtype, copy=False), gy.device))
