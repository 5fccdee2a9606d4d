import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F
from _nn_helpers import assert_close

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _x(*shape, seed=0, scale=1.0):
    return np.random.default_rng(seed).standard_normal(shape) * scale


def _both(fn_m, fn_t, arrays, consts=(), atol=1e-8):
    """Run fn on minigrad and torch versions of `arrays` (differentiable) and `consts`; compare value and grads."""
    mx = [mg.tensor(a, requires_grad=True) for a in arrays]
    tx = [torch.tensor(a, requires_grad=True) for a in arrays]
    mc = [mg.tensor(c) for c in consts]
    tc = [torch.tensor(c) for c in consts]
    y, ty = fn_m(*mx, *mc), fn_t(*tx, *tc)
    assert_close(y, ty, atol=atol, what="value")
    w = np.random.default_rng(5).standard_normal(ty.shape)
    (y * mg.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    for a, b in zip(mx, tx):
        assert_close(a.grad, b.grad, atol=atol, what="grad")
    return y


REDUCTIONS = ["mean", "sum", "none"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_losses(reduction):
    a, b = _x(3, 4), _x(3, 4, seed=1) * 2
    _both(lambda x, y: F.mse_loss(x, y, reduction), lambda x, y: TF.mse_loss(x, y, reduction=reduction), [a, b])
    _both(lambda x, y: F.l1_loss(x, y, reduction), lambda x, y: TF.l1_loss(x, y, reduction=reduction), [a, b])
    for beta in (1.0, 0.5):
        _both(lambda x, y: F.smooth_l1_loss(x, y, reduction, beta),
              lambda x, y: TF.smooth_l1_loss(x, y, reduction=reduction, beta=beta), [a, b])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss(reduction):
    logp = np.log(np.random.default_rng(0).dirichlet(np.ones(5), size=6))
    t = np.array([0, 4, 2, -100, 1, 4])
    w = np.array([1.0, 2.0, 0.5, 1.5, 3.0])
    _both(lambda x, tt: F.nll_loss(x, tt, reduction=reduction), lambda x, tt: TF.nll_loss(x, tt, reduction=reduction),
          [logp], [t])
    _both(lambda x, tt: F.nll_loss(x, tt, weight=mg.tensor(w), reduction=reduction),
          lambda x, tt: TF.nll_loss(x, tt, weight=torch.tensor(w), reduction=reduction), [logp], [t])
    x4 = _x(2, 3, 2, 2)
    t4 = np.random.default_rng(1).integers(0, 3, (2, 2, 2))
    _both(lambda x, tt: F.nll_loss(x, tt, reduction=reduction), lambda x, tt: TF.nll_loss(x, tt, reduction=reduction),
          [x4], [t4])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_module_variants(reduction):
    x, t = _x(6, 4, scale=3), np.array([0, 3, 1, 1, 2, -100])
    w = np.array([1.0, 0.5, 2.0, 1.0])
    for kw in ({}, {"label_smoothing": 0.1}, {"ignore_index": 1}, {"weight": w}):
        mk = {k: (mg.tensor(v) if k == "weight" else v) for k, v in kw.items()}
        tk = {k: (torch.tensor(v) if k == "weight" else v) for k, v in kw.items()}
        tt = np.where(t < 0, 1, t) if "ignore_index" in kw else t
        _both(lambda a, b: nn.CrossEntropyLoss(reduction=reduction, **mk)(a, b),
              lambda a, b: torch.nn.CrossEntropyLoss(reduction=reduction, **tk)(a, b), [x], [tt])
    probs = np.random.default_rng(3).dirichlet(np.ones(4), size=6)
    _both(lambda a, b: nn.CrossEntropyLoss(reduction=reduction, label_smoothing=0.2)(a, b),
          lambda a, b: torch.nn.CrossEntropyLoss(reduction=reduction, label_smoothing=0.2)(a, b), [x], [probs])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_losses(reduction):
    p = np.random.default_rng(0).uniform(0.05, 0.95, (4, 3))
    t = np.random.default_rng(1).uniform(0, 1, (4, 3))
    w = np.random.default_rng(2).uniform(0.5, 2, (4, 3))
    _both(lambda a, b: nn.BCELoss(reduction=reduction)(a, b), lambda a, b: torch.nn.BCELoss(reduction=reduction)(a, b),
          [p, t])
    _both(lambda a, b: F.binary_cross_entropy(a, b, weight=mg.tensor(w), reduction=reduction),
          lambda a, b: TF.binary_cross_entropy(a, b, weight=torch.tensor(w), reduction=reduction), [p], [t])
    x = _x(4, 3, scale=3)
    pw = np.array([0.5, 2.0, 3.0])
    _both(lambda a, b: nn.BCEWithLogitsLoss(reduction=reduction)(a, b),
          lambda a, b: torch.nn.BCEWithLogitsLoss(reduction=reduction)(a, b), [x, t])
    _both(lambda a, b: nn.BCEWithLogitsLoss(reduction=reduction, pos_weight=mg.tensor(pw), weight=mg.tensor(w))(a, b),
          lambda a, b: torch.nn.BCEWithLogitsLoss(reduction=reduction, pos_weight=torch.tensor(pw),
                                                  weight=torch.tensor(w))(a, b), [x, t])


def test_losses_stable_at_huge_logits():
    x = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0]])
    t = np.array([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    pw = np.array([2.0, 1.0, 0.5])
    y = _both(lambda a, b: F.binary_cross_entropy_with_logits(a, b, pos_weight=mg.tensor(pw)),
              lambda a, b: TF.binary_cross_entropy_with_logits(a, b, pos_weight=torch.tensor(pw)), [x], [t])
    assert np.isfinite(y.item())
    y = _both(lambda a, b: F.cross_entropy(a, b), lambda a, b: TF.cross_entropy(a, b), [x], [np.array([1, 0])])
    assert np.isfinite(y.item())
    for dtype in (np.float32, np.float64):
        xx = mg.tensor(x.astype(dtype), requires_grad=True)
        loss = F.binary_cross_entropy_with_logits(xx, mg.tensor(t.astype(dtype)))
        loss.backward()
        assert np.isfinite(loss.item()) and np.all(np.isfinite(xx.grad.numpy()))
    # probabilities at exactly 0 and 1: torch clamps the logs at -100
    p = np.array([0.0, 1.0, 0.5])
    tt = np.array([1.0, 0.0, 1.0])
    assert_close(F.binary_cross_entropy(mg.tensor(p), mg.tensor(tt)),
                 TF.binary_cross_entropy(torch.tensor(p), torch.tensor(tt)))


def test_loss_gradchecks():
    x = mg.tensor(_x(3, 4), requires_grad=True)
    t = mg.tensor(np.random.default_rng(1).uniform(0.1, 0.9, (3, 4)))
    p = mg.tensor(np.random.default_rng(2).uniform(0.1, 0.9, (3, 4)), requires_grad=True)
    assert mg.gradcheck(lambda a: F.binary_cross_entropy_with_logits(a, t, pos_weight=mg.tensor([1., 2, 3, 4])), [x])
    assert mg.gradcheck(lambda a: F.binary_cross_entropy(a, t), [p])
    assert mg.gradcheck(lambda a: F.smooth_l1_loss(a, t * 3, beta=0.7), [x])
    assert mg.gradcheck(lambda a: F.mse_loss(a, t) + F.l1_loss(a, t), [x])
    assert mg.gradcheck(lambda a: F.nll_loss(a.log_softmax(1), mg.tensor([0, 3, 2])), [x])


def test_functional_layers_vs_torch():
    x, w, b = _x(4, 3, 2, 2), _x(3, seed=1), _x(3, seed=2)
    rm, rv = _x(3, seed=3), np.abs(_x(3, seed=4)) + 0.5
    _both(lambda a, ww, bb: F.batch_norm(a, mg.tensor(rm), mg.tensor(rv), ww, bb, training=False),
          lambda a, ww, bb: TF.batch_norm(a, torch.tensor(rm), torch.tensor(rv), ww, bb, training=False), [x, w, b])
    _both(lambda a, ww, bb: F.batch_norm(a, None, None, ww, bb, training=True),
          lambda a, ww, bb: TF.batch_norm(a, None, None, ww, bb, training=True), [x, w, b])
    ln_w, ln_b = _x(2, 2, seed=5), _x(2, 2, seed=6)
    _both(lambda a, ww, bb: F.layer_norm(a, (2, 2), ww, bb), lambda a, ww, bb: TF.layer_norm(a, (2, 2), ww, bb),
          [x, ln_w, ln_b])
    _both(lambda a: F.adaptive_avg_pool2d(a, (1, 3)), lambda a: TF.adaptive_avg_pool2d(a, (1, 3)), [_x(2, 2, 5, 7)])
    table = _x(6, 3)
    idx = np.array([[1, 5], [0, 1]])
    _both(lambda t: F.embedding(mg.tensor(idx), t), lambda t: TF.embedding(torch.tensor(idx), t), [table])
    oh = F.one_hot(mg.tensor([0, 2, 1]), 4)
    assert oh.dtype == np.int64
    assert np.array_equal(oh.numpy(), TF.one_hot(torch.tensor([0, 2, 1]), 4).numpy())
    assert F.one_hot(mg.tensor([[3, 1]])).shape == (1, 2, 4)


def test_functional_gradchecks():
    x = mg.tensor(_x(4, 2, 2, 3), requires_grad=True)
    w, b = mg.tensor(_x(2, seed=1), requires_grad=True), mg.tensor(_x(2, seed=2), requires_grad=True)
    assert mg.gradcheck(lambda a, ww, bb: F.batch_norm(a, None, None, ww, bb, training=True), [x, w, b])
    assert mg.gradcheck(lambda a: F.layer_norm(a, (3,)), [x])
    assert mg.gradcheck(lambda a: F.adaptive_avg_pool2d(a, (3, 2)), [mg.tensor(_x(1, 2, 5, 5), requires_grad=True)])
    table = mg.tensor(_x(5, 2), requires_grad=True)
    assert mg.gradcheck(lambda t: F.embedding(mg.tensor([[0, 4, 0]]), t), [table])


def test_dropout_functional():
    x = mg.ones(10)
    assert F.dropout(x, 0.5, training=False) is x
    assert np.all(F.dropout(x, 1.0).numpy() == 0)
    with pytest.raises(ValueError, match="dropout"):
        F.dropout(x, 1.5)


def test_functional_errors_name_op_and_shapes():
    with pytest.raises(ValueError, match=r"mse_loss.*\(2, 3\).*\(3, 2\)"):
        F.mse_loss(mg.zeros(2, 3), mg.zeros(3, 2))
    with pytest.raises(ValueError, match="nll_loss"):
        F.nll_loss(mg.zeros(2, 3), mg.tensor([0, 1, 2]))
    with pytest.raises(IndexError, match="nll_loss"):
        F.nll_loss(mg.zeros(2, 3), mg.tensor([0, 5]))
    with pytest.raises(ValueError, match="binary_cross_entropy_with_logits"):
        F.binary_cross_entropy_with_logits(mg.zeros(2), mg.zeros(3))
    with pytest.raises(ValueError, match="binary_cross_entropy"):
        F.binary_cross_entropy(mg.tensor([1.5]), mg.tensor([1.0]))
    with pytest.raises(ValueError, match="batch_norm"):
        F.batch_norm(mg.zeros(1, 3), None, None, training=True)
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(mg.zeros(2), mg.zeros(2), reduction="avg")


def test_penalties():
    a = mg.tensor([[1.0, -2.0]], requires_grad=True)
    b = mg.tensor([3.0], requires_grad=True)
    l1 = nn.l1_penalty([a, b])
    l2 = nn.l2_penalty([a, b])
    assert l1.item() == 6.0 and l2.item() == 14.0
    (l1 + l2).backward()
    assert np.allclose(a.grad.numpy(), [[1 + 2, -1 - 4]]) and np.allclose(b.grad.numpy(), [1 + 6])
