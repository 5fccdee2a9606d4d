"""minigrad.compile: a captured and replayed function gives eager's results, bit for bit."""
import warnings

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F
from minigrad.compile import GraphBreak


def _cnn():
    return nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.25), nn.Linear(16 * 5 * 5, 32), nn.ReLU(),
                         nn.Linear(32, 10))


def _mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))


class _RNNHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn, self.fc = nn.RNN(28, 32, batch_first=True), nn.Linear(32, 10)

    def forward(self, x):
        out, _ = self.rnn(x.reshape(x.shape[0], 28, 28))
        return self.fc(out[:, -1])


def _batches(n, batch=8, seed=0):
    rng = np.random.default_rng(seed)
    return [(mg.from_numpy(rng.random((batch, 1, 28, 28), dtype=np.float32)),
             mg.from_numpy(rng.integers(0, 10, batch))) for _ in range(n)]


def _trainer(make_model, make_opt, compiled):
    mg.manual_seed(0)
    model = make_model()
    opt = make_opt(model.parameters())
    sched = mg.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return model, sched, (mg.compile(step, fullgraph=True) if compiled else step)


@pytest.mark.parametrize("make_model, make_opt", [
    (_cnn, lambda p: mg.optim.Adam(p, lr=1e-2)),
    (_mlp, lambda p: mg.optim.SGD(p, lr=0.1, momentum=0.9)),
    (_RNNHead, lambda p: mg.optim.AdamW(p, lr=1e-2)),
], ids=["cnn-adam-dropout", "mlp-sgd", "rnn-adamw"])
def test_training_step_matches_eager_bit_for_bit(make_model, make_opt):
    """Batch, lr (a scheduler steps between calls), Adam's step count and dropout masks all change
    between steps: each is an input of the graph, so every loss and every weight equals eager's."""
    runs = []
    for compiled in (False, True):
        model, sched, step = _trainer(make_model, make_opt, compiled)
        mg.manual_seed(1)
        losses = []
        for x, y in _batches(4):
            losses.append(step(x, y).item())
            sched.step()
        runs.append((losses, [p.array.copy() for p in model.parameters()], step))
    (eager_losses, eager_params, _), (losses, params, step) = runs
    assert losses == eager_losses
    assert len(set(losses)) == 4  # (the steps did change something)
    for a, b in zip(eager_params, params):
        np.testing.assert_array_equal(a, b)
    assert len(step.graphs()) == 1 and not step.eager_reasons()


def test_replay_does_not_rerun_python():
    """After the capture, the function's Python body is not run: the recorded steps are."""
    calls = []
    w = mg.randn(4, 3)

    def f(x):
        calls.append(1)
        return (x @ w).relu().sum()

    cf = mg.compile(f)
    x = mg.randn(2, 4)
    for _ in range(3):
        out = cf(x)
    assert len(calls) == 1
    np.testing.assert_array_equal(out.array, f(x).array)


def test_new_signature_recaptures():
    model = _mlp()
    cf = mg.compile(model)
    with mg.no_grad():
        for batch in (4, 4, 6, 4):
            x = mg.randn(batch, 1, 28, 28)
            np.testing.assert_array_equal(cf(x).array, model(x).array)
        model.eval()  # a guard: the train/eval flags of the modules that ran
        cf(mg.randn(4, 1, 28, 28))
    assert len(cf.graphs()) == 3


def test_inference_of_a_module_in_eval_mode_matches():
    mg.manual_seed(0)
    model = _cnn().eval()
    cf = mg.compile(model)
    for x, _ in _batches(3, batch=5):
        with mg.no_grad():
            np.testing.assert_allclose(cf(x).array, model(x).array, rtol=1e-5, atol=1e-6)
    assert cf.parameters is not None  # a compiled module still answers its methods


@pytest.mark.parametrize("read", [lambda t: t.item(), lambda t: bool(t > 0), lambda t: t.numpy(),
                                  lambda t: t.tolist()], ids=["item", "bool", "numpy", "tolist"])
def test_data_dependent_python_falls_back_to_eager(read):
    w = mg.randn(3, requires_grad=True)

    def f(x):
        s = (x * w).sum()
        read(s)
        return s * 2

    cf = mg.compile(f)
    x = mg.randn(3)
    with pytest.warns(UserWarning, match=r"runs eagerly: .*Python reads a value"):
        first = cf(x)
    np.testing.assert_array_equal(first.array, f(x).array)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one warning per reason
        np.testing.assert_array_equal(cf(x * 3).array, f(x * 3).array)
    assert cf.graphs() == [] and len(cf.eager_reasons()) == 1
    with pytest.raises(GraphBreak, match="Python reads a value"):
        mg.compile(f, fullgraph=True)(x)


def test_in_place_change_and_random_draws_outside_an_op_break_the_graph():
    def inplace(x):
        y = x * 2
        y.add_(1)
        return y

    def noise(x):
        return x + mg.randn(*x.shape)

    for f, why in ((inplace, "in-place"), (noise, "random numbers")):
        with pytest.raises(GraphBreak, match=why):
            mg.compile(f, fullgraph=True)(mg.randn(3))


def test_output_that_needs_a_gradient_runs_eagerly():
    model = nn.Linear(3, 2)
    cf = mg.compile(model)
    with pytest.warns(UserWarning, match="compile the whole training step"):
        out = cf(mg.randn(4, 3))
    out.sum().backward()  # the eager result keeps its graph
    assert model.weight.grad is not None


def test_gradient_of_an_argument():
    w = mg.randn(3, 2)

    def f(x):
        loss = (x @ w).tanh().sum()
        loss.backward()
        return loss

    cf = mg.compile(f, fullgraph=True)
    for _ in range(3):
        x1, x2 = (mg.randn(4, 3, requires_grad=True) for _ in range(2))
        x2.array[...] = x1.array
        cf(x1), f(x2)
        np.testing.assert_array_equal(x1.grad.array, x2.grad.array)


def test_bad_arguments():
    with pytest.raises(TypeError, match="compile: expected a function or a Module, got int"):
        mg.compile(3)
    cf = mg.compile(lambda xs: xs[0] * 2)
    with pytest.warns(UserWarning, match="argument 0 holds tensors inside a list"):
        cf([mg.ones(2)])


def test_out_of_range_targets_are_refused_on_replay_too():
    model = nn.Linear(4, 3)
    opt = mg.optim.SGD(model.parameters(), lr=0.1)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    cf = mg.compile(step, fullgraph=True)
    x = mg.randn(2, 4)
    cf(x, mg.tensor([0, 2]))
    with pytest.raises(IndexError, match="cross_entropy: target 3 is out of range for 3 classes"):
        cf(x, mg.tensor([0, 3]))
    emb = nn.Embedding(5, 2)
    cf = mg.compile(lambda idx: emb(idx).sum(), fullgraph=True)
    with mg.no_grad():
        cf(mg.tensor([1, 2]))
        with pytest.raises(IndexError, match="embedding: index 5 is out of range for 5 embeddings"):
            cf(mg.tensor([1, 5]))
        np.testing.assert_array_equal(cf(mg.tensor([4, 0])).array, emb(mg.tensor([4, 0])).sum().array)


def test_module_hooks_break_the_graph():
    model = nn.Linear(3, 2)
    seen = []
    model.register_forward_hook(lambda m, args, out: seen.append(1))
    with pytest.raises(GraphBreak, match="Linear has hooks"):
        with mg.no_grad():
            mg.compile(model, fullgraph=True)(mg.randn(1, 3))


def test_freezing_a_parameter_recaptures():
    model = nn.Linear(3, 2)
    opt = mg.optim.SGD(model.parameters(), lr=0.1)

    def step(x):
        opt.zero_grad()
        loss = model(x).sum()
        loss.backward()
        opt.step()
        return loss

    cf = mg.compile(step, fullgraph=True)
    x = mg.randn(4, 3)
    cf(x)
    model.bias.requires_grad_(False)
    before = model.bias.array.copy()
    cf(x)
    np.testing.assert_array_equal(model.bias.array, before)  # frozen: not updated
    assert len(cf.graphs()) == 2


class _TinyGPT(nn.Module):
    """A one-block character GPT (token + position embeddings, causal attention, GELU MLP), nanoGPT's shape."""

    def __init__(self, vocab=11, block=8, dim=16, heads=2):
        super().__init__()
        self.heads = heads
        self.tok, self.pos = nn.Embedding(vocab, dim), nn.Embedding(block, dim)
        self.ln1, self.ln2, self.ln_f = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim), nn.Dropout(0.1))
        self.head = nn.Linear(dim, vocab)

    def forward(self, idx):
        b, t = idx.shape
        x = self.tok(idx) + self.pos(mg.arange(t))
        q, k, v = self.qkv(self.ln1(x)).split(x.shape[-1], dim=2)
        q, k, v = (z.reshape(b, t, self.heads, -1).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, -1)
        x = x + self.proj(y)
        x = x + self.mlp(self.ln2(x))
        return self.head(self.ln_f(x))


def test_gpt_training_step_matches_eager_bit_for_bit():
    runs = []
    for compiled in (False, True):
        mg.manual_seed(0)
        model = _TinyGPT()
        opt = mg.optim.AdamW(model.parameters(), lr=1e-2)

        def step(idx, targets):
            opt.zero_grad()
            logits = model(idx)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
            loss.backward()
            opt.step()
            return loss

        step = mg.compile(step, fullgraph=True) if compiled else step
        rng = np.random.default_rng(0)
        mg.manual_seed(1)
        losses = [step(mg.from_numpy(rng.integers(0, 11, (3, 8))), mg.from_numpy(rng.integers(0, 11, (3, 8)))).item()
                  for _ in range(3)]
        runs.append((losses, [p.array.copy() for p in model.parameters()]))
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)


def test_a_compiled_function_inside_another_is_part_of_its_capture():
    w = mg.randn(3, 3)
    inner = mg.compile(lambda x: (x @ w).relu())
    outer = mg.compile(lambda x: inner(x).sum() * 2, fullgraph=True)
    x = mg.randn(2, 3)
    outer(x)
    np.testing.assert_array_equal(outer(x).array, ((x @ w).relu().sum() * 2).array)
    assert len(outer.graphs()) == 1 and inner.graphs() == []


def test_other_threads_ops_are_not_recorded():
    import threading
    started, release = threading.Event(), threading.Event()

    def other():
        started.set()
        while not release.is_set():
            mg.ones(2) * 3  # eager work in another thread while the capture runs
    t = threading.Thread(target=other)
    t.start()
    started.wait()
    try:
        cf = mg.compile(lambda x: (x + 1) * 2, fullgraph=True)
        x = mg.randn(3)
        cf(x)
    finally:
        release.set()
        t.join()
    (graph,) = cf.graphs()
    assert [s.fn.name for s in graph.steps] == ["add", "mul"]
    np.testing.assert_array_equal(cf(x).array, ((x + 1) * 2).array)


def test_a_graph_holds_no_activations_between_calls():
    model, _, step = _trainer(_cnn, lambda p: mg.optim.Adam(p, lr=1e-2), compiled=True)
    x, y = _batches(1)[0]
    step(x, y)
    step(x, y)
    (graph,) = step.graphs()
    assert all(h.array is None for h in graph.temporaries)
    from minigrad.compile.graph import Op
    ops = [s for s in graph.steps if type(s) is Op]
    assert sum(len(s.scratch) for s in ops) > 0  # (dropout's mask, cross-entropy's gradient, ...)
    for s in ops:
        for attr in s.scratch + ("_y",):
            assert getattr(s.fn, attr, None) is None, (s, attr)


def test_an_optimizer_with_its_own_step_is_replayed():
    class HalfSGD(mg.optim.SGD):
        def step(self, closure=None):
            for group in self.param_groups:
                for p in group["params"]:
                    p.array -= 0.5 * group["lr"] * p.grad.array

    w = nn.Parameter(mg.ones(3))
    opt = HalfSGD([w], lr=1.0)

    def step(x):
        opt.zero_grad()
        loss = (w * x).sum()
        loss.backward()
        opt.step()
        return loss

    cf = mg.compile(step, fullgraph=True)
    for _ in range(3):
        cf(mg.ones(3))
    np.testing.assert_array_equal(w.array, np.full(3, -0.5, np.float32))


@pytest.mark.parametrize("plane", [False, True])
def test_dropout_op(plane):
    """The op a capture uses for dropout draws the eager function's mask and routes the gradient through it."""
    from minigrad.compile.ops import Dropout
    x = mg.randn(4, 3, 5, 5, dtype=mg.float64, requires_grad=True)
    mg.manual_seed(7)
    y = Dropout(0.4, plane)(x)
    mg.manual_seed(7)
    eager = (F.dropout2d if plane else F.dropout)(x, 0.4)
    np.testing.assert_array_equal(y.array, eager.array)
    g = mg.randn(*x.shape, dtype=mg.float64)
    y.backward(g)
    mask = y.grad_fn.mask
    np.testing.assert_array_equal(x.grad.array, g.array * mask)
    assert set(np.unique(mask)) <= {0.0, 1 / 0.6} and len(np.unique(mask)) == 2


def test_assigning_a_new_parameter_recaptures():
    model = nn.Linear(3, 2)
    cf = mg.compile(model)
    x = mg.randn(4, 3)
    with mg.no_grad():
        cf(x)
        model.weight = nn.Parameter(mg.zeros(2, 3))
        np.testing.assert_array_equal(cf(x).array, model(x).array)
    assert len(cf.graphs()) == 2
