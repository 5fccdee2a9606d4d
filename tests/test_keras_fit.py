"""fit's Keras options: class_weight / sample_weight (checked against Keras' formula computed by
hand in numpy), validation_split, initial_epoch, steps_per_epoch."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import keras
from minigrad.keras import layers


@pytest.fixture(autouse=True)
def _seed():
    mg.manual_seed(0)
    keras.backend.clear_session()


def _softmax_model(w, b, loss):
    model = keras.Sequential([layers.Dense(3, activation="softmax", input_shape=(w.shape[0],))])
    model.set_weights([w, b])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss=loss)
    return model


def _setup(n=12, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = rng.integers(0, 3, n)
    w = rng.standard_normal((4, 3)).astype(np.float32) * 0.5
    b = rng.standard_normal(3).astype(np.float32) * 0.1
    return x, y, w, b


def _keras_weighted_ce(x, y, w, b, sw):
    """Keras: loss = sum_i sw_i * CE_i / N (sum_over_batch_size), and its gradient for W and b."""
    z = x.astype(np.float64) @ w + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    n = len(y)
    ce = -np.log(p[np.arange(n), y])
    dz = (p - np.eye(3)[y]) * (sw / n)[:, None]
    return (sw * ce).sum() / n, x.T @ dz, dz.sum(0)


@pytest.mark.parametrize("one_hot", [False, True])
def test_class_weight_matches_keras_formula(one_hot):
    x, y, w, b = _setup()
    cw = {0: 0.5, 1: 2.0, 2: 3.0}
    sw = np.array([cw[c] for c in y])
    loss, gw, gb = _keras_weighted_ce(x, y, w, b, sw)
    model = _softmax_model(w, b, "categorical_crossentropy" if one_hot else "sparse_categorical_crossentropy")
    target = np.eye(3, dtype=np.float32)[y] if one_hot else y
    h = model.fit(x, target, batch_size=len(x), epochs=1, shuffle=False, class_weight=cw, verbose=0)
    assert h.history["loss"][0] == pytest.approx(loss, rel=1e-5)
    np.testing.assert_allclose(model.get_weights()[0], w - 0.5 * gw, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.get_weights()[1], b - 0.5 * gb, rtol=1e-5, atol=1e-6)


def test_sample_weight_matches_keras_formula_for_ce_and_mse():
    x, y, w, b = _setup()
    sw = np.linspace(0.0, 2.0, len(y))
    loss, gw, _ = _keras_weighted_ce(x, y, w, b, sw)
    model = _softmax_model(w, b, "sparse_categorical_crossentropy")
    h = model.fit(x, y, batch_size=len(x), shuffle=False, sample_weight=sw, verbose=0)
    assert h.history["loss"][0] == pytest.approx(loss, rel=1e-5)
    np.testing.assert_allclose(model.get_weights()[0], w - 0.5 * gw, rtol=1e-5, atol=1e-6)
    # mse: per-sample mean over the last axis, weighted, summed, divided by the batch size
    reg = keras.Sequential([layers.Dense(2, input_shape=(4,))])
    reg.compile(optimizer="sgd", loss="mse")
    t = np.random.default_rng(5).standard_normal((len(x), 2)).astype(np.float32)
    pred = x.astype(np.float64) @ reg.get_weights()[0] + reg.get_weights()[1]
    expect = (sw * ((pred - t) ** 2).mean(1)).sum() / len(x)
    assert reg.evaluate(x, t, sample_weight=sw, verbose=0) == pytest.approx(expect, rel=1e-5)
    # batches of 5, 5, 2: each batch's sum / its size, averaged weighted by batch size = the same value
    assert reg.evaluate(x, t, sample_weight=sw, batch_size=5, verbose=0) == pytest.approx(expect, rel=1e-5)


def test_weight_arguments_are_checked():
    x, y, w, b = _setup()
    model = _softmax_model(w, b, "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="class_weight or sample_weight"):
        model.fit(x, y, class_weight={0: 1.0}, sample_weight=np.ones(len(y)), verbose=0)
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(12,\)"):
        model.fit(x, y, sample_weight=np.ones(5), verbose=0)
    with pytest.raises(TypeError, match="class_weight must be a dict"):
        model.fit(x, y, class_weight=[1.0, 2.0], verbose=0)


def test_validation_split_takes_the_last_samples_before_shuffling():
    x, y, w, b = _setup(n=10)
    model = _softmax_model(w, b, "sparse_categorical_crossentropy")
    model.optimizer.learning_rate = 0.0  # weights stay put, so val_loss can be recomputed
    sw = np.arange(10, dtype=np.float32)
    h = model.fit(x, y, validation_split=0.3, sample_weight=sw, epochs=1, verbose=0)
    expect = _keras_weighted_ce(x[7:], y[7:], w, b, sw[7:])[0]  # floor(10 * 0.7) = 7 training samples
    assert h.history["val_loss"][0] == pytest.approx(expect, rel=1e-5)
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(x, y, validation_split=1.5, verbose=0)


class _Recorder(keras.Model):
    """Records the first feature (the sample's index) of every training batch."""

    def __init__(self):
        super().__init__()
        self.d = layers.Dense(1)
        self.seen = []

    def call(self, x, training=None):
        if training:
            self.seen.append(x.numpy()[:, 0].astype(int).tolist())
        return self.d(x)


def test_steps_per_epoch_continues_the_stream_across_epochs_and_initial_epoch():
    x = np.arange(10, dtype=np.float32)[:, None]
    model = _Recorder()
    model.compile(optimizer="sgd", loss="mse")
    h = model.fit(x, x, batch_size=4, epochs=3, steps_per_epoch=2, shuffle=False, verbose=0)
    assert model.seen == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9], [0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert h.epoch == [0, 1, 2]
    model.seen.clear()
    h = model.fit(x, x, batch_size=5, epochs=4, initial_epoch=2, shuffle=False, verbose=0)
    assert h.epoch == [2, 3] and len(model.seen) == 4
    with pytest.raises(ValueError, match="steps_per_epoch"):
        model.fit(x, x, steps_per_epoch=0, verbose=0)


def test_steps_per_epoch_with_an_iterable_does_not_restart_it():
    x = np.arange(8, dtype=np.float32)[:, None]
    batches = [(x[i:i + 2], x[i:i + 2]) for i in range(0, 8, 2)]
    model = _Recorder()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(iter(batches), epochs=3, steps_per_epoch=2, verbose=0)
    assert model.seen == [[0, 1], [2, 3], [4, 5], [6, 7]]  # ran out after two epochs
