"""Softmax cross-entropy over class indices, fused: one pass forward, one pass back.

For logits x: (N, C) and targets t: (N,), with class weights w and label smoothing e,
  loss_i = -sum_c a_ic * log_softmax(x_i)_c,   a_ic = (1 - e) w_t [c == t_i] + e w_c / C
and the gradient is  dloss_i/dx_i = softmax(x_i) * sum_c a_ic - a_i, kept from the forward.
The backend computes both in `softmax_cross_entropy` (a reference in array code on every
backend, one kernel per row on the Numba one).
"""
from ..autograd import Function
from ..checks import check_float
from ..tensor import Tensor
from .convert import constant
from .softmax import log_softmax

__all__ = ["cross_entropy"]


def reduce_loss(loss, reduction, op):
    """Per-element losses -> their mean, their sum, or themselves ('none')."""
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


class CrossEntropy(Function):
    backward_reads_inputs = False
    differentiable_backward = False

    def __init__(self, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        self.target, self.weight, self.ignore_index = target, weight, ignore_index
        self.reduction, self.eps = reduction, label_smoothing

    def forward(self, x):
        loss, self.g, wt = self.backend.softmax_cross_entropy(x, self.target, self.weight, self.ignore_index,
                                                              self.eps)
        if self.reduction == "none":
            return loss
        if self.reduction == "sum":
            return loss.sum()
        self.denominator = wt.sum()  # the mean is weighted: sum of losses / sum of target weights
        return loss.sum() / self.denominator

    def backward(self, gy):
        g = self.g
        scale = gy.array
        if self.reduction == "none":
            scale = scale[:, None]
        elif self.reduction == "mean":
            scale = scale / self.denominator
        return Tensor._make((g * scale).astype(g.dtype, copy=False), gy.device)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy from logits.

    input: (N, C) or (N, C, d1, ...) logits (or (C,) for one sample); target: class indices
    (N,) / (N, d1, ...) of an integer dtype, or class probabilities shaped like input.
    """
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    check_float("cross_entropy", "label_smoothing", label_smoothing, min=0, max=1)
    target = target if isinstance(target, Tensor) else Tensor(target, device=input.device)
    if input.ndim == 1:
        out = cross_entropy(input.unsqueeze(0), target.unsqueeze(0), weight, ignore_index, reduction, label_smoothing)
        return out.squeeze(0) if reduction == "none" else out
    c = input.shape[1]
    w = None if weight is None else (weight.array if isinstance(weight, Tensor) else input.xp.asarray(weight))
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
    return CrossEntropy(t, w, ignore_index, reduction, label_smoothing)(input)


def _soft_cross_entropy(input, target, w, reduction, eps):
    """Cross-entropy against class probabilities: -sum_c p_c log_softmax(x)_c, composed from ops."""
    c = input.shape[1]
    p = target * (1 - eps) + eps / c if eps else target
    logp = log_softmax(input, 1)
    if w is not None:
        logp = logp * constant(w.reshape((1, c) + (1,) * (input.ndim - 2)), input)
    return reduce_loss(-(p * logp).sum(1), reduction, "cross_entropy")
