"""The differentiable primitives and the thin functions that call them.

Each family lives in its own file (elementwise, reduce, shape, matmul, softmax, conv,
pool, loss) as `Function` subclasses. The functions here turn Python arguments
(scalars, dims, shapes) into what those Functions expect; Tensor methods call them.
"""
import builtins as _py

import numpy as np

from ..tensor import Tensor, as_operand
from . import conv, elementwise as ew, loss, matmul as mm, pool, reduce as rd, shape as sh, softmax as sm
from .reduce import normalize_axis
from .shape import sum_to  # noqa: F401  (re-exported)


def _pair(a, b):
    """Both operands as Tensors; an integer tensor meeting a float one takes its dtype (torch's rule;
    numpy would widen float32 + int64 to float64). Boolean masks are left to numpy, which keeps the float."""
    if isinstance(a, Tensor):
        if not isinstance(b, Tensor):
            b = as_operand(b, a)
    else:
        a = as_operand(a, b)
    da, db = a.array.dtype, b.array.dtype
    if da is not db:
        if da.kind == "f" and db.kind in "iu":
            b = b.to(da)
        elif db.kind == "f" and da.kind in "iu":
            a = a.to(db)
    return a, b


# ---------------------------------------------------------------- elementwise
def add(a, b):
    return ew.Add()(*_pair(a, b))


def sub(a, b):
    return ew.Sub()(*_pair(a, b))


def mul(a, b):
    return ew.Mul()(*_pair(a, b))


def div(a, b):
    a, b = _pair(a, b)
    if a.dtype.kind in "biu" and b.dtype.kind in "biu":  # true division, like torch
        a = a.float()
    return ew.Div()(a, b)


def pow(a, b):
    if isinstance(a, Tensor) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return ew.PowScalar(b)(a)
    return ew.Pow()(*_pair(a, b))


def neg(a):
    return ew.Neg()(a)


def abs(a):
    return ew.Abs()(a)


def exp(a):
    return ew.Exp()(a)


def log(a):
    return ew.Log()(a)


def sqrt(a):
    return ew.Sqrt()(a)


def sin(a):
    return ew.Sin()(a)


def cos(a):
    return ew.Cos()(a)


def tanh(a):
    return ew.Tanh()(a)


def sigmoid(a):
    return ew.Sigmoid()(a)


def softplus(a, beta=1.0, threshold=20.0):
    return ew.Softplus(beta, threshold)(a)


def relu(a):
    return ew.Relu()(a)


def leaky_relu(a, negative_slope=0.01):
    return ew.LeakyRelu(negative_slope)(a)


def gelu(a, approximate="none"):
    return ew.Gelu(approximate)(a)


def clamp(a, min=None, max=None):
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    return ew.Clamp(min, max)(a)


def maximum(a, b):
    return ew.Maximum()(*_pair(a, b))


def minimum(a, b):
    return ew.Minimum()(*_pair(a, b))


def where(cond, a, b):
    """cond ? a : b elementwise; cond is a boolean tensor or array, a and b broadcast."""
    cond = cond.array if isinstance(cond, Tensor) else cond
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        a, b = _pair(a, b)
    else:
        from ..tensor import tensor
        a = tensor(a)
        b = as_operand(b, a)
    return ew.Where(cond.astype(bool, copy=False))(a, b)


# ---------------------------------------------------------------- reductions
def _axis(dim, axis):
    return axis if dim is None else dim


def sum(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    axes = normalize_axis(_axis(dim, axis), x.ndim, "sum")
    return rd.Sum(axes, keepdim if keepdims is None else keepdims)(x)


def _count(x, axes):
    return x.array.size if axes is None else int(np.prod([x.shape[a] for a in axes]))


def mean(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    axes = normalize_axis(_axis(dim, axis), x.ndim, "mean")
    if x.dtype.kind in "biu":
        raise TypeError(f"mean: needs a floating-point tensor, got {x.dtype}; call .float() first")
    return sum(x, axes, keepdim if keepdims is None else keepdims) * (1.0 / _py.max(_count(x, axes), 1))


def var(x, dim=None, keepdim=False, *, correction=1, unbiased=None, axis=None, keepdims=None):
    """Variance; `correction=1` (Bessel's, torch's default) divides by n - 1."""
    if unbiased is not None:
        correction = int(unbiased)
    axes = normalize_axis(_axis(dim, axis), x.ndim, "var")
    d = x - mean(x, axes, keepdim=True)
    n = _count(x, axes)
    dof = n - correction  # torch gives nan (and warns) when there are too few elements
    return sum(d * d, axes, keepdim if keepdims is None else keepdims) * (1.0 / dof if dof > 0 else float("nan"))


def std(x, dim=None, keepdim=False, *, correction=1, unbiased=None, axis=None, keepdims=None):
    return sqrt(var(x, dim, keepdim, correction=correction, unbiased=unbiased, axis=axis, keepdims=keepdims))


def _extreme(x, dim, keepdim, axis, keepdims, smallest):
    d = _axis(dim, axis)
    k = keepdim if keepdims is None else keepdims
    values = rd.Max(normalize_axis(d, x.ndim, "min" if smallest else "max"), k, smallest)(x)
    if d is None or not isinstance(d, (int, np.integer)):
        return values
    from ..tensor import MinMax
    indices = argmin(x, d, k) if smallest else argmax(x, d, k)
    return MinMax(values, indices)


def max(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """max over everything, or over `dim` returning (values, indices) like torch.max."""
    if isinstance(dim, Tensor):
        return maximum(x, dim)
    return _extreme(x, dim, keepdim, axis, keepdims, smallest=False)


def min(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    if isinstance(dim, Tensor):
        return minimum(x, dim)
    return _extreme(x, dim, keepdim, axis, keepdims, smallest=True)


def amax(x, dim=None, keepdim=False):
    return rd.Max(normalize_axis(dim, x.ndim, "amax"), keepdim)(x)


def amin(x, dim=None, keepdim=False):
    return rd.Max(normalize_axis(dim, x.ndim, "amin"), keepdim, smallest=True)(x)


def logsumexp(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    axes = normalize_axis(_axis(dim, axis), x.ndim, "logsumexp")
    return rd.LogSumExp(axes, keepdim if keepdims is None else keepdims)(x)


def _arg(x, dim, keepdim, name):
    xp = x.xp
    if dim is None:
        return Tensor._make(xp.asarray(getattr(xp, name)(x.array.reshape(-1)), dtype=np.int64), x.device)
    (d,) = normalize_axis(dim, x.ndim, name)
    out = getattr(xp, name)(x.array, axis=d)
    if keepdim:
        out = xp.expand_dims(out, d)
    return Tensor._make(xp.asarray(out, dtype=np.int64), x.device)


def argmax(x, dim=None, keepdim=False):
    """Index of the largest element (over everything, or along `dim`); no gradient."""
    return _arg(x, dim, keepdim, "argmax")


def argmin(x, dim=None, keepdim=False):
    return _arg(x, dim, keepdim, "argmin")


# ---------------------------------------------------------------- linear algebra
def matmul(a, b):
    a, b = _pair(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes {a.shape} and {b.shape}")
    if a.ndim == 1 and b.ndim == 1:
        return (a * b).sum() if a.shape == b.shape else matmul(a.unsqueeze(0), b).squeeze(0)
    if a.ndim == 1:
        return mm.MatMul()(a.unsqueeze(0), b).squeeze(-2)
    if b.ndim == 1:
        return mm.MatMul()(a, b.unsqueeze(-1)).squeeze(-1)
    return mm.MatMul()(a, b)


# ---------------------------------------------------------------- shape
def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def reshape(x, *shape):
    shape = _shape_arg(shape)
    if shape == x.shape:
        return x
    n = x.array.size
    if -1 in shape:
        known = int(np.prod([d for d in shape if d != -1]))
        if shape.count(-1) > 1 or known == 0 or n % known:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} ({n} elements) into {shape}")
        shape = tuple(n // known if d == -1 else d for d in shape)
    elif int(np.prod(shape)) != n:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} ({n} elements) into {shape}")
    return sh.Reshape(shape)(x)


def permute(x, *axes):
    axes = _shape_arg(axes)
    if sorted(a % _py.max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
        raise ValueError(f"permute: {axes} is not a permutation of the {x.ndim} dims of shape {x.shape}")
    return sh.Permute(tuple(a % x.ndim for a in axes))(x)


def transpose(x, dim0=-2, dim1=-1):
    if x.ndim < 2:
        return x
    axes = list(range(x.ndim))
    d0, d1 = dim0 % x.ndim, dim1 % x.ndim
    axes[d0], axes[d1] = axes[d1], axes[d0]
    return sh.Permute(tuple(axes))(x)


def flatten(x, start_dim=0, end_dim=-1):
    if x.ndim == 0:
        return x.reshape(1)
    s, e = start_dim % x.ndim, end_dim % x.ndim
    return x.reshape(x.shape[:s] + (-1,) + x.shape[e + 1:]) if x.array.size else x.reshape(
        x.shape[:s] + (int(np.prod(x.shape[s:e + 1])),) + x.shape[e + 1:])


def squeeze(x, dim=None):
    if dim is None:
        return x.reshape(tuple(n for n in x.shape if n != 1))
    dims = normalize_axis(dim, x.ndim, "squeeze")
    return x.reshape(tuple(n for i, n in enumerate(x.shape) if not (i in dims and n == 1)))


def unsqueeze(x, dim):
    d = dim % (x.ndim + 1)
    return x.reshape(x.shape[:d] + (1,) + x.shape[d:])


def expand(x, *shape):
    shape = _shape_arg(shape)
    lead = len(shape) - x.ndim
    if lead < 0:
        raise ValueError(f"expand: target {shape} has fewer dims than the tensor's shape {x.shape}")
    full = tuple(x.shape[i - lead] if n == -1 else n for i, n in enumerate(shape))
    for i, n in enumerate(x.shape):
        if n != 1 and n != full[lead + i]:
            raise ValueError(f"expand: cannot expand shape {x.shape} to {shape} (dim {i}: {n} vs {full[lead + i]})")
    return x if full == x.shape else sh.Expand(full)(x)


def broadcast_to(x, shape):
    return expand(x, tuple(shape))


def _index_arg(index, device_xp):
    if isinstance(index, Tensor):
        return index.array
    if isinstance(index, tuple):
        return tuple(i.array if isinstance(i, Tensor) else i for i in index)
    if isinstance(index, list):
        return device_xp.asarray(index)
    return index


def getitem(x, index):
    return sh.GetItem(_index_arg(index, x.xp))(x)


def cat(tensors, dim=0, *, axis=None):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty sequence of tensors")
    d = _axis(dim, axis)
    ndim = tensors[0].ndim
    for t in tensors[1:]:
        if t.ndim != ndim or any(a != b for i, (a, b) in enumerate(zip(t.shape, tensors[0].shape)) if i != d % ndim):
            raise ValueError(f"cat: shapes {[tuple(t.shape) for t in tensors]} don't match outside dim {d}")
    return sh.Cat(d % ndim)(*tensors)


def stack(tensors, dim=0, *, axis=None):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    for t in tensors[1:]:
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: all tensors need the same shape, got {[tuple(t.shape) for t in tensors]}")
    d = _axis(dim, axis) % (tensors[0].ndim + 1)
    return cat([t.unsqueeze(d) for t in tensors], d)


def split(x, split_size_or_sections, dim=0):
    """Pieces of size `split_size` (the last may be smaller) or of the listed sizes, like torch.split."""
    d = dim % x.ndim
    n = x.shape[d]
    if isinstance(split_size_or_sections, int):
        sizes = [split_size_or_sections] * (n // split_size_or_sections)
        if n % split_size_or_sections:
            sizes.append(n % split_size_or_sections)
    else:
        sizes = list(split_size_or_sections)
        if builtins_sum(sizes) != n:
            raise ValueError(f"split: sizes {sizes} don't add up to {n} (dim {dim} of shape {x.shape})")
    lead, out, start = (slice(None),) * d, [], 0
    for s in sizes:
        out.append(x[lead + (slice(start, start + s),)])
        start += s
    return tuple(out)


def chunk(x, chunks, dim=0):
    n = x.shape[dim % x.ndim]
    return split(x, -(-n // chunks), dim)


def pad(x, pad, mode="constant", value=0.0):
    """torch.nn.functional.pad: `pad` lists (before, after) pairs from the last dim backwards."""
    if mode != "constant":
        raise NotImplementedError(f"pad: only mode='constant' is supported, got {mode!r}")
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: padding {pad} needs an even length of at most 2 * {x.ndim}")
    if builtins_min(pad, default=0) < 0:
        raise ValueError(f"pad: negative padding {pad} is not supported")
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    return sh.Pad(tuple(widths), value)(x)


# ---------------------------------------------------------------- softmax
def softmax(x, dim=-1, *, axis=None):
    return sm.Softmax(_axis(dim, axis) % x.ndim)(x)


def log_softmax(x, dim=-1, *, axis=None):
    return sm.LogSoftmax(_axis(dim, axis) % x.ndim)(x)


builtins_sum, builtins_min = _py.sum, _py.min  # the names sum/min above are ops

__all__ = [n for n in dir() if not n.startswith("_")]
_ = (conv, loss, pool)
