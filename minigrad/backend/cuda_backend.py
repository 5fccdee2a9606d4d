"""The CUDA backend: minigrad's own CUDA kernels (kernels/cuda/*.cu), driven through CuPy.

It meets the backend contract (contract.py; `numpy_backend` is the reference and test oracle):
`xp` (cupy), `name`, the required kernels (`matmul`, `conv2d_*`, `max_pool2d_*`, `avg_pool2d_*`),
and of the optional ones `relu_backward`, `softmax_cross_entropy` and `attention_forward` /
`attention_backward` (attention.cu, unverified on a GPU so far) on its own fused kernels
(where they apply) and the memory helpers `on_device`, `to_host`, `from_host`. The other optional
kernels (relu_forward, adam_update, sgd_update) are the contract's references, run by CuPy on the
GPU's arrays. One CUDA-only extra, `fused_bias_relu`, is not used by the ops yet.

How it works: each .cu file is read with importlib.resources from `minigrad.kernels.cuda`,
compiled once per process by NVRTC (`cupy.RawModule`) and its extern "C" kernels launched
with geometry picked here. Convolutions are explicit GEMMs: im2col lays the input out as
cols (C*KH*KW, N*OH*OW) so each group is one slice, and a single batched launch of our GEMM
(batched over groups) does the product; col2im is the adjoint. The helpers above the
"kernels" section are pure host logic (shapes, strides, launch plans) and need no GPU.

Shapes: x (N, C, H, W), w (O, C // groups, KH, KW); stride, padding, dilation are pairs.
"""
import functools
import importlib.resources
import math
from collections import namedtuple

import numpy as np

from ..cuda import device_count
from .contract import reference
from .numpy_backend import conv_output_size

try:
    import cupy
except Exception as exc:  # ImportError, or a CuPy that cannot find its CUDA libraries
    raise RuntimeError(
        "minigrad: CUDA backend needs CuPy and an NVIDIA GPU: could not import cupy "
        f"({exc}). Install it with `pip install cupy-cuda12x` (or the wheel matching your "
        "CUDA), or use the CPU device."
    ) from exc


if device_count() == 0:
    raise RuntimeError(
        "minigrad: CUDA backend needs CuPy and an NVIDIA GPU: CuPy is installed but no CUDA "
        "device is visible (check the driver, nvidia-smi and CUDA_VISIBLE_DEVICES)."
    )

xp = cupy
name = "cuda"
_reference = reference(cupy)

KERNEL_PACKAGE = "minigrad.kernels.cuda"
KERNEL_FILES = ("matmul.cu", "conv.cu", "pool.cu", "fused.cu", "attention.cu")
NVRTC_OPTIONS = ("--std=c++17",)
THREADS = 256  # every kernel is written for 256-thread blocks
MAX_GRID_X = 2**31 - 1
MAX_GRID_YZ = 65535
BK = 8  # the GEMM's K slab (matmul.cu)


# ----------------------------------------------------------------------------------------
# Pure host logic: no GPU needed.
# ----------------------------------------------------------------------------------------

def kernel_source(filename):
    """The CUDA C source of kernels/cuda/<filename>, read as package data."""
    if filename not in KERNEL_FILES:
        raise ValueError(f"unknown kernel file {filename!r}; expected one of {KERNEL_FILES}")
    try:
        return importlib.resources.files(KERNEL_PACKAGE).joinpath(filename).read_text(encoding="utf-8")
    except ModuleNotFoundError as exc:  # a source tree run without installing: no minigrad.kernels
        raise RuntimeError(f"minigrad CUDA: cannot read the kernel source {filename} ({exc}). Fix: run "
                           "`pip install -e .` in the minigrad repository") from exc


def dtype_suffix(dtype):
    """float32 -> "f32", float64 -> "f64": the suffix of the extern "C" kernel names."""
    dtype = np.dtype(dtype)
    if dtype == np.float32:
        return "f32"
    if dtype == np.float64:
        return "f64"
    raise TypeError(f"minigrad CUDA kernels take float32 or float64, not {dtype}")


def compute_dtype(*dtypes):
    """The float type the kernels run in: float64 if any input is float64, else float32."""
    return np.dtype(np.float64) if any(np.dtype(d) == np.float64 for d in dtypes) else np.dtype(np.float32)


def i32(v):
    """A kernel `int` argument; refuses values that would wrap."""
    v = int(v)
    if not -(2**31) <= v < 2**31:
        raise OverflowError(f"minigrad CUDA: {v} does not fit the kernels' 32-bit int arguments")
    return np.int32(v)


def i64(v):
    return np.int64(int(v))


def elementwise_grid(total, threads=THREADS, max_blocks=65536):
    """Launch geometry for a grid-stride kernel over `total` elements: ((blocks,), (threads,))."""
    blocks = max(1, min(math.ceil(total / threads), max_blocks))
    return (blocks,), (threads,)


GemmPlan = namedtuple("GemmPlan", "tile splits k_chunk grid block")


def gemm_plan(m, n, k, batch, sm_count):
    """Pick the tile size, split-K and grid of one batched GEMM launch.

    128x128 tiles when they already fill the GPU, else 64x64 tiles. If even those leave the
    GPU mostly idle and K is long, split K (each split >= 512 deep, a multiple of BK) and let
    the host sum the partials. Grid: x over N tiles, y over M tiles, z over batch*splits
    (the kernel loops when z is capped at 65535).
    """
    big_tiles = math.ceil(m / 128) * math.ceil(n / 128) * batch
    tile = 128 if big_tiles >= sm_count else 64
    blocks = math.ceil(m / tile) * math.ceil(n / tile) * batch
    splits = 1
    if blocks < 2 * sm_count and k >= 1024:
        splits = max(1, min(math.ceil(2 * sm_count / blocks), k // 512, 64))
    k_chunk = math.ceil(math.ceil(k / splits) / BK) * BK
    splits = max(1, math.ceil(k / k_chunk))
    gy = math.ceil(m / tile)
    if gy > MAX_GRID_YZ:
        raise OverflowError(f"minigrad CUDA matmul: M={m} needs more than {MAX_GRID_YZ} row tiles")
    grid = (math.ceil(n / tile), gy, min(batch * splits, MAX_GRID_YZ))
    return GemmPlan(tile, splits, k_chunk, grid, (THREADS,))


def broadcast_batch(a_shape, a_strides, b_shape, b_strides):
    """Broadcast the batch dims (all but the last two) of two operands, np.matmul style.

    Strides are in elements. Returns (batch_shape, a_batch_strides, b_batch_strides), the
    strides expanded to batch_shape with 0 on broadcast dimensions.
    """
    batch_shape = tuple(np.broadcast_shapes(tuple(a_shape[:-2]), tuple(b_shape[:-2])))

    def expand(shape, strides):
        shape, strides = tuple(shape[:-2]), tuple(strides[:-2])
        pad = len(batch_shape) - len(shape)
        shape, strides = (1,) * pad + shape, (0,) * pad + strides
        return tuple(0 if s == 1 else st for s, st in zip(shape, strides))

    return batch_shape, expand(a_shape, a_strides), expand(b_shape, b_strides)


def collapse_batch(shape, strides):
    """One stride s with offset(flat batch index z) == z * s, or None if no such s exists."""
    dims = [(n, st) for n, st in zip(shape, strides) if n != 1]
    if not dims:
        return 0
    if all(st == 0 for _, st in dims):
        return 0
    step = dims[-1][1]
    expect = step
    for n, st in reversed(dims):
        if st != expect:
            return None
        expect = st * n
    return step


def batch_offsets(shape, strides):
    """Element offset of every flat batch index (C order): int64 array of prod(shape)."""
    off = np.zeros((), dtype=np.int64)
    for n, st in zip(shape, strides):
        off = off[..., None] + np.arange(n, dtype=np.int64) * st
    return off.reshape(-1)


def conv_geometry(x_shape, w_shape, stride, padding, dilation):
    """The 14 ints the conv.cu kernels take: N, C, H, W, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw."""
    n, c, h, w = x_shape
    _, _, kh, kw = w_shape
    oh = conv_output_size(h, kh, stride[0], padding[0], dilation[0])
    ow = conv_output_size(w, kw, stride[1], padding[1], dilation[1])
    return (n, c, h, w, kh, kw, oh, ow, stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1])


def elem_strides(a):
    """An array's strides in elements (CuPy and NumPy give bytes)."""
    return tuple(s // a.itemsize for s in a.strides)


# ----------------------------------------------------------------------------------------
# Kernels: compiled once per process, launched on CuPy's current device and stream.
# ----------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _module(filename):
    return cupy.RawModule(code=kernel_source(filename), options=NVRTC_OPTIONS)


@functools.lru_cache(maxsize=None)
def _kernel(filename, kernel_name):
    return _module(filename).get_function(kernel_name)


@functools.lru_cache(maxsize=None)
def _sm_count(device_id):
    return int(cupy.cuda.Device(device_id).attributes["MultiProcessorCount"])


def _current_sm_count():
    return _sm_count(cupy.cuda.Device().id)


def _launch_elementwise(filename, kernel_name, total, args):
    grid, block = elementwise_grid(total)
    _kernel(filename, kernel_name)(grid, block, args)


def _gemm(a, a_strides, b, b_strides, m, n, k, batch, a_bs, b_bs, dtype, a_off=None, b_off=None):
    """C (batch, m, n) = A @ B for strided views a (element strides sam, sak) and b (sbk, sbn).

    Batch b starts at a + b * a_bs (or a + a_off[b] when offset tables are given).
    """
    out = cupy.empty((batch, m, n), dtype=dtype)
    if out.size == 0:
        return out
    if k == 0:
        out.fill(0)
        return out
    plan = gemm_plan(m, n, k, batch, _current_sm_count())
    target = out if plan.splits == 1 else cupy.empty((plan.splits, batch, m, n), dtype=dtype)
    use_off = a_off is not None
    if use_off:
        a_off, b_off = cupy.asarray(a_off, dtype=cupy.int64), cupy.asarray(b_off, dtype=cupy.int64)
    else:
        a_off, b_off = a, b  # unread placeholders
    kern = _kernel("matmul.cu", f"gemm_{plan.tile}x{plan.tile}_{dtype_suffix(dtype)}")
    kern(plan.grid, plan.block, (
        a, b, target, i32(m), i32(n), i32(k),
        i64(a_strides[0]), i64(a_strides[1]), i64(b_strides[0]), i64(b_strides[1]), i64(n),
        i64(batch), i64(a_bs), i64(b_bs), i64(m * n), a_off, b_off, i32(use_off),
        i32(plan.splits), i32(plan.k_chunk), i64(batch * m * n),
    ))
    return out if plan.splits == 1 else target.sum(axis=0)


def matmul(a, b):
    """a: (..., M, K), b: (..., K, N) -> (..., M, N), batch dimensions broadcast like np.matmul."""
    if a.ndim < 1 or b.ndim < 1:
        raise ValueError("matmul: scalar operands are not allowed")
    squeeze = []
    if a.ndim == 1:
        a, squeeze = a[None, :], squeeze + [-2]
    if b.ndim == 1:
        b, squeeze = b[:, None], squeeze + [-1]
    dtype = cupy.result_type(a.dtype, b.dtype)
    if dtype not in (np.float32, np.float64):
        return cupy.matmul(a, b)  # integers, complex, half: not ours
    a, b = a.astype(dtype, copy=False), b.astype(dtype, copy=False)
    (m, k), (k2, n) = a.shape[-2:], b.shape[-2:]
    if k != k2:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not align ({k} != {k2})")
    sa, sb = elem_strides(a), elem_strides(b)
    batch_shape, a_bstr, b_bstr = broadcast_batch(a.shape, sa, b.shape, sb)
    batch = math.prod(batch_shape)
    a_bs, b_bs = collapse_batch(batch_shape, a_bstr), collapse_batch(batch_shape, b_bstr)
    if a_bs is None or b_bs is None:
        out = _gemm(a, sa[-2:], b, sb[-2:], m, n, k, batch, 0, 0, dtype,
                    batch_offsets(batch_shape, a_bstr), batch_offsets(batch_shape, b_bstr))
    else:
        out = _gemm(a, sa[-2:], b, sb[-2:], m, n, k, batch, a_bs, b_bs, dtype)
    out = out.reshape(batch_shape + (m, n))
    for axis in squeeze:
        out = out.squeeze(axis)
    return out


# --- convolution -------------------------------------------------------------------------

def _im2col(x, geom):
    """x (N, C, H, W) contiguous -> cols (C*KH*KW, N*OH*OW)."""
    n, c, _, _, kh, kw, oh, ow = geom[:8]
    cols = cupy.empty((c * kh * kw, n * oh * ow), dtype=x.dtype)
    _launch_elementwise("conv.cu", f"im2col_{dtype_suffix(x.dtype)}", cols.size,
                        (x, cols) + tuple(i32(v) for v in geom))
    return cols


def _col2im(cols, geom):
    """cols (C*KH*KW, N*OH*OW) -> x (N, C, H, W), summing overlapping taps."""
    n, c, h, w = geom[:4]
    x = cupy.empty((n, c, h, w), dtype=cols.dtype)
    _launch_elementwise("conv.cu", f"col2im_{dtype_suffix(cols.dtype)}", x.size,
                        (cols, x) + tuple(i32(v) for v in geom))
    return x


def _conv_prep(*arrays):
    dtype = compute_dtype(*(a.dtype for a in arrays))
    return dtype, [cupy.ascontiguousarray(a.astype(dtype, copy=False)) for a in arrays]


def _grouped_gy(gy, groups):
    """gy (N, O, OH, OW) -> (O, N*OH*OW) contiguous: group g's rows are [g*Og, (g+1)*Og)."""
    n, o, oh, ow = gy.shape
    return cupy.ascontiguousarray(gy.reshape(n, o, oh * ow).transpose(1, 0, 2)).reshape(o, n * oh * ow)


def conv2d_forward(x, w, stride, padding, dilation, groups, bias=None):
    """x (N, C, H, W), w (O, C/groups, KH, KW), bias (O,) or None -> y (N, O, OH, OW)."""
    if bias is not None:
        y = conv2d_forward(x, w, stride, padding, dilation, groups)
        y += bias.astype(y.dtype, copy=False).reshape(-1, 1, 1)
        return y
    dtype, (x, w) = _conv_prep(x, w)
    geom = conv_geometry(x.shape, w.shape, stride, padding, dilation)
    n, o, oh, ow = x.shape[0], w.shape[0], geom[6], geom[7]
    if min(n, o, oh, ow) <= 0:
        return cupy.zeros((n, o, max(oh, 0), max(ow, 0)), dtype=dtype)
    og, ckk, q = o // groups, w[0].size, n * oh * ow
    cols = _im2col(x, geom)
    # Y_g (Og, Q) = W_g (Og, CgKK) @ cols_g (CgKK, Q), batched over groups.
    yt = _gemm(w, (ckk, 1), cols, (q, 1), og, q, ckk, groups, og * ckk, ckk * q, dtype)
    return cupy.ascontiguousarray(yt.reshape(o, n, oh, ow).transpose(1, 0, 2, 3))


def conv2d_backward_bias(gy):
    """gy (N, O, OH, OW) -> (O,): summed over batch and pixels."""
    return gy.sum(axis=(0, 2, 3))


def conv2d_backward_input(gy, w, x_shape, stride, padding, dilation, groups):
    """gy (N, O, OH, OW) -> gx x_shape: the transposed convolution of gy with w."""
    dtype, (gy, w) = _conv_prep(gy, w)
    x_shape = tuple(int(s) for s in x_shape)
    geom = conv_geometry(x_shape, w.shape, stride, padding, dilation)
    if gy.size == 0 or w.size == 0:
        return cupy.zeros(x_shape, dtype=dtype)
    n, o, oh, ow = gy.shape
    og, ckk, q = o // groups, w[0].size, n * oh * ow
    gyt = _grouped_gy(gy, groups)
    # dcols_g (CgKK, Q) = W_g^T (CgKK, Og) @ gY_g (Og, Q): W_g^T is a strided view, no copy.
    dcols = _gemm(w, (1, ckk), gyt, (q, 1), ckk, q, og, groups, og * ckk, og * q, dtype)
    return _col2im(dcols.reshape(groups * ckk, q), geom)


def conv2d_backward_weight(gy, x, w_shape, stride, padding, dilation, groups):
    """gy (N, O, OH, OW), x (N, C, H, W) -> gw w_shape."""
    dtype, (gy, x) = _conv_prep(gy, x)
    w_shape = tuple(int(s) for s in w_shape)
    geom = conv_geometry(x.shape, w_shape, stride, padding, dilation)
    if gy.size == 0 or x.size == 0:
        return cupy.zeros(w_shape, dtype=dtype)
    n, o, oh, ow = gy.shape
    og, ckk, q = o // groups, math.prod(w_shape[1:]), n * oh * ow
    cols = _im2col(x, geom)
    gyt = _grouped_gy(gy, groups)
    # gW_g (Og, CgKK) = gY_g (Og, Q) @ cols_g^T (Q, CgKK); K = Q is long, so split-K kicks in.
    gw = _gemm(gyt, (q, 1), cols, (1, q), og, ckk, q, groups, og * q, ckk * q, dtype)
    return gw.reshape(w_shape)


# --- pooling -----------------------------------------------------------------------------

def _pool_prep(x):
    dtype = compute_dtype(x.dtype)
    return cupy.ascontiguousarray(x.astype(dtype, copy=False))


def max_pool2d_forward(x, kernel_size, stride, padding, dilation, indices=True):
    """-> (y, indices): y (N, C, OH, OW); indices (int64) hold each maximum's flat position in its H*W plane."""
    x = _pool_prep(x)
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh, ow = conv_output_size(h, kh, sh, ph, dh), conv_output_size(w, kw, sw, pw, dw)
    y = cupy.empty((n, c, oh, ow), dtype=x.dtype)
    idx = cupy.empty((n, c, oh, ow), dtype=cupy.int64)
    if y.size:
        _launch_elementwise("pool.cu", f"maxpool_fwd_{dtype_suffix(x.dtype)}", y.size, (
            x, y, idx, i64(n * c), i32(h), i32(w), i32(oh), i32(ow), i32(kh), i32(kw),
            i32(sh), i32(sw), i32(ph), i32(pw), i32(dh), i32(dw)))
    return y, idx


def max_pool2d_backward(gy, indices, x_shape):
    """Route each output gradient back to the input element that won its window."""
    gy = _pool_prep(gy)
    indices = cupy.ascontiguousarray(indices.astype(cupy.int64, copy=False))
    n, c, h, w = (int(s) for s in x_shape)
    gx = cupy.zeros((n, c, h, w), dtype=gy.dtype)
    p = gy.shape[2] * gy.shape[3]
    if gy.size and gx.size:
        _launch_elementwise("pool.cu", f"maxpool_bwd_{dtype_suffix(gy.dtype)}", gy.size,
                            (gy, indices, gx, i64(n * c), i32(h * w), i32(p)))
    return gx


def _avg_args(n, c, h, w, oh, ow, kernel_size, stride, padding, count_include_pad):
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    return (i64(n * c), i32(h), i32(w), i32(oh), i32(ow), i32(kh), i32(kw), i32(sh), i32(sw),
            i32(ph), i32(pw), i32(bool(count_include_pad)))


def avg_pool2d_forward(x, kernel_size, stride, padding, count_include_pad=True):
    x = _pool_prep(x)
    n, c, h, w = x.shape
    oh = conv_output_size(h, kernel_size[0], stride[0], padding[0], 1)
    ow = conv_output_size(w, kernel_size[1], stride[1], padding[1], 1)
    y = cupy.empty((n, c, oh, ow), dtype=x.dtype)
    if y.size:
        _launch_elementwise("pool.cu", f"avgpool_fwd_{dtype_suffix(x.dtype)}", y.size, (x, y) + _avg_args(
            n, c, h, w, oh, ow, kernel_size, stride, padding, count_include_pad))
    return y


def avg_pool2d_backward(gy, x_shape, kernel_size, stride, padding, count_include_pad=True):
    gy = _pool_prep(gy)
    n, c, h, w = (int(s) for s in x_shape)
    oh, ow = gy.shape[2:]
    gx = cupy.zeros((n, c, h, w), dtype=gy.dtype)
    if gx.size and gy.size:
        _launch_elementwise("pool.cu", f"avgpool_bwd_{dtype_suffix(gy.dtype)}", gx.size, (gy, gx) + _avg_args(
            n, c, h, w, oh, ow, kernel_size, stride, padding, count_include_pad))
    return gx


# --- fused kernels ---------------------------------------------------------------------

def fused_bias_relu(x, b):
    """x (N, C, *S), b (C,) -> relu(x + b broadcast over channel axis 1), one pass (a CUDA-only extra)."""
    dtype = compute_dtype(x.dtype, b.dtype)
    x = cupy.ascontiguousarray(x.astype(dtype, copy=False))
    b = cupy.ascontiguousarray(b.astype(dtype, copy=False))
    y = cupy.empty_like(x)
    if y.size:
        s = math.prod(x.shape[2:])
        _launch_elementwise("fused.cu", f"bias_relu_fwd_{dtype_suffix(dtype)}", y.size,
                            (x, b, y, i64(y.size), i32(x.shape[1]), i64(s)))
    return y


def relu_backward(gy, y):
    """gx = gy where the ReLU output y > 0, else 0; one pass (other dtypes and shapes: the reference)."""
    if gy.dtype != y.dtype or gy.dtype not in (np.float32, np.float64) or gy.shape != y.shape:
        return _reference.relu_backward(gy, y)
    gy, y = cupy.ascontiguousarray(gy), cupy.ascontiguousarray(y)
    gx = cupy.empty_like(gy)
    if gx.size:
        _launch_elementwise("fused.cu", f"relu_bwd_{dtype_suffix(gy.dtype)}", gx.size, (gy, y, gx, i64(gx.size)))
    return gx


def _rows_grid(rows):
    return (max(1, min(rows, 65535)),), (THREADS,)


def _softmax_xent_forward(x, t):
    """x (B, C) float, t (B,) int64 -> (loss (B,), lse (B,)): per-row cross-entropy and log-sum-exp.
    A target outside [0, C) marks an ignored row (loss 0)."""
    rows, classes = x.shape
    loss, lse = cupy.empty(rows, dtype=x.dtype), cupy.empty(rows, dtype=x.dtype)
    if rows and classes:
        grid, block = _rows_grid(rows)
        _kernel("fused.cu", f"softmax_xent_fwd_{dtype_suffix(x.dtype)}")(
            grid, block, (x, t, loss, lse, i32(rows), i32(classes)))
    return loss, lse


def _softmax_xent_backward(x, t, lse):
    """-> d(sum_r loss[r]) / dx = softmax(x) - onehot(t) per row (zero on ignored rows)."""
    g = cupy.ones(x.shape[0], dtype=x.dtype)
    gx = cupy.empty_like(x)
    if gx.size:
        grid, block = _rows_grid(x.shape[0])
        _kernel("fused.cu", f"softmax_xent_bwd_{dtype_suffix(x.dtype)}")(
            grid, block, (x, t, lse, g, gx, i32(x.shape[0]), i32(x.shape[1])))
    return gx


def softmax_cross_entropy(x, t, weight, ignore_index, eps):
    """Per-row softmax cross-entropy of logits x (N, C) against classes t (N,) -> (loss (N,), gradient
    (N, C), target weight (N,)) (the rule: contract.Backend.softmax_cross_entropy). Two kernels, one
    block per row, when there are no class weights and no label smoothing; else the reference."""
    if weight is not None or eps or x.ndim != 2 or x.dtype not in (np.float32, np.float64):
        return _reference.softmax_cross_entropy(x, t, weight, ignore_index, eps)
    x = cupy.ascontiguousarray(x)
    valid = t != ignore_index
    t = cupy.ascontiguousarray(cupy.where(valid, t, -1).astype(cupy.int64, copy=False))  # -1: ignored row
    loss, lse = _softmax_xent_forward(x, t)
    return loss, _softmax_xent_backward(x, t, lse), valid.astype(x.dtype)


def erf(x):
    """The error function elementwise (CuPy's lives in cupyx)."""
    from cupyx.scipy.special import erf as _erf
    return _erf(x)


# --- memory ------------------------------------------------------------------------------

def on_device(index):
    """A context in which CuPy allocates on GPU `index` (None: the current one)."""
    return cupy.cuda.Device(index)


def to_host(a):
    """A CuPy array -> a numpy array (copied to the host)."""
    return cupy.asnumpy(a)


def from_host(a, index):
    """A numpy array -> a CuPy array on GPU `index` (None: the current one)."""
    with cupy.cuda.Device(index):
        return cupy.asarray(a)


ATTENTION_MAX_DIM = 256  # attention.cu keeps a row of E or Ev values per thread in registers


def attention_plan(q_shape, k_shape, v_shape, mask_shape):
    """Launch arguments of attention.cu for q (N, L, E), k (N, S, E), v (N, S, Ev) and an additive mask
    (M, Lm, Sm) (None: no mask) -> dict of the kernels' int arguments and their grids, or None where
    the kernels do not apply (a head dim over ATTENTION_MAX_DIM, empty arrays): then the reference runs."""
    (n, L, E), S, ev = q_shape, k_shape[1], v_shape[2]
    if max(E, ev) > ATTENTION_MAX_DIM or n * L * S == 0:
        return None
    lm, sm = (1, 1) if mask_shape is None else mask_shape[1:]
    return dict(N=i32(n), L=i32(L), S=i32(S), E=i32(E), Ev=i32(ev), Lm=i32(lm), Sm=i32(sm),
                has_mask=i32(mask_shape is not None), rows_grid=elementwise_grid(n * L),
                cols_grid=elementwise_grid(n * S))


def _attention_prep(q, k, v, mask, mask_index, scale):
    q, k, v = (cupy.ascontiguousarray(a) for a in (q, k, v))
    if mask is None:
        mask, mask_index = cupy.zeros((1, 1, 1), q.dtype), cupy.zeros(q.shape[0], np.int64)
    else:
        mask = cupy.ascontiguousarray(mask, dtype=q.dtype)
        mask_index = cupy.ascontiguousarray(mask_index, dtype=np.int64)
    return q, k, v, mask, mask_index, cupy.full(1, scale, q.dtype)


def attention_forward(q, k, v, mask, mask_index, is_causal, scale):
    """Online-softmax attention, one thread per query row (the rule: contract.Backend.attention_forward)."""
    plan = attention_plan(q.shape, k.shape, v.shape, None if mask is None else mask.shape)
    if plan is None or q.dtype not in (np.float32, np.float64) or not q.dtype == k.dtype == v.dtype:
        return _reference.attention_forward(q, k, v, mask, mask_index, is_causal, scale)
    q, k, v, mask, mask_index, sc = _attention_prep(q, k, v, mask, mask_index, scale)
    out = cupy.empty(q.shape[:2] + v.shape[2:], q.dtype)
    lse = cupy.empty(q.shape[:2], q.dtype)
    p = plan
    _kernel("attention.cu", f"attn_fwd_{dtype_suffix(q.dtype)}")(*p["rows_grid"], (
        q, k, v, mask, mask_index, out, lse, sc, p["N"], p["L"], p["S"], p["E"], p["Ev"], p["Lm"], p["Sm"],
        p["has_mask"], i32(bool(is_causal))))
    return out, lse


def attention_backward(gout, q, k, v, out, lse, mask, mask_index, is_causal, scale):
    """Its gradients: one kernel for gq (and delta), one for gk and gv -> (gq, gk, gv)."""
    plan = attention_plan(q.shape, k.shape, v.shape, None if mask is None else mask.shape)
    if plan is None or q.dtype not in (np.float32, np.float64) or not q.dtype == k.dtype == v.dtype == gout.dtype:
        return _reference.attention_backward(gout, q, k, v, out, lse, mask, mask_index, is_causal, scale)
    q, k, v, mask, mask_index, sc = _attention_prep(q, k, v, mask, mask_index, scale)
    gout, out, lse = (cupy.ascontiguousarray(a, dtype=q.dtype) for a in (gout, out, lse))
    gq, gk, gv = cupy.empty_like(q), cupy.empty_like(k), cupy.empty_like(v)
    delta = cupy.empty(q.shape[:2], q.dtype)
    p, suffix, causal = plan, dtype_suffix(q.dtype), i32(bool(is_causal))
    dims = (p["N"], p["L"], p["S"], p["E"], p["Ev"], p["Lm"], p["Sm"], p["has_mask"], causal)
    _kernel("attention.cu", f"attn_bwd_q_{suffix}")(*p["rows_grid"], (
        gout, q, k, v, out, lse, mask, mask_index, sc, gq, delta) + dims)
    _kernel("attention.cu", f"attn_bwd_kv_{suffix}")(*p["cols_grid"], (
        gout, q, k, v, lse, delta, mask, mask_index, sc, gk, gv) + dims)
    return gq, gk, gv
