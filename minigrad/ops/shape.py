"""Ops that move data without arithmetic: reshape, permute, broadcast, index, concatenate, pad.

Their backward moves the gradient back the same way: reshape it back, permute it back,
sum over the broadcast dimensions, scatter-add it to the indexed places, slice it apart.
"""
import numpy as np

from ..autograd import Function, GradMode, SliceGrad
from ._array import array_module as _xp




class Reshape(Function):
    saves_inputs, is_view = False, True

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, gy):
        return gy.reshape(self.in_shape)


class Permute(Function):
    saves_inputs, is_view = False, True

    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy):
        return gy.permute(tuple(np.argsort(self.axes)))


class Expand(Function):
    """Broadcast x to `shape` (a read-only view); backward sums the copies back."""

    saves_inputs, is_view = False, True

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        return _xp(x).broadcast_to(x, self.shape)

    def backward(self, gy):
        return sum_to(gy, self.in_shape)


class SumTo(Function):
    """Sum x down to `shape`, the inverse of broadcasting."""

    saves_inputs = False

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        lead = x.ndim - len(self.shape)
        axes = tuple(range(lead)) + tuple(
            lead + i for i, n in enumerate(self.shape) if n == 1 and x.shape[lead + i] != 1)
        y = x.sum(axis=axes, keepdims=True) if axes else x
        return y.reshape(self.shape)

    def backward(self, gy):
        return gy.expand(self.inputs[0].shape)


def sum_to(g, shape):
    """The gradient g summed back to `shape` (a no-op when nothing was broadcast)."""
    return g if g.shape == shape else SumTo(shape)(g)


def _is_basic(index):
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in items)


class GetItem(Function):
    saves_inputs = False

    def __init__(self, index):
        self.index = index
        self.is_view = _is_basic(index)

    def forward(self, x):
        self.in_shape = x.shape
        try:
            return x[self.index]
        except IndexError as e:
            raise IndexError(f"getitem: {e} (tensor of shape {x.shape})") from None

    def backward(self, gy):
        if self.is_view and not GradMode.enabled:  # plain backward: the engine adds the slice in place
            return SliceGrad(self.index, self.in_shape, gy)
        return ScatterAdd(self.index, self.in_shape, self.is_view)(gy)


class ScatterAdd(Function):
    """zeros(shape) with gy added at `index` (repeated indices add up); the backward of x[index]."""

    saves_inputs = False

    def __init__(self, index, shape, basic):
        self.index, self.shape, self.basic = index, shape, basic

    def forward(self, gy):
        xp = _xp(gy)
        gx = xp.zeros(self.shape, dtype=gy.dtype)
        if self.basic:  # a slice hits each place once: plain assignment is enough
            gx[self.index] = gy
        elif xp is np:
            np.add.at(gx, self.index, gy)
        else:
            xp.add.at(gx, self.index, gy)
        return gx

    def backward(self, ggx):
        return ggx[self.index]


class Cat(Function):
    saves_inputs = False

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        self.sizes = [x.shape[self.axis] for x in xs]
        return _xp(xs[0]).concatenate(xs, axis=self.axis)

    def backward(self, gy):
        grads, start = [], 0
        lead = (slice(None),) * self.axis
        for n in self.sizes:
            grads.append(gy[lead + (slice(start, start + n),)])
            start += n
        return tuple(grads)


class Pad(Function):
    """Constant padding; `widths` is numpy-style ((before, after), ...) per dimension."""

    saves_inputs = False

    def __init__(self, widths, value=0.0):
        self.widths, self.value = widths, value

    def forward(self, x):
        return _xp(x).pad(x, self.widths, constant_values=self.value)

    def backward(self, gy):
        return gy[tuple(slice(lo, n - hi) for (lo, hi), n in zip(self.widths, gy.shape))]
