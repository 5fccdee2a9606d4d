"""minigrad.linalg: the norms of torch.linalg.

    vector_norm(x, ord=2, dim=None, keepdim=False)      (sum |x|^ord)^(1/ord) over dim (all when None)
    matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False)  "fro", 1, -1, inf, -inf, 2, -2, "nuc"
    norm(A, ord=None, dim=None, keepdim=False)          a vector or a matrix norm, picked as torch does

All are differentiable except the norms made from singular values (ord=2, -2, "nuc"): those are
computed with the array library's SVD and have no gradient in minigrad; asking for one (an input
that requires grad, with grad mode on) raises NotImplementedError rather than a wrong answer.
"""
import numpy as np

from .autograd import GradMode
from .ops.convert import to
from .ops.reduce import amax, amin, vector_norm
from .ops.shape import normalize_axis, squeeze
from .tensor import Tensor

__all__ = ["norm", "vector_norm", "matrix_norm"]

_INF = float("inf")


def _matrix_dims(A, dim, op):
    if A.ndim < 2:
        raise ValueError(f"{op}: needs a tensor with at least 2 dimensions (..., m, n), got shape {tuple(A.shape)}")
    if not isinstance(dim, (tuple, list)) or len(dim) != 2:
        raise ValueError(f"{op}: dim must be a pair of dimensions, got {dim!r}")
    rows, cols = (normalize_axis(d, A.ndim, op)[0] for d in dim)
    if rows == cols:
        raise ValueError(f"{op}: dim must name two different dimensions, got {dim!r}")
    return rows, cols


def _singular_values(A, rows, cols, op):
    """The singular values of every matrix A[..., rows, cols], as a (..., k) array (no gradient)."""
    if A.requires_grad and GradMode.enabled:
        raise NotImplementedError(f"{op}: this norm comes from singular values, which have no gradient in minigrad; "
                                  "call it under minigrad.no_grad() or on A.detach()")
    moved = A.xp.moveaxis(A.array, (rows, cols), (-2, -1))
    return A.xp.linalg.svd(moved, compute_uv=False)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    """A matrix norm of each matrix A[..., m, n] (the two dims in `dim`):
    "fro": sqrt(sum |a_ij|^2);  1 / -1: max / min column sum of |a_ij|;  inf / -inf: max / min row sum;
    2 / -2: largest / smallest singular value;  "nuc": sum of the singular values (these three: no gradient).
    Returns (...) (or with the two dims kept as size 1 when keepdim)."""
    if dtype is not None:
        A = to(A, dtype)
    if not isinstance(A, Tensor) or A.dtype.kind not in "fc":
        raise TypeError(f"matrix_norm: expected a floating-point Tensor, got "
                        f"{A.dtype if isinstance(A, Tensor) else type(A).__name__}")
    rows, cols = _matrix_dims(A, dim, "matrix_norm")
    if ord == "fro":
        return vector_norm(A, 2, (rows, cols), keepdim)
    if ord in (1, -1, _INF, -_INF) and not isinstance(ord, bool):
        inner, outer = (rows, cols) if ord in (1, -1) else (cols, rows)  # 1: sum down the columns first
        sums = vector_norm(A, 1, inner, keepdim=True)
        out = (amax if ord > 0 else amin)(sums, outer, keepdim=True)
        return out if keepdim else squeeze(out, (rows, cols))
    if ord in ("nuc", 2, -2) and not isinstance(ord, bool):
        s = _singular_values(A, rows, cols, "matrix_norm")
        value = s.sum(-1) if ord == "nuc" else (s.max(-1) if ord == 2 else s.min(-1))
        out = Tensor._make(A.xp.asarray(value, dtype=A.dtype), A.device)
        if keepdim:
            for d in sorted((rows, cols)):
                out = out.unsqueeze(d)
        return out
    raise ValueError(f"matrix_norm: ord must be 'fro', 'nuc', 1, -1, 2, -2, inf or -inf, got {ord!r}")


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):
    """torch.linalg.norm: a vector norm when `dim` is an int (or A is 1-D), a matrix norm when `dim`
    is a pair (or A is 2-D); with ord=None and dim=None, the 2-norm of all elements."""
    if isinstance(dim, (int, np.integer)):
        dim = (int(dim),)
    if ord is None:
        if dim is not None and len(dim) == 2:
            return matrix_norm(A, "fro", dim, keepdim, dtype=dtype)
        return vector_norm(A, 2, dim, keepdim, dtype=dtype)
    if dim is None:
        if A.ndim not in (1, 2):
            raise ValueError(f"linalg.norm: with ord={ord!r} and dim=None, A must be 1-D or 2-D, "
                             f"got shape {tuple(A.shape)}; pass dim")
        dim = tuple(range(A.ndim))
    if len(dim) == 1:
        if isinstance(ord, str):
            raise ValueError(f"linalg.norm: ord={ord!r} is a matrix norm, but dim={dim} names one dimension")
        return vector_norm(A, ord, dim, keepdim, dtype=dtype)
    if len(dim) == 2:
        return matrix_norm(A, ord, dim, keepdim, dtype=dtype)
    raise ValueError(f"linalg.norm: dim must be an int or a pair, got {dim!r}")
