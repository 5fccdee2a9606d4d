"""Matrix product with batch broadcasting; the kernel comes from the device's backend."""
import numbers

import numpy as np

from ..autograd import Function
from ..tensor import Tensor
from .convert import promote, with_out
from .shape import squeeze, sum_to, transpose, unsqueeze

__all__ = ["matmul", "bmm", "baddbmm"]


class MatMul(Function):
    """a: (..., M, K) @ b: (..., K, N) -> (..., M, N).

    dL/da = gy @ b^T and dL/db = a^T @ gy, each summed over broadcast batch dims.
    """

    def forward(self, a, b):
        if a.shape[-1] != b.shape[-2]:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} don't line up "
                             f"({a.shape[-1]} columns vs {b.shape[-2]} rows)")
        return self.backend.matmul(a, b)

    def backward(self, gy):
        a, b = self.inputs
        ga = sum_to(matmul(gy, transpose(b)), a.shape) if a.requires_grad else None
        gb = sum_to(matmul(transpose(a), gy), b.shape) if b.requires_grad else None
        return ga, gb


@with_out
def matmul(input, other):
    """a @ b like numpy: a 1-D operand is a row (left) or a column (right) vector, dropped after."""
    input, other = promote(input, other)
    if input.ndim == 0 or other.ndim == 0:
        raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes {input.shape} and {other.shape}")
    if input.ndim == 1 and other.ndim == 1:
        return (input * other).sum() if input.shape == other.shape else squeeze(matmul(unsqueeze(input, 0), other), 0)
    if input.ndim == 1:
        return squeeze(MatMul()(unsqueeze(input, 0), other), -2)
    if other.ndim == 1:
        return squeeze(MatMul()(input, unsqueeze(other, -1)), -1)
    return MatMul()(input, other)


def _check_bmm(name, a, b):
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise ValueError(f"{name}: expected (B, N, M) and (B, M, P) tensors, got shapes {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")


@with_out
def bmm(input, mat2):
    """input: (B, N, M) @ mat2: (B, M, P) -> (B, N, P); no broadcasting (that is matmul)."""
    _check_bmm("bmm", input, mat2)
    return matmul(input, mat2)


@with_out
def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """beta * input + alpha * (batch1 @ batch2): batch1 (B, N, M), batch2 (B, M, P), input broadcasting to
    (B, N, P). With beta = 0 the input is ignored (NaN in it does not propagate), as torch does."""
    _check_bmm("baddbmm", batch1, batch2)
    for name, v in (("beta", beta), ("alpha", alpha)):
        if isinstance(v, bool) or not isinstance(v, numbers.Number):
            raise TypeError(f"baddbmm: {name} must be a number, got {type(v).__name__} {v!r}")
    if not isinstance(input, Tensor):
        raise TypeError(f"baddbmm: input must be a Tensor, got {type(input).__name__}")
    product = matmul(batch1, batch2)
    try:
        fits = tuple(np.broadcast_shapes(tuple(input.shape), tuple(product.shape))) == tuple(product.shape)
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"baddbmm: input of shape {tuple(input.shape)} does not broadcast to the product's shape "
                         f"{tuple(product.shape)}")
    product = product if alpha == 1 else product * alpha
    if beta == 0:
        return product
    return product + (input if beta == 1 else input * beta)
