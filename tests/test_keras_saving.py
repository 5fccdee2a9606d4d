"""model.save("m.keras") / keras.models.load_model: every built-in layer, a custom layer, the
three kinds of model, compile settings and optimizer state survive the round trip."""
import json
import zipfile

import numpy as np
import pytest

import minigrad as mg
from minigrad import keras
from minigrad.keras import layers


@pytest.fixture(autouse=True)
def _seed():
    mg.manual_seed(0)
    keras.backend.clear_session()


# (input shape without batch, layer factory, integer inputs?)
LAYERS = {
    "Dense": ((6,), lambda: layers.Dense(3, activation="tanh", kernel_regularizer=keras.regularizers.l2(0.01)), False),
    "Activation": ((6,), lambda: layers.Activation("sigmoid"), False),
    "ReLU": ((6,), lambda: layers.ReLU(), False),
    "Softmax": ((6,), lambda: layers.Softmax(), False),
    "Flatten": ((2, 3), lambda: layers.Flatten(), False),
    "Reshape": ((6,), lambda: layers.Reshape((3, 2)), False),
    "Dropout": ((6,), lambda: layers.Dropout(0.3), False),
    "Conv2D": ((6, 6, 2), lambda: layers.Conv2D(3, (3, 2), strides=2, padding="same", activation="relu"), False),
    "MaxPooling2D": ((6, 6, 2), lambda: layers.MaxPooling2D(3, padding="same"), False),
    "AveragePooling2D": ((6, 6, 2), lambda: layers.AveragePooling2D(2), False),
    "GlobalAveragePooling2D": ((4, 4, 2), lambda: layers.GlobalAveragePooling2D(), False),
    "GlobalMaxPooling2D": ((4, 4, 2), lambda: layers.GlobalMaxPooling2D(), False),
    "BatchNormalization": ((5, 3), lambda: layers.BatchNormalization(momentum=0.9, epsilon=1e-2), False),
    "Embedding": ((5,), lambda: layers.Embedding(10, 4), True),
    "SimpleRNN": ((5, 3), lambda: layers.SimpleRNN(4, activation="relu", return_sequences=True), False),
    "LSTM": ((5, 3), lambda: layers.LSTM(4, go_backwards=True), False),
    "GRU": ((5, 3), lambda: layers.GRU(4), False),
    "LayerNormalization": ((5, 3), lambda: layers.LayerNormalization(epsilon=1e-4), False),
    "GlobalAveragePooling1D": ((5, 3), lambda: layers.GlobalAveragePooling1D(), False),
    "GlobalMaxPooling1D": ((5, 3), lambda: layers.GlobalMaxPooling1D(keepdims=True), False),
}


def _data(shape, ints, n=4):
    rng = np.random.default_rng(1)
    return rng.integers(0, 10, (n,) + shape) if ints else rng.standard_normal((n,) + shape).astype(np.float32)


def _roundtrip(model, tmp_path, **kw):
    path = tmp_path / "m.keras"
    model.save(path)
    return keras.models.load_model(path, **kw)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_every_builtin_layer_roundtrips(name, tmp_path):
    shape, make, ints = LAYERS[name]
    inputs = keras.Input(shape)
    model = keras.Model(inputs, make()(inputs))
    x = _data(shape, ints)
    for w in model.weights:  # not the initial values, so a reload that re-initialises is caught
        w.array[...] = np.abs(np.random.default_rng(2).standard_normal(w.shape)).astype(np.float32) * 0.5 + 0.1
    loaded = _roundtrip(model, tmp_path)
    layer, other = model.layers[-1], loaded.layers[-1]
    assert type(other) is type(layer) and other.name == layer.name
    assert json.dumps(other.get_config(), default=str, sort_keys=True) == json.dumps(layer.get_config(), default=str, sort_keys=True)
    assert [w.shape for w in loaded.weights] == [w.shape for w in model.weights]
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.predict(x), loaded.predict(x))


def test_multi_head_attention_called_on_two_inputs_roundtrips(tmp_path):
    q, v = keras.Input((4, 6)), keras.Input((5, 3))
    out = layers.MultiHeadAttention(2, 3, value_dim=2, output_shape=7, use_bias=False)(q, v)
    model = keras.Model([q, v], out)
    for w in model.weights:
        w.array[...] = np.random.default_rng(3).standard_normal(w.shape).astype(np.float32)
    loaded = _roundtrip(model, tmp_path)
    xs = [_data((4, 6), False), _data((5, 3), False)]
    assert loaded.layers[-1].get_config() == model.layers[-1].get_config()
    np.testing.assert_array_equal(model.predict(xs), loaded.predict(xs))


class Scale(layers.Layer):
    """A custom layer as Keras users write it: build/add_weight/call and get_config."""

    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.w = self.add_weight(name="w", shape=(input_shape[-1],), initializer="ones")

    def call(self, x):
        return x * self.w * self.factor

    def get_config(self):
        config = super().get_config()
        config.update({"factor": self.factor})
        return config


def test_custom_layer_needs_custom_objects(tmp_path):
    model = keras.Sequential([keras.Input((3,)), Scale(2.5), layers.Dense(2)])
    model.weights[0].array[...] = [1.0, -2.0, 3.0]  # (building the model first, as Keras does)
    model.save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match="Scale.*custom_objects"):
        keras.models.load_model(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", custom_objects={"Scale": Scale})
    assert loaded.layers[0].factor == 2.5
    x = _data((3,), False)
    np.testing.assert_array_equal(model.predict(x), loaded.predict(x))


def test_functional_graph_with_branches_and_shared_layer(tmp_path):
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    shared = layers.Dense(3, name="shared")
    h = layers.Concatenate()([shared(a), shared(b)])
    out = layers.Add()([layers.Dense(2)(h), layers.Dense(2)(h)])
    model = keras.Model([a, b], out)
    loaded = _roundtrip(model, tmp_path)
    xs = [_data((4,), False), _data((4,), False) + 1]
    np.testing.assert_array_equal(model.predict(xs), loaded.predict(xs))
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]


class TwoLayer(keras.Model):
    def __init__(self, hidden, **kwargs):
        super().__init__(**kwargs)
        self.hidden = hidden
        self.d1 = layers.Dense(hidden, activation="relu")
        self.d2 = layers.Dense(1)

    def call(self, x):
        return self.d2(self.d1(x))


def test_subclassed_model_and_optimizer_state_continue_training(tmp_path):
    x = _data((5,), False, 32)
    y = x.sum(1, keepdims=True)
    model = TwoLayer(7)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    loaded = _roundtrip(model, tmp_path, custom_objects={"TwoLayer": TwoLayer})
    assert loaded.hidden == 7 and isinstance(loaded.optimizer, keras.optimizers.Adam)
    assert loaded.optimizer.iterations == model.optimizer.iterations == 8
    assert loaded.metrics_names == ["loss", "mae"]
    # the same next steps from the same optimizer state give the same weights, bit for bit
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    loaded.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_sgd_schedule_and_loss_object_roundtrip(tmp_path):
    model = keras.Sequential([layers.Dense(3, input_shape=(4,), activation="softmax")])
    sched = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    model.compile(optimizer=keras.optimizers.SGD(sched, momentum=0.9, nesterov=True),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=False), metrics=["accuracy"])
    loaded = _roundtrip(model, tmp_path)
    opt = loaded.optimizer
    assert (opt.momentum, opt.nesterov) == (0.9, True)
    assert opt.learning_rate == pytest.approx(0.1)
    assert isinstance(loaded.compiled_loss, keras.losses.SparseCategoricalCrossentropy)


def test_file_layout_is_json_and_safetensors_no_pickle(tmp_path):
    model = keras.Sequential([layers.Dense(2, input_shape=(3,))])
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as z:
        assert sorted(z.namelist()) == ["config.json", "metadata.json", "model.weights.safetensors"]
        assert json.loads(z.read("metadata.json"))["format"] == "minigrad.keras"
        assert json.loads(z.read("config.json"))["model"]["class_name"] == "Sequential"


def test_bad_files_are_refused_clearly(tmp_path):
    (tmp_path / "x.keras").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a .keras zip"):
        keras.models.load_model(tmp_path / "x.keras")
    with zipfile.ZipFile(tmp_path / "tf.keras", "w") as z:  # TensorFlow's layout
        z.writestr("config.json", "{}")
        z.writestr("metadata.json", "{}")
        z.writestr("model.weights.h5", b"\x89HDF")
    with pytest.raises(ValueError, match="TensorFlow"):
        keras.models.load_model(tmp_path / "tf.keras")
    model = keras.Sequential([layers.Dense(2, input_shape=(3,), activation=lambda t: t)])
    with pytest.raises(TypeError, match="cannot store"):
        model.save(tmp_path / "lam.keras")
    assert not (tmp_path / "lam.keras").exists()


class Block(layers.Layer):
    """Custom layer with sublayers and no get_config of its own (Keras 3 records the arguments)."""

    def __init__(self, dim, heads, rate=0.1, **kwargs):
        super().__init__(**kwargs)
        self.att = layers.MultiHeadAttention(num_heads=heads, key_dim=dim)
        self.ffn = keras.Sequential([layers.Dense(dim, activation="relu"), layers.Dense(dim)])
        self.norm = layers.LayerNormalization(epsilon=1e-6)
        self.drop = layers.Dropout(rate)

    def call(self, x):
        return self.norm(x + self.drop(self.ffn(self.att(x, x))))


def test_custom_layer_with_sublayers_roundtrips(tmp_path):
    inp = keras.Input((5, 4))
    model = keras.Model(inp, layers.Dense(2)(layers.GlobalAveragePooling1D()(Block(4, 2, rate=0.2)(inp))))
    model.compile(optimizer="adam", loss="mse")
    x = _data((5, 4), False, 8)
    model.fit(x, x[:, 0, :2], epochs=1, verbose=0)
    loaded = _roundtrip(model, tmp_path, custom_objects={"Block": Block})
    assert loaded.layers[1].get_config() == model.layers[1].get_config()
    assert [w.shape for w in loaded.weights] == [w.shape for w in model.weights]
    np.testing.assert_array_equal(model.predict(x), loaded.predict(x))


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_keras_optimizers_are_optim_optimizers_with_config_and_state(name):
    cls = getattr(keras.optimizers, name)
    opt = cls(learning_rate=0.05, clipnorm=1.0)
    assert isinstance(opt, mg.optim.Optimizer)
    assert cls.from_config(opt.get_config()).get_config() == opt.get_config()
    model = keras.Sequential([layers.Dense(2, input_shape=(3,))])
    model.compile(optimizer=opt, loss="mse")
    model.fit(_data((3,), False, 8), np.ones((8, 2)), batch_size=4, verbose=0)
    sd = opt.state_dict()
    assert sd["iterations"] == 2 and sd["param_groups"][0]["params"] == [0, 1]
    other = cls.from_config(opt.get_config())
    other.track(model.trainable_weights)
    other.load_state_dict(sd)
    for (i, a), (j, b) in zip(sorted(sd["state"].items()), sorted(other.state_dict()["state"].items())):
        assert i == j and a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
