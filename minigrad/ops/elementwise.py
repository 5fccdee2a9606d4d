"""Elementwise ops. Each Function keeps its local derivative next to its forward.

Binary ops broadcast like numpy; their backward sums the gradient back to each input's
shape (`sum_to`), undoing the broadcast.
"""
import math

import numpy as np

from ..autograd import Function, GradMode
from ..backend import get_backend
from ._array import array_module as _xp
from .shape import sum_to






# ---------------------------------------------------------------- arithmetic
class Add(Function):
    saves_inputs = False

    def forward(self, a, b):
        return a + b

    def backward(self, gy):
        a, b = self.inputs
        return sum_to(gy, a.shape), sum_to(gy, b.shape)


class Sub(Function):
    saves_inputs = False

    def forward(self, a, b):
        return a - b

    def backward(self, gy):
        a, b = self.inputs
        return sum_to(gy, a.shape), sum_to(-gy, b.shape)


class Mul(Function):
    def forward(self, a, b):
        return a * b

    def backward(self, gy):
        a, b = self.inputs
        return sum_to(gy * b, a.shape), sum_to(gy * a, b.shape)


class Div(Function):
    def forward(self, a, b):
        return a / b

    def backward(self, gy):
        a, b = self.inputs
        ga = gy / b
        return sum_to(ga, a.shape), sum_to(-ga * a / b, b.shape)


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


class Neg(Function):
    saves_inputs = False

    def forward(self, a):
        return -a

    def backward(self, gy):
        return -gy


class Abs(Function):
    def forward(self, a):
        self.sign = _xp(a).sign(a)
        return abs(a)

    def backward(self, gy):
        return gy * self.sign


# ---------------------------------------------------------------- transcendental
class Exp(Function):
    saves_inputs, saves_output = False, True

    def forward(self, a):
        return _xp(a).exp(a)

    def backward(self, gy):
        return gy * self.output


class Log(Function):
    def forward(self, a):
        return _xp(a).log(a)

    def backward(self, gy):
        return gy / self.inputs[0]


class Sqrt(Function):
    saves_inputs, saves_output = False, True

    def forward(self, a):
        return _xp(a).sqrt(a)

    def backward(self, gy):
        return gy / (self.output * 2.0)


class Sin(Function):
    def forward(self, a):
        return _xp(a).sin(a)

    def backward(self, gy):
        return gy * self.inputs[0].cos()


class Cos(Function):
    def forward(self, a):
        return _xp(a).cos(a)

    def backward(self, gy):
        return -gy * self.inputs[0].sin()


class Tanh(Function):
    saves_inputs, saves_output = False, True

    def forward(self, a):
        return _xp(a).tanh(a)

    def backward(self, gy):
        y = self.output
        return gy * (1.0 - y * y)


class Sigmoid(Function):
    saves_inputs, saves_output = False, True

    def forward(self, a):
        xp = _xp(a)
        e = xp.exp(-abs(a))  # never overflows: stable at +-1e4
        return xp.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)

    def backward(self, gy):
        y = self.output
        return gy * y * (1.0 - y)


class Softplus(Function):
    """log(1 + exp(beta x)) / beta, linear above `threshold` like torch."""

    def __init__(self, beta=1.0, threshold=20.0):
        self.beta, self.threshold = beta, threshold

    def forward(self, a):
        xp = _xp(a)
        bx = a * self.beta
        y = xp.logaddexp(0, bx) / self.beta
        return xp.where(bx > self.threshold, a, y).astype(a.dtype, copy=False)

    def backward(self, gy):
        (a,) = self.inputs
        return gy * (a * self.beta).sigmoid()


# ---------------------------------------------------------------- piecewise
class Relu(Function):
    """max(a, 0); the gradient passes where the output is positive. Runs the backend's one-pass kernels."""

    saves_inputs, saves_output = False, True

    def forward(self, a):
        return get_backend(self.device).relu_forward(a)

    def backward(self, gy):
        if GradMode.enabled:  # create_graph: build the gradient from differentiable ops
            return gy * type(gy)._make(self._y > 0, gy.device)
        return type(gy)._make(get_backend(self.device).relu_backward(gy.array, self._y), gy.device)


class LeakyRelu(Function):
    saves_inputs = False

    def __init__(self, slope=0.01):
        self.slope = slope

    def forward(self, a):
        self.scale = _xp(a).where(a > 0, 1, self.slope).astype(a.dtype)
        return a * self.scale

    def backward(self, gy):
        return gy * self.scale


class Gelu(Function):
    """x Phi(x) (exact, with erf) or its tanh approximation."""

    differentiable_backward = False

    def __init__(self, approximate="none"):
        if approximate not in ("none", "tanh"):
            raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, a):
        xp = _xp(a)
        if self.approximate == "tanh":
            k = math.sqrt(2 / math.pi)
            inner = k * (a + 0.044715 * a ** 3)
            t = xp.tanh(inner)
            self.slope = 0.5 * (1 + t) + 0.5 * a * (1 - t * t) * k * (1 + 3 * 0.044715 * a * a)
            return 0.5 * a * (1 + t)
        cdf = 0.5 * (1 + _erf(a / math.sqrt(2)))
        self.slope = (cdf + a * xp.exp(-0.5 * a * a) / math.sqrt(2 * math.pi)).astype(a.dtype, copy=False)
        return (a * cdf).astype(a.dtype, copy=False)

    def backward(self, gy):
        return gy * self.slope


_erf_vec = np.vectorize(math.erf, otypes=[np.float64])


def _erf(a):
    if type(a) is np.ndarray:
        return _erf_vec(a).astype(a.dtype, copy=False)
    from cupyx.scipy.special import erf
    return erf(a)


class Clamp(Function):
    saves_inputs = False

    def __init__(self, lo=None, hi=None):
        self.lo, self.hi = lo, hi

    def forward(self, a):
        inside = np.ones_like(a, dtype=bool) if type(a) is np.ndarray else _xp(a).ones_like(a, dtype=bool)
        if self.lo is not None:
            inside &= a >= self.lo
        if self.hi is not None:
            inside &= a <= self.hi
        self.inside = inside
        return _xp(a).clip(a, self.lo, self.hi)

    def backward(self, gy):
        return gy * self.inside


class Maximum(Function):
    """Elementwise max; at ties each side gets half the gradient (like torch)."""

    saves_inputs = False

    def forward(self, a, b):
        self.share = ((a > b) + 0.5 * (a == b)).astype(a.dtype)
        return _xp(a).maximum(a, b)

    def backward(self, gy):
        a, b = self.inputs
        return sum_to(gy * self.share, a.shape), sum_to(gy * (1.0 - self.share), b.shape)


class Minimum(Function):
    saves_inputs = False

    def forward(self, a, b):
        self.share = ((a < b) + 0.5 * (a == b)).astype(a.dtype)
        return _xp(a).minimum(a, b)

    def backward(self, gy):
        a, b = self.inputs
        return sum_to(gy * self.share, a.shape), sum_to(gy * (1.0 - self.share), b.shape)


class Where(Function):
    """cond ? a : b, with cond a constant boolean array."""

    saves_inputs = False

    def __init__(self, cond):
        self.cond = cond

    def forward(self, a, b):
        return _xp(a).where(self.cond, a, b)

    def backward(self, gy):
        a, b = self.inputs
        return sum_to(gy * self.cond, a.shape), sum_to(gy * ~self.cond, b.shape)
