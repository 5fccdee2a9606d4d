"""Checks for the chapters' exercises: `check("07", conv_output_size=my_fn, ...)`.

Each exercise is checked with the same assertions the test suite applies to the reference
solutions (tests/test_tutorials.py calls `check(..., strict=True)` on them), so a check that
passes here means your code does what the solution does. `check` prints one line per exercise:

    ok         conv_output_size
    not yet    conv2d_direct        (still raises NotImplementedError)
    wrong      max_pool_2x2         the assertion that failed, with the values
"""
import numpy as np

import minigrad as mg

EXERCISES = {}  # chapter -> [(exercise name, names it needs, check function)]


def exercise(chapter, *needs):
    """Register `fn(**needed)` as the check of an exercise of `chapter` that needs the given names."""
    def register(fn):
        EXERCISES.setdefault(chapter, []).append((fn.__name__.removeprefix("check_"), needs, fn))
        return fn
    return register


def check(chapter, strict=False, **given):
    """Check your answers to `chapter`'s exercises. True when every exercise passes.

    chapter: "01" ... "18"; given: your functions/classes by the names the exercises use.
    strict=True raises on the first failure instead of printing (what the tests use).
    """
    if chapter not in EXERCISES:
        raise ValueError(f"check: no exercises for chapter {chapter!r}; known: {sorted(EXERCISES)}")
    unknown = set(given) - {n for _, needs, _ in EXERCISES[chapter] for n in needs}
    if unknown:
        raise TypeError(f"check: chapter {chapter} has no exercise that uses {sorted(unknown)}")
    passed = True
    for name, needs, fn in EXERCISES[chapter]:
        if any(n not in given for n in needs):
            passed = False
            print(f"{'skipped':10s} {name:22s} (pass {', '.join(needs)})")
            continue
        try:
            fn(**{n: given[n] for n in needs})
        except NotImplementedError:
            if strict:
                raise
            passed = False
            print(f"{'not yet':10s} {name:22s} (still raises NotImplementedError)")
        except Exception as e:  # noqa: BLE001  (a learner's bug can raise anything; report it)
            if strict:
                raise
            passed = False
            print(f"{'wrong':10s} {name:22s} {type(e).__name__}: {str(e).strip()[:300]}")
        else:
            print(f"{'ok':10s} {name}")
    return passed


def _close(mine, want, what, **tol):
    np.testing.assert_allclose(np.asarray(mine, dtype=float), np.asarray(want, dtype=float),
                               err_msg=what, **tol)


# ------------------------------------------------------------------ 01 tensors

@exercise("01", "outer")
def check_outer(outer):
    a, b = np.arange(3.0), np.arange(4.0) + 1
    _close(outer(mg.tensor(a), mg.tensor(b)).numpy(), np.outer(a, b), "outer(arange(3), arange(4) + 1)")


@exercise("01", "pairwise_sq_dists")
def check_pairwise_sq_dists(pairwise_sq_dists):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(4, 3))
    want = ((x[:, None] - y[None]) ** 2).sum(-1)
    _close(pairwise_sq_dists(mg.tensor(x), mg.tensor(y)).numpy(), want, "distances (5, 3) vs (4, 3)", rtol=1e-10)


@exercise("01", "standardize")
def check_standardize(standardize):
    x = np.random.default_rng(0).normal(size=(5, 3))
    z = standardize(mg.tensor(x * [1, 10, 100] + 5)).numpy()
    _close(z.mean(0), 0, "column means", atol=1e-10)
    _close(z.std(0), 1, "column standard deviations (population, ddof=0)", rtol=1e-10)


# ------------------------------------------------------------------ 02 autograd

@exercise("02", "Value")
def check_value(Value):
    for av, bv in [(1.5, -0.5), (-1.2, 0.3), (0.7, 2.0)]:
        a, b = Value(av), Value(bv)
        loss = (a ** 3 + b.exp()).relu() * a
        loss.backward()
        A = mg.tensor(av, dtype=mg.float64, requires_grad=True)
        B = mg.tensor(bv, dtype=mg.float64, requires_grad=True)
        ref = (A ** 3 + B.exp()).relu() * A
        ref.backward()
        assert np.isclose(loss.data, ref.item()), f"L at a={av}, b={bv}: {loss.data} != {ref.item()}"
        assert np.isclose(a.grad, A.grad.item()), f"dL/da at a={av}, b={bv}: {a.grad} != {A.grad.item()}"
        assert np.isclose(b.grad, B.grad.item()), f"dL/db at a={av}, b={bv}: {b.grad} != {B.grad.item()}"


@exercise("02", "linear_backward")
def check_linear_backward(linear_backward):
    rng = np.random.default_rng(1)
    x, W, b, gy = rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=2), rng.normal(size=(4, 2))
    X, Wt, Bt = (mg.tensor(v, requires_grad=True) for v in (x, W, b))
    (X @ Wt + Bt).backward(mg.tensor(gy))
    for what, mine, ref in zip(("dx", "dW", "db"), linear_backward(x, W, gy), (X.grad, Wt.grad, Bt.grad)):
        _close(mine, ref.numpy(), what, rtol=1e-10)


@exercise("02", "grad_at")
def check_grad_at(grad_at):
    got = grad_at(lambda t: t ** 2 * t.sin(), 2.0)
    _close(got, 2 * 2 * np.sin(2) + 4 * np.cos(2), "d/dx x^2 sin x at x = 2")


# ------------------------------------------------------------------ 03 gradcheck

@exercise("03", "numeric_grad")
def check_numeric_grad(numeric_grad):
    x = np.array([[0.3, -1.2], [2.0, 0.5]])
    _close(numeric_grad(lambda v: (np.sin(v) * v).sum(), x), np.cos(x) * x + np.sin(x),
           "gradient of sum(sin(x) * x)", rtol=1e-7)


@exercise("03", "Hypot")
def check_hypot(Hypot):
    rng = np.random.default_rng(0)
    a = mg.tensor(rng.normal(size=(3, 2)), requires_grad=True)
    b = mg.tensor(rng.normal(size=(3, 2)), requires_grad=True)
    _close(Hypot()(a, b).numpy(), np.hypot(a.numpy(), b.numpy()), "forward")
    assert mg.gradcheck(lambda p, q: Hypot()(p, q), (a, b))


@exercise("03", "LogCosh")
def check_logcosh(LogCosh):
    big = mg.tensor([-30.0, -1.0, 0.0, 2.0, 400.0], dtype=mg.float64, requires_grad=True)
    out = LogCosh()(big).numpy()
    _close(out[:4], np.log(np.cosh(big.numpy()[:4])), "forward", rtol=1e-12)
    assert np.isfinite(out).all(), f"log cosh(400) must be finite (about 399.31), got {out[4]}"
    a = mg.tensor(np.random.default_rng(0).normal(size=(3, 2)), requires_grad=True)
    assert mg.gradcheck(lambda t: LogCosh()(t), a)
    assert mg.gradgradcheck(lambda t: LogCosh()(t), a)


# ------------------------------------------------------------------ 04 linear regression

def _line_data():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 200)
    return x, 3 * x + 2 + rng.normal(0, 0.1, 200)


@exercise("04", "closed_form")
def check_closed_form(closed_form):
    x, y = _line_data()
    _close(closed_form(x, y), np.polyfit(x, y, 1), "(m, b) against np.polyfit")


@exercise("04", "gd_step")
def check_gd_step(gd_step):
    x, y = _line_data()
    m_ls, b_ls = np.polyfit(x, y, 1)
    m, b = 0.0, 0.0
    for _ in range(500):
        m, b = gd_step(m, b, x, y, 0.1)
    assert abs(m - m_ls) < 1e-3 and abs(b - b_ls) < 1e-3, f"500 steps reach ({m}, {b}), want ({m_ls}, {b_ls})"


@exercise("04", "fit")
def check_fit(fit):
    x, y = _line_data()
    m_ls, b_ls = np.polyfit(x, y, 1)
    m, b = fit(x, y, lr=0.1, steps=500)
    assert abs(m - m_ls) < 1e-3 and abs(b - b_ls) < 1e-3, f"fit gives ({m}, {b}), want ({m_ls}, {b_ls})"


# ------------------------------------------------------------------ 05 optimisers

def _run_optimizer(make_opt, p0, grads):
    p = mg.tensor(p0.copy(), dtype=mg.float64, requires_grad=True)
    opt = make_opt([p])
    for g in grads:
        p.grad = mg.tensor(g, dtype=mg.float64)
        opt.step()
    return p.numpy()


def _p0_grads():
    rng = np.random.default_rng(0)
    return rng.normal(size=5), [rng.normal(size=5) for _ in range(4)]


@exercise("05", "momentum_step")
def check_momentum_step(momentum_step):
    p0, grads = _p0_grads()
    p, buf = p0, None
    for g in grads:
        p, buf = momentum_step(p, g, buf, lr=0.1, mu=0.9)
    _close(p, _run_optimizer(lambda ps: mg.optim.SGD(ps, lr=0.1, momentum=0.9), p0, grads), "after 4 steps")


@exercise("05", "rmsprop_step")
def check_rmsprop_step(rmsprop_step):
    p0, grads = _p0_grads()
    p, sq = p0, np.zeros(5)
    for g in grads:
        p, sq = rmsprop_step(p, g, sq, lr=0.01)
    _close(p, _run_optimizer(lambda ps: mg.optim.RMSprop(ps, lr=0.01), p0, grads), "after 4 steps")


@exercise("05", "adam_step")
def check_adam_step(adam_step):
    p0, grads = _p0_grads()
    p, m, v = p0, np.zeros(5), np.zeros(5)
    for t, g in enumerate(grads, 1):
        p, m, v = adam_step(p, g, m, v, t, lr=0.01)
    _close(p, _run_optimizer(lambda ps: mg.optim.Adam(ps, lr=0.01), p0, grads), "after 4 steps")


# ------------------------------------------------------------------ 06 regularisation

@exercise("06", "l2_grad_step")
def check_l2_grad_step(l2_grad_step):
    w, g = np.array([1.0, -2.0]), np.array([0.5, 0.5])
    _close(l2_grad_step(w, g, 0.1, 0.01), (1 - 2 * 0.1 * 0.01) * w - 0.1 * g, "one step, lr=0.1, lam=0.01")


@exercise("06", "soft_threshold")
def check_soft_threshold(soft_threshold):
    w = np.array([0.5, -0.05, 0.02, -2.0, 0.0])
    _close(soft_threshold(w, 0.1), [0.4, 0.0, 0.0, -1.9, 0.0], "soft_threshold(w, 0.1)")
    out = soft_threshold(w, 0.1)
    assert (out[1:3] == 0).all() and (out[4] == 0), f"small weights must become exactly 0, got {out}"


@exercise("06", "dropout_mask")
def check_dropout_mask(dropout_mask):
    mask = dropout_mask((200, 200), 0.3, np.random.default_rng(0))
    assert set(np.unique(mask)) <= {0.0, 1 / 0.7}, f"values must be 0 or 1/(1-p), got {np.unique(mask)[:5]}"
    assert abs((mask == 0).mean() - 0.3) < 0.02, f"fraction of zeros {(mask == 0).mean():.3f}, want 0.3"
    assert abs(mask.mean() - 1) < 0.03, f"mean {mask.mean():.3f}, want 1"


@exercise("06", "EarlyStopping")
def check_early_stopping(EarlyStopping):
    stopper = EarlyStopping(patience=2)
    stops = [stopper.step(v) for v in [1.0, 0.8, 0.9, 0.7, 0.75, 0.71]]
    assert stops == [False, False, False, False, False, True], f"step() returned {stops}"
    assert stopper.best_epoch == 3, f"best_epoch {stopper.best_epoch}, want 3 (counting from 0)"


# ------------------------------------------------------------------ 07 convolution

@exercise("07", "conv_output_size")
def check_conv_output_size(conv_output_size):
    for args, want in [((28, 3), 26), ((28, 5, 2, 2), 14), ((10, 3, 1, 0, 2), 6)]:
        got = conv_output_size(*args)
        assert got == want, f"conv_output_size{args} = {got}, want {want}"


@exercise("07", "conv2d_direct")
def check_conv2d_direct(conv2d_direct):
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(2, 3, 9, 8)), rng.normal(size=(4, 3, 3, 3))
    for stride, padding in [(1, 0), (2, 1), (3, 2)]:
        ref = mg.nn.functional.conv2d(mg.tensor(x), mg.tensor(w), stride=stride, padding=padding).numpy()
        _close(conv2d_direct(x, w, stride, padding), ref, f"stride={stride}, padding={padding}",
               rtol=1e-10, atol=1e-12)


@exercise("07", "max_pool_2x2")
def check_max_pool_2x2(max_pool_2x2):
    x = np.random.default_rng(0).normal(size=(2, 3, 6, 8))
    _close(max_pool_2x2(x), mg.nn.functional.max_pool2d(mg.tensor(x), 2).numpy(), "pool of (2, 3, 6, 8)")


@exercise("07", "Conv2dIm2col")
def check_conv2d_im2col(Conv2dIm2col):
    rng = np.random.default_rng(0)
    for stride, padding in [(1, 0), (2, 1)]:
        x = mg.tensor(rng.normal(size=(2, 2, 5, 6)), requires_grad=True)
        w = mg.tensor(rng.normal(size=(3, 2, 3, 3)), requires_grad=True)
        ref = mg.nn.functional.conv2d(x, w, stride=stride, padding=padding).detach().numpy()
        _close(Conv2dIm2col(stride, padding)(x, w).detach().numpy(), ref,
               f"forward, stride={stride}, padding={padding}", rtol=1e-10, atol=1e-12)
        assert mg.gradcheck(lambda a, b: Conv2dIm2col(stride, padding)(a, b), (x, w))


# ------------------------------------------------------------------ 08 fast kernels

@exercise("08", "matmul_gflops")
def check_matmul_gflops(matmul_gflops):
    got = matmul_gflops(1000, 1000, 1000, 2.0)
    assert got == 1.0, f"matmul_gflops(1000, 1000, 1000, 2.0) = {got}, want 1.0"


@exercise("08", "conv2d_flops")
def check_conv2d_flops(conv2d_flops):
    assert conv2d_flops(1, 1, 5, 5, 1, 3, 3) == 2 * 9 * 9, "1 image, 1 channel, 5x5 input, one 3x3 filter"
    got = conv2d_flops(2, 3, 8, 8, 4, 3, 3, stride=2, padding=1)
    assert got == 2 * 2 * 4 * 4 * 4 * 27, f"stride 2, padding 1: {got}, want {2 * 2 * 4 * 4 * 4 * 27}"


@exercise("08", "blocked_matmul")
def check_blocked_matmul(blocked_matmul):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(70, 45)), rng.normal(size=(45, 33))
    for bs in (8, 16, 64):
        _close(blocked_matmul(a, b, bs), a @ b, f"block size {bs}, shapes (70, 45) @ (45, 33)",
               rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ 09 GPU

@exercise("09", "launch_geometry")
def check_launch_geometry(launch_geometry):
    for n, want in [(1, 1), (256, 1), (257, 2), (10 ** 9, 65536)]:
        got = launch_geometry(n)
        assert got == want, f"launch_geometry({n}) = {got}, want {want}"


@exercise("09", "bias_relu_reference")
def check_bias_relu_reference(bias_relu_reference):
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5))
    b = np.array([0.5, -1.0, 0.0])
    np.testing.assert_array_equal(bias_relu_reference(x, b), np.maximum(x + b[:, None, None], 0))


@exercise("09", "to_device_and_back")
def check_to_device_and_back(to_device_and_back):
    np.testing.assert_array_equal(to_device_and_back(mg.arange(4), "cpu"), np.arange(4))


# ------------------------------------------------------------------ 10 recurrent networks

def _state():
    rng = np.random.default_rng(0)
    return rng.normal(size=(3, 5)), rng.normal(size=(3, 4)), rng.normal(size=(3, 4))


@exercise("10", "lstm_step")
def check_lstm_step(lstm_step):
    x, h, c = _state()
    cell = mg.nn.LSTMCell(5, 4, dtype=mg.float64)
    args = [p.detach().numpy() for p in (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)]
    h2, c2 = cell(mg.tensor(x), (mg.tensor(h), mg.tensor(c)))
    mh, mc = lstm_step(x, h, c, *args)
    _close(mh, h2.detach().numpy(), "h'", rtol=1e-10)
    _close(mc, c2.detach().numpy(), "c'", rtol=1e-10)


@exercise("10", "gru_step")
def check_gru_step(gru_step):
    x, h, _ = _state()
    gru = mg.nn.GRUCell(5, 4, dtype=mg.float64)
    args = [p.detach().numpy() for p in (gru.weight_ih, gru.weight_hh, gru.bias_ih, gru.bias_hh)]
    _close(gru_step(x, h, *args), gru(mg.tensor(x), mg.tensor(h)).detach().numpy(), "h'", rtol=1e-10)


@exercise("10", "rnn_param_count")
def check_rnn_param_count(rnn_param_count):
    for kind, layer in [("RNN", mg.nn.RNN), ("LSTM", mg.nn.LSTM), ("GRU", mg.nn.GRU)]:
        want = sum(p.numel() for p in layer(28, 64).parameters())
        got = rnn_param_count(kind, 28, 64)
        assert got == want, f"rnn_param_count({kind!r}, 28, 64) = {got}, want {want}"


@exercise("10", "clip_by_global_norm")
def check_clip_by_global_norm(clip_by_global_norm):
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=(3, 4)) * 10, rng.normal(size=4)]
    params = [mg.tensor(np.zeros_like(g), requires_grad=True) for g in grads]
    for p, g in zip(params, grads):
        p.grad = mg.tensor(g)
    total = mg.nn.utils.clip_grad_norm_(params, 1.0).item()
    clipped, norm = clip_by_global_norm([g.copy() for g in grads], 1.0)
    _close(norm, total, "the norm before clipping")
    for i, (mine, p) in enumerate(zip(clipped, params)):
        _close(mine, p.grad.numpy(), f"clipped gradient {i}", rtol=1e-6)
    small = [g / 1000 for g in grads]
    for mine, g in zip(clip_by_global_norm(small, 1.0)[0], small):
        _close(mine, g, "a gradient already under max_norm is unchanged")


# ------------------------------------------------------------------ 11 evaluation

def _labels():
    rng = np.random.default_rng(0)
    t, p = rng.integers(0, 4, 300), rng.integers(0, 4, 300)
    p[:150] = t[:150]
    return t, p


@exercise("11", "confusion")
def check_confusion(confusion):
    t, p = _labels()
    np.testing.assert_array_equal(confusion(t, p, 4), mg.metrics.confusion_matrix(t, p, num_classes=4))


@exercise("11", "prf_from_confusion")
def check_prf_from_confusion(prf_from_confusion):
    t, p = _labels()
    cm = mg.metrics.confusion_matrix(t, p, num_classes=4)
    ref = mg.metrics.precision_recall_fscore_support(t, p)
    for what, mine, theirs in zip(("precision", "recall", "F1"), prf_from_confusion(cm), ref):
        _close(mine, theirs, what)


@exercise("11", "macro_f1")
def check_macro_f1(macro_f1):
    t, p = _labels()
    _close(macro_f1(t, p, 4), mg.metrics.f1_score(t, p, average="macro"), "macro F1")
    _close(macro_f1([0, 0, 2], [0, 2, 2], 4), mg.metrics.f1_score([0, 0, 2], [0, 2, 2], average="macro"),
           "macro F1 with classes that never occur")


# ------------------------------------------------------------------ 12 fine-tuning

def _small_net():
    nn = mg.nn
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


@exercise("12", "count_trainable")
def check_count_trainable(count_trainable):
    model = _small_net()
    got = count_trainable(model)
    assert got == 4 * 8 + 8 + 8 * 3 + 3, f"count_trainable = {got}, want {4 * 8 + 8 + 8 * 3 + 3}"
    model[0].weight.requires_grad_(False)
    assert count_trainable(model) == 8 + 8 * 3 + 3, "a frozen weight must not be counted"


@exercise("12", "freeze_all_but_last")
def check_freeze_all_but_last(freeze_all_but_last):
    model = _small_net()
    freeze_all_but_last(model)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == 8 * 3 + 3, f"{trainable} trainable parameters, want {8 * 3 + 3} (the last layer)"
    assert not model[0].weight.requires_grad and model[2].weight.requires_grad


@exercise("12", "param_groups")
def check_param_groups(param_groups):
    model = _small_net()
    groups = param_groups(model[0], model[2], 1e-3)
    assert [g["lr"] for g in groups] == [1e-4, 1e-3], f"learning rates {[g['lr'] for g in groups]}"
    opt = mg.optim.Adam(groups)
    assert [g["lr"] for g in opt.param_groups] == [1e-4, 1e-3]


# ------------------------------------------------------------------ 13 three ways

_MLP_PARAMS = 784 * 64 + 64 + 64 * 64 + 64 + 64 * 10 + 10


@exercise("13", "count_params", "keras_mlp", "TorchMLP")
def check_three_ways(count_params, keras_mlp, TorchMLP):
    keras_model, torch_model = keras_mlp(), TorchMLP()
    for name, m in (("keras_mlp()", keras_model), ("TorchMLP()", torch_model)):
        assert count_params(m) == _MLP_PARAMS, f"count_params({name}) = {count_params(m)}, want {_MLP_PARAMS}"
    x = np.random.default_rng(0).random((5, 784)).astype(np.float32)
    assert torch_model(mg.tensor(x)).shape == (5, 10)
    _close(np.asarray(keras_model.predict(x, verbose=0)).sum(1), 1, "Keras outputs are probabilities", rtol=1e-5)


# ------------------------------------------------------------------ 18 initialisation, BatchNorm, residuals

@exercise("18", "kaiming_std")
def check_kaiming_std(kaiming_std):
    for fan_in in (16, 784):
        assert np.isclose(kaiming_std(fan_in), np.sqrt(2 / fan_in)), f"kaiming_std({fan_in}) = {kaiming_std(fan_in)}"
    w = mg.empty(4000, 500)
    mg.nn.init.kaiming_normal_(w, nonlinearity="relu")
    _close(w.numpy().std(), kaiming_std(500), "against nn.init.kaiming_normal_", rtol=0.02)


@exercise("18", "batchnorm_train")
def check_batchnorm_train(batchnorm_train):
    rng = np.random.default_rng(0)
    x = rng.normal(3, 2, size=(32, 6))
    gamma, beta = rng.normal(size=6), rng.normal(size=6)
    ref = mg.nn.functional.batch_norm(mg.tensor(x), None, None, mg.tensor(gamma), mg.tensor(beta),
                                      training=True, eps=1e-5).numpy()
    _close(batchnorm_train(x, gamma, beta, 1e-5), ref, "batch norm of (32, 6), training mode", rtol=1e-8)


# ------------------------------------------------------------------ 14 attention

@exercise("14", "causal_mask")
def check_causal_mask(causal_mask):
    for T in (1, 4):
        got = np.asarray(causal_mask(T))
        assert got.dtype == bool, f"causal_mask({T}) has dtype {got.dtype}, want bool"
        np.testing.assert_array_equal(got, np.tril(np.ones((T, T), bool)), err_msg=f"causal_mask({T})")


@exercise("14", "attention_np")
def check_attention_np(attention_np):
    F = mg.nn.functional
    rng = np.random.default_rng(0)
    q, k, v = rng.normal(size=(2, 3, 5, 4)), rng.normal(size=(2, 3, 7, 4)), rng.normal(size=(2, 3, 7, 6))
    out, w = attention_np(q, k, v)
    ref = F.scaled_dot_product_attention(mg.tensor(q), mg.tensor(k), mg.tensor(v)).numpy()
    _close(out, ref, "attention_np(q (2,3,5,4), k (2,3,7,4), v (2,3,7,6)) against the fused op", rtol=1e-10,
           atol=1e-12)
    _close(np.asarray(w).sum(-1), 1, "each row of weights sums to 1", rtol=1e-10)
    mask = rng.random((5, 7)) < 0.5
    mask[2] = False  # query 2 may see nothing
    out, w = attention_np(q, k, v, mask)
    ref = F.scaled_dot_product_attention(mg.tensor(q), mg.tensor(k), mg.tensor(v), attn_mask=mg.tensor(mask))
    assert np.isfinite(out).all() and np.isfinite(w).all(), "a fully masked row gave NaN or inf"
    _close(out, ref.numpy(), "with a (5, 7) mask, row 2 fully masked (want zeros there)", rtol=1e-10, atol=1e-12)
    _close(w[..., 2, :], 0, "weights of the fully masked row")


@exercise("14", "sinusoidal_positions")
def check_sinusoidal_positions(sinusoidal_positions):
    pe = np.asarray(sinusoidal_positions(50, 16))
    assert pe.shape == (50, 16), f"sinusoidal_positions(50, 16) has shape {pe.shape}"
    _close(pe[0], np.tile([0.0, 1.0], 8), "position 0: sin 0, cos 0, ...")
    _close(pe[7, 0], np.sin(7.0), "PE[7, 0]: the fastest clock has frequency 1")
    _close(pe[7, 15], np.cos(7.0 / 10000 ** (14 / 16)), "PE[7, 15]")
    _close(pe[:, 0::2] ** 2 + pe[:, 1::2] ** 2, 1, "sin^2 + cos^2 of each pair")
    try:
        sinusoidal_positions(4, 5)
    except ValueError:
        pass
    else:
        raise AssertionError("sinusoidal_positions(4, 5): an odd d should raise ValueError")


@exercise("14", "online_softmax")
def check_online_softmax(online_softmax):
    for block in (1, 3, 4, 10, 50):
        x = np.random.default_rng(block).normal(size=10) * 30
        x[4] = 700.0  # exp(700) overflows float64 without the running maximum
        want = np.exp(x - x.max()) / np.exp(x - x.max()).sum()
        _close(online_softmax(x, block), want, f"online_softmax(x, block={block}), x holding 700", rtol=1e-12)


# ------------------------------------------------------------------ 17 data-parallel training

@exercise("17", "ring_allreduce")
def check_ring_allreduce(ring_allreduce):
    for R in (1, 2, 3, 5):
        for shape in ((10,), (3, 7), (2,)):
            arrays = [np.random.default_rng(r).normal(size=shape) for r in range(R)]
            summed, sent = ring_allreduce(arrays)
            assert len(summed) == R and len(sent) == R, f"R={R}: want {R} results and {R} counts"
            for r, out in enumerate(summed):
                assert np.shape(out) == shape, f"R={R}, shape {shape}: rank {r} got shape {np.shape(out)}"
                _close(out, sum(arrays), f"R={R}, shape {shape}: rank {r}'s result", rtol=1e-12)
            n = int(np.prod(shape))
            assert sum(sent) == 2 * (R - 1) * n, (f"R={R}, {n} elements: {sum(sent)} sent in all, want "
                                                  f"2 (R - 1) n = {2 * (R - 1) * n}")
            assert max(sent) <= 2 * (R - 1) * -(-n // R), f"R={R}: a rank sent {max(sent)}, more than its share"
    try:
        ring_allreduce([np.zeros(3), np.zeros(4)])
    except ValueError:
        pass
    else:
        raise AssertionError("ring_allreduce: arrays of shapes (3,) and (4,) should raise ValueError")


@exercise("17", "shard_indices")
def check_shard_indices(shard_indices):
    from minigrad.utils.data import DistributedSampler
    for n, world in ((10, 3), (12, 4), (2, 5), (7, 1)):
        for rank in range(world):
            want = list(DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=False))
            got = list(shard_indices(n, world, rank))
            assert got == want, f"shard_indices({n}, {world}, {rank}) = {got}, want {want}"


@exercise("17", "allreduce_seconds")
def check_allreduce_seconds(allreduce_seconds):
    assert allreduce_seconds(10 ** 6, 1, 1.0) == 0.0, "one rank communicates nothing"
    # 2 ranks: each sends 2 * 1/2 * 4 MB = 4 MB = 32 Mbit; at 1 Gbit/s that is 32 ms
    _close(allreduce_seconds(10 ** 6, 2, 1.0), 0.032, "10^6 float32 parameters, 2 ranks, 1 Gbit/s", rtol=1e-9)
    _close(allreduce_seconds(10 ** 6, 4, 10.0), 0.0048, "10^6 float32 parameters, 4 ranks, 10 Gbit/s", rtol=1e-9)
    _close(allreduce_seconds(10 ** 6, 2, 1.0, bytes_per_param=2), 0.016, "float16 gradients", rtol=1e-9)

# ------------------------------------------------------------------ 15 a GPT from scratch

@exercise("15", "bigram_nll")
def check_bigram_nll(bigram_nll):
    rng = np.random.default_rng(0)
    train, held = rng.integers(0, 5, 2000), rng.integers(0, 5, 300)
    counts = np.ones((5, 5))
    np.add.at(counts, (train[:-1], train[1:]), 1)
    p = counts / counts.sum(1, keepdims=True)
    want = -np.log(p[held[:-1], held[1:]]).mean()
    _close(bigram_nll(train, held, 5), want, "bigram_nll(train, held, 5), smoothing 1", rtol=1e-10)
    # the counted table is the bigram model's optimum: one trained by gradient descent cannot beat it
    ids = np.array([0, 1, 0, 1, 0, 2] * 50)
    logits = mg.tensor(np.zeros((3, 3)), requires_grad=True)
    opt = mg.optim.Adam([logits], lr=0.1)
    for _ in range(300):
        loss = mg.nn.functional.cross_entropy(logits[mg.tensor(ids[:-1])], mg.tensor(ids[1:]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    got = bigram_nll(ids, ids, 3, smoothing=0.0)
    assert got <= loss.item() + 1e-3, f"counted bigram {got:.4f} is worse than a trained table ({loss.item():.4f})"


@exercise("15", "perplexity", "bits_per_character")
def check_perplexity(perplexity, bits_per_character):
    _close(perplexity(np.log(65)), 65, "perplexity(ln 65)")
    _close(bits_per_character(np.log(2)), 1, "bits_per_character(ln 2)")
    _close(bits_per_character(np.log(4), 2), 1, "bits_per_character(ln 4, chars_per_token=2)")


@exercise("15", "bpe_train")
def check_bpe_train(bpe_train):
    from minigrad.text import BPETokenizer
    text = "aaabdaaabacabbacdcaabbaab" * 3
    got = bpe_train(text.encode(), 3)
    assert got == [(97, 97), (97, 98), (256, 257)], f"first 3 merges {got}"  # worked by hand
    assert bpe_train(text.encode(), 6) == BPETokenizer.train(text, 256 + 6).merges, "6 merges vs BPETokenizer"


@exercise("15", "top_k_probs")
def check_top_k_probs(top_k_probs):
    logits = np.array([2.0, 1.0, 0.5, -1.0, 3.0])
    e = np.exp(np.array([3.0, 2.0]) / 0.5)
    _close(top_k_probs(logits, 2, temperature=0.5), [e[1] / e.sum(), 0, 0, 0, e[0] / e.sum()],
           "top_k_probs(logits, 2, temperature=0.5)", rtol=1e-10)
    _close(top_k_probs(logits, 5), np.exp(logits) / np.exp(logits).sum(), "k = all: plain softmax", rtol=1e-10)


# ------------------------------------------------------------------ 16 fine-tuning a language model

def _tiny_gpt():
    from minigrad.models import GPT, GPTConfig
    return GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=8))


@exercise("16", "lora_param_count")
def check_lora_param_count(lora_param_count):
    model = mg.nn.utils.apply_lora(_tiny_gpt(), r=2, target_modules=("c_attn", "c_proj", "c_fc"))
    C, n_layer = 8, 2
    shapes = [(3 * C, C), (C, C), (4 * C, C), (C, 4 * C)] * n_layer
    want = sum(p.numel() for p in model.parameters() if p.requires_grad)
    got = lora_param_count(shapes, 2)
    assert got == want, f"lora_param_count = {got}, apply_lora made {want} trainable"


@exercise("16", "lora_forward", "merged_weight")
def check_lora_math(lora_forward, merged_weight):
    nn = mg.nn
    rng = np.random.default_rng(0)
    layer = nn.LoRALinear(nn.Linear(6, 4, dtype=mg.float64), r=3, lora_alpha=5)
    with mg.no_grad():
        layer.lora_B.copy_(mg.tensor(rng.normal(size=(4, 3))))  # as after some training
    W, b, A, B = (t.detach().numpy().copy() for t in (layer.weight, layer.bias, layer.lora_A, layer.lora_B))
    x = rng.normal(size=(7, 6))
    _close(lora_forward(x, W, b, A, B, 5, 3), layer(mg.tensor(x)).detach().numpy(), "lora_forward vs LoRALinear",
           rtol=1e-10)
    layer.merge()
    _close(merged_weight(W, A, B, 5, 3), layer.weight.numpy(), "merged_weight vs LoRALinear.merge()", rtol=1e-10)


@exercise("16", "freeze_all_but")
def check_freeze_all_but(freeze_all_but):
    model = _tiny_gpt()
    prefixes = ("transformer.h.1.", "transformer.ln_f.")
    n = freeze_all_but(model, prefixes)
    names = [name for name, p in model.named_parameters() if p.requires_grad]
    assert names and all(name.startswith(prefixes) for name in names), f"trainable: {names[:4]}..."
    want = sum(p.numel() for name, p in model.named_parameters() if name.startswith(prefixes))
    assert n == want, f"freeze_all_but returned {n}, want {want}"
