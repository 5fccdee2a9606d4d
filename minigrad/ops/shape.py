"""Ops that move data without arithmetic: reshape, permute, broadcast, index, concatenate, pad.

Their backward moves the gradient back the same way: reshape it back, permute it back,
sum over the broadcast dimensions, scatter-add it to the indexed places, slice it apart.
"""
import builtins as _py

import numpy as np

from ..autograd import Function, SliceGrad
from ..checks import check_dim, check_int
from ..tensor import raw_index
from .convert import with_out

__all__ = ["reshape", "permute", "transpose", "flatten", "squeeze", "unsqueeze", "expand", "broadcast_to",
           "sum_to", "getitem", "cat", "stack", "split", "chunk", "pad", "tril", "triu"]


def normalize_axis(axis, ndim, op="reduce"):
    """None, an int or a sequence of ints -> None or a sorted tuple of non-negative axes."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis) if isinstance(axis, (tuple, list)) else None
    if axes is None or _py.any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in axes):
        raise TypeError(f"{op}: dim must be an int or a tuple of ints, got {type(axis).__name__} {axis!r}")
    n = _py.max(ndim, 1)  # a 0-d tensor takes dim 0 and -1, like torch
    out = []
    for a in axes:
        if not -n <= a < n:
            raise IndexError(f"{op}: dim {a} is out of range for a tensor with {ndim} dimensions")
        out.append(int(a) % n)
    return tuple(sorted(set(out)))


def _shape_arg(shape):
    """f(x, 2, 3) and f(x, (2, 3)) both mean the shape (2, 3)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


# ---------------------------------------------------------------- reshape
class Reshape(Function):
    backward_reads_inputs, is_view = False, True

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, gy):
        return gy.reshape(self.in_shape)


def reshape(input, *sizes, shape=None):
    """input with a new shape of the same size; one dim may be -1 (inferred). The shape comes as
    sizes (x.reshape(2, 3)), one tuple (x.reshape((2, 3))) or torch's keyword (reshape(x, shape=(2, 3)))."""
    shape = _shape_arg(sizes if shape is None else (shape,))
    if shape == input.array.shape:
        return input
    n = input.array.size
    if -1 in shape:
        known = int(np.prod([d for d in shape if d != -1]))
        if shape.count(-1) > 1 or known == 0 or n % known:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {input.shape} ({n} elements) into {shape}")
        shape = tuple(n // known if d == -1 else d for d in shape)
    elif int(np.prod(shape)) != n:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {input.shape} ({n} elements) into {shape}")
    return Reshape(shape)(input)


def view_as(x, other):
    return reshape(x, other.shape)


def flatten(input, start_dim=0, end_dim=-1):
    """Dims start_dim..end_dim merged into one."""
    if input.ndim == 0:
        return reshape(input, 1)
    s, e = check_dim("flatten", start_dim, input.ndim, "start_dim"), check_dim("flatten", end_dim, input.ndim, "end_dim")
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} (shape {input.shape})")
    return reshape(input, input.shape[:s] + (int(np.prod(input.shape[s:e + 1])),) + input.shape[e + 1:])


def squeeze(input, dim=None):
    """x without its size-1 dims (all of them, or those listed in `dim`)."""
    if dim is None:
        return reshape(input, tuple(n for n in input.shape if n != 1))
    dims = normalize_axis(dim, input.ndim, "squeeze")
    return reshape(input, tuple(n for i, n in enumerate(input.shape) if not (i in dims and n == 1)))


def unsqueeze(input, dim):
    """x with a new size-1 dim at `dim`."""
    d = check_dim("unsqueeze", dim, input.ndim, inserting=True)
    return reshape(input, input.shape[:d] + (1,) + input.shape[d:])


# ---------------------------------------------------------------- permute
class Permute(Function):
    backward_reads_inputs, is_view = False, True

    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy):
        return permute(gy, tuple(np.argsort(self.axes)))


def permute(input, *axes, dims=None):
    """input with its dims reordered: output dim i is input dim axes[i] (torch's keyword: dims=)."""
    axes = _shape_arg(axes if dims is None else (dims,))
    if sorted(a % _py.max(input.ndim, 1) for a in axes) != list(range(input.ndim)):
        raise ValueError(f"permute: {axes} is not a permutation of the {input.ndim} dims of shape {input.shape}")
    return Permute(tuple(a % input.ndim for a in axes))(input)


def transpose(input, dim0=-2, dim1=-1):
    """x with dims dim0 and dim1 swapped (x itself below 2 dims)."""
    if input.ndim < 2:
        return input
    axes = list(range(input.ndim))
    d0, d1 = check_dim("transpose", dim0, input.ndim, "dim0"), check_dim("transpose", dim1, input.ndim, "dim1")
    axes[d0], axes[d1] = axes[d1], axes[d0]
    return Permute(tuple(axes))(input)


def t(x):
    """The matrix transpose of a 2-D tensor (0-d and 1-d tensors come back as they are)."""
    return transpose(x, 0, 1) if x.ndim == 2 else x


# ---------------------------------------------------------------- broadcast
class Expand(Function):
    """Broadcast x to `shape` (a read-only view); backward sums the copies back."""

    backward_reads_inputs, is_view = False, True

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        return self.xp.broadcast_to(x, self.shape)

    def backward(self, gy):
        return sum_to(gy, self.in_shape)


def expand(input, *shape):
    """x broadcast to `shape` without copying; -1 keeps a dim's size."""
    shape = _shape_arg(shape)
    lead = len(shape) - input.ndim
    if lead < 0:
        raise ValueError(f"expand: target {shape} has fewer dims than the tensor's shape {input.shape}")
    full = tuple(input.array.shape[i - lead] if n == -1 else n for i, n in enumerate(shape))
    for i, n in enumerate(input.array.shape):
        if n != 1 and n != full[lead + i]:
            raise ValueError(f"expand: cannot expand shape {input.shape} to {shape} (dim {i}: {n} vs {full[lead + i]})")
    return input if full == input.array.shape else Expand(full)(input)


def broadcast_to(input, shape):
    return expand(input, tuple(shape))


def expand_as(x, other):
    return expand(x, other.shape)


class SumTo(Function):
    """Sum x down to `shape`, the inverse of broadcasting."""

    backward_reads_inputs = False

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        lead = x.ndim - len(self.shape)
        axes = tuple(range(lead)) + tuple(
            lead + i for i, n in enumerate(self.shape) if n == 1 and x.shape[lead + i] != 1)
        y = x.sum(axis=axes, keepdims=True) if axes else x
        return y.reshape(self.shape)

    def backward(self, gy):
        return expand(gy, self.inputs[0].shape)


def sum_to(g, shape):
    """The gradient g summed back to `shape` (a no-op when nothing was broadcast)."""
    if g.array.shape == shape:
        return g
    try:
        return SumTo(shape)(g)
    except ValueError:  # (checked only on failure: this runs in every broadcasting op's backward)
        raise ValueError(f"sum_to: a tensor of shape {g.shape} cannot be summed to shape {tuple(shape)} "
                         "(it does not broadcast to it)") from None


# ---------------------------------------------------------------- index
def _is_basic(index):
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in items)


class GetItem(Function):
    backward_reads_inputs = False

    def __init__(self, index):
        self.index = index
        self.is_view = _is_basic(index)

    def forward(self, x):
        self.in_shape = x.shape
        try:
            return x[self.index]
        except IndexError as e:
            raise IndexError(f"getitem: {e} (tensor of shape {x.shape})") from None

    def backward(self, gy):
        if self.is_view and not self.create_graph:  # plain backward: the engine adds the slice in place
            return SliceGrad(self.index, self.in_shape, gy)
        return ScatterAdd(self.index, self.in_shape, self.is_view)(gy)


def getitem(input, index):
    """x[index]: ints, slices, None, ..., boolean masks and integer arrays (lists, Tensors), like numpy."""
    return GetItem(raw_index(index, input.xp))(input)


class ScatterAdd(Function):
    """zeros(shape) with gy added at `index` (repeated indices add up); the backward of x[index]."""

    backward_reads_inputs = False

    def __init__(self, index, shape, basic):
        self.index, self.shape, self.basic = index, shape, basic

    def forward(self, gy):
        xp = self.xp
        gx = xp.zeros(self.shape, dtype=gy.dtype)
        if self.basic:  # a slice hits each place once: plain assignment is enough
            gx[self.index] = gy
        else:
            xp.add.at(gx, self.index, gy)
        return gx

    def backward(self, ggx):
        return getitem(ggx, self.index)


# ---------------------------------------------------------------- concatenate and split
class Cat(Function):
    backward_reads_inputs = False

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        self.sizes = [x.shape[self.axis] for x in xs]
        return self.xp.concatenate(xs, axis=self.axis)

    def backward(self, gy):
        grads, start = [], 0
        lead = (slice(None),) * self.axis
        for n in self.sizes:
            grads.append(getitem(gy, lead + (slice(start, start + n),)))
            start += n
        return tuple(grads)


@with_out
def cat(tensors, dim=0, *, axis=None):
    """The tensors joined along `dim`; their other dims must match."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty sequence of tensors")
    d = dim if axis is None else axis
    ndim = tensors[0].ndim
    d = check_dim("cat", d, ndim)
    for x in tensors[1:]:
        if x.ndim != ndim or any(a != b for i, (a, b) in enumerate(zip(x.shape, tensors[0].shape)) if i != d % ndim):
            raise ValueError(f"cat: shapes {[tuple(x.shape) for x in tensors]} don't match outside dim {d}")
    return Cat(d % ndim)(*tensors)


@with_out
def stack(tensors, dim=0, *, axis=None):
    """The tensors (all of one shape) joined along a new dim."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    for x in tensors[1:]:
        if x.shape != tensors[0].shape:
            raise ValueError(f"stack: all tensors need the same shape, got {[tuple(x.shape) for x in tensors]}")
    d = check_dim("stack", dim if axis is None else axis, tensors[0].ndim, inserting=True)
    return cat([unsqueeze(x, d) for x in tensors], d)


def split(input, split_size_or_sections, dim=0):
    """Pieces of size `split_size` (the last may be smaller) or of the listed sizes, like torch.split."""
    d = check_dim("split", dim, input.ndim)
    n = input.shape[d]
    if isinstance(split_size_or_sections, (int, np.integer)):
        check_int("split", "split_size_or_sections", split_size_or_sections, min=1 if n else 0)
        sizes = [split_size_or_sections] * (n // split_size_or_sections)
        if n % split_size_or_sections:
            sizes.append(n % split_size_or_sections)
    else:
        if not isinstance(split_size_or_sections, (list, tuple)):
            raise TypeError(f"split: split_size_or_sections must be an int or a list of ints, got "
                            f"{type(split_size_or_sections).__name__} {split_size_or_sections!r}")
        sizes = [check_int("split", "split_size_or_sections", v, min=0) for v in split_size_or_sections]
        if _py.sum(sizes) != n:
            raise ValueError(f"split: sizes {sizes} don't add up to {n} (dim {dim} of shape {input.shape})")
    lead, out, start = (slice(None),) * d, [], 0
    for s in sizes:
        out.append(getitem(input, lead + (slice(start, start + s),)))
        start += s
    return tuple(out)


def chunk(input, chunks, dim=0):
    """`chunks` pieces of (nearly) equal size along `dim`."""
    n = input.shape[check_dim("chunk", dim, input.ndim)]
    chunks = check_int("chunk", "chunks", chunks, min=1)
    return split(input, _py.max(1, -(-n // chunks)), dim)


# ---------------------------------------------------------------- pad
class Pad(Function):
    """Constant padding; `widths` is numpy-style ((before, after), ...) per dimension."""

    backward_reads_inputs = False

    def __init__(self, widths, value=0.0):
        self.widths, self.value = widths, value

    def forward(self, x):
        return self.xp.pad(x, self.widths, constant_values=self.value)

    def backward(self, gy):
        return getitem(gy, tuple(slice(lo, n - hi) for (lo, hi), n in zip(self.widths, gy.shape)))


def pad(input, pad, mode="constant", value=0.0):
    """torch.nn.functional.pad: `pad` lists (before, after) pairs from the last dim backwards."""
    if mode != "constant":
        raise NotImplementedError(f"pad: only mode='constant' is supported, got {mode!r}")
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: padding {pad} needs an even length of at most 2 * {input.ndim}")
    if _py.min(pad, default=0) < 0:
        raise ValueError(f"pad: negative padding {pad} is not supported")
    widths = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        widths[input.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    return Pad(tuple(widths), value)(input)


class Triangle(Function):
    """The lower (tril) or upper (triu) triangle of the last two dims, from `diagonal` on; the rest 0.
    The gradient is the same triangle of the incoming gradient."""

    backward_reads_inputs = False

    def __init__(self, diagonal, upper):
        self.diagonal, self.upper = diagonal, upper

    def forward(self, a):
        return (self.xp.triu if self.upper else self.xp.tril)(a, self.diagonal)

    def backward(self, gy):
        return Triangle(self.diagonal, self.upper)(gy)


def _triangle(name, input, diagonal, upper):
    if input.ndim < 2:
        raise ValueError(f"{name}: input must have at least 2 dimensions, got shape {tuple(input.shape)}")
    if isinstance(diagonal, bool) or not isinstance(diagonal, (int, np.integer)):
        raise TypeError(f"{name}: diagonal must be an int, got {diagonal!r}")
    return Triangle(int(diagonal), upper)(input)


@with_out
def tril(input, diagonal=0):
    """input: (..., M, N) -> the same with the elements above diagonal `diagonal` set to 0 (j > i + diagonal)."""
    return _triangle("tril", input, diagonal, upper=False)


@with_out
def triu(input, diagonal=0):
    """input: (..., M, N) -> the same with the elements below diagonal `diagonal` set to 0 (j < i + diagonal)."""
    return _triangle("triu", input, diagonal, upper=True)
