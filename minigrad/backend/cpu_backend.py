"""The "numba" CPU backend: the same flat API as `numpy_backend`, run by the Numba kernels in
`minigrad.kernels.cpu` (compiled on first call, cached on disk; importing compiles nothing).

The wrappers here do what the kernels trust: make arrays C-contiguous, pick block sizes and
thread splits, and fall back to numpy where numpy is faster or the dtype is not float32/64.

Shapes: x (N, C, H, W), w (O, C // groups, KH, KW); stride, padding, dilation are pairs.
"""
import math

import numba
import numpy as np

from minigrad.kernels.cpu import conv as _conv
from minigrad.kernels.cpu import matmul as _mm
from minigrad.kernels.cpu import pool as _pool

from .numpy_backend import conv_output_size

xp = np
name = "numba"

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))

# Below this many multiply-adds np.matmul (OpenBLAS) wins: our kernel pays a parallel launch
# plus packing (measured crossover on a 2-core Zen 4: about 96^3).
_SMALL_MATMUL = 96 ** 3


def set_num_threads(n):
    """Threads used by the Numba kernels (at most numba.config.NUMBA_NUM_THREADS)."""
    numba.set_num_threads(int(n))


def get_num_threads():
    return numba.get_num_threads()


def _blocks(nt, m, n, k):
    """Task shape for gemm_nt: (MC, NC, KS) so that the tasks cover every thread evenly."""
    threads = numba.get_num_threads()
    mc = 64 if m > 32 else (m + 3) // 4 * 4
    nblk = max(1, -(-n // 256))
    nc = -(-(-(-n // nblk)) // 4) * 4          # balanced column blocks of at most 256
    tasks = nt * -(-m // mc) * -(-n // nc)
    ks = 1
    if tasks < threads:                         # too few tiles: also split the k axis
        ks = max(1, min(-(-threads // tasks) * 2, k // 1024))
    return mc, nc, ks


def _gemm_nt(A, Bt, a_idx, b_idx, nt):
    """A (na, M, K), Bt (nb, N, K) C-contiguous -> (nt, M, N) = A[a_idx] @ Bt[b_idx].T."""
    m, k = A.shape[1:]
    n = Bt.shape[1]
    assert A.shape[2] == Bt.shape[2] and A.dtype == Bt.dtype
    assert a_idx.shape == (nt,) and b_idx.shape == (nt,)
    assert nt == 0 or (0 <= a_idx.min() and a_idx.max() < A.shape[0] and 0 <= b_idx.min() and b_idx.max() < Bt.shape[0])
    mc, nc, ks = _blocks(nt, m, n, k)
    C = np.zeros((ks, nt, m, n), dtype=A.dtype)
    if nt and m and n and k:
        _mm.gemm_nt(A, Bt, C, a_idx, b_idx, mc, nc, ks)
    return C[0] if ks == 1 else C.sum(axis=0)


def _is_contig_T(b):
    """True when b's last two axes are a transposed view of C-contiguous memory."""
    return b.ndim == 2 and b.T.flags.c_contiguous and not b.flags.c_contiguous


def matmul(a, b):
    """a: (..., M, K), b: (..., K, N) -> (..., M, N), batch dimensions broadcast."""
    a = np.asarray(a)
    b = np.asarray(b)
    if (a.ndim < 2 or b.ndim < 2 or a.dtype != b.dtype or a.dtype not in _FLOATS
            or a.shape[-1] * a.shape[-2] * b.shape[-1] < _SMALL_MATMUL):
        return np.matmul(a, b)
    m, k = a.shape[-2:]
    n = b.shape[-1]
    if b.shape[-2] != k:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not align")
    if b.ndim == 2 and a.ndim > 2:             # (B..., M, K) @ (K, N): one GEMM with M = B*M
        out = matmul(a.reshape(-1, k), b)
        return out.reshape(a.shape[:-1] + (n,))
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    nt = math.prod(batch)
    A = np.ascontiguousarray(a).reshape(-1, m, k)
    if _is_contig_T(b):
        Bt = b.T[None]                         # already k-contiguous: no copy
    else:
        Bt = _mm.transpose_last2(np.ascontiguousarray(b).reshape(-1, k, n))
    a_idx = np.broadcast_to(np.arange(A.shape[0]).reshape(a.shape[:-2]), batch).ravel()
    b_idx = np.broadcast_to(np.arange(Bt.shape[0]).reshape(b.shape[:-2]), batch).ravel()
    return _gemm_nt(A, Bt, a_idx.astype(np.int64), b_idx.astype(np.int64), nt).reshape(batch + (m, n))


def _conv_dims(x_shape, w_shape, stride, padding, dilation):
    oh = conv_output_size(x_shape[2], w_shape[2], stride[0], padding[0], dilation[0])
    ow = conv_output_size(x_shape[3], w_shape[3], stride[1], padding[1], dilation[1])
    assert oh > 0 and ow > 0, "conv2d: empty output"
    return oh, ow


def conv2d_forward(x, w, stride, padding, dilation, groups):
    """x (N, C, H, W), w (O, C/G, KH, KW) -> y (N, O, OH, OW)."""
    x = np.ascontiguousarray(x)
    w = np.ascontiguousarray(w, dtype=x.dtype)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    assert c == cg * groups and o % groups == 0
    if x.dtype not in _FLOATS:
        from . import numpy_backend
        return numpy_backend.conv2d_forward(x, w, stride, padding, dilation, groups)
    oh, ow = _conv_dims(x.shape, w.shape, stride, padding, dilation)
    rows = _conv.im2row(x, kh, kw, stride[0], stride[1], padding[0], padding[1],
                        dilation[0], dilation[1], groups, oh, ow)       # (N, G, P, Kc)
    kc = cg * kh * kw
    A = w.reshape(groups, o // groups, kc)
    g_idx = np.tile(np.arange(groups, dtype=np.int64), n)
    y = _gemm_nt(A, rows.reshape(n * groups, oh * ow, kc), g_idx, np.arange(n * groups, dtype=np.int64), n * groups)
    return y.reshape(n, o, oh, ow)


def conv2d_backward_input(gy, w, x_shape, stride, padding, dilation, groups):
    """gy (N, O, OH, OW) -> gx: x_shape, the transposed convolution of gy with w."""
    gy = np.ascontiguousarray(gy)
    w = np.ascontiguousarray(w, dtype=gy.dtype)
    n, c, h, wd = x_shape
    o, cg, kh, kw = w.shape
    _, _, oh, ow = gy.shape
    assert (oh, ow) == _conv_dims(x_shape, w.shape, stride, padding, dilation) and gy.shape[:2] == (n, o)
    if gy.dtype not in _FLOATS:
        from . import numpy_backend
        return numpy_backend.conv2d_backward_input(gy, w, x_shape, stride, padding, dilation, groups)
    dh, dw = dilation
    ph2, pw2 = dh * (kh - 1) - padding[0], dw * (kw - 1) - padding[1]
    if tuple(stride) == (1, 1) and ph2 >= 0 and pw2 >= 0:
        # stride 1: gx is a plain convolution of gy with the rotated, channel-transposed kernel
        w2 = _conv.flip_transpose_weight(w, groups)
        gx = conv2d_forward(gy, w2, (1, 1), (ph2, pw2), dilation, groups)
        assert gx.shape == tuple(x_shape)
        return gx
    og = o // groups
    kc = cg * kh * kw
    gyT = _mm.transpose_last2(gy.reshape(n * groups, og, oh * ow))          # (N*G, P, Og)
    wT = _mm.transpose_last2(w.reshape(groups, og, kc))                      # (G, Kc, Og)
    dcols = _gemm_nt(gyT, wT, np.arange(n * groups, dtype=np.int64),
                     np.tile(np.arange(groups, dtype=np.int64), n), n * groups)  # (N*G, P, Kc)
    return _conv.col2im_rows(dcols.reshape(n, groups, oh * ow, kc), c, h, wd, kh, kw, stride[0], stride[1],
                             padding[0], padding[1], dh, dw, oh, ow)


def conv2d_backward_weight(gy, x, w_shape, stride, padding, dilation, groups):
    """gy (N, O, OH, OW), x (N, C, H, W) -> gw: w_shape."""
    gy = np.ascontiguousarray(gy)
    x = np.ascontiguousarray(x, dtype=gy.dtype)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w_shape
    _, _, oh, ow = gy.shape
    assert (oh, ow) == _conv_dims(x.shape, w_shape, stride, padding, dilation) and gy.shape[:2] == (n, o)
    assert c == cg * groups
    if gy.dtype not in _FLOATS:
        from . import numpy_backend
        return numpy_backend.conv2d_backward_weight(gy, x, w_shape, stride, padding, dilation, groups)
    cols = _conv.im2col_k(x, kh, kw, stride[0], stride[1], padding[0], padding[1],
                          dilation[0], dilation[1], groups, oh, ow)      # (G, Kc, N*P)
    gyg = _conv.group_major(gy, groups)                                   # (G, Og, N*P)
    idx = np.arange(groups, dtype=np.int64)
    return _gemm_nt(gyg, cols, idx, idx, groups).reshape(w_shape)


def max_pool2d_forward(x, kernel_size, stride, padding, dilation):
    """-> (y, indices): y (N, C, OH, OW); indices hold each maximum's flat position in its H*W plane."""
    x = np.ascontiguousarray(x)
    kh, kw = kernel_size
    oh, ow = _conv_dims(x.shape, (0, 0, kh, kw), stride, padding, dilation)
    return _pool.max_pool2d_forward(x, kh, kw, stride[0], stride[1], padding[0], padding[1],
                                    dilation[0], dilation[1], oh, ow)


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
