"""Dropout as one op, for captures: its mask is drawn inside forward, so a replay draws a new one.

The eager nn.functional.dropout draws the mask in Python and multiplies by it as a constant; a
captured graph would freeze that mask. These ops draw the same numbers from the same generator
in the same order (so a capture and eager agree bit for bit) and keep the mask for backward.
"""
from ..autograd import Function
from ..nn import functional as F
from ..tensor import Tensor

_eager_dropout, _eager_dropout2d = F.dropout, F.dropout2d  # (taken before a capture swaps them)


class Dropout(Function):
    """x * mask, mask = (u >= p) / (1 - p) with u uniform in [0, 1); one u per element, or per
    (n, c) plane for dropout2d (`plane=True`). x: any shape (dropout2d: (N, C, H, W) or (C, H, W))."""

    backward_reads_inputs = False
    name = "dropout"

    def __init__(self, p, plane=False):
        self.p, self.plane = p, plane

    def forward(self, x):
        from ..random import rng
        shape = x.shape[:-2] + (1, 1) if self.plane else x.shape
        self.mask = self.xp.asarray((rng().random(shape) >= self.p) * (1.0 / (1.0 - self.p)), dtype=x.dtype)
        return x * self.mask

    def backward(self, gy):
        return gy * Tensor._make(self.mask, gy.device)


def _dropout(input, p, training, plane, eager):
    if not training or p == 0.0 or p == 1.0 or not 0.0 <= p <= 1.0 or (plane and input.ndim not in (3, 4)):
        return eager(input, p, training)  # the eager function's checks and special cases
    return Dropout(p, plane)(input)


def dropout(input, p=0.5, training=True, inplace=False):
    return _dropout(input, p, training, False, _eager_dropout)


def dropout2d(input, p=0.5, training=True, inplace=False):
    return _dropout(input, p, training, True, _eager_dropout2d)
