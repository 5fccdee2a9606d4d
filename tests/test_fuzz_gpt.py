"""Hostile GPT checkpoints and tokenizer files: random configs, mismatched or corrupt weight files,
malformed tokenizer JSON. Each must end in a clear ValueError/FileNotFoundError naming the file, never
another exception, a hang, or building a model far larger than the weight file could fill."""
import json
import os
import shutil
import tempfile
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad.models import GPT, GPTConfig
from minigrad.text import BPETokenizer, CharTokenizer, load_tokenizer

pytest.importorskip("safetensors")
_MANY = settings(max_examples=max(60, settings.default.max_examples), deadline=None)
_DIR = tempfile.mkdtemp(prefix="minigrad-fuzz-gpt-")


def _tiny_checkpoint():
    mg.manual_seed(0)
    path = os.path.join(_DIR, "good")
    GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8)).save_pretrained(path)
    return path


GOOD = _tiny_checkpoint()
with open(os.path.join(GOOD, "config.json")) as _f:
    GOOD_CONFIG = json.load(_f)
with open(os.path.join(GOOD, "model.safetensors"), "rb") as _f:
    GOOD_WEIGHTS = _f.read()

_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 2 ** 40), st.floats(allow_nan=True),
                    st.text(max_size=8), st.lists(st.integers(), max_size=3))
_FIELDS = ["vocab_size", "n_positions", "n_ctx", "n_embd", "n_layer", "n_head", "n_inner", "activation_function",
           "layer_norm_epsilon", "model_type", "tie_word_embeddings", "scale_attn_weights"]


def _load(config_text, weights=GOOD_WEIGHTS):
    d = tempfile.mkdtemp(dir=_DIR)
    with open(os.path.join(d, "config.json"), "w") as f:
        f.write(config_text)
    with open(os.path.join(d, "model.safetensors"), "wb") as f:
        f.write(weights)
    tracemalloc.start()
    try:
        try:
            out = GPT.from_pretrained(d)
        except Exception as e:  # noqa: BLE001 (checked below)
            out = e
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        shutil.rmtree(d, ignore_errors=True)
    return out, peak


def _assert_clear(out, peak, name):
    if isinstance(out, BaseException):
        assert type(out) in (ValueError, FileNotFoundError), f"{type(out).__name__}: {out}"
        assert name in str(out), f"the error does not name {name}: {out}"
    assert peak <= 64 * len(GOOD_WEIGHTS) + (4 << 20), f"allocated {peak} bytes for a tiny checkpoint"


@_MANY
@given(st.dictionaries(st.sampled_from(_FIELDS), _VALUES, max_size=6))
def test_random_config_fields(changes):
    out, peak = _load(json.dumps({**GOOD_CONFIG, **changes}))
    _assert_clear(out, peak, "config.json")


@_MANY
@given(st.one_of(st.text(max_size=60), st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
                 st.recursive(_VALUES, lambda c: st.lists(c, max_size=3), max_leaves=5).map(json.dumps)))
def test_config_that_is_not_a_config(text):
    out, peak = _load(text)
    _assert_clear(out, peak, "config.json")


@_MANY
@given(st.integers(0, len(GOOD_WEIGHTS) - 1))
def test_truncated_weights(n):
    out, peak = _load(json.dumps(GOOD_CONFIG), GOOD_WEIGHTS[:n])
    _assert_clear(out, peak, "model.safetensors")


@pytest.mark.parametrize("field, value", [("n_embd", 4096), ("n_layer", 4000), ("vocab_size", 10 ** 9),
                                          ("n_positions", 10 ** 8)])
def test_a_config_far_larger_than_its_weights_is_refused_before_building(field, value):
    config = {**GOOD_CONFIG, field: value}
    if field == "n_embd":
        config["n_head"] = 2
    out, peak = _load(json.dumps(config))
    assert isinstance(out, ValueError) and "config.json" in str(out)
    assert peak < (8 << 20)


_TOKENIZER_JSON = st.one_of(
    st.fixed_dictionaries({"type": st.just("char"), "chars": _VALUES}),
    st.fixed_dictionaries({"type": st.just("bpe"), "merges": st.one_of(_VALUES, st.lists(st.lists(
        st.integers(-3, 300), max_size=3), max_size=4)), "special_tokens": st.one_of(st.none(), st.dictionaries(
            st.text(max_size=4), st.one_of(st.integers(-2, 400), st.text(max_size=2)), max_size=2)),
        "pattern": st.one_of(st.just("("), st.text(max_size=5), st.integers())}),
    st.recursive(_VALUES, lambda c: st.dictionaries(st.text(max_size=5), c, max_size=3), max_leaves=6),
)


@_MANY
@given(_TOKENIZER_JSON)
def test_malformed_tokenizer_files(obj):
    path = os.path.join(_DIR, "tokenizer.json")
    with open(path, "w") as f:
        json.dump(obj, f)
    for load in (load_tokenizer, CharTokenizer.load, BPETokenizer.load):
        try:
            tok = load(path)
        except (ValueError, FileNotFoundError) as e:
            assert "tokenizer.json" in str(e), f"{load.__qualname__}: the error does not name the file: {e}"
        else:
            tok.decode(tok.encode("ab") if isinstance(tok, BPETokenizer) else [])


@_MANY
@given(st.binary(max_size=200))
def test_random_bytes_as_tokenizer(blob):
    path = os.path.join(_DIR, "tokenizer.json")
    with open(path, "wb") as f:
        f.write(blob)
    for load in (load_tokenizer, CharTokenizer.load, BPETokenizer.load):
        with pytest.raises((ValueError, FileNotFoundError), match="tokenizer.json"):
            load(path)


def test_the_good_checkpoint_loads():
    out, _ = _load(json.dumps(GOOD_CONFIG))
    assert isinstance(out, GPT)
    np.testing.assert_array_equal(out.transformer.wte.weight.array,
                                  GPT.from_pretrained(GOOD).transformer.wte.weight.array)
