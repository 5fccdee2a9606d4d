"""Matrix product with batch broadcasting; the kernel comes from the device's backend."""
from ..autograd import Function
from ..backend import get_backend
from .shape import sum_to


class MatMul(Function):
    """a: (..., M, K) @ b: (..., K, N) -> (..., M, N).

    dL/da = gy @ b^T and dL/db = a^T @ gy, each summed over broadcast batch dims.
    """

    def forward(self, a, b):
        if a.shape[-1] != b.shape[-2]:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} don't line up "
                             f"({a.shape[-1]} columns vs {b.shape[-2]} rows)")
        return get_backend(self.device).matmul(a, b)

    def backward(self, gy):
        a, b = self.inputs
        need_a, need_b = a.requires_grad, b.requires_grad
        ga = sum_to(gy @ b.mT, a.shape) if need_a else None
        gb = sum_to(a.mT @ gy, b.shape) if need_b else None
        return ga, gb
