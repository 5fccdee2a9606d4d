"""Matrix product with batch broadcasting; the kernel comes from the device's backend."""
from ..autograd import Function
from .convert import promote, with_out
from .shape import squeeze, sum_to, transpose, unsqueeze

__all__ = ["matmul"]


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
def matmul(a, b):
    """a @ b like numpy: a 1-D operand is a row (left) or a column (right) vector, dropped after."""
    a, b = promote(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes {a.shape} and {b.shape}")
    if a.ndim == 1 and b.ndim == 1:
        return (a * b).sum() if a.shape == b.shape else squeeze(matmul(unsqueeze(a, 0), b), 0)
    if a.ndim == 1:
        return squeeze(MatMul()(unsqueeze(a, 0), b), -2)
    if b.ndim == 1:
        return squeeze(MatMul()(a, unsqueeze(b, -1)), -1)
    return MatMul()(a, b)
