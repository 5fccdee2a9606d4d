"""Elementwise ops. Each Function keeps its local derivative next to its forward, and the
function below it turns Python arguments into what the Function expects.

Binary ops broadcast like numpy; their backward sums the gradient back to each input's
shape (`sum_to`), undoing the broadcast. Python scalars are welcome as operands (see
`convert.promote` for the dtype rules).
"""
import math

import numpy as np

from ..autograd import Function
from ..checks import check_float, check_tensor
from ..tensor import Tensor, get_default_dtype
from .convert import promote, to, with_out
from .shape import sum_to

__all__ = ["add", "sub", "mul", "div", "pow", "neg", "abs", "exp", "log", "sqrt", "sin", "cos", "tanh",
           "sigmoid", "softplus", "relu", "leaky_relu", "gelu", "clamp", "maximum", "minimum", "where",
           "masked_fill", "masked_fill_"]


# ---------------------------------------------------------------- arithmetic
class Add(Function):
    backward_reads_inputs = False

    def forward(self, a, b):
        return a + b

    def backward(self, gy):
        a, b = self.inputs
        return sum_to(gy, a.shape), sum_to(gy, b.shape)


@with_out
def add(input, other, *, alpha=1):
    """input + alpha * other (torch's keyword alpha scales the second operand)."""
    return Add()(*promote(input, other if alpha == 1 else mul(other, alpha)))


class Sub(Function):
    backward_reads_inputs = False

    def forward(self, a, b):
        return a - b

    def backward(self, gy):
        a, b = self.inputs
        return sum_to(gy, a.shape), sum_to(-gy, b.shape)


@with_out
def sub(input, other, *, alpha=1):
    """input - alpha * other."""
    return Sub()(*promote(input, other if alpha == 1 else mul(other, alpha)))


class Mul(Function):
    def forward(self, a, b):
        return a * b

    def backward(self, gy):
        a, b = self.inputs
        return sum_to(gy * b, a.shape), sum_to(gy * a, b.shape)


@with_out
def mul(input, other):
    return Mul()(*promote(input, other))


class Div(Function):
    def forward(self, a, b):
        return a / b

    def backward(self, gy):
        a, b = self.inputs
        ga = gy / b
        return sum_to(ga, a.shape), sum_to(-ga * a / b, b.shape)


@with_out
def div(input, other):
    """True division, like torch: integers divide to the default float dtype."""
    input, other = promote(input, other)
    if input.dtype.kind in "biu" and other.dtype.kind in "biu":
        input, other = to(input, get_default_dtype()), to(other, get_default_dtype())
    return Div()(input, other)


class Pow(Function):
    """a ** b for tensors a, b: d/da = b a^(b-1), d/db = a^b log a."""

    saves_output = True

    def forward(self, a, b):
        return a ** b

    def backward(self, gy):
        a, b = self.inputs
        ga = gy * b * a ** (b - 1)
        gb = gy * self.output * a.log() if b.requires_grad else None
        return sum_to(ga, a.shape), (None if gb is None else sum_to(gb, b.shape))


class PowScalar(Function):
    """a ** c for a constant exponent c: d/da = c a^(c-1)."""

    def __init__(self, c):
        self.c = c

    def forward(self, a):
        return a ** self.c

    def backward(self, gy):
        (a,) = self.inputs
        if self.c == 2:
            return gy * a * 2.0
        return gy * self.c * a ** (self.c - 1)


@with_out
def pow(input, exponent):
    """a ** b; a constant Python exponent gets its own op (no gradient to compute for it)."""
    if isinstance(input, Tensor) and isinstance(exponent, (int, float)) and not isinstance(exponent, bool):
        if isinstance(exponent, float) and input.dtype.kind in "biu":
            input = to(input, get_default_dtype())  # int ** 0.5 is a float, like torch
        return PowScalar(exponent)(input)
    return Pow()(*promote(input, exponent))


class Neg(Function):
    backward_reads_inputs = False

    def forward(self, a):
        return -a

    def backward(self, gy):
        return -gy


@with_out
def neg(input):
    return Neg()(input)


class Abs(Function):
    def forward(self, a):
        self.sign = self.xp.sign(a)
        return self.xp.abs(a)

    def backward(self, gy):
        return gy * self.sign


@with_out
def abs(input):
    return Abs()(input)


# ---------------------------------------------------------------- transcendental
class Exp(Function):
    backward_reads_inputs, saves_output = False, True

    def forward(self, a):
        return self.xp.exp(a)

    def backward(self, gy):
        return gy * self.output


@with_out
def exp(input):
    return Exp()(input)


class Log(Function):
    def forward(self, a):
        return self.xp.log(a)

    def backward(self, gy):
        return gy / self.inputs[0]


@with_out
def log(input):
    return Log()(input)


class Sqrt(Function):
    backward_reads_inputs, saves_output = False, True

    def forward(self, a):
        return self.xp.sqrt(a)

    def backward(self, gy):
        return gy / (self.output * 2.0)


@with_out
def sqrt(input):
    return Sqrt()(input)


class Sin(Function):
    def forward(self, a):
        return self.xp.sin(a)

    def backward(self, gy):
        return gy * cos(self.inputs[0])


@with_out
def sin(input):
    return Sin()(input)


class Cos(Function):
    def forward(self, a):
        return self.xp.cos(a)

    def backward(self, gy):
        return -gy * sin(self.inputs[0])


@with_out
def cos(input):
    return Cos()(input)


class Tanh(Function):
    backward_reads_inputs, saves_output = False, True

    def forward(self, a):
        return self.xp.tanh(a)

    def backward(self, gy):
        y = self.output
        return gy * (1.0 - y * y)


@with_out
def tanh(input):
    return Tanh()(input)


class Sigmoid(Function):
    backward_reads_inputs, saves_output = False, True

    def forward(self, a):
        xp = self.xp
        e = xp.exp(-xp.abs(a))  # never overflows: stable at +-1e4
        return xp.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)

    def backward(self, gy):
        y = self.output
        return gy * y * (1.0 - y)


@with_out
def sigmoid(input):
    return Sigmoid()(input)


class Softplus(Function):
    """log(1 + exp(beta x)) / beta, linear above `threshold` like torch."""

    def __init__(self, beta=1.0, threshold=20.0):
        self.beta, self.threshold = beta, threshold

    def forward(self, a):
        xp = self.xp
        bx = a * self.beta
        y = xp.logaddexp(0, bx) / self.beta
        return xp.where(bx > self.threshold, a, y).astype(a.dtype, copy=False)

    def backward(self, gy):
        (a,) = self.inputs
        return gy * sigmoid(a * self.beta)


def softplus(input, beta=1.0, threshold=20.0):
    beta, threshold = check_float("softplus", "beta", beta), check_float("softplus", "threshold", threshold)
    return Softplus(beta, threshold)(input)


# ---------------------------------------------------------------- piecewise
class Relu(Function):
    """max(a, 0); the gradient passes where the output is positive. The backend may fuse each
    direction into one pass over memory."""

    backward_reads_inputs, saves_output = False, True

    def forward(self, a):
        return self.backend.relu_forward(a)

    def backward(self, gy):
        if self.create_graph:  # the gradient must itself be differentiable: build it from ops
            return gy * Tensor._make(self._y > 0, gy.device)
        return Tensor._make(self.backend.relu_backward(gy.array, self._y), gy.device)


def relu(input):
    return Relu()(input)


class LeakyRelu(Function):
    name = "leaky_relu"

    backward_reads_inputs = False

    def __init__(self, slope=0.01):
        self.slope = slope

    def forward(self, a):
        self.scale = self.xp.where(a > 0, 1, self.slope).astype(a.dtype)
        return a * self.scale

    def backward(self, gy):
        return gy * self.scale


def leaky_relu(input, negative_slope=0.01):
    return LeakyRelu(check_float("leaky_relu", "negative_slope", negative_slope))(input)


class Gelu(Function):
    """x Phi(x) (exact, with erf) or its tanh approximation."""

    differentiable_backward = False

    def __init__(self, approximate="none"):
        if approximate not in ("none", "tanh"):
            raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, a):
        xp = self.xp
        if self.approximate == "tanh":
            y, self.slope = self.backend.gelu_tanh(a)
            return y
        cdf = 0.5 * (1 + self.backend.erf(a / math.sqrt(2)))
        self.slope = (cdf + a * xp.exp(-0.5 * a * a) / math.sqrt(2 * math.pi)).astype(a.dtype, copy=False)
        return (a * cdf).astype(a.dtype, copy=False)

    def backward(self, gy):
        return gy * self.slope




def gelu(input, approximate="none"):
    return Gelu(approximate)(input)


class Clamp(Function):
    backward_reads_inputs = False

    def __init__(self, lo=None, hi=None):
        self.lo, self.hi = lo, hi

    def forward(self, a):
        inside = self.xp.ones_like(a, dtype=bool)
        if self.lo is not None:
            inside &= a >= self.lo
        if self.hi is not None:
            inside &= a <= self.hi
        self.inside = inside
        return self.xp.clip(a, self.lo, self.hi)

    def backward(self, gy):
        return gy * self.inside


@with_out
def clamp(input, min=None, max=None):
    """Values below `min` become `min`, above `max` become `max`; a float bound turns integers to floats."""
    check_tensor("clamp", "input", input)
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if input.dtype.kind in "biu" and any(isinstance(v, float) for v in (min, max)):
        input = to(input, get_default_dtype())
    return Clamp(min, max)(input)


class Maximum(Function):
    """Elementwise max; at ties each side gets half the gradient (like torch)."""

    backward_reads_inputs = False

    def forward(self, a, b):
        self.share = ((a > b) + 0.5 * (a == b)).astype(a.dtype)
        return self.xp.maximum(a, b)

    def backward(self, gy):
        a, b = self.inputs
        return sum_to(gy * self.share, a.shape), sum_to(gy * (1.0 - self.share), b.shape)


@with_out
def maximum(input, other):
    return Maximum()(*promote(input, other))


class Minimum(Function):
    backward_reads_inputs = False

    def forward(self, a, b):
        self.share = ((a < b) + 0.5 * (a == b)).astype(a.dtype)
        return self.xp.minimum(a, b)

    def backward(self, gy):
        a, b = self.inputs
        return sum_to(gy * self.share, a.shape), sum_to(gy * (1.0 - self.share), b.shape)


@with_out
def minimum(input, other):
    return Minimum()(*promote(input, other))


class Where(Function):
    """cond ? a : b, with cond a constant boolean array."""

    backward_reads_inputs = False

    def __init__(self, cond):
        self.cond = cond

    def forward(self, a, b):
        return self.xp.where(self.cond, a, b)

    def backward(self, gy):
        a, b = self.inputs
        return sum_to(gy * self.cond, a.shape), sum_to(gy * ~self.cond, b.shape)


@with_out
def where(condition, input, other):
    """cond ? a : b elementwise; cond is a boolean tensor or array, a and b (tensors or Python
    scalars) broadcast against it and each other."""
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):  # two scalars: `a` as a tensor sets the dtype
        input = Tensor(input, device=condition.device if isinstance(condition, Tensor) else None)
    input, other = promote(input, other)
    condition = condition.array if isinstance(condition, Tensor) else input.xp.asarray(condition)
    return Where(condition.astype(bool, copy=False))(input, other)


def _fill_mask(name, input, mask):
    """mask as a boolean array of input's device, checked to broadcast to input's shape."""
    m = mask.array if isinstance(mask, Tensor) else input.xp.asarray(mask)
    if m.dtype != np.bool_:
        raise TypeError(f"{name}: mask must be a bool tensor, got dtype {m.dtype}")
    try:
        ok = np.broadcast_shapes(m.shape, tuple(input.shape)) == tuple(input.shape)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{name}: mask of shape {tuple(m.shape)} does not broadcast to input's shape "
                         f"{tuple(input.shape)}")
    return m


def masked_fill(input, mask, value):
    """input with `value` (a number or a 0-d tensor, which then gets a gradient) where mask (bool,
    broadcasting to input's shape) is True; the result keeps input's shape and dtype."""
    m = _fill_mask("masked_fill", input, mask)
    if isinstance(value, Tensor) and value.ndim != 0:
        raise ValueError(f"masked_fill: value must be a number or a 0-d tensor, got shape {tuple(value.shape)}")
    if not isinstance(value, Tensor):
        if isinstance(value, (str, bytes)) or not np.isscalar(value):
            raise TypeError(f"masked_fill: value must be a number or a 0-d tensor, got {type(value).__name__} "
                            f"{value!r}")
        value = Tensor(input.xp.asarray(value, dtype=input.dtype), device=input.device)
    elif value.dtype != input.dtype:
        value = value.to(input.dtype)
    out = Where(m)(*promote(value, input))
    return out


def masked_fill_(input, mask, value):
    """In place: input[mask] = value (mask broadcasting to input's shape). -> input."""
    m = _fill_mask("masked_fill_", input, mask)
    if not isinstance(value, Tensor) and (isinstance(value, (str, bytes)) or not np.isscalar(value)):
        raise TypeError(f"masked_fill_: value must be a number or a 0-d tensor, got {type(value).__name__} {value!r}")
    v = value.array if isinstance(value, Tensor) else value
    return input._inplace(input.xp.where(m, input.xp.asarray(v, dtype=input.dtype), input.array))
