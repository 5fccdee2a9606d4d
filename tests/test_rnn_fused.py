"""The whole-sequence recurrent op (ops.rnn_sequence) and its kernels: Numba kernel against the
contract's reference, the fused layers against the step-by-step path and against PyTorch,
float64 gradcheck, and the errors."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
from conftest import cpu_backend
from minigrad.backend import contract
from _nn_helpers import parity

MODES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}
LAYERS = {"RNN_TANH": (nn.RNN, {}), "RNN_RELU": (nn.RNN, {"nonlinearity": "relu"}), "LSTM": (nn.LSTM, {}),
          "GRU": (nn.GRU, {})}


def _arrays(mode, L, N, H, dtype, seed=0):
    rng = np.random.default_rng(seed)
    g = MODES[mode]
    c0 = rng.standard_normal((N, H)).astype(dtype) if mode == "LSTM" else None
    return (rng.standard_normal((L, N, g * H)).astype(dtype), rng.standard_normal((N, H)).astype(dtype), c0,
            (0.4 * rng.standard_normal((g * H, H))).astype(dtype), rng.standard_normal(g * H).astype(dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("mode", list(MODES))
def test_numba_kernels_match_the_reference(mode, reverse, dtype):
    from minigrad.backend import cpu_backend as cb
    ref = contract.reference(np)
    xw, h0, c0, w, b = _arrays(mode, 6, 3, 5, dtype)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    ws_ref = ref.rnn_sequence_forward(mode, xw, h0, c0, w, b, reverse)
    ws = cb.rnn_sequence_forward(mode, xw, h0, c0, w, b, reverse)
    for a, k in zip(ws_ref, ws):
        assert (a is None) == (k is None)
        if a is not None:
            assert k.dtype == dtype
            np.testing.assert_allclose(k, a, **tol)
    rng = np.random.default_rng(1)
    gout = rng.standard_normal((6, 3, 5)).astype(dtype)
    gh = rng.standard_normal((3, 5)).astype(dtype)
    gc = rng.standard_normal((3, 5)).astype(dtype) if mode == "LSTM" else None
    gh_before = gh.copy()
    for has_bias in (True, False):
        g_ref = ref.rnn_sequence_backward(mode, gout, gh, gc, w, has_bias, reverse, *ws_ref)
        g = cb.rnn_sequence_backward(mode, gout, gh, gc, w, has_bias, reverse, *ws)
        for a, k in zip(g_ref, g):
            assert (a is None) == (k is None)
            if a is not None:
                np.testing.assert_allclose(k, a, **tol)
    np.testing.assert_array_equal(gh, gh_before)  # the kernel works on copies of the incoming gradients


@pytest.mark.parametrize("mode", list(MODES))
def test_gradcheck_float64(mode):
    xw, h0, c0, w, b = _arrays(mode, 4, 2, 3, np.float64, seed=3)
    t = [mg.tensor(a, requires_grad=True) for a in (xw, h0, w, b)]
    for reverse in (False, True):
        if mode == "LSTM":
            c = mg.tensor(c0, requires_grad=True)
            assert mg.gradcheck(lambda x, h, w_, b_, c_: mg.ops.rnn_sequence(x, (h, c_), w_, b_, mode, reverse),
                                tuple(t) + (c,))
        else:
            assert mg.gradcheck(lambda x, h, w_, b_: mg.ops.rnn_sequence(x, h, w_, b_, mode, reverse), tuple(t))
        hx = (t[1], mg.tensor(c0)) if mode == "LSTM" else t[1]
        assert mg.gradcheck(lambda x, w_: mg.ops.rnn_sequence(x, hx, w_, None, mode, reverse), (t[0], t[2]))


def _run(layer, x, state, fused):
    layer.fused = fused
    layer.zero_grad()
    xt = mg.tensor(x, requires_grad=True)
    st = tuple(mg.tensor(s, requires_grad=True) for s in state)
    y, hn = layer(xt, st if len(st) == 2 else st[0])
    hs = list(hn) if isinstance(hn, tuple) else [hn]
    w = np.random.default_rng(5).standard_normal(y.shape)
    loss = (y * mg.tensor(w, dtype=y.dtype)).sum() + sum((h * (k + 2.0)).sum() for k, h in enumerate(hs))
    loss.backward()
    grads = [xt.grad.numpy()] + [s.grad.numpy() for s in st] + [p.grad.numpy() for p in layer.parameters()]
    return [y.detach().numpy()] + [h.detach().numpy() for h in hs] + grads


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("mode", list(MODES))
def test_fused_layer_equals_the_step_path(mode, backend):
    cls, extra = LAYERS[mode]
    mg.manual_seed(0)
    layer = cls(3, 5, num_layers=2, bidirectional=True, batch_first=True, bias=mode != "GRU", **extra)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 7, 3)).astype(np.float32)
    state = [rng.standard_normal((4, 4, 5)).astype(np.float32) for _ in range(2 if mode == "LSTM" else 1)]
    with cpu_backend(backend):
        fused, steps = _run(layer, x, state, True), _run(layer, x, state, False)
    assert len(fused) == len(steps)
    for a, b in zip(fused, steps):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("mode", list(MODES))
def test_fused_layer_records_one_op_per_direction(mode):
    cls, extra = LAYERS[mode]
    layer = cls(3, 4, num_layers=2, bidirectional=True, **extra)
    y, _ = layer(mg.randn(6, 2, 3))
    seen, stack, count = set(), [y.grad_fn], 0
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        count += type(node).__name__ == "RNNSequence"
        stack.extend(fn for fn, _ in node.next_functions)
    assert count == 4  # 2 layers x 2 directions, no per-step ops


@pytest.mark.parametrize("mode", list(MODES))
def test_fused_float32_matches_torch(mode):
    torch = pytest.importorskip("torch")
    cls, extra = LAYERS[mode]
    torch.manual_seed(1)
    tm = getattr(torch.nn, cls.__name__)(8, 16, num_layers=2, bidirectional=True, **extra)
    mm = cls(8, 16, num_layers=2, bidirectional=True, **extra)
    x = np.random.default_rng(3).standard_normal((12, 5, 8)).astype(np.float32)
    with cpu_backend("numba"):
        parity(mm, tm, x, atol=2e-5, rtol=2e-4)


def test_second_derivatives_need_the_step_path():
    layer = nn.GRU(2, 3).double()
    x = mg.randn(4, 1, 2, dtype=mg.float64, requires_grad=True)
    y, _ = layer(x)
    with pytest.raises(RuntimeError, match="(?i)rnnsequence: create_graph=True"):
        mg.grad(y.sum(), x, create_graph=True)
    layer.fused = False
    y, _ = layer(x)
    (g,) = mg.grad((y * y).sum(), x, create_graph=True)
    g.sum().backward()
    assert x.grad is not None


def test_errors_name_the_function_and_the_shapes():
    xw, h0, w = mg.randn(3, 2, 8), mg.randn(2, 4), mg.randn(8, 4)
    with pytest.raises(ValueError, match="rnn_sequence: mode"):
        mg.ops.rnn_sequence(xw, h0, w, mode="lstm")
    with pytest.raises(TypeError, match=r"rnn_sequence: mode 'LSTM' needs hx = \(h0, c0\)"):
        mg.ops.rnn_sequence(mg.randn(3, 2, 16), h0, mg.randn(16, 4), mode="LSTM")
    with pytest.raises(ValueError, match=r"rnn_sequence: .*\(L, N, 4\).*\(3, 2, 8\)"):
        mg.ops.rnn_sequence(xw, h0, w)
    with pytest.raises(ValueError, match=r"rnn_sequence: h0 must have shape \(2, 4\), got \(3, 4\)"):
        mg.ops.rnn_sequence(mg.randn(3, 2, 4), mg.randn(3, 4), mg.randn(4, 4))
    with pytest.raises(ValueError, match=r"rnn_sequence: bias_hh must have shape \(4,\)"):
        mg.ops.rnn_sequence(mg.randn(3, 2, 4), h0, mg.randn(4, 4), mg.randn(5))
    with pytest.raises(TypeError, match="rnn_sequence: every tensor must have the same float dtype"):
        mg.ops.rnn_sequence(mg.randn(3, 2, 4), h0.double(), mg.randn(4, 4))
    with pytest.raises(ValueError, match="rnn_sequence: expected input"):
        mg.ops.rnn_sequence(mg.randn(2, 4), h0, mg.randn(4, 4))


def test_empty_sequence_and_batch_take_the_step_path():
    rnn = nn.LSTM(3, 4)
    y, (h, c) = rnn(mg.randn(5, 0, 3))
    assert y.shape == (5, 0, 4) and h.shape == (1, 0, 4)


@pytest.mark.parametrize("mode", list(MODES))
def test_nan_propagates_like_the_step_path(mode):
    cls, extra = LAYERS[mode]
    layer = cls(2, 3, **extra)
    x = mg.randn(4, 2, 2)
    x.array[1, 0, 0] = np.nan
    with cpu_backend("numba"):
        y, _ = layer(x)
    out = y.detach().numpy()
    assert np.isnan(out[1:, 0]).all() and not np.isnan(out[:, 1]).any() and not np.isnan(out[0]).any()


# ------------------------------------------------------------------ the gates' tanh and sigmoid
def _gate_functions():
    from numba import njit

    from minigrad.kernels.cpu import fused

    @njit(error_model="numpy")
    def apply(x, y, s):
        for i in range(x.shape[0]):
            y[i] = fused._tanh(x[i])
            s[i] = fused._sigmoid(x[i])
    return apply


@pytest.mark.parametrize("dtype,atol", [(np.float32, 4e-7), (np.float64, 1e-15)])
def test_gate_tanh_and_sigmoid_are_accurate_in_each_precision(dtype, atol):
    x = np.concatenate([np.random.default_rng(0).standard_normal(200_000) * 5, np.geomspace(1e-30, 50, 2000)])
    x = np.concatenate([x, -x, [0.0, np.inf, -np.inf, np.nan]]).astype(dtype)
    y, s = np.empty_like(x), np.empty_like(x)
    _gate_functions()(x, y, s)
    wide = x.astype(np.float64)
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(y, np.tanh(wide), rtol=0, atol=atol)
        np.testing.assert_allclose(s, 1 / (1 + np.exp(-wide)), rtol=0, atol=atol)
    assert np.abs(y).max(initial=0, where=~np.isnan(y)) <= 1 and np.isnan(y[-1]) and np.isnan(s[-1])
    assert y.dtype == dtype


def test_the_float32_tanh_coefficients_are_the_fit_that_fit_tanh_prints():
    import importlib.util
    from pathlib import Path

    from minigrad.kernels.cpu import fused
    spec = importlib.util.spec_from_file_location("fit_tanh", Path(fused.__file__).with_name("fit_tanh.py"))
    fit_tanh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fit_tanh)
    p, q, err = fit_tanh.fit(points=50_000)
    used_p = [fused._P0, fused._P1, fused._P2, fused._P3, fused._P4]
    used_q = [1, fused._Q1, fused._Q2, fused._Q3, fused._Q4]
    np.testing.assert_allclose(used_p, p, rtol=1e-4)
    np.testing.assert_allclose(used_q, q, rtol=1e-4)
    assert err < 5e-8 and fused._CLAMP == fit_tanh.CLAMP
