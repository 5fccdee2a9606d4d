"""minigrad.utils.data: datasets, collation, the DataLoader and random_split."""
import numpy as np
import pytest

from minigrad.utils import data as D


def _mg():
    """minigrad, or skip while its Tensor core is not importable yet."""
    mg = pytest.importorskip("minigrad")
    if not hasattr(mg, "tensor") or not hasattr(mg, "Tensor"):
        pytest.skip("minigrad core (minigrad.tensor) not available yet")
    return mg


@pytest.fixture
def numpy_batches(monkeypatch):
    """Let batches stay numpy arrays, to test the loader's logic without the Tensor core."""
    monkeypatch.setattr(D, "_to_tensor", lambda a: np.asarray(a))


class Squares(D.Dataset):
    """A plain (non-batchable) dataset: i -> (array [i, i*i], int label i % 3)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return np.array([i, i * i], dtype=np.float32), i % 3


def _np_collate(samples):
    return tuple(np.stack([np.asarray(s[j]) for s in samples]) for j in range(len(samples[0])))


# ---------------------------------------------------------------------------- datasets

def test_tensor_dataset_numpy():
    x, y = np.arange(20).reshape(10, 2), np.arange(10) % 2
    ds = D.TensorDataset(x, y)
    assert len(ds) == 10
    xi, yi = ds[3]
    np.testing.assert_array_equal(xi, [6, 7])
    assert yi == 1
    xb, yb = ds.get_batch(np.array([4, 0]))
    np.testing.assert_array_equal(xb, x[[4, 0]])
    np.testing.assert_array_equal(yb, y[[4, 0]])
    with pytest.raises(ValueError, match="same first dimension"):
        D.TensorDataset(x, np.arange(9))
    with pytest.raises(ValueError):
        D.TensorDataset()


def test_tensor_dataset_of_tensors():
    mg = _mg()
    ds = D.TensorDataset(mg.tensor(np.ones((4, 3), np.float32)), mg.tensor(np.arange(4)))
    x, y = ds[2]
    assert isinstance(x, mg.Tensor) and x.shape == (3,)
    assert isinstance(y, mg.Tensor) and int(y.numpy()) == 2


def test_subset_and_base_dataset():
    ds = Squares(10)
    sub = D.Subset(ds, [7, 2, 5])
    assert len(sub) == 3 and sub[0][1] == 7 % 3
    assert not sub.batchable
    assert D.Subset(D.TensorDataset(np.arange(5)), [1, 2]).batchable
    with pytest.raises(NotImplementedError):
        D.Dataset()[0]


# ---------------------------------------------------------------------------- random_split

def test_random_split_lengths_and_disjoint():
    ds = Squares(10)
    a, b = D.random_split(ds, [7, 3], generator=0)
    assert (len(a), len(b)) == (7, 3)
    assert sorted(np.concatenate([a.indices, b.indices]).tolist()) == list(range(10))
    a2, _ = D.random_split(ds, [7, 3], generator=0)
    np.testing.assert_array_equal(a.indices, a2.indices)  # same seed, same split
    a3, _ = D.random_split(ds, [7, 3], generator=np.random.default_rng(1))
    assert not np.array_equal(a.indices, a3.indices)


def test_random_split_fractions():
    parts = D.random_split(Squares(10), [0.8, 0.2], generator=1)
    assert [len(p) for p in parts] == [8, 2]
    parts = D.random_split(Squares(10), [0.33, 0.33, 0.34], generator=1)
    assert [len(p) for p in parts] == [4, 3, 3]  # remainder dealt from the first, as torch
    parts = D.random_split(Squares(60000), [0.9, 0.1])
    assert [len(p) for p in parts] == [54000, 6000]
    with pytest.raises(ValueError, match="summing"):
        D.random_split(Squares(10), [5, 4])


def test_random_split_follows_numpy_global_seed():
    np.random.seed(123)
    a = D.random_split(Squares(20), [10, 10])[0].indices
    np.random.seed(123)
    b = D.random_split(Squares(20), [10, 10])[0].indices
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------- DataLoader logic

def test_loader_len_and_batches():
    ds = Squares(10)
    dl = D.DataLoader(ds, batch_size=4, collate_fn=_np_collate)
    batches = list(dl)
    assert len(dl) == 3 and [len(b[1]) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(batches[0][0][:, 0], [0, 1, 2, 3])
    dl = D.DataLoader(ds, batch_size=4, drop_last=True, collate_fn=_np_collate)
    assert len(dl) == 2 and [len(b[1]) for b in dl] == [4, 4]
    assert len(D.DataLoader(ds, batch_size=20)) == 1
    assert len(D.DataLoader(ds, batch_size=20, drop_last=True)) == 0
    with pytest.raises(ValueError, match="batch_size"):
        D.DataLoader(ds, batch_size=0)


def test_loader_shuffle_is_a_seeded_permutation():
    ds = Squares(50)

    def epoch(dl):
        return np.concatenate([b[0][:, 0] for b in dl]).astype(int)

    dl = D.DataLoader(ds, batch_size=8, shuffle=True, collate_fn=_np_collate, generator=0)
    e1, e2 = epoch(dl), epoch(dl)
    assert sorted(e1) == list(range(50)) and sorted(e2) == list(range(50))
    assert not np.array_equal(e1, e2)  # a new order each epoch
    again = D.DataLoader(ds, batch_size=8, shuffle=True, collate_fn=_np_collate, generator=0)
    np.testing.assert_array_equal(epoch(again), e1)  # same seed, same orders
    np.testing.assert_array_equal(epoch(again), e2)
    plain = D.DataLoader(ds, batch_size=8, collate_fn=_np_collate)
    np.testing.assert_array_equal(epoch(plain), np.arange(50))


def test_loader_shuffle_reproducible_with_manual_seed():
    mg = _mg()
    dl = D.DataLoader(Squares(30), batch_size=30, shuffle=True, collate_fn=_np_collate)
    mg.manual_seed(7)
    a = next(iter(dl))[0]
    mg.manual_seed(7)
    b = next(iter(dl))[0]
    np.testing.assert_array_equal(a, b)


def test_fast_path_matches_per_sample_path(numpy_batches):
    x = np.random.default_rng(0).normal(size=(23, 3)).astype(np.float32)
    y = np.arange(23)
    fast = D.DataLoader(D.TensorDataset(x, y), batch_size=5, shuffle=True, generator=3)
    slow = D.DataLoader(D.TensorDataset(x, y), batch_size=5, shuffle=True, generator=3, collate_fn=_np_collate)
    for (xf, yf), (xs, ys) in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(xf, xs)
        np.testing.assert_array_equal(yf, ys)


def test_fast_path_is_used_and_fast(numpy_batches):
    class Counting(D.TensorDataset):
        calls = 0

        def __getitem__(self, i):
            Counting.calls += 1
            return super().__getitem__(i)

    ds = Counting(np.zeros((60000, 1, 28, 28), np.float32), np.zeros(60000, np.int64))
    import time
    t0 = time.perf_counter()
    n = sum(len(yb) for _, yb in D.DataLoader(ds, batch_size=64, shuffle=True, generator=0))
    assert n == 60000 and Counting.calls == 0
    assert time.perf_counter() - t0 < 1.0


def test_subset_of_tensor_dataset_batches(numpy_batches):
    x = np.arange(10) * 10
    sub = D.Subset(D.TensorDataset(x), [9, 1, 4])
    (batch,) = next(iter(D.DataLoader(sub, batch_size=3)))
    np.testing.assert_array_equal(batch, [90, 10, 40])


# ---------------------------------------------------------------------------- collation into Tensors

def test_default_collate_types():
    mg = _mg()
    xb, yb = D.default_collate([(np.ones((2, 2), np.float32), 1), (np.zeros((2, 2), np.float32), 2)])
    assert isinstance(xb, mg.Tensor) and xb.shape == (2, 2, 2) and xb.dtype == np.float32
    assert isinstance(yb, mg.Tensor) and yb.dtype == np.int64 and yb.numpy().tolist() == [1, 2]
    assert D.default_collate([0.5, 1.5]).dtype == np.float64
    assert D.default_collate([True, False]).dtype == np.bool_
    assert D.default_collate([np.float32(1), np.float32(2)]).dtype == np.float32
    t = D.default_collate([mg.tensor([1.0, 2.0]), mg.tensor([3.0, 4.0])])
    assert t.shape == (2, 2)
    out = D.default_collate([{"x": 1, "name": "a"}, {"x": 2, "name": "b"}])
    assert out["name"] == ["a", "b"] and out["x"].numpy().tolist() == [1, 2]
    nested = D.default_collate([(1, (2.0, "s")), (3, (4.0, "t"))])
    assert nested[0].numpy().tolist() == [1, 3] and nested[1][1] == ["s", "t"]
    with pytest.raises(TypeError, match="default_collate"):
        D.default_collate([object(), object()])


def test_loader_yields_tensors():
    mg = _mg()
    x = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
    y = np.arange(10)
    for ds in (D.TensorDataset(x, y), D.TensorDataset(mg.tensor(x), mg.tensor(y)), Squares(10)):
        batches = list(D.DataLoader(ds, batch_size=4))
        xb, yb = batches[0]
        assert isinstance(xb, mg.Tensor) and isinstance(yb, mg.Tensor)
        assert xb.shape[0] == 4 and yb.dtype == np.int64
        assert batches[-1][1].shape == (2,)
