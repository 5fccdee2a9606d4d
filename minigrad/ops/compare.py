"""Comparisons and logic: boolean (or integer) results, so no gradient flows through them.

The first operand is a Tensor; the second a Tensor, an array or a Python scalar (`2 < x`
reaches here as `x > 2`). Results broadcast like numpy.
"""
import numpy as np

from ..tensor import Tensor
from .convert import with_out

__all__ = ["eq", "ne", "lt", "le", "gt", "ge", "bitwise_and", "bitwise_or", "bitwise_not", "all", "any"]


def _apply(ufunc, a, b):
    y = ufunc(a.array, b.array if isinstance(b, Tensor) else b)
    return Tensor._make(a.xp.asarray(y), a.device)  # asarray: numpy hands back a scalar for 0-d inputs


@with_out
def eq(a, b):
    return _apply(a.xp.equal, a, b)


@with_out
def ne(a, b):
    return _apply(a.xp.not_equal, a, b)


@with_out
def lt(a, b):
    return _apply(a.xp.less, a, b)


@with_out
def le(a, b):
    return _apply(a.xp.less_equal, a, b)


@with_out
def gt(a, b):
    return _apply(a.xp.greater, a, b)


@with_out
def ge(a, b):
    return _apply(a.xp.greater_equal, a, b)


def _check_integers(op, *operands):
    for x in operands:
        dtype = x.dtype if isinstance(x, Tensor) else np.asarray(x).dtype
        if dtype.kind not in "biu":
            raise TypeError(f"{op}: needs boolean or integer operands, got {dtype}")


@with_out
def bitwise_and(a, b):
    """a & b: logical and for booleans, bitwise for integers."""
    _check_integers("bitwise_and", a, b)
    return _apply(a.xp.bitwise_and, a, b)


@with_out
def bitwise_or(a, b):
    _check_integers("bitwise_or", a, b)
    return _apply(a.xp.bitwise_or, a, b)


@with_out
def bitwise_not(a):
    """~a: logical not for booleans, bitwise for integers."""
    _check_integers("bitwise_not", a)
    return Tensor._make(a.xp.asarray(~a.array), a.device)


@with_out
def all(x):
    """True when every element is nonzero (a 0-d boolean tensor)."""
    return Tensor._make(x.xp.asarray(x.array.all()), x.device)


@with_out
def any(x):
    return Tensor._make(x.xp.asarray(x.array.any()), x.device)
