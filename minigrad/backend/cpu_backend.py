"""The "numba" CPU backend: the same flat API as `numpy_backend`, run by the Numba kernels in
`minigrad.kernels.cpu` (compiled on first call, cached on disk; importing compiles nothing).

The wrappers here do what the kernels trust: make arrays C-contiguous, pick block sizes and
thread splits, and fall back to numpy where numpy is faster or the dtype is not float32/64.

Shapes: x (N, C, H, W), w (O, C // groups, KH, KW); stride, padding, dilation are pairs.
"""
import math
import os

# Idle OpenMP workers spin only briefly (~10k spins) before sleeping: long enough to catch the
# next kernel of a training step, short enough not to starve OpenBLAS or other processes.
# Measured on 2 cores: default spinning made a 2-thread conv2d forward 16 ms under load (4.3 ms
# sleeping at once); sleeping at once made a 64x64 matmul 135 us (35 us with this setting).
# Read once, when Numba first starts its OpenMP pool; set the variable yourself to override.
os.environ.setdefault("GOMP_SPINCOUNT", "10000")

import numba  # noqa: E402
import numpy as np

from minigrad.kernels.cpu import conv as _conv  # noqa: E402
from minigrad.kernels.cpu import matmul as _mm
from minigrad.kernels.cpu import pool as _pool

from .memory import tune_malloc
from .numpy_backend import conv_output_size


def _settle_blas_threads():
    """Run OpenBLAS (numpy's matmul) on MINIGRAD_BLAS_THREADS threads, 1 by default.

    OpenBLAS's idle workers spin for a while after each call and starve the Numba kernel that
    comes next; minigrad's matmuls are small enough that one BLAS thread loses little. Measured
    on 2 cores (benchmarks/bench_training.py): seed CNN training 488 -> 1235 images/s, seed MLP
    45k -> 52k. It applies to the whole process; set the variable to change it.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(int(os.environ.get("MINIGRAD_BLAS_THREADS", "1")), user_api="blas")


_settle_blas_threads()
tune_malloc()

xp = np
name = "numba"

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))

# Dispatch of the matmul op, by measurement on this 2-core AVX-512 machine (benchmarks/): OpenBLAS
# beats our kernel on single 2-D products (ours reaches ~0.6-0.75x of it at N = 1024), while for
# stacks of small products (conv-shaped batches, where numpy loops matrix by matrix) ours wins.
# So: products with a 2-D right operand -> np.matmul; stacks of at least this many
# multiply-adds each -> gemm_nt.
_SMALL_MATMUL = 96 ** 3


def set_num_threads(n):
    """Threads used by the Numba kernels (at most numba.config.NUMBA_NUM_THREADS)."""
    numba.set_num_threads(int(n))


def get_num_threads():
    return numba.get_num_threads()


def _blocks(nt, m, n, k):
    """Task shape for gemm_nt: (MG rows, NC columns, KS k-slices) so that the tasks cover every thread."""
    mr, nr = _mm.MR, _mm.NR
    threads = numba.get_num_threads()
    nblk = max(1, -(-n // 256))
    nc = -(-(-(-n // nblk)) // nr) * nr         # balanced column blocks of at most 256
    tasks = nt * -(-n // nc)
    mg = -(-m // mr) * mr                       # a task sweeps all rows: its B panel is packed once
    ks = 1
    if tasks < threads and m * n <= 128 * 128 and k >= 2048:
        ks = min(-(-threads // tasks), k // 1024)   # small C, long k: packing dominates, split k
        tasks *= ks
    if tasks < threads:                         # too few: split the rows, then (long k) the k axis
        mg = max(mr, -(-(-(-m // -(-threads // tasks))) // mr) * mr)
        tasks *= -(-m // mg)
    if tasks < threads:
        ks = max(ks, min(-(-threads // tasks) * 2, k // 1024))
    return mg, nc, ks


def _gemm_nt(A, Bt, a_idx, b_idx, nt):
    """A (na, M, K), Bt (nb, N, K) C-contiguous -> (nt, M, N) = A[a_idx] @ Bt[b_idx].T."""
    m, k = A.shape[1:]
    n = Bt.shape[1]
    assert A.shape[2] == Bt.shape[2] and A.dtype == Bt.dtype
    assert a_idx.shape == (nt,) and b_idx.shape == (nt,)
    assert nt == 0 or (0 <= a_idx.min() and a_idx.max() < A.shape[0] and 0 <= b_idx.min() and b_idx.max() < Bt.shape[0])
    if n < _mm.NR and m > n:  # a thin C fills few of a tile's NR columns: compute C.T = Bt @ A.T instead
        return _gemm_nt(Bt, A, b_idx, a_idx, nt).transpose(0, 2, 1)
    mg, nc, ks = _blocks(nt, m, n, k)
    C = np.zeros((ks, nt, m, n), dtype=A.dtype)
    if nt and m and n and k:
        _mm.gemm_nt(A, Bt, C, a_idx, b_idx, mg, nc, ks)
    return C[0] if ks == 1 else C.sum(axis=0)


def gemm(a, b):
    """a: (..., M, K) @ b: (..., K, N) on our Numba kernel, always (the benchmarks call this)."""
    m, k = a.shape[-2:]
    n = b.shape[-1]
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    A = np.ascontiguousarray(a).reshape(-1, m, k)
    Bt = _mm.transpose_last2(np.ascontiguousarray(b).reshape(-1, k, n))
    a_idx = np.broadcast_to(np.arange(A.shape[0]).reshape(a.shape[:-2]), batch).ravel()
    b_idx = np.broadcast_to(np.arange(Bt.shape[0]).reshape(b.shape[:-2]), batch).ravel()
    nt = math.prod(batch)
    return _gemm_nt(A, Bt, a_idx.astype(np.int64), b_idx.astype(np.int64), nt).reshape(batch + (m, n))


def matmul(a, b):
    """a: (..., M, K), b: (..., K, N) -> (..., M, N), batch dimensions broadcast."""
    a = np.asarray(a)
    b = np.asarray(b)
    if (b.ndim < 3 or a.ndim < 2 or a.dtype != b.dtype or a.dtype not in _FLOATS
            or a.shape[-1] * a.shape[-2] * b.shape[-1] < _SMALL_MATMUL):
        return np.matmul(a, b)  # see _SMALL_MATMUL: OpenBLAS wins these
    if b.shape[-2] != a.shape[-1]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not align")
    return gemm(a, b)


def _conv_dims(x_shape, w_shape, stride, padding, dilation):
    oh = conv_output_size(x_shape[2], w_shape[2], stride[0], padding[0], dilation[0])
    ow = conv_output_size(x_shape[3], w_shape[3], stride[1], padding[1], dilation[1])
    assert oh > 0 and ow > 0, "conv2d: empty output"
    return oh, ow


# Up to this many taps per output (Cg * KH * KW) the direct loops beat patch matrix + GEMM:
# a 9-long dot product wastes most of a 16-wide vector (seed CNN layer 1: 4.3 ms -> 1 ms).
_DIRECT_MAX_TAPS = 32


def _padded(x, padding, value=0):
    """x (N, C, H, W) with `padding` rows/cols of `value` around each plane (C-contiguous)."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return np.ascontiguousarray(x)
    n, c, h, w = x.shape
    xp = np.full((n, c, h + 2 * ph, w + 2 * pw), value, dtype=x.dtype)
    xp[:, :, ph:ph + h, pw:pw + w] = x
    return xp


def _numpy_fallback(name, *args):
    from . import numpy_backend
    return getattr(numpy_backend, name)(*args)


def conv2d_forward(x, w, stride, padding, dilation, groups):
    """x (N, C, H, W), w (O, C/G, KH, KW) -> y (N, O, OH, OW)."""
    if x.dtype not in _FLOATS:
        return _numpy_fallback("conv2d_forward", x, w, stride, padding, dilation, groups)
    w = np.ascontiguousarray(w, dtype=x.dtype)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    assert c == cg * groups and o % groups == 0
    oh, ow = _conv_dims(x.shape, w.shape, stride, padding, dilation)
    (sh, sw), (dh, dw) = stride, dilation
    xp = _padded(x, padding)
    if cg * kh * kw <= _DIRECT_MAX_TAPS:
        return np.ascontiguousarray(_conv.conv_direct(xp, w, sh, sw, dh, dw, groups, oh, ow))
    xcl = np.ascontiguousarray(xp.transpose(0, 2, 3, 1))                   # channels-last
    rows = _conv.im2row(xcl, kh, kw, sh, sw, dh, dw, groups, oh, ow)       # (N, G, P, Kc), taps (i, j, c)
    kc = cg * kh * kw
    A = np.ascontiguousarray(w.transpose(0, 2, 3, 1)).reshape(groups, o // groups, kc)
    g_idx = np.tile(np.arange(groups, dtype=np.int64), n)
    y = _gemm_nt(A, rows.reshape(n * groups, oh * ow, kc), g_idx, np.arange(n * groups, dtype=np.int64), n * groups)
    return y.reshape(n, o, oh, ow)


def conv2d_backward_input(gy, w, x_shape, stride, padding, dilation, groups):
    """gy (N, O, OH, OW) -> gx: x_shape, the transposed convolution of gy with w."""
    if gy.dtype not in _FLOATS:
        return _numpy_fallback("conv2d_backward_input", gy, w, x_shape, stride, padding, dilation, groups)
    gy = np.ascontiguousarray(gy)
    w = np.ascontiguousarray(w, dtype=gy.dtype)
    n, c, h, wd = x_shape
    o, cg, kh, kw = w.shape
    _, _, oh, ow = gy.shape
    assert (oh, ow) == _conv_dims(x_shape, w.shape, stride, padding, dilation) and gy.shape[:2] == (n, o)
    og, kc, p = o // groups, cg * kh * kw, oh * ow
    wT = _mm.transpose_last2(w.reshape(groups, og, kc))                     # (G, Kc, Og)
    gyT = _mm.transpose_last2(gy.reshape(n * groups, og, p))                # (N*G, P, Og)
    dcols = _gemm_nt(wT, gyT, np.tile(np.arange(groups, dtype=np.int64), n),
                     np.arange(n * groups, dtype=np.int64), n * groups)     # (N*G, Kc, P)
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    gxp = _conv.col2im(dcols.reshape(n, groups, kc, p), c, h + 2 * ph, wd + 2 * pw, kh, kw, sh, sw, dh, dw, oh, ow)
    return gxp if ph == 0 and pw == 0 else np.ascontiguousarray(gxp[:, :, ph:ph + h, pw:pw + wd])


def conv2d_backward_weight(gy, x, w_shape, stride, padding, dilation, groups):
    """gy (N, O, OH, OW), x (N, C, H, W) -> gw: w_shape."""
    if gy.dtype not in _FLOATS:
        return _numpy_fallback("conv2d_backward_weight", gy, x, w_shape, stride, padding, dilation, groups)
    gy = np.ascontiguousarray(gy)
    x = np.asarray(x, dtype=gy.dtype)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w_shape
    _, _, oh, ow = gy.shape
    assert (oh, ow) == _conv_dims(x.shape, w_shape, stride, padding, dilation) and gy.shape[:2] == (n, o)
    assert c == cg * groups
    (sh, sw), (dh, dw) = stride, dilation
    cols = _conv.im2col(_padded(x, padding), kh, kw, sh, sw, dh, dw, groups, oh, ow)   # (G, Kc, N*P)
    gyg = _conv.group_major(gy, groups)                                                  # (G, Og, N*P)
    idx = np.arange(groups, dtype=np.int64)
    return _gemm_nt(gyg, cols, idx, idx, groups).reshape(w_shape)


def max_pool2d_forward(x, kernel_size, stride, padding, dilation):
    """-> (y, indices): y (N, C, OH, OW); indices hold each maximum's flat position in its H*W plane."""
    kh, kw = kernel_size
    oh, ow = _conv_dims(x.shape, (0, 0, kh, kw), stride, padding, dilation)
    xp = _padded(x, padding, -np.inf)
    return _pool.max_pool2d_forward(xp, kh, kw, stride[0], stride[1], padding[0], padding[1],
                                    dilation[0], dilation[1], oh, ow, x.shape[3])


def max_pool2d_backward(gy, indices, x_shape):
    """Route each output gradient back to the input element that won its window."""
    gy = np.ascontiguousarray(gy)
    indices = np.ascontiguousarray(indices, dtype=np.int64)
    assert gy.shape == indices.shape and gy.shape[:2] == tuple(x_shape[:2])
    gx, bad = _pool.max_pool2d_backward(gy, indices, x_shape[2], x_shape[3])
    if bad:
        raise IndexError(f"max_pool2d_backward: {bad} indices outside the {x_shape[2]}x{x_shape[3]} plane")
    return gx


def avg_pool2d_forward(x, kernel_size, stride, padding, count_include_pad=True):
    x = np.ascontiguousarray(x)
    kh, kw = kernel_size
    oh, ow = _conv_dims(x.shape, (0, 0, kh, kw), stride, padding, (1, 1))
    return _pool.avg_pool2d_forward(x, kh, kw, stride[0], stride[1], padding[0], padding[1], oh, ow,
                                    bool(count_include_pad))


def avg_pool2d_backward(gy, x_shape, kernel_size, stride, padding, count_include_pad=True):
    gy = np.ascontiguousarray(gy)
    kh, kw = kernel_size
    assert gy.shape[2:] == _conv_dims(x_shape, (0, 0, kh, kw), stride, padding, (1, 1))
    assert gy.shape[:2] == tuple(x_shape[:2])
    return _pool.avg_pool2d_backward(gy, x_shape[2], x_shape[3], kh, kw, stride[0], stride[1],
                                     padding[0], padding[1], bool(count_include_pad))
