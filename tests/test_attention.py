"""F.scaled_dot_product_attention (the fused op) against torch, float64 forward and every gradient, on the
numpy reference backend and on the Numba tiled kernels; masks of every kind, L != S, several tiles,
rows with nothing to attend to, float32, errors; and the new helper ops against torch."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F
from conftest import cpu_backend
from minigrad.backend import contract

torch = pytest.importorskip("torch")


def _rand(*shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


def _parity(backend, q, k, v, dtype=np.float64, tol=1e-10, **kw):
    """Forward and the gradients of q, k, v (and of a float mask that requires grad) against torch."""
    g = _rand(*(np.broadcast_shapes(q.shape[:-2], k.shape[:-2]) + (q.shape[-2], v.shape[-1])), seed=9)
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    tkw = {n: torch.tensor(a) if isinstance(a, np.ndarray) else a for n, a in kw.items()}
    to = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, **tkw)
    to.backward(torch.tensor(g))
    with cpu_backend(backend):
        mq, mk, mv = (mg.tensor(a.astype(dtype), requires_grad=True) for a in (q, k, v))
        mkw = {n: mg.tensor(a) if isinstance(a, np.ndarray) else a for n, a in kw.items()}
        out = F.scaled_dot_product_attention(mq, mk, mv, **mkw)
        out.backward(mg.tensor(g.astype(dtype)))
    assert out.dtype == dtype and out.shape == tuple(to.shape)
    for name, a, b in (("out", out, to), ("q", mq.grad, tq.grad), ("k", mk.grad, tk.grad), ("v", mv.grad, tv.grad)):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=tol, atol=tol, err_msg=f"{backend}: {name}")


def _mask_cases():
    L, S = 70, 130  # several 64-wide tiles each way
    bool_mask = np.random.default_rng(1).random((L, S)) > 0.4
    bool_mask[3] = False  # a row with nothing to attend to
    float_mask = _rand(3, 1, S, seed=2)  # per head, broadcast over batch and query rows
    float_mask[1, 0, :] = -np.inf  # head 1: every row fully masked
    return {
        "none": {}, "causal": dict(is_causal=True), "bool": dict(attn_mask=bool_mask),
        "float_broadcast": dict(attn_mask=float_mask), "per_batch_bool": dict(attn_mask=np.random.default_rng(3).random(
            (2, 1, L, S)) > 0.5), "scale": dict(scale=0.3, is_causal=True),
    }


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("case", sorted(_mask_cases()))
def test_matches_torch_float64(backend, case):
    q, k, v = _rand(2, 3, 70, 16, seed=0), _rand(2, 3, 130, 16, seed=1), _rand(2, 3, 130, 8, seed=2)
    _parity(backend, q, k, v, **_mask_cases()[case])


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_causal_with_more_queries_than_keys_and_broadcast_batch(backend):
    _parity(backend, _rand(2, 1, 150, 8, seed=0), _rand(1, 4, 90, 8, seed=1), _rand(1, 4, 90, 5, seed=2),
            is_causal=True)
    _parity(backend, _rand(130, 8, seed=3), _rand(7, 8, seed=4), _rand(7, 3, seed=5))  # 2-D, L >> S


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_float32(backend):
    _parity(backend, _rand(2, 100, 32, seed=0), _rand(2, 90, 32, seed=1), _rand(2, 90, 32, seed=2),
            dtype=np.float32, tol=2e-5, is_causal=True)


def test_fully_masked_rows_give_zero_like_torch():
    q = mg.randn(1, 4, 8, dtype=mg.float64, requires_grad=True)
    kv = mg.randn(1, 6, 8, dtype=mg.float64, requires_grad=True)
    mask = np.ones((4, 6), bool)
    mask[2] = False
    out = F.scaled_dot_product_attention(q, kv, kv, attn_mask=mask)
    out.sum().backward()
    assert not np.isnan(out.numpy()).any() and not out.numpy()[0, 2].any() and not q.grad.numpy()[0, 2].any()
    empty = F.scaled_dot_product_attention(q, kv[:, :0], kv[:, :0])  # no keys at all: zeros, as torch
    assert empty.shape == (1, 4, 8) and not empty.numpy().any()


def test_kernels_agree_with_the_reference_directly():
    """The Numba kernels against the contract's plain version, arrays in and out."""
    from minigrad.backend import cpu_backend as cb
    rng = np.random.default_rng(0)
    q, k, v, g = (rng.standard_normal(s) for s in ((3, 97, 24), (3, 150, 24), (3, 150, 40), (3, 97, 40)))
    mask = np.where(rng.random((2, 97, 1)) > 0.2, rng.standard_normal((2, 97, 1)), -np.inf)
    index = np.array([1, 0, 1])
    ref = contract.reference(np)
    for args in ((None, None, True), (mask, index, False)):
        o, lse = cb.attention_forward(q, k, v, *args, 0.2)
        o_ref, lse_ref = ref.attention_forward(q, k, v, *args, 0.2)
        np.testing.assert_allclose(o, o_ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(lse, lse_ref, rtol=1e-12, atol=1e-12)
        for a, b in zip(cb.attention_backward(g, q, k, v, o, lse, *args, 0.2),
                        ref.attention_backward(g, q, k, v, o, lse, *args, 0.2)):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_dropout_takes_the_composed_path():
    mg.manual_seed(0)
    q = mg.randn(2, 5, 4, requires_grad=True)
    out = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5)
    out.sum().backward()
    assert out.shape == (2, 5, 4) and q.grad is not None
    plain = F.scaled_dot_product_attention(q, q, q)
    assert not np.allclose(out.numpy(), plain.numpy())


def test_second_derivatives():
    q, k, v = (mg.tensor(_rand(2, 3, 4, seed=s), requires_grad=True) for s in range(3))
    mask = np.tri(3, 3, dtype=bool)[::-1].copy()  # row 0 sees one key, row 2 all three
    assert mg.gradgradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, attn_mask=mask), (q, k, v))


@pytest.mark.parametrize("call,match", [
    (lambda q: F.scaled_dot_product_attention(q, q[..., :3], q), "do not fit"),
    (lambda q: F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((4, 4), bool)), "does not broadcast"),
    (lambda q: F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((5, 5), np.int64)), "bool or float"),
    (lambda q: F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((5, 5), bool), is_causal=True), "not both"),
    (lambda q: F.scaled_dot_product_attention(q, q, q, dropout_p=1.0), "dropout_p"),
    (lambda q: F.scaled_dot_product_attention(q, q.double(), q), "share a dtype"),
    (lambda q: F.scaled_dot_product_attention(q[0, 0], q, q), "do not fit|at least 2"),
    (lambda q: F.scaled_dot_product_attention(q, q, q, scale="x"), "scale"),
    (lambda q: F.scaled_dot_product_attention(q.numpy(), q, q), "must be a Tensor"),
])
def test_bad_arguments_name_the_function(call, match):
    with pytest.raises((ValueError, TypeError), match=f"scaled_dot_product_attention: .*({match})"):
        call(mg.randn(2, 5, 4))


def test_helper_ops_match_torch():
    a = _rand(2, 4, 5, seed=0)
    for d in (-1, 0, 2):
        np.testing.assert_array_equal(mg.tril(mg.tensor(a), d).numpy(), torch.tril(torch.tensor(a), d).numpy())
        np.testing.assert_array_equal(mg.tensor(a).triu(d).numpy(), torch.tensor(a).triu(d).numpy())
    m = _rand(4, 5, seed=1) > 0
    np.testing.assert_array_equal(mg.tensor(a).masked_fill(mg.tensor(m), -1.5).numpy(),
                                  torch.tensor(a).masked_fill(torch.tensor(m), -1.5).numpy())
    x = mg.tensor(a.copy())
    assert x.masked_fill_(mg.tensor(m), float("-inf")) is x and np.isneginf(x.numpy()[:, m]).all()
    b1, b2, i = _rand(2, 4, 3, seed=2), _rand(2, 3, 6, seed=3), _rand(4, 6, seed=4)
    np.testing.assert_allclose(mg.bmm(mg.tensor(b1), mg.tensor(b2)).numpy(), np.matmul(b1, b2))
    np.testing.assert_allclose(mg.tensor(i).baddbmm(mg.tensor(b1), mg.tensor(b2), beta=0.5, alpha=3).numpy(),
                               torch.baddbmm(torch.tensor(i), torch.tensor(b1), torch.tensor(b2), beta=0.5,
                                             alpha=3).numpy())
    with pytest.raises(ValueError, match="tril: input must have at least 2"):
        mg.tril(mg.ones(3))
    with pytest.raises(ValueError, match="masked_fill: mask of shape"):
        mg.tensor(a).masked_fill(mg.ones(3, dtype=mg.bool), 0.0)
    with pytest.raises(ValueError, match="bmm: expected"):
        mg.bmm(mg.tensor(b1), mg.tensor(b1))


# ---------------------------------------------------------------- attention.cu, without a GPU
@pytest.fixture
def emulated_cuda(monkeypatch):
    """cuda_backend on test_cuda.py's CuPy stand-in, its .cu kernels compiled with g++ and run on the CPU."""
    import sys

    import minigrad.backend as pkg
    import test_cuda as tc
    if not tc._emulator_usable():
        pytest.skip("needs g++ with C++20 <barrier> on x86-64/aarch64")
    saved = sys.modules.get(tc.BACKEND), pkg.__dict__.get("cuda_backend")
    yield tc._import_backend_with(monkeypatch, tc._stub_cupy())
    for table, key, value in ((sys.modules, tc.BACKEND, saved[0]), (pkg.__dict__, "cuda_backend", saved[1])):
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda_kernels_match_the_reference_emulated(emulated_cuda, dtype):
    cb, ref = emulated_cuda, contract.reference(np)
    rng = np.random.default_rng(0)
    q, k, v, g = (rng.standard_normal(s).astype(dtype) for s in ((3, 21, 8), (3, 13, 8), (3, 13, 5), (3, 21, 5)))
    mask = np.where(rng.random((2, 1, 13)) > 0.3, rng.standard_normal((2, 1, 13)), -np.inf).astype(dtype)
    mask[1] = -np.inf  # batch rows using mask 1 attend to nothing
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-12)
    for args in ((None, None, True), (mask, np.array([0, 1, 0]), False), (None, None, False)):
        o, lse = cb.attention_forward(q, k, v, *args, 0.4)
        o_ref, lse_ref = ref.attention_forward(q, k, v, *args, 0.4)
        assert o.dtype == dtype
        np.testing.assert_allclose(o, o_ref, **tol)
        np.testing.assert_allclose(lse, lse_ref, **tol)
        for a, b in zip(cb.attention_backward(g, q, k, v, o, lse, *args, 0.4),
                        ref.attention_backward(g, q, k, v, o_ref, lse_ref, *args, 0.4)):
            np.testing.assert_allclose(a, b, **tol)


def test_cuda_attention_plan(emulated_cuda):
    plan = emulated_cuda.attention_plan((2, 300, 64), (2, 70, 64), (2, 70, 32), (1, 300, 1))
    assert (plan["N"], plan["L"], plan["S"], plan["E"], plan["Ev"], plan["Lm"], plan["Sm"]) == (2, 300, 70, 64, 32,
                                                                                               300, 1)
    assert plan["rows_grid"] == ((3,), (256,)) and plan["cols_grid"] == ((1,), (256,)) and plan["has_mask"] == 1
    assert emulated_cuda.attention_plan((1, 4, 257), (1, 4, 257), (1, 4, 8), None) is None  # head too wide
    assert emulated_cuda.attention_plan((1, 0, 8), (1, 4, 8), (1, 4, 8), None) is None  # nothing to launch


@pytest.mark.parametrize("case", ["none", "causal", "bool", "float", "per_batch_bool", "causal_L_gt_S"])
def test_short_sequence_path_matches_torch_float64(case):
    """S <= 128 takes the whole-head kernels (kernels/cpu/attention.py: attention_*_short)."""
    L, S = 50, 90
    rng = np.random.default_rng(5)
    bool_mask = rng.random((L, S)) > 0.4
    bool_mask[7] = False  # a row with nothing to attend to
    kw = {"none": {}, "causal": dict(is_causal=True), "bool": dict(attn_mask=bool_mask),
          "float": dict(attn_mask=_rand(3, 1, S, seed=6)), "per_batch_bool": dict(attn_mask=rng.random((2, 1, L, S)) > 0.5),
          "causal_L_gt_S": dict(is_causal=True)}[case]
    if case == "causal_L_gt_S":
        L = 120
    _parity("numba", _rand(2, 3, L, 16, seed=0), _rand(2, 3, S, 16, seed=1), _rand(2, 3, S, 8, seed=2), **kw)
