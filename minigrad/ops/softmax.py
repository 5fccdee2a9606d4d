"""softmax and log_softmax along one axis, shifted by the max so exp never overflows.

softmax:      y = exp(x - max) / sum(exp(x - max));  dx = y * (gy - sum(gy * y))
log_softmax:  y = x - logsumexp(x);                  dx = gy - exp(y) * sum(gy)
"""
import numpy as np

from ..autograd import Function
from ._array import array_module as _xp




class Softmax(Function):
    saves_inputs, saves_output = False, True

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        e = _xp(x).exp(x - x.max(axis=self.axis, keepdims=True))
        return e / e.sum(axis=self.axis, keepdims=True)

    def backward(self, gy):
        y = self.output
        return y * (gy - (gy * y).sum(self.axis, keepdim=True))


class LogSoftmax(Function):
    saves_inputs, saves_output = False, True

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        xp = _xp(x)
        shifted = x - x.max(axis=self.axis, keepdims=True)
        return shifted - xp.log(xp.exp(shifted).sum(axis=self.axis, keepdims=True))

    def backward(self, gy):
        return gy - self.output.exp() * gy.sum(self.axis, keepdim=True)
