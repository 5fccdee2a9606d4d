"""Parity of the Numba CPU backend with the numpy reference backend (and a few fixed torch cases)."""
import importlib
import os
import re
import subprocess
import sys

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from conftest import cpu_backend
from minigrad.backend.contract import reference

cb = importlib.import_module("minigrad.backend.cpu_backend")
nb = importlib.import_module("minigrad.backend.numpy_backend")
ref = reference(np)  # the contract's reference versions of the fused kernels

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=2e-4, atol=2e-4), np.float64: dict(rtol=1e-10, atol=1e-10)}


@pytest.fixture(scope="module")
def kernel_matmul():
    """Force the Numba GEMM even for shapes where the backend would hand off to np.matmul."""
    old = cb._SMALL_MATMUL, cb._SMALL_MATMUL_2D
    cb._SMALL_MATMUL = cb._SMALL_MATMUL_2D = 0
    yield
    cb._SMALL_MATMUL, cb._SMALL_MATMUL_2D = old


def _rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def test_module_basics():
    """(The contract itself is checked in test_backend_contract.py.)"""
    assert callable(cb.gemm)  # the Numba GEMM itself, whatever matmul dispatches to
    assert cb.xp is np and cb.name == "numba" and cb.conv_output_size is nb.conv_output_size
    n = cb.get_num_threads()
    cb.set_num_threads(1)
    assert cb.get_num_threads() == 1
    cb.set_num_threads(n)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=25, deadline=None)
@given(m=st.integers(1, 70), k=st.integers(1, 90), n=st.integers(1, 70), batch=st.sampled_from([(), (1,), (3,), (2, 1)]),
       bbatch=st.sampled_from([(), (1,), (3,)]), ta=st.booleans(), tb=st.booleans(), seed=st.integers(0, 2**16))
def test_matmul_parity(kernel_matmul, dtype, m, k, n, batch, bbatch, ta, tb, seed):
    rng = np.random.default_rng(seed)
    a = _rand(rng, batch + (k, m), dtype).swapaxes(-1, -2) if ta else _rand(rng, batch + (m, k), dtype)
    b = _rand(rng, bbatch + (n, k), dtype).swapaxes(-1, -2) if tb else _rand(rng, bbatch + (k, n), dtype)
    try:
        want = nb.matmul(a, b)
    except ValueError:
        return  # batch shapes that do not broadcast
    got = cb.gemm(a, b)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, **TOL[dtype])


# (9, 4500, 40): thin C with long k takes the k-split path; (300, 70, 5): thin C is computed transposed
@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 600, 1), (97, 1, 131), (130, 1030, 67), (257, 300, 129),
                                   (9, 4500, 40), (300, 70, 5)])
def test_matmul_fixed_shapes(kernel_matmul, shape):
    m, k, n = shape
    rng = np.random.default_rng(1)
    a, b = _rand(rng, (m, k), np.float32), _rand(rng, (k, n), np.float32)
    np.testing.assert_allclose(cb.gemm(a, b), a @ b, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(cb.matmul(a, b), a @ b, rtol=1e-4, atol=1e-3)


def test_micro_kernel_is_generated_from_its_script():
    """kernels/cpu/micro.py is written by gen_micro.py; an edit to one without the other fails here."""
    from minigrad.kernels.cpu import gen_micro
    here = Path(gen_micro.__file__)
    assert here.with_name("micro.py").read_text() == gen_micro.source()
    # matmul.py carries the micro-kernel's stamp, so Numba's cache of the GEMM goes stale with it
    assert gen_micro.stamp(gen_micro.source()) + "\n" in here.with_name("matmul.py").read_text()
    # rnn.py inlines the tile and matmul.py's packing: its stamp names both
    stamp = gen_micro.inliner_stamp(gen_micro.source(), here.with_name("matmul.py").read_text())
    assert stamp + "\n" in here.with_name("rnn.py").read_text()


def test_gemm_micro_kernel_is_vectorised():
    """Compiled through slp_vectorized(), each row of the register tile becomes one SIMD register: packed
    FMAs, no scalar ones (compiled afresh, since Numba cannot show the code of a kernel loaded from its
    cache). The process's Numba configuration is the same before and after."""
    import numba
    from minigrad.kernels.cpu import matmul as mm

    def build(slp):
        kernel = numba.njit(parallel=True, fastmath={"contract"})(mm._gemm.py_func)
        if slp:
            kernel = mm.slp_vectorized(kernel)
        a, c, i = np.ones((1, 8, 40), np.float32), np.zeros((1, 1, 8, 8), np.float32), np.zeros(1, np.int64)
        args = (a, a, c, i, i, False, True, 8, 16, 1, True, a.ravel(), i[:0], i[:0], 0, np.empty((1, 2, 160), np.float32),
                256, 96)
        before = numba.config.SLP_VECTORIZE
        kernel(*args)
        assert numba.config.SLP_VECTORIZE == before
        assert (c == 40).all()
        asm = "\n".join(kernel.inspect_asm().values())
        return len(re.findall(r"vfmadd\w*ps\s+[^\n]*[xyz]mm", asm)), len(re.findall(r"vfmadd\w*ss\b", asm))

    packed, scalar = build(slp=True)
    if packed + scalar == 0:
        pytest.skip("no FMA instructions on this CPU")
    assert packed > 0 and scalar == 0
    assert build(slp=False)[1] > 0  # the test can tell the difference


def test_matmul_small_falls_back_and_other_dtypes():
    a = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(cb.matmul(a, a.T), a @ a.T)
    i = np.arange(6).reshape(2, 3)
    np.testing.assert_array_equal(cb.matmul(i, i.T), i @ i.T)


conv_case = st.fixed_dictionaries(dict(
    n=st.integers(1, 3), cg=st.integers(1, 4), og=st.integers(1, 5), groups=st.sampled_from([1, 1, 2, 3]),
    h=st.integers(1, 12), w=st.integers(1, 12), kh=st.integers(1, 4), kw=st.integers(1, 4),
    sh=st.integers(1, 3), sw=st.integers(1, 3), ph=st.integers(0, 2), pw=st.integers(0, 2),
    dh=st.integers(1, 2), dw=st.integers(1, 2), seed=st.integers(0, 2**16)))


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=30, deadline=None)
@given(c=conv_case)
def test_conv2d_parity(dtype, c):
    stride, padding, dilation, g = (c["sh"], c["sw"]), (c["ph"], c["pw"]), (c["dh"], c["dw"]), c["groups"]
    oh = nb.conv_output_size(c["h"], c["kh"], c["sh"], c["ph"], c["dh"])
    ow = nb.conv_output_size(c["w"], c["kw"], c["sw"], c["pw"], c["dw"])
    if oh < 1 or ow < 1:
        return
    rng = np.random.default_rng(c["seed"])
    x = _rand(rng, (c["n"], c["cg"] * g, c["h"], c["w"]), dtype)
    w = _rand(rng, (c["og"] * g, c["cg"], c["kh"], c["kw"]), dtype)
    bias = _rand(rng, (c["og"] * g,), dtype) if c["seed"] % 2 else None
    y = cb.conv2d_forward(x, w, stride, padding, dilation, g, bias=bias)
    want = nb.conv2d_forward(x, w, stride, padding, dilation, g, bias=bias)
    assert y.dtype == want.dtype
    np.testing.assert_allclose(y, want, **TOL[dtype])
    gy = _rand(rng, want.shape, dtype)
    np.testing.assert_allclose(cb.conv2d_backward_bias(gy), nb.conv2d_backward_bias(gy), **TOL[dtype])
    gx = cb.conv2d_backward_input(gy, w, x.shape, stride, padding, dilation, g)
    assert gx.shape == x.shape and gx.dtype == x.dtype
    np.testing.assert_allclose(gx, nb.conv2d_backward_input(gy, w, x.shape, stride, padding, dilation, g), **TOL[dtype])
    gw = cb.conv2d_backward_weight(gy, x, w.shape, stride, padding, dilation, g)
    assert gw.shape == w.shape and gw.dtype == w.dtype
    np.testing.assert_allclose(gw, nb.conv2d_backward_weight(gy, x, w.shape, stride, padding, dilation, g), **TOL[dtype])


def test_conv2d_noncontiguous_inputs():
    rng = np.random.default_rng(2)
    x = _rand(rng, (7, 7, 3, 2), np.float32).transpose(3, 2, 0, 1)      # (2, 3, 7, 7) view
    w = _rand(rng, (3, 3, 3, 4), np.float32).transpose(3, 2, 0, 1)      # (4, 3, 3, 3) view
    y = cb.conv2d_forward(x, w, (1, 1), (1, 1), (1, 1), 1)
    np.testing.assert_allclose(y, nb.conv2d_forward(x, w, (1, 1), (1, 1), (1, 1), 1), rtol=1e-4, atol=1e-4)
    gy = _rand(rng, y.shape[::-1], np.float32).T
    np.testing.assert_allclose(cb.conv2d_backward_weight(gy, x, w.shape, (1, 1), (1, 1), (1, 1), 1),
                               nb.conv2d_backward_weight(gy, x, w.shape, (1, 1), (1, 1), (1, 1), 1), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(cb.conv2d_backward_input(gy, w, x.shape, (1, 1), (1, 1), (1, 1), 1),
                               nb.conv2d_backward_input(gy, w, x.shape, (1, 1), (1, 1), (1, 1), 1), rtol=1e-4, atol=1e-4)


pool_case = st.fixed_dictionaries(dict(
    n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(1, 11), w=st.integers(1, 11),
    kh=st.integers(1, 3), kw=st.integers(1, 3), sh=st.integers(1, 3), sw=st.integers(1, 3),
    ph=st.integers(0, 1), pw=st.integers(0, 1), dh=st.integers(1, 2), dw=st.integers(1, 2),
    ties=st.booleans(), seed=st.integers(0, 2**16)))


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=30, deadline=None)
@given(c=pool_case)
def test_pool_parity(dtype, c):
    k, s, p, d = (c["kh"], c["kw"]), (c["sh"], c["sw"]), (c["ph"], c["pw"]), (c["dh"], c["dw"])
    if p[0] * 2 > k[0] or p[1] * 2 > k[1]:
        return  # torch's rule: padding at most half the window, so every window sees the image
    rng = np.random.default_rng(c["seed"])
    shape = (c["n"], c["c"], c["h"], c["w"])
    x = (rng.integers(0, 3, shape) if c["ties"] else rng.standard_normal(shape)).astype(dtype)
    if nb.conv_output_size(c["h"], k[0], s[0], p[0], d[0]) >= 1 and nb.conv_output_size(c["w"], k[1], s[1], p[1], d[1]) >= 1:
        y, idx = cb.max_pool2d_forward(x, k, s, p, d)
        yr, idxr = nb.max_pool2d_forward(x, k, s, p, d)
        np.testing.assert_array_equal(y, yr)
        np.testing.assert_array_equal(idx, idxr)
        assert y.dtype == x.dtype and idx.dtype == np.int64
        gy = _rand(rng, y.shape, dtype)
        np.testing.assert_allclose(cb.max_pool2d_backward(gy, idx, x.shape), nb.max_pool2d_backward(gy, idxr, x.shape),
                                   **TOL[dtype])
    if nb.conv_output_size(c["h"], k[0], s[0], p[0], 1) >= 1 and nb.conv_output_size(c["w"], k[1], s[1], p[1], 1) >= 1:
        for cip in (True, False):
            y = cb.avg_pool2d_forward(x, k, s, p, cip)
            yr = nb.avg_pool2d_forward(x, k, s, p, cip)
            assert y.dtype == x.dtype
            np.testing.assert_allclose(y, yr, **TOL[dtype])
            gy = _rand(rng, y.shape, dtype)
            np.testing.assert_allclose(cb.avg_pool2d_backward(gy, x.shape, k, s, p, cip),
                                       nb.avg_pool2d_backward(gy, x.shape, k, s, p, cip), **TOL[dtype])


def test_max_pool_backward_rejects_bad_indices():
    gy = np.ones((1, 1, 1, 1), np.float32)
    with pytest.raises(IndexError):
        cb.max_pool2d_backward(gy, np.full((1, 1, 1, 1), 9, np.int64), (1, 1, 3, 3))


def test_fixed_cases_against_torch(kernel_matmul):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(3)
    a, b = _rand(rng, (2, 65, 131), np.float32), _rand(rng, (131, 47), np.float32)
    np.testing.assert_allclose(cb.gemm(a, b), (torch.from_numpy(a) @ torch.from_numpy(b)).numpy(), rtol=1e-4, atol=1e-4)
    for stride, padding, dilation, groups in [((1, 1), (0, 0), (1, 1), 1), ((2, 2), (1, 1), (1, 1), 2), ((1, 2), (2, 1), (2, 1), 1)]:
        x = torch.from_numpy(_rand(rng, (3, 4, 13, 12), np.float32)).requires_grad_()
        w = torch.from_numpy(_rand(rng, (6, 4 // groups, 3, 3), np.float32)).requires_grad_()
        y = F.conv2d(x, w, stride=stride, padding=padding, dilation=dilation, groups=groups)
        gy = torch.from_numpy(_rand(rng, tuple(y.shape), np.float32))
        y.backward(gy)
        xn, wn, gyn = x.detach().numpy(), w.detach().numpy(), gy.numpy()
        tol = dict(rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(cb.conv2d_forward(xn, wn, stride, padding, dilation, groups), y.detach().numpy(), **tol)
        np.testing.assert_allclose(cb.conv2d_backward_input(gyn, wn, xn.shape, stride, padding, dilation, groups), x.grad.numpy(), **tol)
        np.testing.assert_allclose(cb.conv2d_backward_weight(gyn, xn, wn.shape, stride, padding, dilation, groups), w.grad.numpy(), **tol)
    x = torch.from_numpy(_rand(rng, (2, 3, 9, 8), np.float32)).requires_grad_()
    y, idx = F.max_pool2d(x, 3, 2, 1, 1, return_indices=True)
    yn, idxn = cb.max_pool2d_forward(x.detach().numpy(), (3, 3), (2, 2), (1, 1), (1, 1))
    np.testing.assert_array_equal(yn, y.detach().numpy())
    np.testing.assert_array_equal(idxn, idx.numpy())
    y.backward(torch.ones_like(y))
    np.testing.assert_allclose(cb.max_pool2d_backward(np.ones_like(yn), idxn, x.shape), x.grad.numpy())
    ya = F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
    np.testing.assert_allclose(cb.avg_pool2d_forward(x.detach().numpy(), (3, 3), (2, 2), (1, 1), False), ya.detach().numpy(),
                               rtol=1e-5, atol=1e-6)


BOUNDSCHECK_SCRIPT = r"""
import importlib, numpy as np
cb = importlib.import_module("minigrad.backend.cpu_backend")
nb = importlib.import_module("minigrad.backend.numpy_backend")
cb._SMALL_MATMUL = 0
rng = np.random.default_rng(0)
for a, b in [((5, 3), (3, 7)), ((2, 37, 19), (19, 21)), ((3, 1, 9), (1, 9, 5)), ((1, 1), (1, 1))]:
    a = rng.standard_normal(a).astype(np.float32); b = rng.standard_normal(b).astype(np.float32)
    assert np.allclose(cb.gemm(a, b), np.matmul(a, b), atol=1e-4)
assert np.allclose(cb.gemm(a.T, b.T), np.matmul(a.T, b.T), atol=1e-4)
for s, p, d, g in [((1, 1), (1, 1), (1, 1), 1), ((2, 3), (2, 0), (1, 2), 2)]:
    x = rng.standard_normal((2, 4, 7, 9)).astype(np.float32); w = rng.standard_normal((6, 4 // g, 3, 2)).astype(np.float32)
    y = cb.conv2d_forward(x, w, s, p, d, g); assert np.allclose(y, nb.conv2d_forward(x, w, s, p, d, g), atol=1e-4)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    assert np.allclose(cb.conv2d_backward_input(gy, w, x.shape, s, p, d, g), nb.conv2d_backward_input(gy, w, x.shape, s, p, d, g), atol=1e-4)
    assert np.allclose(cb.conv2d_backward_weight(gy, x, w.shape, s, p, d, g), nb.conv2d_backward_weight(gy, x, w.shape, s, p, d, g), atol=1e-4)
x = rng.standard_normal((3, 8, 7, 9)).astype(np.float32); w = rng.standard_normal((5, 8, 3, 3)).astype(np.float32)
b = rng.standard_normal(5).astype(np.float32)
y = cb.conv2d_forward(x, w, (1, 1), (1, 0), (1, 1), 1, bias=b)
assert np.allclose(y, nb.conv2d_forward(x, w, (1, 1), (1, 0), (1, 1), 1, bias=b), atol=1e-4)
gy = rng.standard_normal(y.shape).astype(np.float32)
assert np.allclose(cb.conv2d_backward_weight(gy, x, w.shape, (1, 1), (1, 0), (1, 1), 1), nb.conv2d_backward_weight(gy, x, w.shape, (1, 1), (1, 0), (1, 1), 1), atol=1e-3)
assert np.allclose(cb.conv2d_backward_bias(gy), nb.conv2d_backward_bias(gy), atol=1e-4)
for m, k, n in [(9, 4500, 40), (300, 70, 5)]:
    a = rng.standard_normal((m, k)).astype(np.float32); c = rng.standard_normal((k, n)).astype(np.float32)
    assert np.allclose(cb.gemm(a, c), a @ c, atol=1e-2)
r = rng.standard_normal((130, 140)).astype(np.float32)
assert (cb.relu_forward(r) == np.maximum(r, 0)).all() and (cb.relu_backward(r, r) == r * (r > 0)).all()
p, g, m1, v1, vm = (rng.standard_normal(50).astype(np.float32) for _ in range(5))
cb.adam_update(p, g, m1, np.abs(v1), np.abs(vm), 0.1, 0.9, 0.99, 1e-8, 0.1, False, 0.1, 0.01)
cb.sgd_update(p, g, m1, 0.1, 0.9, 0.0, 0.01, True, False)
assert np.isfinite(p).all()
loss, gl, wt = cb.softmax_cross_entropy(r[:, :7], np.arange(130) % 7, np.ones(7, np.float32), 3, 0.1)
assert gl.shape == (130, 7)
x = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
y, i = cb.max_pool2d_forward(x, (3, 2), (2, 2), (1, 1), (1, 2)); yr, ir = nb.max_pool2d_forward(x, (3, 2), (2, 2), (1, 1), (1, 2))
assert (y == yr).all() and (i == ir).all()
assert np.allclose(cb.max_pool2d_backward(y, i, x.shape), nb.max_pool2d_backward(y, i, x.shape))
ya = cb.avg_pool2d_forward(x, (3, 3), (2, 1), (1, 1), False); assert np.allclose(ya, nb.avg_pool2d_forward(x, (3, 3), (2, 1), (1, 1), False))
assert np.allclose(cb.avg_pool2d_backward(ya, x.shape, (3, 3), (2, 1), (1, 1), False), nb.avg_pool2d_backward(ya, x.shape, (3, 3), (2, 1), (1, 1), False))
print("BOUNDSCHECK-OK")
"""


def test_no_out_of_bounds_access_under_boundscheck(request, tmp_path):
    """Recompile the kernels with NUMBA_BOUNDSCHECK=1 (an IndexError on any bad access) and rerun a small suite.

    NUMBA_CACHE_DIR points at a folder of pytest's cache, so the bounds-checked builds never mix
    with the normal ones but are reused by later runs (the first run compiles for ~25 s).
    """
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    cache_dir = cache.mkdir("numba-boundscheck") if cache is not None else tmp_path
    env = dict(os.environ, NUMBA_BOUNDSCHECK="1", NUMBA_CACHE_DIR=str(cache_dir))
    r = subprocess.run([sys.executable, "-c", BOUNDSCHECK_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "BOUNDSCHECK-OK" in r.stdout


OPTIM_CASES = [
    ("SGD", dict(lr=0.1)), ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True)), ("SGD", dict(lr=0.1, momentum=0.5, dampening=0.3)),
    ("Adam", dict(lr=0.01)), ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("Adam", dict(lr=0.01, maximize=True)), ("AdamW", dict(lr=0.01, weight_decay=0.1)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,kwargs", OPTIM_CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(OPTIM_CASES)])
def test_fused_optimizer_steps_match_the_array_code(name, kwargs, dtype):
    """The one-pass Numba updates follow the reference rule (numpy backend) step by step."""
    import minigrad as mg
    import minigrad.optim as optim

    def run(backend):
        with cpu_backend(backend):
            rng = np.random.default_rng(0)
            params = [mg.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in [(70, 50), (9,)]]
            opt = getattr(optim, name)(params, **kwargs)
            for step in range(6):
                for p in params:
                    p.grad = mg.tensor(np.sin(3 * p.numpy() + step).astype(dtype))
                opt.step()
            return [p.numpy() for p in params]

    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-6, atol=2e-6)
    for got, want in zip(run("numba"), run("numpy")):
        np.testing.assert_allclose(got, want, **tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_relu_matches_reference(dtype):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((70, 300)).astype(dtype)
    x[0, :3] = [np.nan, -0.0, 0.0]
    y = cb.relu_forward(x)
    np.testing.assert_array_equal(y, ref.relu_forward(x))
    gy = rng.standard_normal(x.shape).astype(dtype)
    np.testing.assert_array_equal(cb.relu_backward(gy, y), ref.relu_backward(gy, y))
    np.testing.assert_array_equal(cb.relu_forward(x[:, ::2]), ref.relu_forward(x[:, ::2]))  # non-contiguous


@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_gelu_tanh_matches_reference(dtype):
    rng = np.random.default_rng(5)
    x = (3 * rng.standard_normal((70, 300))).astype(dtype)  # above the fused kernels' 16k-element minimum
    x[0, :4] = [np.nan, 0.0, 40.0, -40.0]
    # float32: the kernel's tanh is within 3.5e-7 of tanh (fused.py), which x and the slope's x (1 - t^2) term
    # scale by up to ~15 where |x| is 3-5
    tol = dict(rtol=0, atol=1e-12) if dtype == np.float64 else dict(rtol=0, atol=1e-5)
    for got, want in zip(cb.gelu_tanh(x), ref.gelu_tanh(x)):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, **tol)  # (NaN where the reference has NaN)
    for got, want in zip(cb.gelu_tanh(x[:, ::2]), ref.gelu_tanh(x[:, ::2])):  # non-contiguous: the reference
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("options", [dict(), dict(label_smoothing=0.2), dict(ignore_index=2, reduction="sum"),
                                     dict(weight=True, label_smoothing=0.1), dict(weight=True, reduction="none")])
def test_fused_cross_entropy_matches_reference(dtype, options):
    """The one-kernel softmax cross-entropy (Numba backend) against the array code (numpy backend)."""
    import minigrad as mg
    import minigrad.nn.functional as F
    rng = np.random.default_rng(5)
    x = (3 * rng.standard_normal((40, 7))).astype(dtype)
    t = rng.integers(0, 7, 40)
    options = dict(options)
    if options.pop("weight", False):
        options["weight"] = mg.tensor(rng.random(7).astype(dtype) + 0.5)

    def run(backend):
        with cpu_backend(backend):
            xt = mg.tensor(x, requires_grad=True)
            loss = F.cross_entropy(xt, mg.tensor(t), **options)
            loss.sum().backward()
            return loss.numpy(), xt.grad.numpy()

    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-5, atol=2e-6)
    for got, want in zip(run("numba"), run("numpy")):
        np.testing.assert_allclose(got, want, **tol)


def test_max_pool_skips_indices_only_when_nothing_needs_them():
    import minigrad as mg
    import minigrad.nn.functional as F
    x = mg.tensor(np.random.default_rng(6).standard_normal((2, 3, 6, 6)).astype(np.float32))
    with mg.no_grad():
        y0 = F.max_pool2d(x, 2)
        y1, idx = F.max_pool2d(x, 2, return_indices=True)
    want, want_idx = nb.max_pool2d_forward(x.numpy(), (2, 2), (2, 2), (0, 0), (1, 1))
    np.testing.assert_array_equal(y0.numpy(), want)
    np.testing.assert_array_equal(idx.numpy(), want_idx)
    y, none = cb.max_pool2d_forward(x.numpy(), (2, 2), (2, 2), (0, 0), (1, 1), indices=False)
    assert none is None and (y == want).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_kernels_hand_unsuited_arrays_to_the_reference(dtype):
    """Where a fused kernel does not apply (a strided view, mixed dtypes) the wrapper runs the
    contract's reference instead, in place like the kernel: bit for bit the reference's result."""
    rng = np.random.default_rng(7)
    p0, g = rng.standard_normal((6, 10)).astype(dtype), rng.standard_normal((6, 5)).astype(dtype)
    results = []
    for backend in (cb, ref):
        p, m, v, vmax, buf = p0.copy(), *(np.zeros((6, 5), dtype) for _ in range(4))
        view = p[:, ::2]  # not contiguous: the kernels take flat arrays only
        backend.adam_update(view, g, m, v, vmax, 0.01, 0.9, 0.99, 1e-8, 0.1, False, 0.1, 0.01)
        backend.sgd_update(view, g, buf, 0.1, 0.9, 0.0, 0.01, True, True)
        results.append((p, m, v, vmax, buf))
    for got, want in zip(*results):
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(results[0][0], p0)  # the step did happen

    x, t = rng.standard_normal((9, 4)).astype(dtype), rng.integers(0, 4, 9)
    for xx, w in ((x.astype(np.float16), None), (x, np.ones(4, np.float16))):  # dtypes the kernel refuses
        for got, want in zip(cb.softmax_cross_entropy(xx, t, w, 1, 0.1), ref.softmax_cross_entropy(xx, t, w, 1, 0.1)):
            np.testing.assert_array_equal(got, want)


def test_tile_shape_follows_the_caches():
    """The cache blocking comes from the CPU's reported caches, not from one machine's constants."""
    from minigrad.kernels.cpu import matmul as mm
    xeon = (("L1d", 48 << 10), ("L2", 2 << 20))
    epyc = (("L1d", 32 << 10), ("L2", 1 << 20))
    assert mm.tile_shape(4, xeon) == (384, 680)   # B panel 384 x 16 floats = 24 KiB: half of 48 KiB
    assert mm.tile_shape(4, epyc) == (256, 512)
    assert mm.tile_shape(8, epyc) == (128, 512)   # float64: half the k block for the same bytes
    assert mm.tile_shape(4, (("L2", 1 << 20),)) == (mm.KC_MAX, mm.MC)  # unreadable L1: the defaults
    kc, mc = mm.tile_shape(4)
    assert kc % 16 == 0 and mc % mm.MR == 0 and 64 <= kc <= 1024


def test_cache_sizes_reads_sysfs(tmp_path):
    from minigrad.kernels.cpu import matmul as mm
    for i, (level, kind, size) in enumerate([("1", "Data", "48K"), ("1", "Instruction", "32K"),
                                             ("2", "Unified", "2048K"), ("3", "Unified", "105M")]):
        d = tmp_path / f"index{i}"
        d.mkdir()
        for name, text in (("level", level), ("type", kind), ("size", size)):
            (d / name).write_text(text + "\n")
    assert mm.cache_sizes(tmp_path) == {"L1d": 48 << 10, "L2": 2 << 20, "L3": 105 << 20}
    assert mm.cache_sizes(tmp_path / "missing") == {}


@pytest.mark.parametrize("shape", [(1, 700, 33), (130, 1000, 70), (17, 400, 5)])
def test_gemm_with_long_k_crosses_several_k_blocks(shape):
    """k longer than the k block (384 floats on a 48 KiB L1d, 256 on 32 KiB): partial sums over blocks add up."""
    m, k, n = shape
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32)
    np.testing.assert_allclose(cb.gemm(a, b), a.astype(np.float64) @ b, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("flags, wide", [({"avx2", "fma", "avx512f"}, True), ({"avx2", "fma"}, False)])
def test_wide_vectors_marks_functions_only_on_avx512(flags, wide):
    """wide_vectors() asks LLVM for 512-bit vectors (overriding the "prefer 256-bit" tuning of most
    AVX-512 CPUs) in what is compiled inside it, only when the flags name AVX-512, and only there."""
    import numba
    from numba.core.compiler_lock import global_compiler_lock
    from minigrad.kernels.cpu import matmul as mm

    def marked(kernel):  # does the kernel's own function (not the helpers linked in) carry the attribute?
        ir = "\n".join(kernel.inspect_llvm().values())
        name = next(iter(kernel.overloads.values())).fndesc.mangled_name
        define = next(line for line in ir.splitlines() if line.startswith("define") and f"@{name}(" in line)
        groups = dict(re.findall(r"^attributes (#\d+) = (\{.*\})$", ir, re.M))
        return mm.PREFER_512 in define or any(groups.get(g, "").count(mm.PREFER_512) for g in re.findall(r"#\d+", define))

    def f(x):
        return x * 2.0

    inside, outside = numba.njit(f), numba.njit(f)
    with global_compiler_lock, mm.wide_vectors(flags):
        inside(np.ones(3))
    outside(np.ones(3))
    assert marked(inside) == wide
    assert not marked(outside)


def test_gemm_uses_full_width_registers_on_avx512():
    """On an AVX-512 CPU each row of the 8 x 16 float32 tile is one zmm register (with LLVM's default
    tuning it was two ymm halves: half the work per FMA). Compiled afresh: Numba cannot show cached code."""
    import numba
    from minigrad.kernels.cpu import matmul as mm
    if "avx512f" not in mm.cpu_flags():
        pytest.skip("no AVX-512 on this CPU")
    kernel = mm.slp_vectorized(numba.njit(parallel=True, fastmath={"contract"})(mm._gemm.py_func))
    a, b = np.ones((1, 8, 40), np.float32), np.ones((1, 16, 40), np.float32)   # A (M, K), B stored (N, K)
    c, i = np.zeros((1, 1, 8, 16), np.float32), np.zeros(1, np.int64)
    kernel(a, b, c, i, i, False, True, 8, 16, 1, False, a.ravel(), i[:0], i[:0], 0, np.empty((1, 1, 320), np.float32),
           256, 96)
    np.testing.assert_array_equal(c, 40)
    asm = "\n".join(kernel.inspect_asm().values())
    assert len(re.findall(r"vfmadd\w*ps\s+[^\n]*zmm", asm)) >= mm.MR
