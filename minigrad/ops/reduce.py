"""Reductions over axes: sum, max/min, logsumexp. mean/var/std are built from these.

Backward first puts the reduced axes back (as size 1), then broadcasts the gradient
over them.
"""
import numpy as np

from ..autograd import Function
from ._array import array_module as _xp


def normalize_axis(axis, ndim, op="reduce"):
    """None, an int or a sequence of ints -> None or a sorted tuple of non-negative axes."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -max(ndim, 1) <= a < max(ndim, 1):
            raise IndexError(f"{op}: dim {a} is out of range for a tensor with {ndim} dimensions")
        out.append(int(a) % max(ndim, 1))
    return tuple(sorted(set(out)))


def kept_shape(shape, axes):
    """The shape a keepdims reduction over `axes` leaves."""
    if axes is None:
        return (1,) * len(shape)
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Sum(Function):
    saves_inputs = False

    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.in_shape = x.shape
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        return gy.reshape(kept_shape(self.in_shape, self.axis)).expand(self.in_shape)


class Max(Function):
    """max (or min with `smallest=True`); ties share the gradient equally (torch's amax)."""

    saves_inputs = False

    def __init__(self, axis=None, keepdims=False, smallest=False):
        self.axis, self.keepdims, self.smallest = axis, keepdims, smallest

    @property
    def name(self):
        return "min" if self.smallest else "max"

    def forward(self, x):
        if x.size == 0:
            raise ValueError(f"{self.name}: cannot reduce an empty tensor of shape {x.shape}")
        y = x.min(axis=self.axis, keepdims=True) if self.smallest else x.max(axis=self.axis, keepdims=True)
        hit = x == y
        self.share = (hit / hit.sum(axis=self.axis, keepdims=True)).astype(x.dtype)
        self.in_shape = x.shape
        return y if self.keepdims else y.reshape([n for i, n in enumerate(y.shape)
                                                  if self.axis is not None and i not in self.axis])

    def backward(self, gy):
        return gy.reshape(kept_shape(self.in_shape, self.axis)) * self.share


class LogSumExp(Function):
    """log(sum(exp(x))), computed as m + log(sum(exp(x - m))) so it never overflows."""

    saves_output = True

    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        xp = _xp(x)
        m = x.max(axis=self.axis, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        y = xp.log(xp.exp(x - m).sum(axis=self.axis, keepdims=True)) + m
        return y if self.keepdims else y.reshape([n for i, n in enumerate(y.shape)
                                                  if self.axis is not None and i not in self.axis])

    def backward(self, gy):
        (x,) = self.inputs
        shape = kept_shape(x.shape, self.axis)
        return gy.reshape(shape) * (x - self.output.reshape(shape)).exp()
