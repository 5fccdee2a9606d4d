"""Checkpoints that resume a run exactly: nested mg.save/mg.load, rng state, DataLoader position."""
import json
import math
import os
import struct

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
from minigrad.utils.data import DataLoader, TensorDataset


def _model():
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Dropout(0.3), nn.Linear(4, 2))


def _rewrite_metadata(path, change):
    """Rewrite a safetensors file with change(metadata dict) applied to its header."""
    blob = path.read_bytes()
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + n])
    change(header["__metadata__"])
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + blob[8 + n:])


def test_nested_checkpoint_round_trip(tmp_path):
    mg.manual_seed(0)
    w = mg.randn(2, 3, requires_grad=True)
    obj = {"model": {"w": w, "tied": w}, "epoch": 3, "lr": 1e-3, "name": "run", "done": False, "none": None,
           "big": 2 ** 70, "floats": [math.inf, -math.inf, -0.0], "nan": math.nan, 7: ("int key", np.arange(4)),
           "scalar": np.float32(2.5), "empty": {}, "nested": [[], (), [{"a": [1, (2,)]}]],
           "dtypes": {str(d): np.ones(2, d) for d in ("float16", "int8", "uint16", "bool")}}
    path = tmp_path / "ck.safetensors"
    mg.save(obj, path)
    out = mg.load(path)
    assert list(out) == list(obj)
    assert out["model"]["w"] is out["model"]["tied"]  # shared tensors stay shared
    assert isinstance(out["model"]["w"], mg.Tensor) and out["model"]["w"].requires_grad
    assert out["model"]["w"].numpy().tobytes() == w.numpy().tobytes()
    assert out["epoch"] == 3 and type(out["epoch"]) is int and out["lr"] == 1e-3 and out["big"] == 2 ** 70
    assert (out["name"], out["done"], out["none"]) == ("run", False, None)
    assert out["floats"] == [math.inf, -math.inf, 0.0] and math.copysign(1, out["floats"][2]) == -1
    assert math.isnan(out["nan"])
    assert isinstance(out[7], tuple) and out[7][0] == "int key" and isinstance(out[7][1], np.ndarray)
    np.testing.assert_array_equal(out[7][1], np.arange(4))
    assert type(out["scalar"]) is np.float32 and out["scalar"] == 2.5
    assert out["empty"] == {} and out["nested"] == [[], (), [{"a": [1, (2,)]}]]
    for k, v in obj["dtypes"].items():
        assert out["dtypes"][k].dtype == v.dtype
    # other safetensors readers see the tensors under their key paths
    st = pytest.importorskip("safetensors.numpy")
    assert {"model.w", "7.1", "scalar"} <= set(st.load_file(str(path)))
    assert os.listdir(tmp_path) == ["ck.safetensors"]


def test_plain_state_dict_file_is_unchanged(tmp_path):
    m = _model()
    mg.save(m.state_dict(), tmp_path / "m.safetensors")
    from minigrad.serialization import load_metadata
    assert load_metadata(tmp_path / "m.safetensors") == {}  # no structure: a plain safetensors file
    out = mg.load(tmp_path / "m.safetensors", map_location="cpu")
    assert list(out) == list(m.state_dict()) and all(isinstance(v, mg.Tensor) for v in out.values())


@pytest.mark.parametrize("obj, path, typename", [
    ({"model": nn.Linear(2, 2)}, "model", "Linear"),
    ({"a": [1, {"b": object()}]}, "a.1.b", "object"),
    ({"opt": {"state": {(1, 2): 3}}}, "opt.state", "tuple"),
    ([1, 2, {3.5: 1}], "2", "float"),
    ({"s": {1, 2}}, "s", "set"),
    ({"f": lambda: 0}, "f", "function"),
    ({"c": np.zeros(2, np.complex64)}, "c", "complex64"),
])
def test_save_refuses_what_it_cannot_store(tmp_path, obj, path, typename):
    target = tmp_path / "ck.safetensors"
    mg.save({"old": 1}, target)
    with pytest.raises(TypeError, match=rf"{path}.*{typename}|{typename}.*{path}"):
        mg.save(obj, target)
    assert mg.load(target) == {"old": 1}  # the old file is intact, no temp file left
    assert os.listdir(tmp_path) == ["ck.safetensors"]


def test_save_refuses_cycles(tmp_path):
    a = []
    a.append(a)
    with pytest.raises(ValueError, match="contains itself"):
        mg.save({"a": a}, tmp_path / "x")


def test_tampered_structure_is_named(tmp_path):
    path = tmp_path / "ck.safetensors"
    mg.save({"w": mg.ones(2), "epoch": 1}, path)
    edits = {
        "missing tensor": lambda md: md.update({"minigrad.structure": '{"tensor": "nope"}'}),
        "bad json": lambda md: md.update({"minigrad.structure": '{"dict": [['}),
        "unknown kind": lambda md: md.update({"minigrad.structure": '{"pickle": []}'}),
        "bad item": lambda md: md.update({"minigrad.structure": '{"dict": [[1.5, 2]]}'}),
        "deep": lambda md: md.update({"minigrad.structure": '{"list": [' * 100 + "]}" * 100}),
        "very deep": lambda md: md.update({"minigrad.structure": "[" * 100000 + "]" * 100000}),
        "nan": lambda md: md.update({"minigrad.structure": "NaN"}),
    }
    for name, edit in edits.items():
        p = tmp_path / f"{name}.safetensors"
        p.write_bytes(path.read_bytes())
        _rewrite_metadata(p, edit)
        with pytest.raises(ValueError, match="tampered") as err:
            mg.load(p)
        assert name in str(err.value), name
    blob = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(blob[:-3])
    with pytest.raises(ValueError, match="cut.safetensors.*truncated"):
        mg.load(tmp_path / "cut.safetensors")


def test_metadata_keys_are_reserved(tmp_path):
    with pytest.raises(ValueError, match="reserved"):
        mg.save({"a": 1}, tmp_path / "x", metadata={"minigrad.structure": "{}"})


def _train(model, opt, sched, steps, seed=1):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        x = mg.tensor(rng.standard_normal((5, 3)).astype(np.float32))
        opt.zero_grad()
        (model(x) ** 2).mean().backward()
        opt.step()
        sched.step()


@pytest.mark.parametrize("make_opt, make_sched", [
    (lambda p: mg.optim.Adam(p, lr=1e-2, amsgrad=True), lambda o: mg.optim.lr_scheduler.CosineAnnealingLR(o, 7)),
    (lambda p: mg.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True), lambda o: mg.optim.lr_scheduler.StepLR(o, 2)),
    (lambda p: mg.optim.RMSprop(p, lr=1e-2, centered=True, momentum=0.5),
     lambda o: mg.optim.lr_scheduler.MultiStepLR(o, [1, 3])),
    (lambda p: mg.optim.AdamW(p, lr=1e-2), lambda o: mg.optim.lr_scheduler.LambdaLR(o, lambda e: 0.9 ** e)),
])
def test_optimizer_and_scheduler_state_round_trip(tmp_path, make_opt, make_sched):
    mg.manual_seed(0)
    model = _model()
    opt = make_opt(model.parameters())
    sched = make_sched(opt)
    _train(model, opt, sched, 3)
    mg.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
             "rng": mg.get_rng_state()}, tmp_path / "ck")
    _train(model, opt, sched, 3, seed=2)
    expected = [p.numpy().copy() for p in model.parameters()]

    ck = mg.load(tmp_path / "ck")
    mg.manual_seed(123)
    model2 = _model()
    opt2 = make_opt(model2.parameters())
    sched2 = make_sched(opt2)
    model2.load_state_dict(ck["model"])
    opt2.load_state_dict(ck["opt"])
    sched2.load_state_dict(ck["sched"])
    mg.set_rng_state(ck["rng"])
    _train(model2, opt2, sched2, 3, seed=2)
    for a, b in zip(expected, model2.parameters()):
        assert a.tobytes() == b.numpy().tobytes()
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]


def test_reduce_lr_on_plateau_state_round_trip(tmp_path):
    opt = mg.optim.SGD(_model().parameters(), lr=1.0)
    sched = mg.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0)
    for loss in (1.0, 2.0, 3.0):
        sched.step(loss)
    mg.save(sched.state_dict(), tmp_path / "s")
    sched2 = mg.optim.lr_scheduler.ReduceLROnPlateau(mg.optim.SGD(_model().parameters(), lr=1.0), patience=0)
    sched2.load_state_dict(mg.load(tmp_path / "s"))
    assert sched2.state_dict() == sched.state_dict()


def test_rng_state_covers_init_dropout_and_shuffles(tmp_path):
    def draws():
        m = _model().train()
        y = m(mg.ones(4, 3))
        order = [b[0].numpy().tolist() for b in DataLoader(TensorDataset(np.arange(9)), 4, shuffle=True)]
        return y.numpy().tobytes(), order, mg.rand(2).numpy().tobytes(), np.random.rand()

    mg.manual_seed(5)
    state = mg.get_rng_state()
    assert isinstance(state, mg.Tensor) and state.dtype == mg.uint8 and state.ndim == 1
    first = draws()
    mg.save({"rng": state}, tmp_path / "r")
    mg.manual_seed(6)
    assert draws() != first
    mg.set_rng_state(mg.load(tmp_path / "r")["rng"])
    assert draws() == first
    mg.random.set_rng_state(mg.random.get_rng_state().numpy())  # numpy arrays are accepted too
    for bad, err in ((np.zeros(3, np.uint8), ValueError), (np.zeros(3), TypeError), ({"a": 1}, TypeError),
                     (np.frombuffer(b'{"format": "minigrad-rng/1"}', np.uint8), ValueError)):
        with pytest.raises(err, match="set_rng_state"):
            mg.set_rng_state(bad)


@pytest.mark.parametrize("generator", [None, 7, "minigrad", "numpy"])
@pytest.mark.parametrize("batchable", [True, False])
def test_dataloader_resumes_mid_epoch(tmp_path, generator, batchable):
    class Plain(mg.utils.data.Dataset):  # no get_batch fast path
        def __len__(self):
            return 23

        def __getitem__(self, i):
            return np.float32(i), i % 3

    dataset = TensorDataset(np.arange(23, dtype=np.float32), np.arange(23) % 3) if batchable else Plain()

    def loader():
        gen = {"minigrad": mg.Generator().manual_seed(1), "numpy": np.random.default_rng(1)}.get(generator, generator)
        return DataLoader(dataset, batch_size=4, shuffle=True, generator=gen)

    def batches(dl, n=None):
        out = []
        for b in dl:
            out.append(b[0].numpy().tolist())
            if len(out) == n:
                break
        return out

    mg.manual_seed(0)
    dl = loader()
    full = batches(dl) + batches(dl)

    mg.manual_seed(0)
    dl = loader()
    got = batches(dl, 4)
    mg.save({"loader": dl.state_dict(), "rng": mg.get_rng_state()}, tmp_path / "ck")
    ck = mg.load(tmp_path / "ck")
    mg.manual_seed(99)
    dl2 = loader()
    if generator in ("minigrad", "numpy"):  # a generator object is the user's to restore; move it on
        batches(dl2)
    dl2.load_state_dict(ck["loader"])
    mg.set_rng_state(ck["rng"])
    got += batches(dl2) + batches(dl2)
    assert got == full
    assert len(full) == 12 and sorted(sum(full[:6], [])) == list(range(23))


def test_dataloader_state_between_epochs_and_bad_states():
    dl = DataLoader(TensorDataset(np.arange(10)), batch_size=3, shuffle=True, generator=3)
    list(dl)
    state = dl.state_dict()
    assert state["batches_yielded"] == 0 and state["rng_state"] is not None
    nxt = [b[0].numpy().tolist() for b in dl]
    dl.load_state_dict(state)
    assert [b[0].numpy().tolist() for b in dl] == nxt
    other = DataLoader(TensorDataset(np.arange(11)), batch_size=3, shuffle=True)
    with pytest.raises(ValueError, match="dataset_len=10.*dataset_len=11"):
        other.load_state_dict(state)
    with pytest.raises(ValueError, match="batches_yielded"):
        dl.load_state_dict({**state, "batches_yielded": 99})
    with pytest.raises(ValueError, match="rng_state"):
        dl.load_state_dict({**state, "rng_state": {"bit_generator": "Evil"}})
    with pytest.raises(TypeError, match="DataLoader.load_state_dict"):
        dl.load_state_dict([1])


def test_loader_with_distributed_sampler_resumes_mid_epoch_in_the_same_order():
    from minigrad.utils.data import DataLoader, DistributedSampler, TensorDataset
    ds = TensorDataset(mg.tensor(np.arange(40.0)))
    def loader():
        sampler = DistributedSampler(ds, num_replicas=2, rank=1, shuffle=True, seed=3)
        sampler.set_epoch(5)
        return DataLoader(ds, batch_size=4, sampler=sampler)
    full = [b[0].array.copy() for b in loader()]
    first = loader()
    it = iter(first)
    next(it), next(it)
    state = first.state_dict()
    second = DataLoader(ds, batch_size=4, sampler=DistributedSampler(ds, num_replicas=2, rank=1, shuffle=True, seed=3))
    second.load_state_dict(state)
    rest = [b[0].array for b in second]
    assert len(rest) == len(full) - 2
    for a, b in zip(rest, full[2:]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("call, match", [
    (lambda: mg.arange(0, 5, 0), "arange: step must be nonzero"),
    (lambda: mg.arange(0, 5, -1), "arange: upper bound"),
    (lambda: mg.linspace(0, 1, -2), "linspace: steps"),
    (lambda: mg.randn(-1, 2), "randn: sizes must be non-negative"),
    (lambda: mg.rand(-2), "rand: sizes"),
    (lambda: mg.zeros(2, -3), "zeros: sizes"),
    (lambda: mg.full((-1,), 2.0), "full: sizes"),
    (lambda: mg.eye(-1), "eye: n"),
    (lambda: nn.init.normal_(mg.zeros(3), std=-1.0), "normal_: std"),
    (lambda: nn.utils.clip_grad_norm_([mg.zeros(2, requires_grad=True)], -1.0), "clip_grad_norm_: max_norm"),
])
def test_factories_and_utilities_name_their_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
