"""The tutorials: .py/.ipynb pairs in sync, exercise solutions correct, every notebook runs (fast mode).

The notebook runs are marked `notebooks`; deselect them with `-m "not notebooks"`.
"""
import importlib
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
sys.path.insert(0, str(TUTORIALS))  # `solutions` is a package inside tutorials/


def _build():
    spec = importlib.util.spec_from_file_location("tutorials_build", TUTORIALS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sol(name):
    return importlib.import_module(f"solutions.{name}")


# ------------------------------------------------------------------ (a) the pairs are in sync

def test_every_chapter_has_a_notebook_in_sync():
    build = _build()
    chapters = build.chapters()
    assert len(chapters) >= 10
    assert build.check() == []


def test_check_notices_a_changed_source(tmp_path, monkeypatch):
    build = _build()
    src = build.chapters()[0]
    monkeypatch.setattr(build, "HERE", tmp_path)
    (tmp_path / src.name).write_text(src.read_text() + "\n# %%\nprint('new cell')\n")
    (tmp_path / src.with_suffix(".ipynb").name).write_text(src.with_suffix(".ipynb").read_text())
    problems = build.check()
    assert len(problems) == 1 and "cells" in problems[0]


def test_notebooks_have_outputs():
    import nbformat
    for py in _build().chapters():
        nb = nbformat.read(py.with_suffix(".ipynb"), as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert any(c.outputs for c in code), f"{py.stem}.ipynb was committed without outputs"
        errors = [o for c in code for o in c.outputs if o.output_type == "error"]
        assert not errors, f"{py.stem}.ipynb holds an error output: {errors[0].ename}"


# ------------------------------------------------------------------ (b) the exercise solutions

def test_01_tensors():
    s = sol("01_tensors")
    a, b = np.arange(3.0), np.arange(4.0) + 1
    np.testing.assert_allclose(s.outer(mg.tensor(a), mg.tensor(b)).numpy(), np.outer(a, b))
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(4, 3))
    want = ((x[:, None] - y[None]) ** 2).sum(-1)
    np.testing.assert_allclose(s.pairwise_sq_dists(mg.tensor(x), mg.tensor(y)).numpy(), want, rtol=1e-10)
    z = s.standardize(mg.tensor(x * [1, 10, 100] + 5)).numpy()
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-10)
    np.testing.assert_allclose(z.std(0), 1, rtol=1e-10)


def test_02_autograd():
    s = sol("02_autograd")
    for av, bv in [(1.5, -0.5), (-1.2, 0.3), (0.7, 2.0)]:
        a, b = s.Value(av), s.Value(bv)
        loss = (a ** 3 + b.exp()).relu() * a
        loss.backward()
        A = mg.tensor(av, dtype=mg.float64, requires_grad=True)
        B = mg.tensor(bv, dtype=mg.float64, requires_grad=True)
        ref = (A ** 3 + B.exp()).relu() * A
        ref.backward()
        assert np.isclose(loss.data, ref.item())
        assert np.isclose(a.grad, A.grad.item()) and np.isclose(b.grad, B.grad.item())
    rng = np.random.default_rng(1)
    x, W, b, gy = rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=2), rng.normal(size=(4, 2))
    X, Wt, Bt = (mg.tensor(v, requires_grad=True) for v in (x, W, b))
    (X @ Wt + Bt).backward(mg.tensor(gy))
    for mine, ref in zip(s.linear_backward(x, W, gy), (X.grad, Wt.grad, Bt.grad)):
        np.testing.assert_allclose(mine, ref.numpy(), rtol=1e-10)
    assert np.isclose(s.grad_at(lambda t: t ** 2 * t.sin(), 2.0), 2 * 2 * np.sin(2) + 4 * np.cos(2))


def test_03_gradcheck():
    s = sol("03_gradcheck")
    x = np.array([[0.3, -1.2], [2.0, 0.5]])
    np.testing.assert_allclose(s.numeric_grad(lambda v: (np.sin(v) * v).sum(), x), np.cos(x) * x + np.sin(x),
                               rtol=1e-7)
    rng = np.random.default_rng(0)
    a = mg.tensor(rng.normal(size=(3, 2)), requires_grad=True)
    b = mg.tensor(rng.normal(size=(3, 2)), requires_grad=True)
    out = s.Hypot()(a, b)
    np.testing.assert_allclose(out.numpy(), np.hypot(a.numpy(), b.numpy()))
    assert mg.gradcheck(lambda p, q: s.Hypot()(p, q), (a, b))
    big = mg.tensor([-30.0, -1.0, 0.0, 2.0, 400.0], dtype=mg.float64, requires_grad=True)
    np.testing.assert_allclose(s.LogCosh()(big).numpy()[:4], np.log(np.cosh(big.numpy()[:4])), rtol=1e-12)
    assert np.isfinite(s.LogCosh()(big).numpy()).all()
    assert mg.gradcheck(lambda t: s.LogCosh()(t), a.detach().requires_grad_())
    assert mg.gradgradcheck(lambda t: s.LogCosh()(t), a.detach().requires_grad_())


def test_04_linear_regression():
    s = sol("04_linear_regression")
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 200)
    y = 3 * x + 2 + rng.normal(0, 0.1, 200)
    m_ls, b_ls = s.closed_form(x, y)
    assert np.allclose(np.polyfit(x, y, 1), [m_ls, b_ls])
    m, b = 0.0, 0.0
    for _ in range(500):
        m, b = s.gd_step(m, b, x, y, 0.1)
    assert abs(m - m_ls) < 1e-3 and abs(b - b_ls) < 1e-3
    mf, bf = s.fit(x, y, lr=0.1, steps=500)
    assert abs(mf - m_ls) < 1e-3 and abs(bf - b_ls) < 1e-3


def _torch_like_step(make_opt, p0, grads):
    p = mg.tensor(p0.copy(), dtype=mg.float64, requires_grad=True)
    opt = make_opt([p])
    for g in grads:
        p.grad = mg.tensor(g, dtype=mg.float64)
        opt.step()
    return p.numpy()


def test_05_optimizers():
    s = sol("05_mlp_optimizers")
    rng = np.random.default_rng(0)
    p0 = rng.normal(size=5)
    grads = [rng.normal(size=5) for _ in range(4)]
    p, buf = p0, None
    for g in grads:
        p, buf = s.momentum_step(p, g, buf, lr=0.1, mu=0.9)
    np.testing.assert_allclose(p, _torch_like_step(lambda ps: mg.optim.SGD(ps, lr=0.1, momentum=0.9), p0, grads))
    p, sq = p0, np.zeros(5)
    for g in grads:
        p, sq = s.rmsprop_step(p, g, sq, lr=0.01)
    np.testing.assert_allclose(p, _torch_like_step(lambda ps: mg.optim.RMSprop(ps, lr=0.01), p0, grads))
    p, m, v = p0, np.zeros(5), np.zeros(5)
    for t, g in enumerate(grads, 1):
        p, m, v = s.adam_step(p, g, m, v, t, lr=0.01)
    np.testing.assert_allclose(p, _torch_like_step(lambda ps: mg.optim.Adam(ps, lr=0.01), p0, grads))


def test_06_regularisation():
    s = sol("06_regularisation")
    w, g = np.array([1.0, -2.0]), np.array([0.5, 0.5])
    np.testing.assert_allclose(s.l2_grad_step(w, g, 0.1, 0.01), (1 - 2 * 0.1 * 0.01) * w - 0.1 * g)
    mask = s.dropout_mask((200, 200), 0.3, np.random.default_rng(0))
    assert set(np.unique(mask)) <= {0.0, 1 / 0.7}
    assert abs((mask == 0).mean() - 0.3) < 0.02 and abs(mask.mean() - 1) < 0.03
    stopper = s.EarlyStopping(patience=2)
    stops = [stopper.step(v) for v in [1.0, 0.8, 0.9, 0.7, 0.75, 0.71]]
    assert stops == [False, False, False, False, False, True] and stopper.best_epoch == 3


def test_07_convolution():
    s = sol("07_convolution")
    F = mg.nn.functional
    assert s.conv_output_size(28, 3) == 26 and s.conv_output_size(28, 5, 2, 2) == 14
    assert s.conv_output_size(10, 3, 1, 0, 2) == 6
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(2, 3, 9, 8)), rng.normal(size=(4, 3, 3, 3))
    for stride, padding in [(1, 0), (2, 1), (3, 2)]:
        ref = F.conv2d(mg.tensor(x), mg.tensor(w), stride=stride, padding=padding).numpy()
        np.testing.assert_allclose(s.conv2d_direct(x, w, stride, padding), ref, rtol=1e-10, atol=1e-12)
    x = rng.normal(size=(2, 3, 6, 8))
    np.testing.assert_allclose(s.max_pool_2x2(x), F.max_pool2d(mg.tensor(x), 2).numpy())


def test_08_fast_kernels():
    s = sol("08_fast_kernels")
    assert s.matmul_gflops(1000, 1000, 1000, 2.0) == 1.0
    assert s.conv2d_flops(1, 1, 5, 5, 1, 3, 3) == 2 * 9 * 9
    assert s.conv2d_flops(2, 3, 8, 8, 4, 3, 3, stride=2, padding=1) == 2 * 2 * 4 * 4 * 4 * 27
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(70, 45)), rng.normal(size=(45, 33))
    for bs in (8, 16, 64):
        np.testing.assert_allclose(s.blocked_matmul(a, b, bs), a @ b, rtol=1e-10, atol=1e-12)


def test_09_gpu():
    s = sol("09_gpu")
    assert s.launch_geometry(1) == 1 and s.launch_geometry(256) == 1 and s.launch_geometry(257) == 2
    assert s.launch_geometry(10 ** 9) == 65536
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5))
    b = np.array([0.5, -1.0, 0.0])
    np.testing.assert_array_equal(s.bias_relu_reference(x, b), np.maximum(x + b[:, None, None], 0))
    np.testing.assert_array_equal(s.to_device_and_back(mg.arange(4), "cpu"), np.arange(4))


def test_10_rnn():
    s = sol("10_rnn")
    nn = mg.nn
    rng = np.random.default_rng(0)
    x, h, c = rng.normal(size=(3, 5)), rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    cell = nn.LSTMCell(5, 4, dtype=mg.float64)
    args = [p.detach().numpy() for p in (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)]
    h2, c2 = cell(mg.tensor(x), (mg.tensor(h), mg.tensor(c)))
    mh, mc = s.lstm_step(x, h, c, *args)
    np.testing.assert_allclose(mh, h2.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(mc, c2.detach().numpy(), rtol=1e-10)
    gru = nn.GRUCell(5, 4, dtype=mg.float64)
    args = [p.detach().numpy() for p in (gru.weight_ih, gru.weight_hh, gru.bias_ih, gru.bias_hh)]
    np.testing.assert_allclose(s.gru_step(x, h, *args), gru(mg.tensor(x), mg.tensor(h)).detach().numpy(),
                               rtol=1e-10)
    for kind, layer in [("RNN", nn.RNN), ("LSTM", nn.LSTM), ("GRU", nn.GRU)]:
        assert s.rnn_param_count(kind, 28, 64) == sum(p.numel() for p in layer(28, 64).parameters())


def test_11_evaluation():
    s = sol("11_evaluation")
    rng = np.random.default_rng(0)
    t, p = rng.integers(0, 4, 300), rng.integers(0, 4, 300)
    p[:150] = t[:150]
    cm = s.confusion(t, p, 4)
    np.testing.assert_array_equal(cm, mg.metrics.confusion_matrix(t, p, num_classes=4))
    prec, rec, f1 = s.prf_from_confusion(cm)
    ref = mg.metrics.precision_recall_fscore_support(t, p)
    for mine, theirs in zip((prec, rec, f1), ref):
        np.testing.assert_allclose(mine, theirs)
    assert np.isclose(s.macro_f1(t, p, 4), mg.metrics.f1_score(t, p, average="macro"))
    assert np.isclose(s.macro_f1([0, 0, 2], [0, 2, 2], 4), mg.metrics.f1_score([0, 0, 2], [0, 2, 2], average="macro"))


def test_12_fine_tuning():
    s = sol("12_fine_tuning")
    nn = mg.nn
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    assert s.count_trainable(model) == 4 * 8 + 8 + 8 * 3 + 3
    s.freeze_all_but_last(model)
    assert s.count_trainable(model) == 8 * 3 + 3
    assert not model[0].weight.requires_grad and model[2].weight.requires_grad
    groups = s.param_groups(model[0], model[2], 1e-3)
    assert [g["lr"] for g in groups] == [1e-4, 1e-3]
    opt = mg.optim.Adam(groups)
    assert [g["lr"] for g in opt.param_groups] == [1e-4, 1e-3]


def test_13_three_ways():
    s = sol("13_three_ways")
    keras_model, torch_model = s.keras_mlp(), s.TorchMLP()
    assert s.count_params(keras_model) == s.count_params(torch_model) == 784 * 64 + 64 + 64 * 64 + 64 + 64 * 10 + 10
    x = np.random.default_rng(0).random((5, 784)).astype(np.float32)
    assert torch_model(mg.tensor(x)).shape == (5, 10)
    probs = np.asarray(keras_model.predict(x))
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-5)


def test_solutions_cover_every_chapter_with_exercises():
    have = {p.name[:2] for p in (TUTORIALS / "solutions").glob("[0-9][0-9]_*.py")}
    for py in _build().chapters():
        if "## Exercises" in py.read_text():
            assert py.name[:2] in have, f"{py.name} has exercises but no solutions/{py.name[:2]}_*.py"


# ------------------------------------------------------------------ (c) every notebook runs, fast mode

def _chapter_names():
    return [p.stem for p in sorted(TUTORIALS.glob("[0-9][0-9]-*.py"))]


@pytest.mark.notebooks
@pytest.mark.parametrize("name", _chapter_names())
def test_notebook_runs_in_fast_mode(name, monkeypatch):
    import jupytext
    build = _build()
    data = os.environ.get("MINIGRAD_DATA_DIR") or str(SHARED_DATA)
    monkeypatch.setenv("MINIGRAD_DATA_DIR", data)
    nb = jupytext.read(TUTORIALS / f"{name}.py")
    build.execute(nb, fast=True, timeout=600)  # raises CellExecutionError on the first failing cell
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors


# ------------------------------------------------------------------ (d) chapters 15-16 (the large-model arc)

def test_15_gpt_from_scratch():
    s = sol("15_gpt_from_scratch")
    rng = np.random.default_rng(0)
    train, held = rng.integers(0, 5, 2000), rng.integers(0, 5, 300)
    counts = np.ones((5, 5))
    for a, b in zip(train[:-1], train[1:]):
        counts[a, b] += 1
    p = counts / counts.sum(1, keepdims=True)
    want = -np.mean([np.log(p[a, b]) for a, b in zip(held[:-1], held[1:])])
    assert np.isclose(s.bigram_nll(train, held, 5), want)
    # the counted table is the bigram model's optimum: a table trained by gradient descent cannot beat it
    ids = np.array([0, 1, 0, 1, 0, 2] * 50)
    logits = mg.tensor(np.zeros((3, 3)), requires_grad=True)
    opt = mg.optim.Adam([logits], lr=0.1)
    for _ in range(300):
        loss = mg.nn.functional.cross_entropy(logits[mg.tensor(ids[:-1])], mg.tensor(ids[1:]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert s.bigram_nll(ids, ids, 3, smoothing=0.0) <= loss.item() + 1e-3
    assert np.isclose(s.perplexity(np.log(65)), 65)
    assert np.isclose(s.bits_per_character(np.log(2)), 1) and np.isclose(s.bits_per_character(np.log(4), 2), 1)
    text = "aaabdaaabacabbacdcaabbaab" * 3
    assert s.bpe_train(text.encode(), 3) == [(97, 97), (97, 98), (256, 257)]  # worked by hand
    BPETokenizer = getattr(pytest.importorskip("minigrad.text"), "BPETokenizer", None)
    if BPETokenizer is not None:
        assert s.bpe_train(text.encode(), 6) == BPETokenizer.train(text, 256 + 6).merges
    logits = np.array([2.0, 1.0, 0.5, -1.0, 3.0])
    probs = s.top_k_probs(logits, 2, temperature=0.5)
    e = np.exp(np.array([3.0, 2.0]) / 0.5)
    np.testing.assert_allclose(probs, [e[1] / e.sum(), 0, 0, 0, e[0] / e.sum()])
    np.testing.assert_allclose(s.top_k_probs(logits, 5), np.exp(logits) / np.exp(logits).sum())


def test_16_fine_tuning_llm():
    models = pytest.importorskip("minigrad.models")
    if not hasattr(models, "GPT"):
        pytest.skip("minigrad.models.GPT is not built into this checkout")
    s = sol("16_fine_tuning_llm")
    nn = mg.nn
    config = models.GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=8)
    model = nn.utils.apply_lora(models.GPT(config), r=2, target_modules=("c_attn", "c_proj", "c_fc"))
    C = config.n_embd
    shapes = [(3 * C, C), (C, C), (4 * C, C), (C, 4 * C)] * config.n_layer
    assert s.lora_param_count(shapes, 2) == sum(p.numel() for p in model.parameters() if p.requires_grad)
    rng = np.random.default_rng(0)
    layer = nn.LoRALinear(nn.Linear(6, 4, dtype=mg.float64), r=3, lora_alpha=5)
    with mg.no_grad():
        layer.lora_B.copy_(mg.tensor(rng.normal(size=(4, 3))))
    W, b, A, B = (t.detach().numpy().copy() for t in (layer.weight, layer.bias, layer.lora_A, layer.lora_B))
    x = rng.normal(size=(7, 6))
    want = layer(mg.tensor(x)).detach().numpy()
    np.testing.assert_allclose(s.lora_forward(x, W, b, A, B, 5, 3), want, rtol=1e-10)
    layer.merge()
    np.testing.assert_allclose(s.merged_weight(W, A, B, 5, 3), layer.weight.numpy(), rtol=1e-10)
    fresh = models.GPT(config)
    n = s.freeze_all_but(fresh, ("transformer.h.1.", "transformer.ln_f."))
    names = [name for name, p in fresh.named_parameters() if p.requires_grad]
    assert names and all(name.startswith(("transformer.h.1.", "transformer.ln_f.")) for name in names)
    assert n == sum(p.numel() for p in fresh.parameters() if p.requires_grad)
    assert n == sum(p.numel() for name, p in fresh.named_parameters()
                    if name.startswith(("transformer.h.1.", "transformer.ln_f.")))
