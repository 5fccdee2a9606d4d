"""Argument checks shared by ops, layers, optimisers and loaders: each raises a ValueError or
TypeError that names the function, the argument and the value, where the value is given, so
that backends and kernels can trust what reaches them.

    check_int("conv2d", "groups", groups, min=1)           -> int(groups)
    check_float("Adam", "eps", eps, min=0)                  -> float(eps)
    check_choice("cross_entropy", "reduction", r, ("mean", "sum", "none"))
"""
import math
import numbers


def check_int(op, name, value, min=None, max=None):
    """value as an int (bools and floats refused), with min <= value <= max where given."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{op}: {name} must be an int, got {type(value).__name__} {value!r}")
    value = int(value)
    if min is not None and value < min:
        raise ValueError(f"{op}: {name} must be >= {min}, got {value}")
    if max is not None and value > max:
        raise ValueError(f"{op}: {name} must be <= {max}, got {value}")
    return value


def check_int_tuple(op, name, value, n, min=None):
    """An int or n ints (each >= min) as a tuple of n ints: 3 -> (3, 3) when n is 2."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, tuple, list)):
        raise TypeError(f"{op}: {name} must be an int or {n} ints, got {type(value).__name__} {value!r}")
    values = (value,) * n if isinstance(value, numbers.Integral) else tuple(value)
    if len(values) != n or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in values):
        raise ValueError(f"{op}: {name} must be an int or {n} ints, got {value!r}")
    values = tuple(int(v) for v in values)
    if min is not None and any(v < min for v in values):
        raise ValueError(f"{op}: {name} must be >= {min}, got {value!r}")
    return values


def check_float(op, name, value, min=None, max=None, min_open=False, max_open=False):
    """value as a finite float within [min, max] (an open end with min_open / max_open)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    low_bad = min is not None and (value <= min if min_open else value < min)
    high_bad = max is not None and (value >= max if max_open else value > max)
    if not math.isfinite(value) or low_bad or high_bad:
        low = "" if min is None else ("(" if min_open else "[") + f"{min}, "
        high = "" if max is None else f"{max}" + (")" if max_open else "]")
        where = f"in {low or '(-inf, '}{high or 'inf)'}"
        raise ValueError(f"{op}: {name} must be a finite number {where}, got {value}")
    return value


def check_tensor(op, name, value):
    """value itself, when it is a minigrad Tensor."""
    if not hasattr(value, "_requires_grad"):
        raise TypeError(f"{op}: {name} must be a Tensor, got {type(value).__name__}")
    return value


def check_choice(op, name, value, choices):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{op}: {name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def check_dim(op, dim, ndim, name="dim", inserting=False):
    """A dim index for a tensor of ndim dims (ndim + 1 when inserting one), made non-negative.
    Out of range is an IndexError, as in torch."""
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
        raise TypeError(f"{op}: {name} must be an int, got {type(dim).__name__} {dim!r}")
    n = max(ndim + int(inserting), 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}: {name} {dim} is out of range for a tensor with {ndim} dimensions "
                         f"(expected to be in [{-n}, {n - 1}])")
    return int(dim) % n
