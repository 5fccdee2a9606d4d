"""Conversions (dtype casts, device moves, copies) as differentiable ops, and the rules that turn
Python scalars and arrays into operands.

Operands follow torch's type promotion for the cases a teaching library meets:
  tensor (float32) + 2 or 2.5      -> float32   a Python scalar takes the tensor's dtype ...
  tensor (int64)   + 2.5           -> float32   ... unless it is a float meeting integers: default dtype
  tensor (int64)   + tensor (float) -> float    an integer tensor meeting a float one takes its dtype
"""
import functools

import sys

import numpy as np

from ..autograd import Function, GradMode
from ..backend import Device
from ..tensor import Tensor, _device, _to_array, bool_, get_default_dtype, int64

__all__ = ["clone"]


def as_operand(value, like):
    """A Python scalar or array as a constant Tensor that can meet the Tensor `like` in a binary op."""
    if isinstance(value, Tensor):
        return value
    dtype = like.dtype
    if isinstance(value, (bool, np.bool_)):
        dtype = dtype if dtype.kind != "b" else bool_
    elif isinstance(value, (int, np.integer)):
        dtype = dtype if dtype.kind != "b" else int64
    elif isinstance(value, (float, np.floating)):
        dtype = dtype if dtype.kind in "fc" else get_default_dtype()
    else:
        arr = _to_array(value, None, like.device)
        if arr.dtype.kind not in "biufc":
            raise TypeError(f"unsupported operand: a Tensor cannot meet a {type(value).__name__} ({value!r:.40}) in "
                            "an arithmetic op; expected a Tensor, an array or a number")
        return Tensor._make(arr, like.device)
    return Tensor._make(like.xp.asarray(value, dtype=dtype), like.device)


def promote(a, b):
    """Both operands of a binary op as Tensors (at least one of them is one already).

    An integer tensor meeting a float one takes its dtype (torch's rule; numpy would widen
    float32 + int64 to float64). Boolean masks are left to numpy, which keeps the float."""
    try:
        if isinstance(a, Tensor):
            if not isinstance(b, Tensor):
                b = as_operand(b, a)
        elif isinstance(b, Tensor):
            a = as_operand(a, b)
        else:
            raise TypeError(f"expected a Tensor operand, got {type(a).__name__} and {type(b).__name__}")
    except (TypeError, ValueError) as e:  # name the op that was called (add, mul, ...): the caller of promote
        raise type(e)(f"{sys._getframe(1).f_code.co_name}: {e}") from None
    da, db = a.array.dtype, b.array.dtype
    if da is not db:
        if da.kind == "f" and db.kind in "iu":
            b = to(b, da)
        elif db.kind == "f" and da.kind in "iu":
            a = to(a, db)
    return a, b


def constant(value, like):
    """A constant Tensor (no gradient) from a Tensor, array or scalar, with `like`'s dtype and device."""
    if isinstance(value, Tensor):
        return value
    return Tensor._make(like.xp.asarray(value, dtype=like.dtype), like.device)


# ---------------------------------------------------------------- dtype
class Cast(Function):
    """x.astype(dtype); the gradient is cast back to the input's dtype."""

    backward_reads_inputs = False

    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        self.in_dtype = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy):
        return to(gy, self.in_dtype)

    def __call__(self, x):
        if self.dtype.kind not in "fc":  # integer results carry no gradient
            return Tensor._make(x.array.astype(self.dtype), x.device)
        return super().__call__(x)


# ---------------------------------------------------------------- device
class ToDevice(Function):
    """A copy of x on the `target` device; the gradient travels back to the source device."""

    backward_reads_inputs = False

    def __init__(self, target):
        self.target = target

    def forward(self, x):
        self.source = self.device
        host = self.source.backend.to_host(x)
        return self.target.backend.from_host(host, self.target.index)

    def backward(self, gy):
        return to(gy, self.source)

    def __call__(self, x):
        out = super().__call__(x)
        out.device = self.target
        return out


def to_args(args, dtype=None, device=None):
    """The (device, dtype) that .to(...) asks for: positional devices, dtypes or a tensor to match."""
    for a in args:
        if isinstance(a, Tensor):
            device, dtype = a.device, a.dtype
        elif isinstance(a, (str, Device)):
            device = a
        else:
            dtype = a
    return device, dtype


def to(x, *args, dtype=None, device=None, copy=False):
    """x.to(device), x.to(dtype), x.to(device, dtype), x.to(other_tensor); differentiable."""
    device, dtype = to_args(args, dtype, device)
    out = x
    if device is not None and _device(device) != x.device:
        out = ToDevice(_device(device))(out)
    if dtype is not None and np.dtype(dtype) != out.dtype:
        out = Cast(np.dtype(dtype))(out)
    if copy and out is x:
        out = clone(x)
    return out


# ---------------------------------------------------------------- copy
class Clone(Function):
    backward_reads_inputs = False

    def forward(self, x):
        return x.copy()

    def backward(self, gy):
        return gy


def clone(input):
    """A copy of x with its own memory; gradients flow through it unchanged."""
    return Clone()(input)


# ---------------------------------------------------------------- out=
def with_out(op):
    """Give the op torch's keyword `out=`: `mg.add(a, b, out=c)` computes the result, writes it
    into `c` (resizing `c` only when it has no elements), bumps c's version and returns `c`.
    An op returning (values, indices) takes a tuple of two tensors. Like torch, `out=` does not
    record a graph, so it is refused while grad mode is on and an input or `out` requires grad.
    Tensor methods are installed without this wrapper (torch's methods take no `out=` either)."""
    @functools.wraps(op)
    def op_with_out(*args, out=None, **kwargs):
        result = op(*args, **kwargs)
        if out is None:
            return result
        results, outs = (result, out) if isinstance(result, tuple) else ((result,), (out,))
        if not isinstance(outs, (tuple, list)) or len(outs) != len(results):
            raise TypeError(f"{op.__name__}: out must be {len(results)} tensors here, got {type(out).__name__}")
        for r, o in zip(results, outs):
            _write_out(op.__name__, r, o)
        return type(result)(*outs) if isinstance(result, tuple) else out
    return op_with_out


def _write_out(name, result, out):
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}: out must be a Tensor, got {type(out).__name__}")
    if GradMode.enabled and (result.requires_grad or out.requires_grad):
        raise RuntimeError(f"{name}(): functions with out=... arguments don't support automatic differentiation, "
                           "but one of the arguments requires grad (call it under minigrad.no_grad(), or drop out=)")
    if out.device != result.device:
        raise RuntimeError(f"{name}: out is on {out.device} but the result is on {result.device}")
    if not np.can_cast(result.dtype, out.dtype, "same_kind"):
        raise RuntimeError(f"{name}: result type {result.dtype} can't be cast to the desired output type "
                           f"{out.dtype} of out")
    if out.array.shape != result.array.shape:
        if out.array.size != 0:
            raise RuntimeError(f"{name}: out has shape {tuple(out.array.shape)} but the result has shape "
                               f"{tuple(result.array.shape)}; pass an out of that shape, or an empty one to be resized")
        out.array = out.xp.empty(result.array.shape, out.dtype)
    out.array[...] = result.array
    out._version[0] += 1
