"""The Keras layers that now run on nn.functional / nn's recurrent step compute Keras' formulas
(written out in numpy here): BatchNormalization with Keras' defaults, SimpleRNN / LSTM / GRU with
the standard and with custom activations."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import keras
from minigrad.keras import layers


@pytest.fixture(autouse=True)
def _seed():
    mg.manual_seed(0)
    keras.backend.clear_session()


def _sig(z):
    return 1 / (1 + np.exp(-z))


ACT = {"tanh": np.tanh, "sigmoid": _sig, "relu": lambda z: np.maximum(z, 0)}


@pytest.mark.parametrize("shape", [(6, 3), (4, 5, 3), (4, 2, 2, 3)])
def test_batch_normalization_keras_formula(shape):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32) * 2 + 1
    bn = layers.BatchNormalization()
    assert (bn.momentum, bn.epsilon) == (0.99, 1e-3)
    bn(x)
    gamma = np.linspace(0.5, 1.5, 3).astype(np.float32)
    bn.set_weights([gamma, np.full(3, 0.1, np.float32), np.zeros(3, np.float32), np.ones(3, np.float32)])
    axes = tuple(range(len(shape) - 1))
    mean, var = x.mean(axes), x.var(axes)  # Keras: the biased batch variance, also for the moving one
    y = bn._apply(mg.Tensor(x), training=True).numpy()
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-3) * gamma + 0.1, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.01 * mean, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.99 + 0.01 * var, rtol=1e-5)
    y = bn(x).numpy()  # inference: the moving statistics
    mm, mv = bn.moving_mean.numpy(), bn.moving_variance.numpy()
    np.testing.assert_allclose(y, (x - mm) / np.sqrt(mv + 1e-3) * gamma + 0.1, rtol=1e-4, atol=1e-5)


def _keras_rnn(kind, x, weights, act, rec_act, units):
    n, steps, _ = x.shape
    k, r = weights[0].astype(np.float64), weights[1].astype(np.float64)
    b = weights[2].astype(np.float64)
    h, c = np.zeros((n, units)), np.zeros((n, units))
    outs = []
    for t in range(steps):
        xt = x[:, t].astype(np.float64)
        if kind == "SimpleRNN":
            h = act(xt @ k + h @ r + b)
        elif kind == "LSTM":
            z = xt @ k + h @ r + b
            i, f, g, o = np.split(z, 4, axis=1)
            c = rec_act(f) * c + rec_act(i) * act(g)
            h = rec_act(o) * act(c)
        else:  # GRU, reset_after=True: bias rows = input and recurrent biases
            mx, mh = xt @ k + b[0], h @ r + b[1]
            u = units
            z = rec_act(mx[:, :u] + mh[:, :u])
            rr = rec_act(mx[:, u:2 * u] + mh[:, u:2 * u])
            hh = act(mx[:, 2 * u:] + rr * mh[:, 2 * u:])
            h = z * h + (1 - z) * hh
        outs.append(h)
    return np.stack(outs, 1)


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("acts", [("tanh", "sigmoid"), ("relu", "tanh")])
def test_recurrent_layers_keras_formula(kind, acts):
    act, rec = acts
    x = np.random.default_rng(1).standard_normal((3, 4, 5)).astype(np.float32)
    kw = {"activation": act} if kind == "SimpleRNN" else {"activation": act, "recurrent_activation": rec}
    layer = getattr(layers, kind)(6, return_sequences=True, **kw)
    layer(x)
    rng = np.random.default_rng(2)
    layer.set_weights([rng.standard_normal(w.shape).astype(np.float32) * 0.4 for w in layer.get_weights()])
    expect = _keras_rnn(kind, x, layer.get_weights(), ACT[act], ACT[rec], 6)
    np.testing.assert_allclose(layer(x).numpy(), expect, rtol=1e-4, atol=1e-5)
    # gradients reach every weight
    model = keras.Sequential([layer, layers.Flatten(), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    before = layer.get_weights()
    model.fit(x, np.ones((3, 1)), verbose=0)
    assert all(not np.array_equal(a, b) for a, b in zip(before, layer.get_weights()))
