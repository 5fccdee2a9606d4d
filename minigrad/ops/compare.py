"""Comparisons and logic: boolean (or integer) results, so no gradient flows through them.

The first operand is a Tensor; the second a Tensor, an array or a Python scalar (`2 < x`
reaches here as `x > 2`). Results broadcast like numpy.
"""
import sys

import numpy as np

from ..checks import check_tensor

from ..tensor import Tensor
from .convert import with_out

__all__ = ["eq", "ne", "lt", "le", "gt", "ge", "bitwise_and", "bitwise_or", "bitwise_not", "all", "any"]


def _apply(ufunc, a, b):
    op = sys._getframe(1).f_code.co_name  # the public function: eq, lt, ... (for the messages)
    check_tensor(op, "input", a)
    try:
        y = getattr(a.xp, ufunc)(a.array, b.array if isinstance(b, Tensor) else b)
    except ValueError:
        shape = getattr(b, "shape", np.shape(b))
        raise ValueError(f"{op}: the shapes {tuple(a.shape)} and {tuple(shape)} cannot be broadcast together") from None
    return Tensor._make(a.xp.asarray(y), a.device)  # asarray: numpy hands back a scalar for 0-d inputs


@with_out
def eq(input, other):
    return _apply("equal", input, other)


@with_out
def ne(input, other):
    return _apply("not_equal", input, other)


@with_out
def lt(input, other):
    return _apply("less", input, other)


@with_out
def le(input, other):
    return _apply("less_equal", input, other)


@with_out
def gt(input, other):
    return _apply("greater", input, other)


@with_out
def ge(input, other):
    return _apply("greater_equal", input, other)


def _check_integers(op, *operands):
    for x in operands:
        dtype = x.dtype if isinstance(x, Tensor) else np.asarray(x).dtype
        if dtype.kind not in "biu":
            raise TypeError(f"{op}: needs boolean or integer operands, got {dtype}")


@with_out
def bitwise_and(input, other):
    """a & b: logical and for booleans, bitwise for integers."""
    _check_integers("bitwise_and", input, other)
    return _apply("bitwise_and", input, other)


@with_out
def bitwise_or(input, other):
    _check_integers("bitwise_or", input, other)
    return _apply("bitwise_or", input, other)


@with_out
def bitwise_not(input):
    """~a: logical not for booleans, bitwise for integers."""
    _check_integers("bitwise_not", input)
    return Tensor._make(input.xp.asarray(~input.array), input.device)


@with_out
def all(input):
    """True when every element is nonzero (a 0-d boolean tensor)."""
    return Tensor._make(input.xp.asarray(input.array.all()), input.device)


@with_out
def any(input):
    return Tensor._make(input.xp.asarray(input.array.any()), input.device)
