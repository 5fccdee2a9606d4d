"""Chapter 08 exercises: counting FLOPs, and a blocked matrix product."""
import numpy as np


def matmul_gflops(m, n, k, seconds):
    return 2.0 * m * n * k / seconds / 1e9


def conv2d_flops(n, c, h, w, o, kh, kw, stride=1, padding=0):
    oh = (h + 2 * padding - kh) // stride + 1
    ow = (w + 2 * padding - kw) // stride + 1
    return 2 * n * o * oh * ow * c * kh * kw


def blocked_matmul(A, B, bs=64):
    m, k = A.shape
    n = B.shape[1]
    C = np.zeros((m, n), dtype=np.result_type(A, B))
    for i in range(0, m, bs):
        for j in range(0, n, bs):
            for p in range(0, k, bs):
                C[i:i + bs, j:j + bs] += A[i:i + bs, p:p + bs] @ B[p:p + bs, j:j + bs]
    return C
