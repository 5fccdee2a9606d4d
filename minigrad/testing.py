"""`minigrad.testing.assert_close`: are two results the same, up to rounding? Shaped like torch.testing.

    mg.testing.assert_close(model(x), expected)                 # default tolerances of the dtype
    mg.testing.assert_close(out, ref, rtol=1e-4, atol=1e-6)     # both or neither

Values are close when |actual - expected| <= atol + rtol * |expected| everywhere (NaN only with
equal_nan=True; equal infinities are close). Without rtol/atol, each dtype brings its own pair:

    float16 1e-3 / 1e-5    float32 1.3e-6 / 1e-5    float64 1e-7 / 1e-7    integers and bool: exact
"""
import numbers

import numpy as np

from .tensor import Tensor

__all__ = ["assert_close"]

_TOLERANCES = {np.dtype(np.float16): (1e-3, 1e-5), np.dtype(np.float32): (1.3e-6, 1e-5),
               np.dtype(np.float64): (1e-7, 1e-7), np.dtype(np.complex64): (1.3e-6, 1e-5),
               np.dtype(np.complex128): (1e-7, 1e-7)}


def assert_close(actual, expected, *, allow_subclasses=True, rtol=None, atol=None, equal_nan=False,
                 check_device=True, check_dtype=True, check_layout=True, check_stride=False, msg=None):
    """Raise AssertionError, saying where and by how much, unless `actual` and `expected` are close.

    actual, expected: Tensors, numpy arrays or Python numbers (both of the same kind), or sequences
    and mappings of them, nested as deep as wanted (compared item by item).
    rtol, atol: the tolerances (give both or neither); check_dtype / check_device: their mismatch is an
    error too. msg: a string that replaces the message, or a function of the message that returns one.
    """
    if (rtol is None) != (atol is None):
        raise ValueError(f"assert_close: both 'rtol' and 'atol' must be either specified or omitted, "
                         f"but got no {'atol' if atol is None else 'rtol'}.")
    try:
        _compare(actual, expected, rtol, atol, equal_nan, check_device, check_dtype)
    except _Mismatch as mismatch:
        text, where = mismatch.args
        if where:
            text += "\n\nThe failure occurred for item " + "".join(f"[{k!r}]" for k in where)
        if callable(msg):
            text = msg(text)
        elif msg is not None:
            text = msg
        raise AssertionError(text) from None


class _Mismatch(Exception):
    """(message, path of keys to the item): turned into an AssertionError by assert_close."""


def _kind(x):
    if isinstance(x, Tensor):
        return "tensor"
    if isinstance(x, np.ndarray):
        return "array"
    if isinstance(x, (numbers.Number, np.generic)):
        return "number"
    if isinstance(x, (str, bytes)):
        return None
    if isinstance(x, dict) or hasattr(x, "keys") and hasattr(x, "__getitem__"):
        return "mapping"
    if isinstance(x, (list, tuple)) or hasattr(x, "__len__") and hasattr(x, "__getitem__"):
        return "sequence"
    return None


def _compare(actual, expected, rtol, atol, equal_nan, check_device, check_dtype, where=()):
    if actual is None and expected is None:
        return
    kinds = _kind(actual), _kind(expected)
    if kinds[0] != kinds[1] or kinds[0] is None:
        raise TypeError(f"assert_close: cannot compare inputs of type {type(actual).__name__} and "
                        f"{type(expected).__name__} (both must be Tensors, numpy arrays, numbers, sequences or "
                        f"mappings of them)")
    kind = kinds[0]
    if kind == "sequence":
        if len(actual) != len(expected):
            raise _Mismatch(f"The length of the sequences mismatch: {len(actual)} != {len(expected)}", where)
        for i, (a, e) in enumerate(zip(actual, expected)):
            _compare(a, e, rtol, atol, equal_nan, check_device, check_dtype, where + (i,))
    elif kind == "mapping":
        if set(actual.keys()) != set(expected.keys()):
            missing = sorted(set(expected.keys()) - set(actual.keys()), key=repr)
            extra = sorted(set(actual.keys()) - set(expected.keys()), key=repr)
            raise _Mismatch(f"The keys of the mappings do not match:\nMissing keys in the actual mapping: {missing}"
                            f"\nAdditional keys in the actual mapping: {extra}", where)
        for k in expected.keys():
            _compare(actual[k], expected[k], rtol, atol, equal_nan, check_device, check_dtype, where + (k,))
    elif kind == "number":
        _compare_numbers(actual, expected, rtol, atol, equal_nan, check_dtype, where)
    else:
        if kind == "tensor" and check_device and actual.device != expected.device:
            raise _Mismatch(f"The values for attribute 'device' do not match: {actual.device} != {expected.device}.",
                            where)
        a, e = _host(actual), _host(expected)
        if a.shape != e.shape:
            raise _Mismatch(f"The values for attribute 'shape' do not match: {a.shape} != {e.shape}.", where)
        if check_dtype and a.dtype != e.dtype:
            raise _Mismatch(f"The values for attribute 'dtype' do not match: {a.dtype} != {e.dtype}.", where)
        if rtol is None:
            rtol, atol = _default_tolerances(a.dtype, e.dtype)
        _compare_values(a, e, rtol, atol, equal_nan, "Scalars" if a.ndim == 0 else "Tensor-likes", where)


def _host(x):
    """A Tensor's or array's values as a numpy array (GPU arrays are copied to the host)."""
    array = x.array if isinstance(x, Tensor) else x
    return array.get() if hasattr(array, "get") and not isinstance(array, np.ndarray) else np.asarray(array)


def _default_tolerances(*dtypes):
    pairs = [_TOLERANCES.get(np.dtype(d), (0.0, 0.0)) for d in dtypes]
    return max(p[0] for p in pairs), max(p[1] for p in pairs)


def _compare_numbers(actual, expected, rtol, atol, equal_nan, check_dtype, where):
    if isinstance(actual, (bool, np.bool_)) and isinstance(expected, (bool, np.bool_)):
        if bool(actual) != bool(expected):
            raise _Mismatch(f"Booleans mismatch: {actual} is not {expected}", where)
        return
    a, e = np.asarray(actual), np.asarray(expected)
    if check_dtype and type(actual) is not type(expected):
        raise _Mismatch(f"The (d)types do not match: {type(actual)} != {type(expected)}.", where)
    if rtol is None:  # a Python float has float64's tolerances, an int none
        rtol, atol = _default_tolerances(a.dtype, e.dtype)
    _compare_values(a, e, rtol, atol, equal_nan, "Scalars", where)


def _compare_values(a, e, rtol, atol, equal_nan, identifier, where):
    """a, e: numpy arrays of one shape. Raise _Mismatch with the greatest differences unless all are close."""
    exact = a.dtype.kind in "biu" and e.dtype.kind in "biu"
    if exact:
        a, e = a.astype(np.int64), e.astype(np.int64)
    else:
        common = np.result_type(a.dtype, e.dtype, np.float16)
        a, e = a.astype(common), e.astype(common)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(a - e)  # inf - inf is NaN here, but equal infinities count as close just below
        close = diff <= atol + rtol * np.abs(e)
        close |= a == e  # equal infinities
        if equal_nan and not exact:
            close |= np.isnan(a) & np.isnan(e)
    if close.all():
        return
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = diff / np.abs(e)
    word = "equal" if rtol == 0 and atol == 0 else "close"
    if a.ndim == 0:
        lines = [f"{identifier} are not {word}!", "", f"Expected {e.item()} but got {a.item()}.",
                 f"Absolute difference: {diff.item()}" + _allowed(atol),
                 f"Relative difference: {float(rel)}" + _allowed(rtol)]
    else:
        bad = int((~close).sum())
        at_abs = np.unravel_index(np.argmax(diff), diff.shape)
        at_rel = np.unravel_index(np.argmax(np.where(np.isnan(rel) & ~np.isnan(diff), 0, rel)), rel.shape)
        lines = [f"{identifier} are not {word}!", "",
                 f"Mismatched elements: {bad} / {a.size} ({100 * bad / a.size:.1f}%)",
                 f"Greatest absolute difference: {diff[at_abs].item()} at index {_index(at_abs)}" + _allowed(atol),
                 f"Greatest relative difference: {float(rel[at_rel])} at index {_index(at_rel)}" + _allowed(rtol)]
    raise _Mismatch("\n".join(lines), where)


def _index(position):
    return str(tuple(int(k) for k in position))


def _allowed(tolerance):
    return f" (up to {tolerance} allowed)" if tolerance else ""
