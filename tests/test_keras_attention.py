"""The Keras side of attention: MultiHeadAttention, LayerNormalization, GlobalAveragePooling1D,
keras.ops, pad_sequences, datasets.imdb (tiny files in the real layout) and Keras' text
classification Transformer example learning on one."""
import hashlib

import numpy as np
import pytest

import minigrad as mg
from minigrad import keras
from minigrad.keras import layers, ops
from minigrad.keras.datasets import imdb
from minigrad.keras.utils import pad_sequences


@pytest.fixture(autouse=True)
def _seed():
    mg.manual_seed(0)
    keras.backend.clear_session()


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _keras_mha(q_in, v_in, k_in, w, mask=None):
    """Keras' formula in numpy: per-head projections (einsum), scaled scores, -1e9 where masked."""
    qk, qb, kk, kb, vk, vb, ok, ob = [np.asarray(a, np.float64) for a in w]
    q = np.einsum("bte,ehd->bhtd", q_in, qk) + qb[None, :, None]
    k = np.einsum("bse,ehd->bhsd", k_in, kk) + kb[None, :, None]
    v = np.einsum("bse,ehd->bhsd", v_in, vk) + vb[None, :, None]
    scores = np.einsum("bhtd,bhsd->bhts", q / np.sqrt(qk.shape[-1]), k)
    if mask is not None:  # (in float32, score - 1e9 rounds to -1e9: a fully masked row is uniform)
        scores = np.where(mask[:, None] > 0, scores, -1e9)
    p = _softmax(scores)
    return np.einsum("bhts,bhsd,hdo->bto", p, v, ok) + ob, p


def test_mha_weights_shapes_names_and_order():
    mha = layers.MultiHeadAttention(num_heads=3, key_dim=4, value_dim=5, output_shape=7)
    mha(np.zeros((2, 6, 8), np.float32), np.zeros((2, 9, 10), np.float32), np.zeros((2, 9, 11), np.float32))
    assert [(n, tuple(w.shape)) for _, n, w in mha._named_weights()] == [
        ("query/kernel", (8, 3, 4)), ("query/bias", (3, 4)), ("key/kernel", (11, 3, 4)), ("key/bias", (3, 4)),
        ("value/kernel", (10, 3, 5)), ("value/bias", (3, 5)), ("attention_output/kernel", (3, 5, 7)),
        ("attention_output/bias", (7,))]


@pytest.mark.parametrize("causal", [False, True])
def test_mha_matches_keras_formula_with_masks(causal):
    rng = np.random.default_rng(0)
    q, v, k = (rng.standard_normal(s).astype(np.float32) for s in ((2, 5, 6), (2, 7, 4), (2, 7, 3)))
    mask = rng.random((2, 5, 7)) > 0.3
    mask[0, 1] = False  # a row with nothing to attend to: uniform weights, as Keras' -1e9 gives
    mha = layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=2)
    out = mha(q, v, k, attention_mask=mask, use_causal_mask=causal)
    for w in mha.weights:
        w.array[...] = rng.standard_normal(w.shape).astype(np.float32) * 0.5
    out, scores = mha(q, v, k, attention_mask=mask, use_causal_mask=causal, return_attention_scores=True)
    full = mask & np.tril(np.ones((5, 7), bool)) if causal else mask
    expect, p = _keras_mha(q, v, k, mha.get_weights(), full.astype(np.float64))
    np.testing.assert_allclose(out.numpy(), expect, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(scores.numpy(), p, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(scores.numpy()[0, :, 1], 1 / 7, rtol=1e-5)
    # the fused path (no scores asked for) gives the same output
    np.testing.assert_allclose(mha(q, v, k, attention_mask=mask, use_causal_mask=causal).numpy(), out.numpy(),
                               rtol=1e-5, atol=1e-6)


def test_mha_matches_torch_multihead_attention():
    torch = pytest.importorskip("torch")
    e, h = 8, 2
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 5, e)).astype(np.float32)
    ref = torch.nn.MultiheadAttention(e, h, batch_first=True)
    mha = layers.MultiHeadAttention(num_heads=h, key_dim=e // h)
    mha(x, x)
    wq, wk, wv = ref.in_proj_weight.detach().numpy().reshape(3, e, e)
    bq, bk, bv = ref.in_proj_bias.detach().numpy().reshape(3, e)
    mha.set_weights([wq.T.reshape(e, h, e // h), bq.reshape(h, -1), wk.T.reshape(e, h, e // h), bk.reshape(h, -1),
                     wv.T.reshape(e, h, e // h), bv.reshape(h, -1), ref.out_proj.weight.detach().numpy().T.reshape(
                         h, e // h, e), ref.out_proj.bias.detach().numpy()])
    expect = ref(*[torch.tensor(x)] * 3, need_weights=False, is_causal=False)[0].detach().numpy()
    np.testing.assert_allclose(mha(x, x).numpy(), expect, rtol=1e-4, atol=1e-5)


def test_mha_trains_in_a_functional_model_and_checks_shapes():
    inp = keras.Input((6, 4))
    x = layers.MultiHeadAttention(2, 3, dropout=0.2)(inp, inp)
    out = layers.Dense(1)(layers.GlobalAveragePooling1D()(layers.LayerNormalization()(x)))
    model = keras.Model(inp, out)
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).standard_normal((16, 6, 4)).astype(np.float32)
    before = model.get_weights()
    model.fit(x, x.sum((1, 2)), epochs=1, batch_size=8, verbose=0)
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    mha = layers.MultiHeadAttention(2, 3)
    with pytest.raises(ValueError, match=r"attention_mask must be \(B, 6, 6\)"):
        mha(x, x, attention_mask=np.ones((2, 6, 5), bool))
    with pytest.raises(ValueError, match="query must be"):
        mha(x[0], x[0])


def test_layer_normalization_and_global_average_pooling_1d():
    x = np.random.default_rng(2).standard_normal((3, 4, 5)).astype(np.float32) * 3 + 1
    ln = layers.LayerNormalization()
    y = ln(x)
    assert [n for _, n, _ in ln._named_weights()] == ["gamma", "beta"] and ln.epsilon == 1e-3
    ln.set_weights([np.arange(5, dtype=np.float32), np.ones(5, np.float32)])
    m, v = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    np.testing.assert_allclose(ln(x).numpy(), (x - m) / np.sqrt(v + 1e-3) * np.arange(5) + 1, rtol=1e-5, atol=1e-5)
    assert y.shape == (3, 4, 5)
    np.testing.assert_allclose(layers.GlobalAveragePooling1D()(x).numpy(), x.mean(1), rtol=1e-6)
    assert layers.GlobalAveragePooling1D(keepdims=True)(x).shape == (3, 1, 5)
    with pytest.raises(NotImplementedError, match="trailing axes"):
        layers.LayerNormalization(axis=1)(x)


def test_ops_arange_and_shape():
    assert ops.shape(np.zeros((2, 3))) == (2, 3)
    a = ops.arange(start=0, stop=5, step=2)
    assert a.numpy().tolist() == [0, 2, 4] and a.numpy().dtype == np.int32
    assert ops.arange(3).numpy().tolist() == [0, 1, 2]
    assert ops.arange(0.0, 1.0, 0.5).numpy().dtype == np.float32


def test_pad_sequences_as_keras():
    seqs = [[1, 2, 3, 4], [5], []]
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=3), [[2, 3, 4], [0, 0, 5], [0, 0, 0]])
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=3, padding="post", truncating="post", value=-1),
                                  [[1, 2, 3], [5, -1, -1], [-1, -1, -1]])
    out = pad_sequences(seqs)
    assert out.shape == (3, 4) and out.dtype == np.int32
    assert pad_sequences([np.ones((2, 3)), np.ones((1, 3))], maxlen=2, dtype="float32").shape == (2, 2, 3)
    with pytest.raises(ValueError, match="padding must be 'pre' or 'post'"):
        pad_sequences(seqs, padding="middle")


# ---------------------------------------------------------------- imdb in the real layout
def _object_array(seqs):
    a = np.empty(len(seqs), dtype=object)
    a[:] = seqs
    return a


def _write_imdb(path, x_train, y_train, x_test, y_test):
    """Keras' imdb.npz layout: object arrays of int lists, int64 labels (written by numpy, as Keras' was)."""
    np.savez(path, x_train=_object_array(x_train), y_train=np.asarray(y_train, np.int64),
             x_test=_object_array(x_test), y_test=np.asarray(y_test, np.int64))


@pytest.mark.parametrize("kw", [dict(num_words=9, maxlen=5, skip_top=4), dict(start_char=None, oov_char=None,
                                                                           num_words=8, index_from=0),
                                dict(seed=7, index_from=2)])
def test_imdb_load_data_follows_keras_rules(tmp_path, kw):
    x_train = [[1, 5, 2], [7, 7, 7, 7, 7], [3], [9, 1]]
    x_test = [[4, 4], [2, 8, 6]]
    _write_imdb(tmp_path / "tiny.npz", x_train, [0, 1, 1, 0], x_test, [1, 0])
    (xt, yt), (xv, yv) = imdb.load_data(str(tmp_path / "tiny.npz"), **kw)
    # by hand, Keras' steps: shuffle each split with RandomState(seed), prepend start_char, shift by
    # index_from, keep len < maxlen, ids outside [skip_top, num_words) -> oov_char (or dropped)
    a = {**dict(num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1, oov_char=2, index_from=3), **kw}
    rs = np.random.RandomState(a["seed"])
    splits = []
    for xs, ys in ((x_train, [0, 1, 1, 0]), (x_test, [1, 0])):
        o = np.arange(len(xs))
        rs.shuffle(o)
        seqs = [([a["start_char"]] if a["start_char"] is not None else []) + [w + a["index_from"] for w in xs[i]]
                for i in o]
        keep = [j for j, s in enumerate(seqs) if not a["maxlen"] or len(s) < a["maxlen"]]
        splits.append(([seqs[j] for j in keep], [ys[o[j]] for j in keep]))
    top = a["num_words"] or max(max(s) for seqs, _ in splits for s in seqs)
    for (seqs, ys), (x, y) in zip(splits, ((xt, yt), (xv, yv))):
        if a["oov_char"] is not None:
            seqs = [[w if a["skip_top"] <= w < top else a["oov_char"] for w in s] for s in seqs]
        else:
            seqs = [[w for w in s if a["skip_top"] <= w < top] for s in seqs]
        assert x.dtype == object and x.ndim == 1
        assert [list(s) for s in x] == seqs and y.tolist() == ys


def test_imdb_refuses_other_pickles_and_checks_the_canonical_file(tmp_path, monkeypatch):
    _write_imdb(tmp_path / "bad.npz", [{"a": 1}], [0], [[1]], [1])  # a dict: not a list of ints
    with pytest.raises(ValueError, match="refusing"):
        imdb.load_data(str(tmp_path / "bad.npz"))
    np.savez(tmp_path / "evil.npz", x_train=_object_array([hashlib.sha256]), y_train=[0],
             x_test=_object_array([[1]]), y_test=[1])  # names a global: never looked up
    with pytest.raises(ValueError, match="refusing"):
        imdb.load_data(str(tmp_path / "evil.npz"))
    # the canonical location is verified; a good copy under $MINIGRAD_DATA_DIR serves as the offline mirror
    data, other = tmp_path / "data", tmp_path / "elsewhere"
    (data / "imdb").mkdir(parents=True)
    _write_imdb(data / "imdb" / "imdb.npz", [[1, 2]], [1], [[3]], [0])
    monkeypatch.setenv("MINIGRAD_DATA_DIR", str(data))
    with pytest.raises(RuntimeError, match="checksum mismatch"):
        imdb.load_data()
    monkeypatch.setattr(imdb, "SHA256", hashlib.sha256((data / "imdb" / "imdb.npz").read_bytes()).hexdigest())
    (xt, yt), _ = imdb.load_data()
    assert [list(s) for s in xt] == [[1, 4, 5]]
    (xt, _), _ = imdb.load_data()  # second load: from the plain-array copy
    assert [list(s) for s in xt] == [[1, 4, 5]] and (data / "imdb" / "imdb.flat.npz").exists()
    other.mkdir()
    (xt, _), _ = imdb.load_data(str(other))  # a folder without the file: fetched from the offline copy
    assert (other / "imdb.npz").exists() and [list(s) for s in xt] == [[1, 4, 5]]


def _learnable_imdb(path, n_train, n_test, seed=0):
    """Positive reviews use raw word ids 10..59, negative ones 60..109; 120-199 words each (so that
    words, not padding, fill most of the example's 200 positions)."""
    rng = np.random.default_rng(seed)
    splits = []
    for n in (n_train, n_test):
        y = rng.integers(0, 2, n)
        splits += [[rng.integers(10 if c else 60, 60 if c else 110, rng.integers(120, 200)).tolist() for c in y], y]
    _write_imdb(path, *splits)


def test_keras_text_transformer_example_learns(tmp_path, monkeypatch):
    (tmp_path / "imdb").mkdir()
    _learnable_imdb(tmp_path / "imdb" / "imdb.npz", 256, 64)
    monkeypatch.setenv("MINIGRAD_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(imdb, "SHA256", hashlib.sha256((tmp_path / "imdb" / "imdb.npz").read_bytes()).hexdigest())
    from minigrad.examples import keras_text_transformer
    history = keras_text_transformer.main([]).history
    assert history["val_accuracy"][-1] > 0.85, history  # chance is 0.5
    assert history["loss"][-1] < history["loss"][0]


def test_mha_padding_masks_combine_as_keras():
    rng = np.random.default_rng(4)
    q, v = rng.standard_normal((2, 4, 5)).astype(np.float32), rng.standard_normal((2, 6, 5)).astype(np.float32)
    qm = np.array([[1, 0, 1, 1], [1, 1, 1, 1]], bool)
    vm = np.array([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 0]], bool)
    mha = layers.MultiHeadAttention(2, 3)
    got, scores = mha(q, v, query_mask=qm, value_mask=vm, return_attention_scores=True)
    want = mha(q, v, attention_mask=qm[:, :, None] & vm[:, None, :])
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(scores.numpy()[0, :, 1], 1 / 6, rtol=1e-5)  # a masked query: uniform
    assert np.all(scores.numpy()[0, :, 0, 3:] == 0)
