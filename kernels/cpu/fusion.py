"""Fused epilogues for the compile passes (minigrad/compile/passes.py): what three eager ops do in
three passes over memory, done in one. Arrays in, arrays out; each has a numpy reference below.

relu_max_pool2d: a convolution's output -> max over each k x k window (stride k), then max(., 0).
                 relu and max commute (max(relu(a), relu(b)) = relu(max(a, b))), so the ReLU runs on
                 the pooled values: 1 / k^2 of the work and no full-size ReLU output in memory.
bias_act:        y += b row-wise, then max(y, 0) where relu, in place: Linear's add and ReLU in the
                 pass that reads the matmul's output once.
"""
import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def relu_max_pool2d(x, k, y):
    """x: (N, C, H, W) -> y: (N, C, H // k, W // k) filled with relu(max over each window). A NaN wins."""
    n, c, oh, ow = y.shape
    for nc in prange(n * c):
        b, ch = nc // c, nc % c
        for i in range(oh):
            for j in range(ow):
                best = x[b, ch, i * k, j * k]
                for di in range(k):
                    for dj in range(k):
                        v = x[b, ch, i * k + di, j * k + dj]
                        if v > best or v != v:
                            best = v
                y[b, ch, i, j] = best if best > 0 or best != best else 0


@njit(cache=True, parallel=True)
def bias_act(y, b, relu):
    """y: (M, N) += b: (N,), then max(., 0) when relu; in place. NaN stays NaN."""
    m, n = y.shape
    for r in prange(m):
        for j in range(n):
            v = y[r, j] + b[j]
            y[r, j] = v if not relu or v > 0 or v != v else 0


def relu_max_pool2d_reference(x, k):
    """The numpy reference of relu_max_pool2d."""
    n, c, h, w = x.shape
    oh, ow = h // k, w // k
    windows = x[:, :, :oh * k, :ow * k].reshape(n, c, oh, k, ow, k)
    return np.maximum(windows.max(axis=(3, 5)), 0).astype(x.dtype)


def bias_act_reference(y, b, relu):
    """The numpy reference of bias_act (returns a new array)."""
    out = y + b
    return np.maximum(out, 0).astype(y.dtype) if relu else out
