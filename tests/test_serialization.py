import json
import os
import pickle
import struct

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn


def _model():
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 3))


def test_round_trip_bit_exact(tmp_path):
    rng = np.random.default_rng(0)
    sd = {
        "f64": mg.tensor(rng.standard_normal((3, 4))),
        "f32": mg.tensor(rng.standard_normal(5).astype(np.float32)),
        "f16": mg.tensor(rng.standard_normal((2, 2)).astype(np.float16)),
        "i64": mg.tensor(np.array([1, -2, 2 ** 40])),
        "i32": mg.tensor(np.arange(6, dtype=np.int32).reshape(2, 3)),
        "u8": mg.tensor(np.array([0, 255], dtype=np.uint8)),
        "bool": mg.tensor(np.array([True, False, True])),
        "scalar": mg.tensor(np.float64(np.pi)),
        "empty": mg.tensor(np.zeros((0, 3), dtype=np.float32)),
        "nan_inf": mg.tensor(np.array([np.nan, np.inf, -np.inf, -0.0])),
    }
    path = tmp_path / "t.safetensors"
    mg.save(sd, path, metadata={"format": "pt"})
    out = mg.load(path)
    assert list(out) == list(sd)
    for k, v in sd.items():
        assert out[k].dtype == v.dtype and out[k].shape == v.shape, k
        assert out[k].numpy().tobytes() == v.numpy().tobytes(), k
    assert isinstance(out["f64"], mg.Tensor)
    out["f64"].data[0, 0] = 1.0  # loaded arrays are writable
    from minigrad.serialization import load_metadata
    assert load_metadata(path) == {"format": "pt"}
    assert [p for p in os.listdir(tmp_path) if p != "t.safetensors"] == []  # no temp file left behind


def test_model_round_trip(tmp_path):
    mg.manual_seed(0)
    m = _model()
    m(mg.randn(2, 1, 4, 4))  # update BatchNorm's running stats
    mg.save(m.state_dict(), tmp_path / "m.safetensors")
    m2 = _model()
    assert m2.load_state_dict(mg.load(tmp_path / "m.safetensors")) == ([], [])
    for (k, a), (_, b) in zip(m.state_dict().items(), m2.state_dict().items()):
        assert a.numpy().tobytes() == b.numpy().tobytes(), k
    mg.save(m2.state_dict(), tmp_path / "m.safetensors")  # overwrite atomically
    assert set(mg.load(tmp_path / "m.safetensors")) == set(m.state_dict())


def test_interop_with_safetensors_package(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    mg.manual_seed(1)
    m = _model()
    mg.save(m.state_dict(), tmp_path / "ours.safetensors")
    theirs = st.load_file(str(tmp_path / "ours.safetensors"))
    for k, v in m.state_dict().items():
        assert np.array_equal(theirs[k], v.numpy()) and theirs[k].dtype == v.dtype
    st.save_file({k: v.numpy() for k, v in _model().state_dict().items()}, str(tmp_path / "theirs.safetensors"))
    loaded = mg.load(tmp_path / "theirs.safetensors")
    assert _model().load_state_dict(loaded) == ([], [])


def test_torch_safetensors_file_loads_into_matching_model(tmp_path):
    torch = pytest.importorskip("torch")
    stt = pytest.importorskip("safetensors.torch")
    tm = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.Flatten(),
                             torch.nn.Linear(8, 3))
    tm(torch.randn(2, 1, 4, 4))
    stt.save_file(tm.state_dict(), str(tmp_path / "torch.safetensors"))
    m = _model()
    m.load_state_dict(mg.load(tmp_path / "torch.safetensors"))
    tm.eval()
    m.eval()
    x = np.random.default_rng(0).standard_normal((2, 1, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(m(mg.tensor(x)).numpy(), tm(torch.tensor(x)).detach().numpy(), atol=1e-5)
    assert m[1].num_batches_tracked.item() == 1


def _write_raw(path, header, data=b"", n=None):
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text) if n is None else n) + text + data)


def test_corrupted_files_give_clear_errors(tmp_path):
    good = tmp_path / "good.safetensors"
    mg.save({"w": mg.tensor(np.arange(6.0))}, good)
    blob = good.read_bytes()
    cases = {
        "truncated_data": (blob[:-5], r"truncated.*'w'"),
        "truncated_header": (blob[:20], r"truncated|header length"),
        "tiny": (blob[:3], "truncated"),
        "bad_json": (blob[:8] + b"{" + b"x" * (len(blob) - 9), "invalid JSON"),
    }
    for name, (content, pattern) in cases.items():
        p = tmp_path / f"{name}.safetensors"
        p.write_bytes(content)
        with pytest.raises(ValueError, match=pattern) as err:
            mg.load(p)
        assert name in str(err.value)  # the file is named
    p = tmp_path / "x.safetensors"
    _write_raw(p, {"a": {"dtype": "F99", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8)
    with pytest.raises(ValueError, match="'a'.*dtype"):
        mg.load(p)
    _write_raw(p, {"a": {"dtype": "F64", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8)
    with pytest.raises(ValueError, match="'a'.*needs 16 bytes"):
        mg.load(p)
    _write_raw(p, {"a": {"dtype": "F64", "shape": [2], "data_offsets": [0, 16]},
                   "b": {"dtype": "F64", "shape": [1], "data_offsets": [8, 16]}}, b"\0" * 16)
    with pytest.raises(ValueError, match="overlap"):
        mg.load(p)
    _write_raw(p, {"a": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8, n=10 ** 9)
    with pytest.raises(ValueError, match="header length"):
        mg.load(p)
    _write_raw(p, {"a": {"dtype": "F64", "shape": [-1], "data_offsets": [0, 8]}}, b"\0" * 8)
    with pytest.raises(ValueError, match="invalid shape"):
        mg.load(p)


def test_pickle_payload_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    p = tmp_path / "evil.pt"
    p.write_bytes(pickle.dumps({"w": Evil()}))
    with pytest.raises(ValueError, match="not a safetensors file.*pickle"):
        mg.load(p)
    assert not (tmp_path / "pwned").exists()
    torch = pytest.importorskip("torch")
    torch.save({"w": torch.zeros(2)}, tmp_path / "t.pt")
    with pytest.raises(ValueError, match="not a safetensors file"):
        mg.load(tmp_path / "t.pt")


def test_load_state_dict_mismatches():
    m = _model()
    sd = dict(m.state_dict())
    sd.pop("0.bias")
    sd["extra.weight"] = mg.zeros(2)
    with pytest.raises(RuntimeError, match=r'Missing key\(s\).*"0\.bias"') as err:
        m.load_state_dict(sd)
    assert "extra.weight" in str(err.value)
    missing, unexpected = m.load_state_dict(sd, strict=False)
    assert missing == ["0.bias"] and unexpected == ["extra.weight"]
    bad = dict(m.state_dict())
    bad["3.weight"] = mg.zeros(3, 9)
    with pytest.raises(RuntimeError, match=r"size mismatch for 3\.weight.*\(3, 9\).*\(3, 8\)"):
        m.load_state_dict(bad)
    with pytest.raises(RuntimeError, match="size mismatch"):
        m.load_state_dict(bad, strict=False)
    bad = dict(m.state_dict())
    bad["1.num_batches_tracked"] = mg.tensor(1.5)
    with pytest.raises(RuntimeError, match=r"dtype mismatch for 1\.num_batches_tracked"):
        m.load_state_dict(bad)
    before = m[3].weight.numpy().copy()
    bad = dict(m.state_dict())
    bad["3.weight"] = mg.zeros(3, 9)
    bad["0.weight"] = mg.ones(2, 1, 3, 3)
    with pytest.raises(RuntimeError):
        m.load_state_dict(bad)
    assert np.array_equal(m[3].weight.numpy(), before) and not np.all(m[0].weight.numpy() == 1)  # all or nothing


def test_save_rejects_bad_input(tmp_path):
    with pytest.raises(TypeError, match="set at key path '0'"):  # nested checkpoints: see test_reliability.py
        mg.save([{1, 2}], tmp_path / "a")
    with pytest.raises(TypeError, match="'c'"):
        mg.save({"c": np.zeros(2, dtype=np.complex128)}, tmp_path / "a")
    assert os.listdir(tmp_path) == []
