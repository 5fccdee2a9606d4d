"""Tests of the CUDA backend (minigrad/backend/cuda_backend.py, kernels/cuda/*.cu).

(a) every .cu compiles with nvcc (skipped without nvcc) and exports the kernels the backend calls;
(b) host-side logic that needs no GPU: launch plans, strides, source loading, clear errors;
(c) parity with the numpy reference backend on a real GPU (skipped without CuPy + a GPU);
(d) the same parity cases on the CPU: the .cu files are compiled with g++ against a tiny CUDA
    emulator (one std::thread per CUDA thread, a std::barrier for __syncthreads) and driven
    by the real cuda_backend through a NumPy stand-in for CuPy. Slow-ish but it checks the
    kernels' index math without a GPU; skipped without a C++20 g++.
"""
import ctypes
import glob
import hashlib
import importlib
import importlib.resources
import os
import re
import shutil
import subprocess
import sys
import tempfile
import types

import numpy as np
import pytest

import minigrad.cuda
from minigrad.backend import contract, numpy_backend as ref

CU_FILES = ("matmul.cu", "conv.cu", "pool.cu", "fused.cu", "attention.cu")
EXPECTED_KERNELS = {
    "matmul.cu": {f"gemm_{t}_{s}" for t in ("128x128", "64x64") for s in ("f32", "f64")},
    "conv.cu": {f"{k}_{s}" for k in ("im2col", "col2im") for s in ("f32", "f64")},
    "pool.cu": {f"{k}_{s}" for k in ("maxpool_fwd", "maxpool_bwd", "avgpool_fwd", "avgpool_bwd")
                for s in ("f32", "f64")},
    "fused.cu": {f"{k}_{s}" for k in ("bias_relu_fwd", "relu_bwd", "softmax_xent_fwd", "softmax_xent_bwd")
                 for s in ("f32", "f64")},
    "attention.cu": {f"{k}_{s}" for k in ("attn_fwd", "attn_bwd_q", "attn_bwd_kv") for s in ("f32", "f64")},
}
BACKEND = "minigrad.backend.cuda_backend"


def _source(name):
    return importlib.resources.files("minigrad.kernels.cuda").joinpath(name).read_text()


def _find_nvcc():
    found = shutil.which("nvcc")
    if found:
        return found
    hits = sorted(glob.glob("/usr/local/cuda*/bin/nvcc"))
    return hits[-1] if hits else None


# ---------------------------------------------------------------------------------------
# (a) nvcc compiles every kernel file
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("cu", CU_FILES)
def test_cu_has_no_includes_and_a_tiling_comment(cu):
    src = _source(cu)
    # NVRTC (cupy.RawModule) sees no host headers: the kernels must not include any.
    assert not re.search(r"^\s*#\s*include", src, re.M), f"{cu} must not #include anything"
    assert src.lstrip().startswith("//"), f"{cu} must open with a comment on its scheme"


@pytest.mark.parametrize("cu", CU_FILES)
def test_cu_compiles_with_nvcc(cu, tmp_path):
    nvcc = _find_nvcc()
    if nvcc is None:
        pytest.skip("nvcc not found on PATH or under /usr/local/cuda*/bin")
    src = tmp_path / cu
    src.write_text(_source(cu))
    ptx = tmp_path / (cu + ".ptx")
    proc = subprocess.run([nvcc, "-arch=sm_90", "--ptx", "-std=c++17", "-o", str(ptx), str(src)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    entries = set(re.findall(r"\.entry\s+(\w+)\s*\(", ptx.read_text()))
    assert entries == EXPECTED_KERNELS[cu]


# ---------------------------------------------------------------------------------------
# (b) host side, no GPU needed
# ---------------------------------------------------------------------------------------

def _stub_cupy(device_count=1):
    """A NumPy-backed stand-in for CuPy, enough to import cuda_backend (see the emulator below)."""
    fake = types.ModuleType("cupy")
    fake.__dict__.update({k: getattr(np, k) for k in dir(np) if not k.startswith("__")})
    fake.cuda = types.SimpleNamespace(
        runtime=types.SimpleNamespace(getDeviceCount=lambda: device_count),
        Device=_FakeDevice,
    )
    fake.RawModule = _EmuRawModule
    fake.asnumpy = np.array
    return fake


class _FakeDevice:
    sm_count = 4  # small, so the tests exercise both tile sizes and split-K

    def __init__(self, index=0):
        self.id = index

    @property
    def attributes(self):
        return {"MultiProcessorCount": _FakeDevice.sm_count}

    def synchronize(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.fixture(autouse=True)
def _restore_backend_module():
    """Tests here import cuda_backend against stand-ins; put the real state back afterwards
    (sys.modules entry and the `minigrad.backend.cuda_backend` attribute, which
    `from . import cuda_backend` would otherwise find)."""
    import minigrad.backend as pkg
    saved_mod = sys.modules.get(BACKEND)
    saved_attr = pkg.__dict__.get("cuda_backend")
    yield
    for table, key, saved in ((sys.modules, BACKEND, saved_mod), (pkg.__dict__, "cuda_backend", saved_attr)):
        if saved is None:
            table.pop(key, None)
        else:
            table[key] = saved


def _import_backend_with(monkeypatch, cupy_module):
    monkeypatch.setitem(sys.modules, "cupy", cupy_module)
    monkeypatch.delitem(sys.modules, BACKEND, raising=False)
    return importlib.import_module(BACKEND)


@pytest.fixture
def host_cb(monkeypatch):
    """cuda_backend imported against the CuPy stand-in (dropped again by _restore_backend_module)."""
    return _import_backend_with(monkeypatch, _stub_cupy())


def test_is_available_never_raises():
    assert isinstance(minigrad.cuda.is_available(), bool)
    assert isinstance(minigrad.cuda.device_count(), int)
    try:
        import cupy  # noqa: F401
    except Exception:
        assert minigrad.cuda.is_available() is False
        assert minigrad.cuda.device_count() == 0
        with pytest.raises(RuntimeError):
            minigrad.cuda.synchronize()


def test_is_available_false_when_cupy_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` raise ImportError
    assert minigrad.cuda.is_available() is False
    assert minigrad.cuda.device_count() == 0


def test_backend_import_without_cupy_raises_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.delitem(sys.modules, BACKEND, raising=False)
    with pytest.raises(RuntimeError, match="minigrad: CUDA backend needs CuPy and an NVIDIA GPU"):
        importlib.import_module(BACKEND)


def test_backend_import_without_device_raises_clear_error(monkeypatch):
    with pytest.raises(RuntimeError, match="minigrad: CUDA backend needs CuPy and an NVIDIA GPU"):
        _import_backend_with(monkeypatch, _stub_cupy(device_count=0))


def test_backend_meets_the_contract(host_cb):
    backend = contract.bind(host_cb)
    assert backend.name == "cuda" and backend.xp is sys.modules["cupy"]
    # its own kernels where it has them, the contract's references (run by CuPy) elsewhere
    for kernel in ("relu_backward", "softmax_cross_entropy", "on_device", "to_host", "from_host"):
        assert getattr(backend, kernel) is getattr(host_cb, kernel), kernel
    for kernel in ("relu_forward", "adam_update", "sgd_update"):
        assert getattr(backend, kernel).__func__ is getattr(contract.Backend, kernel), kernel


def test_fused_kernels_leave_other_dtypes_to_the_reference(host_cb, monkeypatch):
    """float16 arrays, or class weights, go to the contract's reference: same result, no kernel launched."""
    monkeypatch.setattr(host_cb, "_launch_elementwise", None)
    monkeypatch.setattr(host_cb, "_kernel", None)
    oracle = contract.reference(np)
    gy, y = np.array([1.5, -2.0, 3.0], np.float16), np.array([0.0, 1.0, 2.0], np.float16)
    gx = host_cb.relu_backward(gy, y)
    assert gx.dtype == np.float16 and (gx == oracle.relu_backward(gy, y)).all()
    x, t, w = np.eye(3, dtype=np.float32), np.array([0, 2, 1]), np.array([1.0, 2.0, 3.0], np.float32)
    for got, want in zip(host_cb.softmax_cross_entropy(x, t, w, -100, 0.0), oracle.softmax_cross_entropy(x, t, w, -100, 0.0)):
        np.testing.assert_array_equal(got, want)


def test_memory_helpers(host_cb):
    a = np.arange(6.0).reshape(2, 3)
    on_dev = host_cb.from_host(a, 0)
    np.testing.assert_array_equal(host_cb.to_host(on_dev), a)
    with host_cb.on_device(1) as dev:
        assert dev.id == 1


def test_kernel_source_loads_every_file(host_cb):
    for cu in CU_FILES:
        src = host_cb.kernel_source(cu)
        for kernel in EXPECTED_KERNELS[cu]:
            stem = kernel if cu == "matmul.cu" else kernel.rsplit("_", 1)[0]
            assert stem in src
    with pytest.raises(ValueError):
        host_cb.kernel_source("nope.cu")


def test_dtype_helpers(host_cb):
    assert host_cb.dtype_suffix(np.float32) == "f32" and host_cb.dtype_suffix("float64") == "f64"
    with pytest.raises(TypeError):
        host_cb.dtype_suffix(np.int32)
    assert host_cb.compute_dtype(np.float32, np.float16) == np.float32
    assert host_cb.compute_dtype(np.float32, np.float64) == np.float64
    with pytest.raises(OverflowError):
        host_cb.i32(2**31)


def test_elementwise_grid(host_cb):
    assert host_cb.elementwise_grid(1) == ((1,), (256,))
    assert host_cb.elementwise_grid(0) == ((1,), (256,))
    assert host_cb.elementwise_grid(257) == ((2,), (256,))
    assert host_cb.elementwise_grid(10**12) == ((65536,), (256,))


def test_gemm_plan(host_cb):
    p = host_cb.gemm_plan(4096, 4096, 4096, 1, 132)
    assert p.tile == 128 and p.splits == 1 and p.grid == (32, 32, 1) and p.block == (256,)
    p = host_cb.gemm_plan(100, 70, 30, 3, 132)
    assert p.tile == 64 and p.splits == 1 and p.grid == (2, 2, 3)
    # conv backward-weight shape: tiny output, K = N*OH*OW long -> split-K
    p = host_cb.gemm_plan(32, 9, 256 * 26 * 26, 1, 132)
    assert p.tile == 64 and p.splits > 1
    assert p.k_chunk % 8 == 0 and (p.splits - 1) * p.k_chunk < 256 * 26 * 26 <= p.splits * p.k_chunk
    assert p.grid[2] == p.splits
    p = host_cb.gemm_plan(8, 8, 8, 10**6, 132)
    assert p.grid[2] == 65535  # the kernel loops over the rest


def test_batch_strides(host_cb):
    shape, sa, sb = host_cb.broadcast_batch((2, 1, 5, 3), (15, 15, 3, 1), (4, 3, 6), (18, 6, 1))
    assert shape == (2, 4) and sa == (15, 0) and sb == (0, 18)
    assert host_cb.collapse_batch(shape, sa) is None
    assert list(host_cb.batch_offsets(shape, sa)) == [0, 0, 0, 0, 15, 15, 15, 15]
    assert list(host_cb.batch_offsets(shape, sb)) == [0, 18, 36, 54] * 2
    assert host_cb.collapse_batch((2, 3), (12, 4)) == 4
    assert host_cb.collapse_batch((2, 3), (0, 0)) == 0
    assert host_cb.collapse_batch((), ()) == 0
    assert host_cb.collapse_batch((1, 3), (99, 4)) == 4
    assert host_cb.batch_offsets((), ()).tolist() == [0]


def test_conv_geometry(host_cb):
    g = host_cb.conv_geometry((2, 3, 10, 9), (4, 3, 3, 2), (2, 1), (1, 0), (1, 2))
    assert g == (2, 3, 10, 9, 3, 2, 5, 7, 2, 1, 1, 0, 1, 2)
    assert host_cb.conv_output_size(28, 3, 1, 0, 1) == ref.conv_output_size(28, 3, 1, 0, 1) == 26


# ---------------------------------------------------------------------------------------
# Parity cases, shared by the GPU tests (c) and the emulated tests (d).
# `env` holds the backend module plus to_dev / to_host converters.
# ---------------------------------------------------------------------------------------

def _tol(dtype):
    return dict(rtol=2e-4, atol=2e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)


def _rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


MATMUL_SHAPES = [
    ((1, 1), (1, 1)),
    ((7, 5), (5, 3)),
    ((33, 17), (17, 65)),
    ((130, 9), (9, 129)),            # crosses a 128 tile edge
    ((3, 2, 13, 11), (2, 11, 6)),     # broadcast batch, collapsible for b only
    ((2, 1, 5, 4), (3, 4, 7)),        # broadcast needs offset tables
    ((5, 3000), (3000, 6)),           # long K -> split-K
    ((4, 0), (0, 3)),                 # K = 0
    ((6,), (6, 4)),                   # 1-D operand
]


def case_matmul(env, dtype, rng):
    cb = env.cb
    for sa, sb in MATMUL_SHAPES:
        a, b = _rand(rng, sa, dtype), _rand(rng, sb, dtype)
        got = env.to_host(cb.matmul(env.to_dev(a), env.to_dev(b)))
        assert got.dtype == dtype and got.shape == np.matmul(a, b).shape
        np.testing.assert_allclose(got, ref.matmul(a, b), **_tol(dtype), err_msg=f"{sa} @ {sb}")
    # transposed (strided) operands need no copy and must still be right
    a, b = _rand(rng, (9, 20), dtype), _rand(rng, (11, 9), dtype)
    got = env.to_host(cb.matmul(env.to_dev(a).T, env.to_dev(b).T))
    np.testing.assert_allclose(got, a.T @ b.T, **_tol(dtype))


CONV_CASES = [
    # x shape, w shape, stride, padding, dilation, groups
    ((2, 3, 7, 6), (4, 3, 3, 3), (1, 1), (0, 0), (1, 1), 1),
    ((1, 4, 9, 8), (6, 2, 3, 2), (2, 1), (1, 2), (1, 2), 2),
    ((3, 6, 5, 7), (6, 1, 3, 3), (1, 2), (1, 1), (2, 1), 6),  # depthwise
    ((2, 1, 11, 11), (5, 1, 3, 3), (2, 2), (1, 1), (1, 1), 1),
    ((1, 2, 4, 4), (3, 2, 1, 1), (1, 1), (0, 0), (1, 1), 1),
]


def case_conv(env, dtype, rng):
    cb = env.cb
    for xs, ws, st, pad, dil, g in CONV_CASES:
        x, w = _rand(rng, xs, dtype), _rand(rng, ws, dtype)
        y_ref = ref.conv2d_forward(x, w, st, pad, dil, g)
        y = env.to_host(cb.conv2d_forward(env.to_dev(x), env.to_dev(w), st, pad, dil, g))
        np.testing.assert_allclose(y, y_ref, **_tol(dtype), err_msg=str((xs, ws, st, pad, dil, g)))
        gy = _rand(rng, y_ref.shape, dtype)
        gx = env.to_host(cb.conv2d_backward_input(env.to_dev(gy), env.to_dev(w), xs, st, pad, dil, g))
        np.testing.assert_allclose(gx, ref.conv2d_backward_input(gy, w, xs, st, pad, dil, g), **_tol(dtype))
        gw = env.to_host(cb.conv2d_backward_weight(env.to_dev(gy), env.to_dev(x), ws, st, pad, dil, g))
        np.testing.assert_allclose(gw, ref.conv2d_backward_weight(gy, x, ws, st, pad, dil, g), **_tol(dtype))
        assert y.dtype == gx.dtype == gw.dtype == dtype


def case_conv_long_k(env, dtype, rng):
    """Backward-weight with N*OH*OW long enough for split-K."""
    cb = env.cb
    x, w = _rand(rng, (4, 2, 20, 20), dtype), _rand(rng, (3, 2, 3, 3), dtype)
    gy = _rand(rng, (4, 3, 18, 18), dtype)
    gw = env.to_host(cb.conv2d_backward_weight(env.to_dev(gy), env.to_dev(x), w.shape, (1, 1), (0, 0), (1, 1), 1))
    np.testing.assert_allclose(gw, ref.conv2d_backward_weight(gy, x, w.shape, (1, 1), (0, 0), (1, 1), 1),
                               **_tol(dtype))


POOL_CASES = [
    # x shape, kernel, stride, padding, dilation
    ((2, 3, 7, 6), (2, 2), (2, 2), (0, 0), (1, 1)),
    ((1, 2, 9, 8), (3, 3), (2, 1), (1, 1), (1, 1)),
    ((2, 1, 10, 11), (3, 2), (1, 2), (1, 0), (2, 2)),
]


def case_pool(env, dtype, rng):
    cb = env.cb
    for xs, k, st, pad, dil in POOL_CASES:
        x = _rand(rng, xs, dtype)
        y_ref, i_ref = ref.max_pool2d_forward(x, k, st, pad, dil)
        y, idx = cb.max_pool2d_forward(env.to_dev(x), k, st, pad, dil)
        np.testing.assert_array_equal(env.to_host(y), y_ref)
        np.testing.assert_array_equal(env.to_host(idx), i_ref)
        assert env.to_host(idx).dtype == np.int64
        gy = _rand(rng, y_ref.shape, dtype)
        gx = env.to_host(cb.max_pool2d_backward(env.to_dev(gy), idx, xs))
        np.testing.assert_allclose(gx, ref.max_pool2d_backward(gy, i_ref, xs), **_tol(dtype))
        for cip in (True, False):
            a_ref = ref.avg_pool2d_forward(x, k, st, pad, cip)
            a = env.to_host(cb.avg_pool2d_forward(env.to_dev(x), k, st, pad, cip))
            np.testing.assert_allclose(a, a_ref, **_tol(dtype))
            g = _rand(rng, a_ref.shape, dtype)
            ga = env.to_host(cb.avg_pool2d_backward(env.to_dev(g), xs, k, st, pad, cip))
            np.testing.assert_allclose(ga, ref.avg_pool2d_backward(g, xs, k, st, pad, cip), **_tol(dtype))
            assert a.dtype == ga.dtype == dtype


def case_fused(env, dtype, rng):
    cb, oracle = env.cb, contract.reference(np)
    for shape in ((5, 7), (2, 3, 4, 5)):
        x, b = _rand(rng, shape, dtype), _rand(rng, (shape[1],), dtype)
        bshape = (1, -1) + (1,) * (len(shape) - 2)
        y = env.to_host(cb.fused_bias_relu(env.to_dev(x), env.to_dev(b)))
        np.testing.assert_allclose(y, np.maximum(x + b.reshape(bshape), 0), **_tol(dtype))
        gy = _rand(rng, shape, dtype)
        gx = env.to_host(cb.relu_backward(env.to_dev(gy), env.to_dev(y)))
        np.testing.assert_array_equal(gx, oracle.relu_backward(gy, y))
    for rows, classes in ((1, 1), (6, 10), (3, 700)):
        x = (_rand(rng, (rows, classes), dtype) * 5).astype(dtype)
        weight = (rng.random(classes) + 0.5).astype(dtype)
        t = rng.integers(0, classes, rows)
        # (ignore_index, weight, label smoothing): the first two run the kernels, the last the reference
        for ignore, w, eps in ((-100, None, 0.0), (int(t[0]), None, 0.0), (int(t[-1]), weight, 0.1)):
            got = cb.softmax_cross_entropy(env.to_dev(x), env.to_dev(t), None if w is None else env.to_dev(w),
                                           ignore, eps)
            want = oracle.softmax_cross_entropy(x, t, w, ignore, eps)
            for part, g, r in zip(("loss", "grad", "target weight"), got, want):
                g = env.to_host(g)
                assert g.dtype == dtype and g.shape == r.shape, part
                np.testing.assert_allclose(g, r, **_tol(dtype), err_msg=f"{part}: {rows}x{classes}, ignore {ignore}")


CASES = [case_matmul, case_conv, case_conv_long_k, case_pool, case_fused]
DTYPES = [np.float32, np.float64]


# ---------------------------------------------------------------------------------------
# (c) parity on a real GPU
# ---------------------------------------------------------------------------------------

@pytest.mark.skipif(not minigrad.cuda.is_available(), reason="needs CuPy and an NVIDIA GPU")
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_gpu_parity(case, dtype):
    import cupy
    from minigrad.backend import cuda_backend
    env = types.SimpleNamespace(cb=cuda_backend, to_dev=cupy.asarray, to_host=cupy.asnumpy)
    case(env, dtype, np.random.default_rng(0))
    cupy.cuda.Device().synchronize()


@pytest.mark.skipif(not minigrad.cuda.is_available(), reason="needs CuPy and an NVIDIA GPU")
def test_gpu_large_sgemm():
    import cupy
    from minigrad.backend import cuda_backend
    rng = np.random.default_rng(1)
    a, b = _rand(rng, (1000, 515), np.float32), _rand(rng, (515, 1030), np.float32)
    got = cupy.asnumpy(cuda_backend.matmul(cupy.asarray(a), cupy.asarray(b)))
    np.testing.assert_allclose(got, a.astype(np.float64) @ b, rtol=1e-3, atol=1e-3)


# ---------------------------------------------------------------------------------------
# (d) the kernels on a CPU CUDA emulator
# ---------------------------------------------------------------------------------------

EMU_PRELUDE = r"""
#include <algorithm>
#include <barrier>
#include <cmath>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>
struct EmuDim3 { unsigned x = 0, y = 0, z = 0; };
thread_local EmuDim3 threadIdx, blockIdx;
static EmuDim3 blockDim, gridDim;
static std::barrier<>* emu_bar = nullptr;
static std::mutex emu_atomic;
#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __shared__ static
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
static inline void __syncthreads() { emu_bar->arrive_and_wait(); }
static inline float __int_as_float(unsigned i) { float f; std::memcpy(&f, &i, 4); return f; }
static inline double __longlong_as_double(long long i) { double d; std::memcpy(&d, &i, 8); return d; }
template <class T> T atomicAdd(T* p, T v) { std::lock_guard<std::mutex> g(emu_atomic); T o = *p; *p = o + v; return o; }
using std::min; using std::max; using std::fma; using std::exp; using std::log;
"""

EMU_LAUNCHER = r"""
typedef unsigned long long emu_u64;
typedef void (*emu_fn)(emu_u64, emu_u64, emu_u64, emu_u64, emu_u64, emu_u64, emu_u64, emu_u64,
                       emu_u64, emu_u64, emu_u64, emu_u64, emu_u64, emu_u64, emu_u64, emu_u64,
                       emu_u64, emu_u64, emu_u64, emu_u64, emu_u64, emu_u64, emu_u64, emu_u64);
// Every kernel argument is a pointer or an integer, so on x86-64 / aarch64 each travels in one
// integer register or one 8-byte stack slot: one 24-argument signature calls them all.
extern "C" void emu_launch(void* fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, int parallel,
                           int nargs, const emu_u64* args) {
    emu_u64 a[24] = {0};
    for (int i = 0; i < nargs && i < 24; ++i) a[i] = args[i];
    emu_fn f = (emu_fn)fn;
    blockDim = {bx, 1, 1};
    gridDim = {gx, gy, gz};
    auto body = [&](unsigned t, unsigned x, unsigned y, unsigned z) {
        threadIdx = {t, 0, 0};
        blockIdx = {x, y, z};
        f(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13],
          a[14], a[15], a[16], a[17], a[18], a[19], a[20], a[21], a[22], a[23]);
    };
    for (unsigned z = 0; z < gz; ++z)
        for (unsigned y = 0; y < gy; ++y)
            for (unsigned x = 0; x < gx; ++x) {
                if (!parallel) {  // kernels without __syncthreads: run the threads in turn
                    for (unsigned t = 0; t < bx; ++t) body(t, x, y, z);
                    continue;
                }
                std::barrier<> bar(bx);
                emu_bar = &bar;
                std::vector<std::thread> threads;
                for (unsigned t = 0; t < bx; ++t) threads.emplace_back(body, t, x, y, z);
                for (auto& th : threads) th.join();
            }
}
"""

_EMU_CACHE = {}
_BARRIER_KERNELS = ("gemm_", "softmax_xent_fwd_")


def _emu_compile(code):
    key = hashlib.sha256((EMU_PRELUDE + code + EMU_LAUNCHER).encode()).hexdigest()[:16]
    if key not in _EMU_CACHE:
        build = os.path.join(tempfile.gettempdir(), "minigrad_cuda_emu")
        os.makedirs(build, exist_ok=True)
        src, lib = os.path.join(build, key + ".cpp"), os.path.join(build, key + ".so")
        if not os.path.exists(lib):
            with open(src, "w") as f:
                f.write(EMU_PRELUDE + code + EMU_LAUNCHER)
            proc = subprocess.run(["g++", "-std=c++20", "-O1", "-shared", "-fPIC", "-pthread",
                                   "-w", "-o", lib + ".tmp", src], capture_output=True, text=True, timeout=600)
            assert proc.returncode == 0, proc.stderr[-4000:]
            os.replace(lib + ".tmp", lib)
        _EMU_CACHE[key] = ctypes.CDLL(lib)
    return _EMU_CACHE[key]


class _EmuKernel:
    def __init__(self, lib, name):
        self.lib, self.name, self.fn = lib, name, ctypes.cast(getattr(lib, name), ctypes.c_void_p).value

    def __call__(self, grid, block, args, shared_mem=0):
        grid = tuple(grid) + (1,) * (3 - len(tuple(grid)))
        assert tuple(block) == (256,)
        packed = []
        for a in args:
            if isinstance(a, np.ndarray):
                packed.append(a.ctypes.data)
            elif isinstance(a, (np.integer, int)):
                packed.append(int(a) & 0xFFFFFFFFFFFFFFFF)
            else:
                raise TypeError(f"emulator: unsupported kernel argument {type(a)}")
        arr = (ctypes.c_ulonglong * len(packed))(*packed)
        parallel = int(self.name.startswith(_BARRIER_KERNELS))
        self.lib.emu_launch(ctypes.c_void_p(self.fn), *(ctypes.c_uint(g) for g in grid), ctypes.c_uint(256),
                            ctypes.c_int(parallel), ctypes.c_int(len(packed)), arr)


class _EmuRawModule:
    def __init__(self, code, options=()):
        self.lib = _emu_compile(code)

    def get_function(self, name):
        return _EmuKernel(self.lib, name)


def _emulator_usable():
    import platform
    if platform.machine() not in ("x86_64", "AMD64", "aarch64", "arm64") or shutil.which("g++") is None:
        return False
    try:
        _emu_compile("extern \"C\" void emu_probe() {}\n")
        return True
    except Exception:
        return False


@pytest.fixture(scope="module")
def emu_ok():
    if not _emulator_usable():
        pytest.skip("needs g++ with C++20 <barrier> on x86-64/aarch64")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_emulated_parity(case, dtype, emu_ok, host_cb):
    env = types.SimpleNamespace(cb=host_cb, to_dev=np.asarray, to_host=np.asarray)
    case(env, dtype, np.random.default_rng(0))


def test_state_restored_after_stub_imports():
    """Runs after the stub-import tests: the real backend module must not be left behind."""
    import minigrad.backend as pkg
    for mod in (sys.modules.get(BACKEND), pkg.__dict__.get("cuda_backend")):
        if isinstance(mod, types.ModuleType):
            assert not isinstance(mod.xp.cuda, types.SimpleNamespace), "stub-backed backend left behind"


def test_emulated_gemm_big_tile(emu_ok, host_cb, monkeypatch):
    """Enough tiles for the 128x128 kernel (and a long-K split on a second call)."""
    monkeypatch.setattr(_FakeDevice, "sm_count", 1)
    host_cb._sm_count.cache_clear()
    rng = np.random.default_rng(2)
    for dtype in DTYPES:
        a, b = _rand(rng, (130, 21), dtype), _rand(rng, (21, 131), dtype)
        assert host_cb.gemm_plan(130, 131, 21, 1, 1).tile == 128
        np.testing.assert_allclose(host_cb.matmul(a, b), a @ b, **_tol(dtype))


def test_get_backend_cuda_without_cupy_raises(monkeypatch):
    from minigrad.backend import Device, get_backend
    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.delitem(sys.modules, BACKEND, raising=False)
    with pytest.raises(RuntimeError, match="needs CuPy and an NVIDIA GPU"):
        get_backend(Device("cuda"))
