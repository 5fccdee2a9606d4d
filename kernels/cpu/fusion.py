"""Fused epilogues for the compile passes (minigrad/compile/passes.py): what three eager ops do in
three passes over memory, done in one. Arrays in, arrays out; each has a numpy reference below.

relu_max_pool2d: a convolution's output -> max over each k x k window (stride k), then max(., 0).
                 relu and max commute (max(relu(a), relu(b)) = relu(max(a, b))), so the ReLU runs on
                 the pooled values: 1 / k^2 of the work and no full-size ReLU output in memory.
relu_max_pool2d_backward: its backward, ReLU's mask folded into the pool's scatter: one pass writes
                 the convolution's output gradient (eager: the pool's scatter, then ReLU's mask, two passes).
bias_act:        y += b row-wise, then max(y, 0) where relu, in place: Linear's add and ReLU in the
                 pass that reads the matmul's output once.
"""
import numpy as np
from numba import njit, prange

from .pool import _pick
from .variant import variant


@njit(cache=True, parallel=True)
def relu_max_pool2d(x, k, y, idx, want_idx):
    """x: (N, C, H, W) -> y: (N, C, H // k, W // k) filled with relu(max over each k x k window) and, when
    want_idx, idx (same shape, int64) with each max's flat position row * W + col in its plane (the first
    of equal values, as max_pool2d). A NaN wins. Branch-free selects, as in pool.py."""
    n, c, oh, ow = y.shape
    w = x.shape[3]
    for nc in prange(n * c):
        plane, ys, ids = x[nc // c, nc % c], y[nc // c, nc % c], idx[nc // c, nc % c]
        for r in range(oh):
            for q in range(ow):
                best = plane[r * k, q * k]
                tap = 0
                if k == 2:
                    best, tap = _pick(best, tap, plane[r * 2, q * 2 + 1], 1)
                    best, tap = _pick(best, tap, plane[r * 2 + 1, q * 2], 2)
                    best, tap = _pick(best, tap, plane[r * 2 + 1, q * 2 + 1], 3)
                else:
                    for i in range(k):
                        for j in range(k):
                            best, tap = _pick(best, tap, plane[r * k + i, q * k + j], i * k + j)
                ys[r, q] = best if (best > 0) | (best != best) else 0
                if want_idx:
                    ids[r, q] = (r * k + tap // k) * w + q * k + tap % k


@njit(cache=True, parallel=True)
def relu_max_pool2d_backward(gy, idx, y, gx):
    """The backward of relu_max_pool2d, ReLU's mask folded into the pool's scatter: gy, idx, y (the pooled
    output): (N, C, OH, OW) -> gx: (N * C, H * W) (overwritten) = gy at each window's max where y > 0."""
    n, c, oh, ow = gy.shape
    for nc in prange(n * c):
        dst = gx[nc]
        dst[:] = 0
        b, ch = nc // c, nc % c
        for r in range(oh):
            for q in range(ow):
                if y[b, ch, r, q] > 0:
                    dst[idx[b, ch, r, q]] += gy[b, ch, r, q]


def _bias_act(y, b, relu):
    """y: (M, N) += b: (N,), then max(., 0) when relu; in place. NaN stays NaN."""
    m, n = y.shape
    for r in prange(m):
        for j in range(n):
            v = y[r, j] + b[j]
            y[r, j] = v if not relu or v > 0 or v != v else 0


bias_act_parallel = njit(cache=True, parallel=True)(_bias_act)
bias_act_serial = njit(cache=True)(variant(_bias_act, "_serial"))  # (prange runs as range)
PARALLEL_MIN = 1 << 14  # below this many elements one thread beats waking the pool (as cpu_backend's _FUSED_MIN)


def bias_act(y, b, relu):
    """y: (M, N) += b: (N,), then max(., 0) when relu; in place, on the thread pool when y is large."""
    (bias_act_parallel if y.size >= PARALLEL_MIN else bias_act_serial)(y, b, relu)


def relu_max_pool2d_reference(x, k):
    """The numpy reference of relu_max_pool2d (values only; the indices are max_pool2d's)."""
    n, c, h, w = x.shape
    oh, ow = h // k, w // k
    windows = x[:, :, :oh * k, :ow * k].reshape(n, c, oh, k, ow, k)
    return np.maximum(windows.max(axis=(3, 5)), 0).astype(x.dtype)


def relu_max_pool2d_backward_reference(gy, idx, y, x_shape):
    """The numpy reference of relu_max_pool2d_backward: -> gx (N, C, H, W)."""
    n, c, h, w = x_shape
    gx = np.zeros((n * c, h * w), gy.dtype)
    g = np.where(y > 0, gy, 0).reshape(n * c, -1)
    np.add.at(gx, (np.arange(n * c)[:, None], idx.reshape(n * c, -1)), g)
    return gx.reshape(x_shape)


def bias_act_reference(y, b, relu):
    """The numpy reference of bias_act (returns a new array)."""
    out = y + b
    return np.maximum(out, 0).astype(y.dtype) if relu else out
