"""The "numba" CPU backend: the contract's kernels (contract.py) run by the Numba kernels in
`minigrad.kernels.cpu` (compiled on first call, cached on disk; importing compiles nothing).

The wrappers here do what the kernels trust: make arrays C-contiguous, allocate the outputs,
pick block sizes and thread splits, and hand work to numpy where numpy is faster or the dtype
is not float32/64. Convolution takes one of three routes, chosen by measurement (see
benchmarks/profile_step.py): direct loops for few taps per output (Cg*KH*KW <= 32), an implicit
GEMM that reads the patches straight from the padded input (groups == 1), or patch matrix + GEMM.
It also has the contract's optional fused kernels, one parallel pass each: relu_forward/backward,
gelu_tanh, softmax_cross_entropy, adam_update, sgd_update, the whole-sequence recurrent kernels
(rnn_sequence_forward/backward) and the tiled attention_forward/backward; arrays they do not
suit go to the reference.

Before its first kernel runs, the backend applies the process settings listed by
`minigrad.backend.tuning()` (process_tuning.py): nothing changes at import.

Shapes: x (N, C, H, W), w (O, C // groups, KH, KW); stride, padding, dilation are pairs.
"""
import numba
import numpy as np

from minigrad.kernels.cpu import attention as _attention
from minigrad.kernels.cpu import conv as _conv
from minigrad.kernels.cpu import fused as _fused
from minigrad.kernels.cpu import matmul as _mm
from minigrad.kernels.cpu import pool as _pool
from minigrad.kernels.cpu import rnn as _rnn

from . import numpy_backend, process_tuning
from .contract import reference
from .numpy_backend import conv_output_size
from .process_tuning import blas_limit

xp = np
name = "numba"

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_reference = reference(np)

# Dispatch of the matmul op, by measurement on this 2-core AVX-512 machine (benchmarks/bench_kernels.py
# and bench_training.py). OpenBLAS runs these calls on one thread (see process_tuning), and
# our GEMM pays ~30 us to start its tasks: below ~13M multiply-adds (64x1600 @ 1600x128) numpy is
# as fast or faster, at 256^3 ours takes 0.68x its time, at 1024^3 0.62x. Stacks of products
# (conv-shaped batches, which numpy loops over matrix by matrix) are ours from 96^3 each.
_SMALL_MATMUL = 96 ** 3      # per product in a stack
_SMALL_MATMUL_2D = 256 ** 3  # a single 2-D product

_cold = True  # no kernel has run yet: the process settings are still untouched


def _warm_up():
    """Apply the process settings (process_tuning.apply) before the first kernel starts Numba's threads."""
    global _cold
    process_tuning.apply()
    _cold = False


def _fail(kernel, what):
    """An internal invariant broke: a bug in this module, never bad user input (the ops check that)."""
    raise RuntimeError(f"{kernel}: {what} (an internal error of the Numba backend)")


def set_num_threads(n):
    """Threads used by the Numba kernels (at most numba.config.NUMBA_NUM_THREADS)."""
    if _cold:
        _warm_up()  # starting Numba's threads is the last moment GOMP_SPINCOUNT can take effect
    numba.set_num_threads(int(n))


def get_num_threads():
    """Threads the Numba kernels run on."""
    if _cold:
        _warm_up()
    return numba.get_num_threads()


def _blocks(nt, m, n, k):
    """Task shape for the GEMM kernel: (MG rows, NC columns, KS k-slices) so that the tasks cover every thread."""
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


def _gemm(A, B, a_idx, b_idx, a_km=False, b_nk=False, row_bias=None, implicit=None):
    """Products of A[a_idx[t]] (na, M, K) with B[b_idx[t]] (nb, K, N), all C-contiguous -> (nt, M, N).
    A is stored as (na, K, M) when a_km, B as (nb, N, K) when b_nk. row_bias (M,): added to every
    row of each product (the GEMM starts from it). implicit = (X, ko, no, bstride) replaces B:
    B_t[k, n] = X[b_idx[t] * bstride + ko[k] + no[n]] (X flat; see conv2d_forward)."""
    # The kernel does not check bounds: every index it will follow is checked here.
    nt = a_idx.shape[0]
    m, k = (A.shape[2], A.shape[1]) if a_km else A.shape[1:]
    if implicit is None:
        n, kb = (B.shape[1], B.shape[2]) if b_nk else (B.shape[2], B.shape[1])
        if nt and not (0 <= b_idx.min() and b_idx.max() < B.shape[0]):
            _fail("gemm", f"b_idx outside the {B.shape[0]} matrices of B {B.shape}")
    else:
        X, ko, no, bstride = implicit
        n, kb, B = no.shape[0], ko.shape[0], A[:0]
        if not (X.ndim == 1 and X.dtype == A.dtype and ko.dtype == no.dtype == np.int64):
            _fail("gemm", f"implicit B needs a flat {A.dtype} X and int64 offsets, got X {X.shape} {X.dtype}, "
                          f"offsets {ko.dtype} {no.dtype}")
        if nt and kb and n and not (min(b_idx.min() * bstride, 0) + ko.min() + no.min() >= 0
                                    and b_idx.max() * bstride + ko.max() + no.max() < X.shape[0]
                                    and b_idx.min() >= 0):
            _fail("gemm", f"implicit B reads outside X {X.shape}")
    if not (k == kb and A.dtype == B.dtype and b_idx.shape == (nt,)):
        _fail("gemm", f"A {A.shape} {A.dtype} (a_km={a_km}) does not meet B {B.shape} {B.dtype} (b_nk={b_nk}, "
                      f"k={kb}) or b_idx {b_idx.shape} differs from a_idx {a_idx.shape}")
    if nt and not (0 <= a_idx.min() and a_idx.max() < A.shape[0]):
        _fail("gemm", f"a_idx outside the {A.shape[0]} matrices of A {A.shape}")
    if n < _mm.NR and m > n and row_bias is None and implicit is None:  # thin C: C.T = B.T @ A.T fills tiles
        return _gemm(B, A, b_idx, a_idx, not b_nk, not a_km).transpose(0, 2, 1)
    mg, nc, ks = _blocks(nt, m, n, k)
    shape = (ks, nt, m, n)
    if not (nt and m and n and k):
        C = np.zeros(shape, dtype=A.dtype)
        if row_bias is not None:
            C[0] = row_bias.astype(A.dtype, copy=False)[:, None]
    elif row_bias is None:  # the kernel's first k block stores: nothing to clear
        C = np.empty(shape, dtype=A.dtype)
        _mm.gemm(A, B, C, a_idx, b_idx, a_km, b_nk, mg, nc, ks, accumulate=False, implicit=implicit)
    else:
        C = np.zeros(shape, dtype=A.dtype)
        C[0] = row_bias.astype(A.dtype, copy=False)[:, None]
        _mm.gemm(A, B, C, a_idx, b_idx, a_km, b_nk, mg, nc, ks, accumulate=True, implicit=implicit)
    return C[0] if ks == 1 else C.sum(axis=0)


def _operand(x, rows, cols):
    """x (..., rows, cols) -> (3-D C-contiguous array, transposed?) without copying a transposed view."""
    t = x.swapaxes(-1, -2)
    if not x.flags.c_contiguous and t.flags.c_contiguous:
        return t.reshape(-1, cols, rows), True
    return np.ascontiguousarray(x).reshape(-1, rows, cols), False


def gemm(a, b):
    """a: (..., M, K) @ b: (..., K, N) on our Numba kernel, always (the benchmarks call this)."""
    if _cold:
        _warm_up()
    m, k = a.shape[-2:]
    n = b.shape[-1]
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    A, a_km = _operand(a, m, k)
    B, b_nk = _operand(b, k, n)
    a_idx = np.broadcast_to(np.arange(A.shape[0]).reshape(a.shape[:-2]), batch).ravel()
    b_idx = np.broadcast_to(np.arange(B.shape[0]).reshape(b.shape[:-2]), batch).ravel()
    out = _gemm(A, B, a_idx.astype(np.int64), b_idx.astype(np.int64), a_km, b_nk)
    return out.reshape(batch + (m, n))


def matmul(a, b):
    """a: (..., M, K), b: (..., K, N) -> (..., M, N), batch dimensions broadcast."""
    if _cold:
        _warm_up()
    a = np.asarray(a)
    b = np.asarray(b)
    if a.ndim < 2 or b.ndim < 2 or a.dtype != b.dtype or a.dtype not in _FLOATS:
        return blas_limit.call(np.matmul, a, b)
    work = a.shape[-1] * a.shape[-2] * b.shape[-1]
    if work < _SMALL_MATMUL or (b.ndim == 2 and (a.ndim > 2 or work < _SMALL_MATMUL_2D)):
        return blas_limit.call(np.matmul, a, b)  # see _SMALL_MATMUL: OpenBLAS on one thread wins these
    if b.shape[-2] != a.shape[-1]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not align")
    return gemm(a, b)


def _conv_dims(kernel, x_shape, w_shape, stride, padding, dilation):
    """(OH, OW) of a convolution or pooling window w_shape[2:] over x_shape[2:]; at least one each."""
    oh = conv_output_size(x_shape[2], w_shape[2], stride[0], padding[0], dilation[0])
    ow = conv_output_size(x_shape[3], w_shape[3], stride[1], padding[1], dilation[1])
    if oh < 1 or ow < 1:
        raise ValueError(f"{kernel}: a {tuple(w_shape[2:])} window with stride {stride}, padding {padding} and "
                         f"dilation {dilation} leaves no output for an input of shape {tuple(x_shape)}")
    return oh, ow


# Up to this many taps per output (Cg * KH * KW) the direct loops beat patch matrix + GEMM:
# a GEMM with k = 9 spends more on packing than on arithmetic (seed CNN layer 1: 4.3 ms -> 1 ms).
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


def conv2d_forward(x, w, stride, padding, dilation, groups, bias=None):
    """x (N, C, H, W), w (O, C/G, KH, KW), bias (O,) or None -> y (N, O, OH, OW); y starts from the bias."""
    if _cold:
        _warm_up()
    if x.dtype not in _FLOATS:
        return numpy_backend.conv2d_forward(x, w, stride, padding, dilation, groups, bias)
    w = np.ascontiguousarray(w, dtype=x.dtype)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    if c != cg * groups or o % groups:
        _fail("conv2d_forward", f"x {x.shape} and w {w.shape} do not make {groups} groups")
    oh, ow = _conv_dims("conv2d_forward", x.shape, w.shape, stride, padding, dilation)
    (sh, sw), (dh, dw) = stride, dilation
    xp = _padded(x, padding)
    b = np.zeros(o, x.dtype) if bias is None else np.ascontiguousarray(bias, dtype=x.dtype)
    kc = cg * kh * kw
    if kc <= _DIRECT_MAX_TAPS:
        return _conv.conv_direct(xp, w, b, sh, sw, dh, dw, groups, oh, ow, np.empty((n, o, oh, ow), x.dtype))
    if groups == 1:  # y[n] = w (O, Kc) @ patches[n] (Kc, P), the patches read straight from xp
        hp, wp = xp.shape[2:]
        taps, pixels = _tap_offsets(c, hp, wp, kh, kw, dh, dw), _pixel_offsets(oh, ow, wp, sh, sw)
        y = _gemm(w.reshape(1, o, kc), None, np.zeros(n, np.int64), np.arange(n, dtype=np.int64), row_bias=b,
                  implicit=(xp.reshape(-1), taps, pixels, c * hp * wp))
        return y.reshape(n, o, oh, ow)
    rows = _rows(xp, kh, kw, sh, sw, dh, dw, groups, oh, ow)               # (N*G, P, Kc), taps (i, j, c)
    A = np.ascontiguousarray(w.transpose(0, 2, 3, 1)).reshape(groups, o // groups, kc)
    g_idx = np.tile(np.arange(groups, dtype=np.int64), n)
    y = np.ascontiguousarray(_gemm(A, rows, g_idx, np.arange(n * groups, dtype=np.int64), b_nk=True))
    y = y.reshape(n, o, oh * ow)
    y += b[:, None]
    return y.reshape(n, o, oh, ow)


def _tap_offsets(c, hp, wp, kh, kw, dh, dw):
    """Offset of tap (c, i, j), in that order, from a window's corner in a padded (C, Hp, Wp) image."""
    return (np.arange(c)[:, None, None] * (hp * wp) + np.arange(kh)[None, :, None] * (dh * wp)
            + np.arange(kw)[None, None, :] * dw).reshape(-1).astype(np.int64)


def _pixel_offsets(oh, ow, wp, sh, sw):
    """Offset of output pixel (r, q)'s window corner in a padded image of width wp."""
    return (np.arange(oh)[:, None] * (sh * wp) + np.arange(ow)[None, :] * sw).reshape(-1).astype(np.int64)


def _rows(xp, kh, kw, sh, sw, dh, dw, groups, oh, ow):
    """Padded x (N, C, Hp, Wp) -> the patch of every output pixel as a row: (N*G, OH*OW, KH*KW*Cg), taps (i, j, c)."""
    n, c = xp.shape[:2]
    rows = np.empty((n, groups, oh * ow, kh * kw * (c // groups)), dtype=xp.dtype)
    _conv.im2row(xp, kh, kw, sh, sw, dh, dw, groups, oh, ow, rows)
    return rows.reshape(n * groups, oh * ow, rows.shape[3])


def conv2d_backward_bias(gy):
    """gy (N, O, OH, OW) -> (O,): summed over batch and pixels."""
    if _cold:
        _warm_up()
    if gy.dtype not in _FLOATS:
        return numpy_backend.conv2d_backward_bias(gy)
    return _conv.channel_sum(np.ascontiguousarray(gy))


def conv2d_backward_input(gy, w, x_shape, stride, padding, dilation, groups):
    """gy (N, O, OH, OW) -> gx: x_shape, the transposed convolution of gy with w."""
    if _cold:
        _warm_up()
    if gy.dtype not in _FLOATS:
        return numpy_backend.conv2d_backward_input(gy, w, x_shape, stride, padding, dilation, groups)
    gy = np.ascontiguousarray(gy)
    w = np.ascontiguousarray(w, dtype=gy.dtype)
    n, c, h, wd = x_shape
    o, cg, kh, kw = w.shape
    _, _, oh, ow = gy.shape
    if (n, o, oh, ow) != (gy.shape[:2] + _conv_dims("conv2d_backward_input", x_shape, w.shape, stride, padding, dilation)):
        _fail("conv2d_backward_input", f"gy {gy.shape} does not fit x {tuple(x_shape)} and w {w.shape}")
    og, kc, p = o // groups, cg * kh * kw, oh * ow
    # dcols[n, g] (Kc, P) = w[g].T (Kc, Og) @ gy[n, g] (Og, P); w is read transposed in place
    dcols = _gemm(w.reshape(groups, og, kc), gy.reshape(n * groups, og, p), np.tile(np.arange(groups, dtype=np.int64), n),
                  np.arange(n * groups, dtype=np.int64), a_km=True)
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    gxp = _conv.col2im(dcols.reshape(n, groups, kc, p), c, h + 2 * ph, wd + 2 * pw, kh, kw, sh, sw, dh, dw, oh, ow,
                       np.empty((n, c, h + 2 * ph, wd + 2 * pw), gy.dtype))
    return gxp if ph == 0 and pw == 0 else np.ascontiguousarray(gxp[:, :, ph:ph + h, pw:pw + wd])


def conv2d_backward_weight(gy, x, w_shape, stride, padding, dilation, groups):
    """gy (N, O, OH, OW), x (N, C, H, W) -> gw: w_shape."""
    if _cold:
        _warm_up()
    if gy.dtype not in _FLOATS:
        return numpy_backend.conv2d_backward_weight(gy, x, w_shape, stride, padding, dilation, groups)
    gy = np.ascontiguousarray(gy)
    x = np.asarray(x, dtype=gy.dtype)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w_shape
    _, _, oh, ow = gy.shape
    if (n, o, oh, ow) != (gy.shape[:2] + _conv_dims("conv2d_backward_weight", x.shape, w_shape, stride, padding,
                                                     dilation)) or c != cg * groups:
        _fail("conv2d_backward_weight", f"gy {gy.shape} does not fit x {x.shape} and w {tuple(w_shape)} "
                                        f"in {groups} groups")
    (sh, sw), (dh, dw) = stride, dilation
    xp = _padded(x, padding)
    if (sh, sw) == (1, 1) and cg * kh * kw <= _DIRECT_MAX_TAPS:  # few taps: one dot product per tap
        return _conv.conv_direct_weight_grad(xp, gy, cg, kh, kw, dh, dw).astype(gy.dtype)
    gyg = _conv.group_major(gy, groups, np.empty((groups, o // groups, n * oh * ow), gy.dtype))  # (G, Og, N*P)
    idx = np.arange(groups, dtype=np.int64)
    if groups == 1:  # gw (O, Kc) = gy (O, N*P) @ patches (N*P, Kc), the patches read straight from xp
        hp, wp = xp.shape[2:]
        pixels = (np.arange(n)[:, None] * (c * hp * wp) + _pixel_offsets(oh, ow, wp, sh, sw)).reshape(-1)
        gw = _gemm(gyg, None, idx, idx, implicit=(xp.reshape(-1), pixels, _tap_offsets(c, hp, wp, kh, kw, dh, dw), 0))
        return gw.reshape(w_shape)
    cols = _conv.im2col(xp, kh, kw, sh, sw, dh, dw, groups, oh, ow,
                        np.empty((groups, cg * kh * kw, n * oh * ow), gy.dtype))   # (G, Kc, N*P)
    return _gemm(gyg, cols, idx, idx, b_nk=True).reshape(w_shape)


def max_pool2d_forward(x, kernel_size, stride, padding, dilation, indices=True):
    """-> (y, indices): y (N, C, OH, OW); indices hold each maximum's flat position in its H*W plane
    (None when not asked for: inference skips writing them)."""
    if _cold:
        _warm_up()
    kh, kw = kernel_size
    oh, ow = _conv_dims("max_pool2d_forward", x.shape, (0, 0, kh, kw), stride, padding, dilation)
    xp = _padded(x, padding, -np.inf)
    n, c = x.shape[:2]
    y = np.empty((n, c, oh, ow), x.dtype)
    idx = np.empty((n, c, oh, ow) if indices else (1, 1, 1, 1), np.int64)
    _pool.max_pool2d_forward(xp, kh, kw, stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1],
                             oh, ow, x.shape[3], y, idx, bool(indices))
    return y, (idx if indices else None)


def max_pool2d_backward(gy, indices, x_shape):
    """Route each output gradient back to the input element that won its window."""
    if _cold:
        _warm_up()
    gy = np.ascontiguousarray(gy)
    indices = np.ascontiguousarray(indices, dtype=np.int64)
    if gy.shape != indices.shape or gy.shape[:2] != tuple(x_shape[:2]):
        _fail("max_pool2d_backward", f"gy {gy.shape}, indices {indices.shape} and x {tuple(x_shape)} do not match")
    n, c, h, w = x_shape
    gx = np.empty((n * c, h * w), gy.dtype)
    bad = _pool.max_pool2d_backward(gy, indices, h, w, gx)
    if bad:
        raise IndexError(f"max_pool2d_backward: {bad} indices outside the {h}x{w} plane")
    return gx.reshape(n, c, h, w)


def avg_pool2d_forward(x, kernel_size, stride, padding, count_include_pad=True):
    """x (N, C, H, W) -> (N, C, OH, OW): the mean of every window."""
    if _cold:
        _warm_up()
    x = np.ascontiguousarray(x)
    kh, kw = kernel_size
    oh, ow = _conv_dims("avg_pool2d_forward", x.shape, (0, 0, kh, kw), stride, padding, (1, 1))
    return _pool.avg_pool2d_forward(x, kh, kw, stride[0], stride[1], padding[0], padding[1], oh, ow,
                                    bool(count_include_pad), np.empty(x.shape[:2] + (oh, ow), x.dtype))


def avg_pool2d_backward(gy, x_shape, kernel_size, stride, padding, count_include_pad=True):
    """gy (N, C, OH, OW) -> gx: x_shape, each output's gradient shared evenly by its window."""
    if _cold:
        _warm_up()
    gy = np.ascontiguousarray(gy)
    kh, kw = kernel_size
    if gy.shape != tuple(x_shape[:2]) + _conv_dims("avg_pool2d_backward", x_shape, (0, 0, kh, kw), stride, padding,
                                                   (1, 1)):
        _fail("avg_pool2d_backward", f"gy {gy.shape} does not fit x {tuple(x_shape)}")
    return _pool.avg_pool2d_backward(gy, x_shape[2], x_shape[3], kh, kw, stride[0], stride[1],
                                     padding[0], padding[1], bool(count_include_pad), np.empty(x_shape, gy.dtype))


# ---------------------------------------------------------------- fused elementwise kernels
# Below this many elements numpy's single pass beats waking the thread pool.
_FUSED_MIN = 1 << 14


def _flat_ok(*arrays, min_size=_FUSED_MIN):
    """True when the arrays suit a fused kernel: one float dtype and shape, C-contiguous, big enough."""
    a0 = arrays[0]
    return (a0.dtype in _FLOATS and a0.size >= min_size
            and all(a.dtype == a0.dtype and a.shape == a0.shape and a.flags.c_contiguous for a in arrays))


def relu_forward(x):
    """max(x, 0) (NaN stays NaN), one parallel pass."""
    if not _flat_ok(x):
        return _reference.relu_forward(x)
    if _cold:
        _warm_up()
    y = np.empty_like(x)
    _fused.relu_forward(x.reshape(-1), y.reshape(-1))
    return y


def relu_backward(gy, y):
    """gy where the ReLU output y is positive, else 0; one parallel pass."""
    if not _flat_ok(gy, y):
        return _reference.relu_backward(gy, y)
    if _cold:
        _warm_up()
    gx = np.empty_like(gy)
    _fused.relu_backward(gy.reshape(-1), y.reshape(-1), gx.reshape(-1))
    return gx


def gelu_tanh(x):
    """GELU's tanh approximation and its slope in one parallel pass -> (y, slope) (the rule:
    contract.Backend.gelu_tanh)."""
    if not _flat_ok(x):
        return _reference.gelu_tanh(x)
    if _cold:
        _warm_up()
    y, slope = np.empty_like(x), np.empty_like(x)
    _fused.gelu_tanh(x.reshape(-1), y.reshape(-1), slope.reshape(-1))
    return y, slope


def adam_update(p, g, m, v, vmax, lr, b1, b2, eps, wd, decoupled, bc1, bc2):
    """One Adam step in place, in one parallel pass (the rule: contract.Backend.adam_update)."""
    arrays = (p, g, m, v) if vmax is None else (p, g, m, v, vmax)
    if not _flat_ok(*arrays, min_size=0):  # every parameter, however small: one call beats ten numpy ops
        return _reference.adam_update(p, g, m, v, vmax, lr, b1, b2, eps, wd, decoupled, bc1, bc2)
    if _cold:
        _warm_up()
    flat = [a.reshape(-1) for a in arrays]
    _fused.adam_update(*flat[:4], flat[4] if vmax is not None else flat[3], float(lr), float(b1), float(b2),
                       float(eps), float(wd), bool(decoupled), vmax is not None, float(bc1), float(bc2))


def sgd_update(p, g, buf, lr, momentum, dampening, wd, nesterov, first):
    """One SGD step in place, in one parallel pass (the rule: contract.Backend.sgd_update)."""
    arrays = (p, g) if buf is None else (p, g, buf)
    if not _flat_ok(*arrays, min_size=0):  # every parameter, however small: one call beats ten numpy ops
        return _reference.sgd_update(p, g, buf, lr, momentum, dampening, wd, nesterov, first)
    if _cold:
        _warm_up()
    flat = [a.reshape(-1) for a in arrays]
    _fused.sgd_update(flat[0], flat[1], flat[2] if buf is not None else flat[0], float(lr), float(momentum),
                      float(dampening), float(wd), bool(nesterov), bool(first))


def softmax_cross_entropy(x, t, weight, ignore_index, eps):
    """Per-row softmax cross-entropy of logits x (N, C) against classes t (N,), one row per thread
    -> (loss (N,), gradient (N, C), target weight (N,)) (the rule: contract.Backend.softmax_cross_entropy)."""
    if x.ndim != 2 or x.dtype not in _FLOATS or (weight is not None and weight.dtype != x.dtype):
        return _reference.softmax_cross_entropy(x, t, weight, ignore_index, eps)
    if _cold:
        _warm_up()
    w = np.zeros(1, x.dtype) if weight is None else np.ascontiguousarray(weight)
    kernel = _fused.softmax_cross_entropy if x.size > _fused.SERIAL_MAX else _fused.softmax_cross_entropy_serial
    return kernel(np.ascontiguousarray(x), np.ascontiguousarray(t, dtype=np.int64), w,
                  weight is not None, int(ignore_index), float(eps))


# ---------------------------------------------------------------- whole-sequence recurrent kernels
def _rnn_suits(*arrays):
    return all(a is None or a.dtype == arrays[0].dtype for a in arrays) and arrays[0].dtype in _FLOATS


def rnn_sequence_forward(mode, xw, h0, c0, w_hh, b_hh, reverse):
    """All L steps of one direction in one kernel call -> workspace (hs, cs, gates, hn) (see the contract)."""
    if not _rnn_suits(xw, h0, c0, w_hh, b_hh) or 0 in xw.shape:
        return _reference.rnn_sequence_forward(mode, xw, h0, c0, w_hh, b_hh, reverse)
    if _cold:
        _warm_up()
    L, N, GH = xw.shape
    H = h0.shape[1]
    dt = xw.dtype
    hs = np.empty((L + 1, N, H), dt)
    hs[0] = h0
    cs = np.empty((L + 1, N, H) if mode == "LSTM" else (1, 1, 1), dt)
    if mode == "LSTM":
        cs[0] = c0
    gates = np.empty((L, N, GH) if mode in ("LSTM", "GRU") else (1, 1, 1), dt)
    hn = np.empty((L, N, H) if mode == "GRU" else (1, 1, 1), dt)
    b = np.zeros(GH, dt) if b_hh is None else np.ascontiguousarray(b_hh)
    kernel = _rnn.sequence_forward if N * GH * H >= _rnn.PARALLEL_MIN_WORK else _rnn.sequence_forward_serial
    kernel(_rnn.MODES[mode], np.ascontiguousarray(xw), np.ascontiguousarray(w_hh), b,
                          bool(reverse), hs, cs, gates, hn)
    return (hs, cs if mode == "LSTM" else None, gates if mode in ("LSTM", "GRU") else None,
            hn if mode == "GRU" else None)


def rnn_sequence_backward(mode, gout, gh_n, gc_n, w_hh, has_bias, reverse, hs, cs, gates, hn):
    """Backpropagation through time in one kernel call; the weight gradient is one GEMM afterwards."""
    if not _rnn_suits(gout, gh_n, gc_n, w_hh, hs) or 0 in gout.shape:
        return _reference.rnn_sequence_backward(mode, gout, gh_n, gc_n, w_hh, has_bias, reverse, hs, cs, gates, hn)
    if _cold:
        _warm_up()
    L, N, H = gout.shape
    GH = w_hh.shape[0]
    dt = gout.dtype
    dummy = np.empty((1, 1, 1), dt)
    dxw = np.empty((L, N, GH), dt)
    dhw = np.empty((L, N, GH), dt)
    dh = np.array(gh_n, dtype=dt, order="C")  # copies: the kernel turns them into dh0, dc0
    dc = np.array(gc_n, dtype=dt, order="C") if mode == "LSTM" else dh  # dc: read by the LSTM only
    kernel = _rnn.sequence_backward if N * GH * H >= _rnn.PARALLEL_MIN_WORK else _rnn.sequence_backward_serial
    kernel(_rnn.MODES[mode], np.ascontiguousarray(gout), dh, dc, np.ascontiguousarray(w_hh),
                           bool(reverse), hs, dummy if cs is None else cs, dummy if gates is None else gates,
                           dummy if hn is None else hn, dxw, dhw)
    dw_hh = blas_limit.call(np.matmul, dhw.reshape(L * N, GH).T, hs[:L].reshape(L * N, H))
    db_hh = dhw.sum(axis=(0, 1)) if has_bias else None
    return dxw, dh, dc if mode == "LSTM" else None, dw_hh, db_hh


# Attention tiles: 64 query rows x 64 keys keep the score tile and the key/value tiles in L1/L2.
_ATTENTION_BLOCK = 64


def _attention_args(q, k, v, mask, mask_index):
    """The kernels' arrays: contiguous q, k, v and (with no mask) a one-element dummy mask and index."""
    q, k, v = (np.ascontiguousarray(a) for a in (q, k, v))
    if mask is None:
        return q, k, v, np.zeros((1, 1, 1), q.dtype), np.zeros(q.shape[0], np.int64)
    mask, mask_index = np.ascontiguousarray(mask), np.ascontiguousarray(mask_index, dtype=np.int64)
    if not (mask.ndim == 3 and mask.shape[1] in (1, q.shape[1]) and mask.shape[2] in (1, k.shape[1])
            and mask_index.shape == (q.shape[0],) and (mask_index.size == 0 or
                                                       0 <= mask_index.min() <= mask_index.max() < mask.shape[0])):
        _fail("attention", f"mask {mask.shape} / mask_index {mask_index.shape} do not fit q {q.shape}, k {k.shape}")
    return q, k, v, mask, mask_index


def _exp_scratch(dtype, tasks, width=_ATTENTION_BLOCK):
    """Per-task scratch for the kernels' exponentials: int rows, and the same memory as `dtype` floats."""
    ints = np.empty((tasks, width), np.int32 if dtype == np.float32 else np.int64)
    return ints, ints.view(dtype)


def _attention_ok(q, k, v, mask):
    return (q.dtype in _FLOATS and k.dtype == v.dtype == q.dtype and (mask is None or mask.dtype == q.dtype)
            and q.shape[0] * q.shape[1] * k.shape[1] > 0)


def attention_forward(q, k, v, mask, mask_index, is_causal, scale):
    """Tiled attention with an online softmax (the rule: contract.Backend.attention_forward) -> (out, lse)."""
    if not _attention_ok(q, k, v, mask):
        return _reference.attention_forward(q, k, v, mask, mask_index, is_causal, scale)
    if _cold:
        _warm_up()
    has_mask = mask is not None
    q, k, v, mask, mask_index = _attention_args(q, k, v, mask, mask_index)
    out = np.empty(q.shape[:2] + v.shape[2:], q.dtype)
    lse = np.empty(q.shape[:2], q.dtype)
    if k.shape[1] <= _attention.SHORT_MAX:  # short rows: whole-row softmax, no tiles (kernels/cpu/attention.py)
        _attention.attention_forward_short(q, k, v, mask, mask_index, has_mask, bool(is_causal), float(scale), out,
                                           lse, *_exp_scratch(q.dtype, q.shape[0], k.shape[1]))
        return out, lse
    _attention.attention_forward(q, k, v, mask, mask_index, has_mask, bool(is_causal), float(scale), out, lse,
                                 _ATTENTION_BLOCK, _ATTENTION_BLOCK,
                                 *_exp_scratch(q.dtype, q.shape[0] * -(-q.shape[1] // _ATTENTION_BLOCK)))
    return out, lse


def attention_backward(gout, q, k, v, out, lse, mask, mask_index, is_causal, scale):
    """Its gradients, recomputing the scores tile by tile -> (gq, gk, gv)."""
    if not _attention_ok(q, k, v, mask) or gout.dtype != q.dtype:
        return _reference.attention_backward(gout, q, k, v, out, lse, mask, mask_index, is_causal, scale)
    if _cold:
        _warm_up()
    has_mask = mask is not None
    q, k, v, mask, mask_index = _attention_args(q, k, v, mask, mask_index)
    gout, out, lse = (np.ascontiguousarray(a, dtype=q.dtype) for a in (gout, out, lse))
    gq, gk, gv = np.empty_like(q), np.empty_like(k), np.empty_like(v)
    if k.shape[1] <= _attention.SHORT_MAX:
        _attention.attention_backward_short(gout, q, k, v, out, lse, mask, mask_index, has_mask, bool(is_causal),
                                            float(scale), gq, gk, gv, *_exp_scratch(q.dtype, q.shape[0], k.shape[1]))
        return gq, gk, gv
    _attention.attention_backward(gout, q, k, v, out, lse, mask, mask_index, has_mask, bool(is_causal),
                                  float(scale), gq, gk, gv, _ATTENTION_BLOCK, _ATTENTION_BLOCK,
                                  *_exp_scratch(q.dtype, q.shape[0]))
    return gq, gk, gv
