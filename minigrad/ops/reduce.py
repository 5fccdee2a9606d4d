"""Reductions over axes: sum, max/min, logsumexp; mean/var/std are built from these.

Backward first puts the reduced axes back (as size 1), then broadcasts the gradient
over them. Every reduction takes `dim`/`keepdim` (torch) or `axis`/`keepdims` (numpy).
"""
import builtins as _py
from collections import namedtuple

import numpy as np

from ..autograd import Function
from ..checks import check_tensor
from ..tensor import Tensor
from .convert import to, with_out
from .elementwise import abs, maximum, minimum, sqrt, where
from .shape import normalize_axis

__all__ = ["sum", "mean", "var", "std", "max", "min", "amax", "amin", "logsumexp", "argmax", "argmin", "norm"]

MinMax = namedtuple("MinMax", ["values", "indices"])


def kept_shape(shape, axes):
    """The shape a keepdims reduction over `axes` leaves."""
    if axes is None:
        return (1,) * len(shape)
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _dims(x, dim, axis, op):
    """The axes to reduce (numpy's `axis` is an alias of `dim`)."""
    check_tensor(op, "input", x)
    return normalize_axis(dim if axis is None else axis, x.ndim, op)


def _keep(keepdim, keepdims):
    return keepdim if keepdims is None else keepdims


def _count(x, axes):
    """How many elements a reduction over `axes` sees."""
    return x.array.size if axes is None else int(np.prod([x.shape[a] for a in axes]))


# ---------------------------------------------------------------- sum and the moments
class Sum(Function):
    backward_reads_inputs = False

    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.in_shape = x.shape
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        return gy.reshape(kept_shape(self.in_shape, self.axis)).expand(self.in_shape)


@with_out
def sum(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    return Sum(_dims(input, dim, axis, "sum"), _keep(keepdim, keepdims))(input)


@with_out
def mean(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    axes = _dims(input, dim, axis, "mean")
    if input.dtype.kind in "biu":
        raise TypeError(f"mean: needs a floating-point tensor, got {input.dtype}; call .float() first")
    return sum(input, axes, _keep(keepdim, keepdims)) * (1.0 / _py.max(_count(input, axes), 1))


@with_out
def var(input, dim=None, keepdim=False, *, correction=1, unbiased=None, axis=None, keepdims=None):
    """Variance; `correction=1` (Bessel's, torch's default) divides by n - 1."""
    if unbiased is not None:
        correction = int(unbiased)
    axes = _dims(input, dim, axis, "var")
    d = input - mean(input, axes, keepdim=True)
    dof = _count(input, axes) - correction  # torch gives nan (and warns) when there are too few elements
    return sum(d * d, axes, _keep(keepdim, keepdims)) * (1.0 / dof if dof > 0 else float("nan"))


@with_out
def std(input, dim=None, keepdim=False, *, correction=1, unbiased=None, axis=None, keepdims=None):
    _dims(input, dim, axis, "std")  # (checked here, so that errors name std rather than var)
    return sqrt(var(input, dim, keepdim, correction=correction, unbiased=unbiased, axis=axis, keepdims=keepdims))


# ---------------------------------------------------------------- max and min
class Max(Function):
    """max (or min with `smallest=True`); ties share the gradient equally (torch's amax)."""

    backward_reads_inputs = False

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


def _extreme(x, dim, keepdim, axis, keepdims, smallest):
    """max/min over everything (a tensor) or over one dim (values and indices, like torch)."""
    d = dim if axis is None else axis
    k = _keep(keepdim, keepdims)
    values = Max(normalize_axis(d, x.ndim, "min" if smallest else "max"), k, smallest)(x)
    if d is None or not isinstance(d, (int, np.integer)):
        return values
    return MinMax(values, (argmin if smallest else argmax)(x, d, k))


@with_out
def max(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """max over everything, over `dim` (returning values and indices like torch.max), or the
    elementwise maximum with another tensor (`x.max(other)`)."""
    check_tensor("max", "input", input)
    if isinstance(dim, Tensor):
        return maximum(input, dim)
    return _extreme(input, dim, keepdim, axis, keepdims, smallest=False)


@with_out
def min(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    check_tensor("min", "input", input)
    if isinstance(dim, Tensor):
        return minimum(input, dim)
    return _extreme(input, dim, keepdim, axis, keepdims, smallest=True)


@with_out
def amax(input, dim=None, keepdim=False):
    return Max(normalize_axis(dim, input.ndim, "amax"), keepdim)(input)


@with_out
def amin(input, dim=None, keepdim=False):
    return Max(normalize_axis(dim, input.ndim, "amin"), keepdim, smallest=True)(input)


def _arg(x, dim, keepdim, name):
    xp = x.xp
    if dim is None:
        return Tensor._make(xp.asarray(getattr(xp, name)(x.array.reshape(-1)), dtype=np.int64), x.device)
    (d,) = normalize_axis(dim, x.ndim, name)
    out = getattr(xp, name)(x.array, axis=d)
    if keepdim:
        out = xp.expand_dims(out, d)
    return Tensor._make(xp.asarray(out, dtype=np.int64), x.device)


@with_out
def argmax(input, dim=None, keepdim=False):
    """Index of the largest element (over everything, or along `dim`); no gradient."""
    return _arg(input, dim, keepdim, "argmax")


@with_out
def argmin(input, dim=None, keepdim=False):
    return _arg(input, dim, keepdim, "argmin")


# ---------------------------------------------------------------- logsumexp
class LogSumExp(Function):
    """log(sum(exp(x))), computed as m + log(sum(exp(x - m))) so it never overflows."""

    saves_output = True

    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        xp = self.xp
        m = x.max(axis=self.axis, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        y = xp.log(xp.exp(x - m).sum(axis=self.axis, keepdims=True)) + m
        return y if self.keepdims else y.reshape([n for i, n in enumerate(y.shape)
                                                  if self.axis is not None and i not in self.axis])

    def backward(self, gy):
        (x,) = self.inputs
        shape = kept_shape(x.shape, self.axis)
        return gy.reshape(shape) * (x - self.output.reshape(shape)).exp()


@with_out
def logsumexp(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    return LogSumExp(_dims(input, dim, axis, "logsumexp"), _keep(keepdim, keepdims))(input)


# ---------------------------------------------------------------- norms
class PNorm(Function):
    """(sum |x|^p)^(1/p) over `axis` for a finite p > 0.

    d/dx = sign(x) |x|^(p-1) / y^(p-1)  (x / y for p = 2, sign(x) for p = 1); where the norm is 0
    the gradient is 0, torch's subgradient, not 0/0."""

    saves_output = True

    def __init__(self, p, axis=None, keepdims=False):
        self.p, self.axis, self.keepdims = p, axis, keepdims

    def forward(self, x):
        a = self.xp.abs(x)
        if self.p == 2:
            y = self.xp.sqrt((a * a).sum(axis=self.axis, keepdims=self.keepdims))
        else:
            y = (a ** self.p).sum(axis=self.axis, keepdims=self.keepdims) ** (1.0 / self.p)
        return self.xp.asarray(y, dtype=x.dtype)

    def backward(self, gy):
        (x,) = self.inputs
        shape = kept_shape(x.array.shape, self.axis)
        gy = gy.reshape(shape)
        sign = Tensor._make(x.xp.sign(x.array), x.device)  # constant: its derivative is 0 almost everywhere
        if self.p == 1:
            return gy * sign
        y = self.output.reshape(shape)
        y = where(y == 0, float("inf"), y)  # a zero norm sends back 0
        if self.p == 2:
            return gy * x / y
        return gy * sign * abs(x) ** (self.p - 1) / y ** (self.p - 1)


def _float_input(x, dtype, op):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if dtype is not None:
        if not np.can_cast(x.dtype, dtype, "safe"):
            raise RuntimeError(f"{op}: the dtype of the input ({x.dtype}) should be convertible without narrowing "
                               f"to the specified dtype ({np.dtype(dtype)})")
        x = to(x, dtype)
    if x.dtype.kind not in "fc":
        raise TypeError(f"{op}: expected a floating-point tensor, got dtype {x.dtype}")
    return x


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    """The vector p-norm of x over `dim` (all elements when None): (sum |x|^ord)^(1/ord);
    ord=inf: max |x|, -inf: min |x|, 0: the number of nonzero elements. x: (...) float.
    Differentiable; the gradient of the 2-norm at 0 is 0 (the subgradient torch picks)."""
    x = _float_input(x, dtype, "vector_norm")
    if isinstance(ord, str) or isinstance(ord, bool) or not isinstance(ord, (int, float, np.integer, np.floating)):
        raise TypeError(f"vector_norm: ord must be a number (incl. inf, -inf, 0), got {ord!r}")
    axes = normalize_axis(dim, x.ndim, "vector_norm")
    if ord == float("inf"):
        return amax(abs(x), axes, keepdim)
    if ord == -float("inf"):
        return amin(abs(x), axes, keepdim)
    if ord == 0:
        return sum(to(x != 0, x.dtype), axes, keepdim)
    if ord < 0:  # (sum |x|^p)^(1/p) for a negative p: built from ops
        return sum(abs(x) ** ord, axes, keepdim) ** (1.0 / ord)
    return PNorm(float(ord), axes, keepdim)(x)


@with_out
def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """torch.norm: p="fro" (the 2-norm over `dim`, all elements when None) or a number (the vector
    p-norm over `dim`, see vector_norm); "nuc" is mg.linalg.matrix_norm(x, "nuc")."""
    if p == "fro" or p is None:
        return vector_norm(input, 2, dim, keepdim, dtype=dtype)
    if p == "nuc":
        from ..linalg import matrix_norm
        return matrix_norm(input if dtype is None else to(input, dtype), "nuc", (-2, -1) if dim is None else dim, keepdim)
    if isinstance(p, str):
        raise ValueError(f"norm: p must be 'fro', 'nuc' or a number, got {p!r}")
    return vector_norm(input, p, dim, keepdim, dtype=dtype)
