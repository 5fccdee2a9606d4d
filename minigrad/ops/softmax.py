"""softmax and log_softmax along one axis, shifted by the max so exp never overflows.

softmax:      y = exp(x - max) / sum(exp(x - max));  dx = y * (gy - sum(gy * y))
log_softmax:  y = x - logsumexp(x);                  dx = gy - exp(y) * sum(gy)
"""
from ..autograd import Function
from ..checks import check_dim, check_tensor
from .convert import with_out

__all__ = ["softmax", "log_softmax"]


class Softmax(Function):
    backward_reads_inputs, saves_output = False, True

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        e = self.xp.exp(x - x.max(axis=self.axis, keepdims=True))
        return e / e.sum(axis=self.axis, keepdims=True)

    def backward(self, gy):
        y = self.output
        return y * (gy - (gy * y).sum(self.axis, keepdim=True))


@with_out
def softmax(input, dim=-1, *, axis=None):
    check_tensor("softmax", "input", input)
    return Softmax(check_dim("softmax", dim if axis is None else axis, input.ndim))(input)


class LogSoftmax(Function):
    backward_reads_inputs, saves_output = False, True

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        xp = self.xp
        shifted = x - x.max(axis=self.axis, keepdims=True)
        return shifted - xp.log(xp.exp(shifted).sum(axis=self.axis, keepdims=True))

    def backward(self, gy):
        return gy - self.output.exp() * gy.sum(self.axis, keepdim=True)


@with_out
def log_softmax(input, dim=-1, *, axis=None):
    check_tensor("log_softmax", "input", input)
    return LogSoftmax(check_dim("log_softmax", dim if axis is None else axis, input.ndim))(input)
