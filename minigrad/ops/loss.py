"""Softmax cross-entropy over class indices, fused: one pass forward, one pass back.

For logits x: (N, C) and targets t: (N,), with class weights w and label smoothing e,
  loss_i = -sum_c a_ic * log_softmax(x_i)_c,   a_ic = (1 - e) w_t [c == t_i] + e w_c / C
and the gradient is  dloss_i/dx_i = softmax(x_i) * sum_c a_ic - a_i, kept from the forward.
A backend may run the whole forward as one kernel (`softmax_cross_entropy`); the array code
here is the reference.
"""
import numpy as np

from ..autograd import Function
from ..backend import get_backend
from ._array import array_module as _xp




class CrossEntropy(Function):
    saves_inputs = False
    differentiable_backward = False

    def __init__(self, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        self.target, self.weight, self.ignore_index = target, weight, ignore_index
        self.reduction, self.eps = reduction, label_smoothing

    def forward(self, x):
        fused = getattr(get_backend(self.device), "softmax_cross_entropy", None)
        out = None if fused is None else fused(x, self.target, self.weight, self.ignore_index, self.eps)
        if out is not None:  # the rule below in one pass per row (the Numba backend)
            loss, self.g, wt = out
            return self._reduce(loss, wt)
        xp = _xp(x)
        n, c = x.shape
        shifted = x - x.max(axis=1, keepdims=True)
        e = xp.exp(shifted)
        sum_e = e.sum(axis=1, keepdims=True)
        logp = shifted - xp.log(sum_e)
        valid = self.target != self.ignore_index
        t = xp.where(valid, self.target, 0)
        w = self.weight
        wt = (w[t] if w is not None else xp.ones(n, dtype=x.dtype)) * valid
        a = xp.zeros_like(x)
        a[xp.arange(n), t] = (1 - self.eps) * wt
        if self.eps:
            a += (self.eps / c) * (w if w is not None else 1.0) * valid[:, None]
        loss = -(a * logp).sum(axis=1)
        self.g = (e / sum_e) * a.sum(axis=1, keepdims=True) - a
        return self._reduce(loss, wt)

    def _reduce(self, loss, wt):
        if self.reduction == "none":
            return loss
        if self.reduction == "sum":
            return loss.sum()
        self.denominator = wt.sum()
        return loss.sum() / self.denominator

    def backward(self, gy):
        g = self.g
        scale = gy.array
        if self.reduction == "none":
            scale = scale[:, None]
        elif self.reduction == "mean":
            scale = scale / self.denominator
        return type(gy)._make((g * scale).astype(g.dtype, copy=False), gy.device)
