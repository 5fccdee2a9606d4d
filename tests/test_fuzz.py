"""Files from outside are hostile: random, truncated and mutated bytes, huge declared sizes and
overlapping offsets thrown at minigrad's safetensors reader (mg.load, load_metadata), the nested
checkpoint structure and the IDX reader. Each must end in a clear error naming the file (or a
valid result), never another exception, a crash, a hang, or an allocation far beyond the file's size.
(GPT checkpoints and tokenizer files get the same treatment in test_fuzz_gpt.py.)
"""
import gzip
import json
import os
import signal
import struct
import tempfile
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad.serialization import load_metadata
from minigrad.vision.datasets import parse_idx, read_idx

_DIR = tempfile.mkdtemp(prefix="minigrad-fuzz-")
# each case takes about a millisecond: more of them than the profile's default (never fewer)
_MANY = settings(max_examples=max(100, settings.default.max_examples))


def _good_checkpoint():
    path = os.path.join(_DIR, "good.safetensors")
    mg.save({"model": {"w": mg.arange(12.0).reshape(3, 4), "b": mg.zeros(4, dtype=mg.int64)}, "epoch": 3,
             "opt": {"state": {0: {"step": 2, "m": np.ones(3, np.float32)}}, "betas": (0.9, 0.99)}}, path)
    with open(path, "rb") as f:
        return f.read()


GOOD = _good_checkpoint()
HEADER_LEN = int.from_bytes(GOOD[:8], "little")


def _on_file(blob, fn, name="case.safetensors"):
    """fn(path) on a file holding blob, under a 10 s alarm; -> (result or exception, peak bytes allocated)."""
    path = os.path.join(_DIR, name)
    with open(path, "wb") as f:
        f.write(blob)

    def hung(signum, frame):
        raise TimeoutError(f"{fn.__name__} hung on {len(blob)} bytes")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(10)
    tracemalloc.start()
    try:
        try:
            out = fn(path)
        except Exception as e:  # noqa: BLE001 (the caller checks which)
            out = e
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return out, peak


def _assert_clear(out, peak, blob, name="case.safetensors", allowed=(ValueError,)):
    if isinstance(out, BaseException):
        assert type(out) in allowed, f"{type(out).__name__}: {out}"
        assert name in str(out), f"the error does not name the file: {out}"
    # the whole file is read once (bytearray) and arrays are views of it: a few times its size at most
    assert peak <= 4 * len(blob) + (2 << 20), f"allocated {peak} bytes for a {len(blob)}-byte file"


def _with_header(header, data=b"", declared=None):
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text) if declared is None else declared) + text + data


@_MANY
@given(st.binary(max_size=3000))
def test_random_bytes(blob):
    for fn in (mg.load, load_metadata):
        _assert_clear(*_on_file(blob, fn), blob)


@_MANY
@given(st.binary(max_size=200))
def test_random_bytes_after_a_plausible_header_length(tail):
    blob = struct.pack("<Q", len(tail)) + tail
    _assert_clear(*_on_file(blob, mg.load), blob)


def test_every_truncation_of_a_checkpoint():
    for cut in range(len(GOOD)):
        out, peak = _on_file(GOOD[:cut], mg.load)
        assert isinstance(out, ValueError), f"cut at {cut}: {out!r}"
        _assert_clear(out, peak, GOOD[:cut])


@_MANY
@given(st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.integers(0, 255)), min_size=1, max_size=8))
def test_mutated_bytes(changes):
    blob = bytearray(GOOD)
    for i, b in changes:
        blob[i] = b
    _assert_clear(*_on_file(bytes(blob), mg.load), blob)


@_MANY
@given(st.integers(0, 2 ** 64 - 1))
def test_any_declared_header_length(n):
    blob = struct.pack("<Q", n) + GOOD[8:]
    out, peak = _on_file(blob, mg.load)
    if n != HEADER_LEN:
        assert isinstance(out, ValueError)
    _assert_clear(out, peak, blob)


_SIZES = st.one_of(st.integers(-2 ** 70, 2 ** 70), st.sampled_from([2 ** 31, 2 ** 62, 2 ** 64 - 1, -1, 0]))


@_MANY
@given(shape=st.lists(_SIZES, max_size=6), begin=_SIZES, end=_SIZES,
       dtype=st.sampled_from(["F32", "F64", "U8", "BOOL", "I64", "X9", 3, None]))
def test_huge_and_negative_declared_sizes(shape, begin, end, dtype):
    blob = _with_header({"w": {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}}, b"\0" * 64)
    _assert_clear(*_on_file(blob, mg.load), blob)


@_MANY
@given(st.lists(st.tuples(st.integers(0, 96), st.integers(0, 96)), min_size=2, max_size=5))
def test_overlapping_or_out_of_range_offsets(spans):
    header = {f"t{i}": {"dtype": "U8", "shape": [max(0, e - b)], "data_offsets": [b, e]} for i, (b, e) in
              enumerate(spans)}
    blob = _with_header(header, bytes(range(64)))
    out, peak = _on_file(blob, mg.load)
    _assert_clear(out, peak, blob)
    live = sorted((b, e) for b, e in spans if e > b)
    overlaps = any(b1 < e0 for (_, e0), (b1, _) in zip(live, live[1:]))
    if overlaps or any(e > 64 or e < b for b, e in spans):
        assert isinstance(out, ValueError)


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                                  max_size=4), max_leaves=20)


@_MANY
@given(st.one_of(_JSON.map(json.dumps), st.text(max_size=200),
                 st.integers(1, 100000).map(lambda n: '{"list": ' * n + "[]" + "}" * n)))
def test_tampered_checkpoint_structure(structure):
    n = HEADER_LEN
    header = json.loads(GOOD[8:8 + n])
    header["__metadata__"]["minigrad.structure"] = structure
    blob = _with_header(header, GOOD[8 + n:])
    _assert_clear(*_on_file(blob, mg.load), blob)


def test_deeply_nested_header_json():
    for n in (1000, 100000):
        text = ("[" * n + "]" * n).encode()
        blob = struct.pack("<Q", len(text)) + text
        _assert_clear(*_on_file(blob, mg.load), blob)


# ------------------------------------------------------------------ IDX

def _idx(code, shape, payload):
    return bytes([0, 0, code, len(shape)]) + b"".join(struct.pack(">i", s) for s in shape) + payload


@_MANY
@given(st.binary(max_size=600))
def test_idx_random_bytes(blob):
    out, peak = _on_file(blob, lambda path: parse_idx(open(path, "rb").read(), path), "case.idx")
    _assert_clear(out, peak, blob, "case.idx")


@_MANY
@given(code=st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x07, 0xFF]),
       shape=st.lists(st.integers(-2 ** 31, 2 ** 31 - 1) | st.integers(0, 5), max_size=6),
       payload=st.binary(max_size=300))
def test_idx_declared_shapes(code, shape, payload):
    blob = _idx(code, shape, payload)
    out, peak = _on_file(blob, lambda path: parse_idx(open(path, "rb").read(), path), "case.idx")
    _assert_clear(out, peak, blob, "case.idx")
    if not isinstance(out, Exception):
        assert out.size * out.itemsize == len(payload)


@_MANY
@given(st.binary(max_size=400), st.booleans())
def test_idx_gz_files(payload, valid_gzip):
    blob = gzip.compress(payload) if valid_gzip else payload
    out, peak = _on_file(blob, read_idx, "case.idx.gz")
    _assert_clear(out, peak, blob, "case.idx.gz", allowed=(ValueError, RuntimeError))


def test_idx_truncations():
    blob = _idx(0x08, [3, 2, 2], bytes(range(12)))
    assert parse_idx(blob).shape == (3, 2, 2)
    for cut in range(len(blob)):
        with pytest.raises(ValueError, match="x.idx"):
            parse_idx(blob[:cut], "x.idx")
