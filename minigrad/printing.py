"""How a tensor prints, in torch's layout:

    tensor([[ 1.0000, -2.5000],
            [ 3.0000,  4.0000]], dtype=float64, requires_grad=True)

Every element gets one format, picked from the values: integer-valued floats print as `1.`,
others with 4 decimals, or in scientific notation when they span more than 1000x (or are tiny or
huge); all are padded to the widest. Over 1000 elements, only the first and last 3 of each
dimension print, around `...`. The dtype shows only when it is not the default (float32 or the
default float dtype, int64, bool), the device only when it is not the CPU.
"""
import math

import numpy as np

LINEWIDTH, THRESHOLD, EDGEITEMS, PRECISION = 80, 1000, 3, 4


def _edges(arr):
    """The corner of `arr` that prints when it is summarised (first and last EDGEITEMS of every dim)."""
    for axis, n in enumerate(arr.shape):
        if n > 2 * EDGEITEMS:
            keep = list(range(EDGEITEMS)) + list(range(n - EDGEITEMS, n))
            arr = np.take(arr, keep, axis=axis)
    return arr


def _formatter(values, dtype):
    """A function value -> string and the width every element is padded to."""
    if dtype.kind in "biu":
        fmt = str
    else:
        finite = np.abs(values[np.isfinite(values)].astype(np.float64))
        nonzero = finite[finite != 0]
        big, small = (nonzero.max(), nonzero.min()) if nonzero.size else (0.0, 0.0)
        integral = bool(np.all(finite == np.ceil(finite)))
        sci = nonzero.size > 0 and (big / small > 1000 or big > 1e8 or (not integral and small < 1e-4))

        def fmt(v):
            if not math.isfinite(v):
                return str(v)
            if sci:
                return f"{v:.{PRECISION}e}"
            return f"{v:.0f}." if integral else f"{v:.{PRECISION}f}"
    width = max((len(fmt(v)) for v in values.ravel().tolist()), default=1)
    return (lambda v: fmt(v).rjust(width)), width


def _layout(arr, fmt, width, indent, summarise):
    """The nested-bracket text of `arr`, continuation lines indented by `indent` + 1; when
    summarising, a dim longer than 2 * EDGEITEMS shows its first and last EDGEITEMS around `...`."""
    if arr.ndim == 0:
        return fmt(arr.item())
    n = arr.shape[0]
    if summarise and n > 2 * EDGEITEMS:
        index = list(range(EDGEITEMS)) + [None] + list(range(n - EDGEITEMS, n))
    else:
        index = range(n)
    if arr.ndim == 1:
        items = [" ..." if i is None else fmt(arr[i].item()) for i in index]
        per_line = max(1, (LINEWIDTH - indent) // (width + 2))
        lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    rows = ["..." if i is None else _layout(arr[i], fmt, width, indent + 1, summarise) for i in index]
    return "[" + ("," + "\n" * (arr.ndim - 1) + " " * (indent + 1)).join(rows) + "]"


def tensor_repr(t, default_dtype):
    """repr(t) as torch writes it, `tensor(` ... `)` with the non-default attributes after the values."""
    arr = t._host()
    prefix = "tensor("
    suffixes = []
    if t.device.type != "cpu":
        suffixes.append(f"device='{t.device}'")
    if arr.size == 0:
        body = "[]"
        if arr.shape != (0,):
            suffixes.append(f"size={tuple(arr.shape)}")
    else:
        summarise = arr.size > THRESHOLD
        shown = _edges(arr) if summarise else arr
        fmt, width = _formatter(shown, arr.dtype)
        body = _layout(arr, fmt, width, len(prefix), summarise)
    if arr.dtype not in (default_dtype, np.dtype("int64"), np.dtype("bool")) or (arr.size == 0 and
                                                                                 arr.dtype.kind != "f"):
        suffixes.append(f"dtype={arr.dtype}")
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        suffixes.append("requires_grad=True")
    return prefix + body + _suffix_text(prefix + body, suffixes) + ")"


def _suffix_text(text, suffixes):
    """`, dtype=..., requires_grad=True`, moving a suffix to a new line where it would pass LINEWIDTH."""
    last = len(text.rsplit("\n", 1)[-1])
    out = ""
    for s in suffixes:
        if last + len(s) + 2 > LINEWIDTH:
            out += ",\n" + " " * len("tensor(") + s
            last = len("tensor(") + len(s)
        else:
            out += ", " + s
            last += len(s) + 2
    return out
