"""minigrad.utils.checkpoint: the same values and gradients as the plain forward, with less kept."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
from minigrad.utils import checkpoint


def _net(dropout=0.0):
    mg.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 12), nn.GELU(approximate="tanh"), nn.Dropout(dropout), nn.Linear(12, 6))


def _grads(net, x, use_checkpoint):
    net.zero_grad()
    x = x.detach().requires_grad_(True)
    y = checkpoint(net, x) if use_checkpoint else net(x)
    (y * y).sum().backward()
    return y.numpy(), x.grad.numpy(), [p.grad.numpy() for p in net.parameters()]


def test_same_values_and_gradients_as_plain_forward():
    net = _net()
    x = mg.randn(4, 6, dtype=mg.float32)
    y0, gx0, gp0 = _grads(net, x, False)
    y1, gx1, gp1 = _grads(net, x, True)
    np.testing.assert_allclose(y1, y0, rtol=1e-6)
    np.testing.assert_allclose(gx1, gx0, rtol=1e-5, atol=1e-7)
    for a, b in zip(gp1, gp0):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_gradcheck_through_checkpoint():
    w = mg.randn(3, 3, dtype=mg.float64, requires_grad=True)
    x = mg.randn(2, 3, dtype=mg.float64, requires_grad=True)
    assert mg.gradcheck(lambda a, b: checkpoint(lambda u, v: (u @ v).tanh(), a, b), (x, w))


def test_dropout_draws_the_same_mask_when_recomputed():
    net = _net(dropout=0.5)
    x = mg.randn(8, 6)
    mg.manual_seed(1)
    y0, gx0, _ = _grads(net, x, False)
    mg.manual_seed(1)
    y1, gx1, _ = _grads(net, x, True)
    np.testing.assert_allclose(y1, y0, rtol=1e-6)
    np.testing.assert_allclose(gx1, gx0, rtol=1e-5, atol=1e-7)


def test_keeps_no_intermediate_activations():
    seen = []
    net = _net()
    net[1].register_forward_hook(lambda m, args, out: seen.append(mg.is_grad_enabled()))
    x = mg.randn(2, 6, requires_grad=True)
    y = checkpoint(net, x)
    assert seen == [False]  # the first pass records no graph
    y.sum().backward()
    assert seen == [False, True]  # the backward ran it again, recording
    assert y.grad_fn is not None and x.grad is not None


def test_non_tensor_arguments_and_errors():
    x = mg.randn(3, requires_grad=True)
    y = checkpoint(lambda t, k: t * k, x, 3.0)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3.0)
    with pytest.raises(TypeError, match="callable"):
        checkpoint(42, x)
    with pytest.raises(TypeError, match="one Tensor"):
        checkpoint(lambda t: (t, t), x)
    with mg.no_grad():
        assert checkpoint(lambda t: t * 2, x).grad_fn is None
