"""minigrad.vision: MNIST loading and verification, downloads from fake mirrors, transforms;
and minigrad.keras.datasets."""
import gzip
import hashlib
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from minigrad.utils import data as D
from minigrad.vision import datasets as V
from minigrad.vision import transforms as T

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MNIST_DIR = DATA_DIR / "mnist"
FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
needs_mnist = pytest.mark.skipif(not all((MNIST_DIR / f).is_file() for f in FILES),
                                 reason=f"real MNIST not found in {MNIST_DIR}")


def _mg():
    mg = pytest.importorskip("minigrad")
    if not hasattr(mg, "tensor") or not hasattr(mg, "Tensor"):
        pytest.skip("minigrad core (minigrad.tensor) not available yet")
    return mg


@pytest.fixture
def data_env(monkeypatch):
    monkeypatch.setenv("MINIGRAD_DATA_DIR", str(DATA_DIR))


def _idx_gz(path, array):
    """Write `array` (uint8) as a gzipped IDX file; return the SHA-256 of the uncompressed bytes."""
    raw = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">i4").tobytes() + array.tobytes()
    path.write_bytes(gzip.compress(raw))
    return hashlib.sha256(raw).hexdigest()


# ---------------------------------------------------------------------------- the real MNIST

@needs_mnist
def test_mnist_train_and_test(data_env):
    train = V.MNIST()
    assert train.data.shape == (60000, 28, 28) and train.data.dtype == np.uint8
    assert train.targets.shape == (60000,) and train.targets.dtype == np.int64
    assert train.targets[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert np.bincount(train.targets).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    test = V.MNIST(train=False)
    assert len(test) == 10000 and test.targets[:5].tolist() == [7, 2, 1, 0, 4]
    img, label = test[0]
    assert img.shape == (28, 28) and img.dtype == np.uint8 and label == 7 and isinstance(label, int)
    assert test.folder_path == MNIST_DIR and "Number of datapoints: 10000" in repr(test)


@needs_mnist
def test_mnist_root_forms(monkeypatch, tmp_path):
    monkeypatch.setenv("MINIGRAD_DATA_DIR", str(tmp_path))  # root= wins over the environment
    a = V.MNIST(root=DATA_DIR, train=False)
    b = V.MNIST(root=MNIST_DIR, train=False)  # straight at the folder with the .gz files
    np.testing.assert_array_equal(a.data, b.data)
    with pytest.raises(RuntimeError, match="download=True"):
        V.MNIST(train=False)  # the (empty) env dir
    monkeypatch.delenv("MINIGRAD_DATA_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert V.data_dir() == tmp_path / ".cache" / "minigrad"


@needs_mnist
def test_mnist_data_is_a_private_copy(data_env):
    a = V.MNIST(train=False)
    a.data[:] = 0  # must not reach the in-memory cache behind the next instance
    assert V.MNIST(train=False).data.any()


@needs_mnist
def test_to_tensor_sample_and_vectorised_batch(data_env):
    mg = _mg()
    tf = T.Compose([T.ToTensor(), T.Normalize((0.1307,), (0.3081,))])
    ds = V.MNIST(train=False, transform=tf, target_transform=lambda t: t + 10)
    assert ds.batchable
    x, y = ds[3]
    assert isinstance(x, mg.Tensor) and x.shape == (1, 28, 28) and x.dtype == np.float32 and y == 10
    raw = ds.data[3].astype(np.float32) / 255
    np.testing.assert_allclose(x.numpy()[0], (raw - 0.1307) / 0.3081, rtol=1e-5, atol=1e-6)
    bx, by = ds.get_batch(np.array([3, 0, 9]))
    assert bx.shape == (3, 1, 28, 28) and bx.dtype == np.float32
    np.testing.assert_allclose(bx[0], x.numpy(), rtol=1e-6)
    assert by.numpy().tolist() == [10, 17, 19]
    plain = V.MNIST(train=False, transform=T.ToTensor())[0][0].numpy()
    assert plain.min() >= 0 and plain.max() <= 1 and plain.max() == 1


@needs_mnist
def test_mnist_epoch_is_fast(data_env):
    mg = _mg()
    ds = V.MNIST(transform=T.Compose([T.ToTensor(), T.Normalize((0.1307,), (0.3081,))]))
    t0 = time.perf_counter()
    seen, labels = 0, []
    for xb, yb in D.DataLoader(ds, batch_size=64, shuffle=True, generator=0):
        seen += xb.shape[0]
        labels.append(yb.numpy())
    elapsed = time.perf_counter() - t0
    assert isinstance(xb, mg.Tensor) and xb.shape == (32, 1, 28, 28) and yb.dtype == np.int64
    assert seen == 60000 and np.bincount(np.concatenate(labels)).tolist() == np.bincount(ds.targets).tolist()
    assert elapsed < 1.0, f"one epoch of batching took {elapsed:.2f}s"


@needs_mnist
def test_random_transforms_on_the_batch_path_are_seeded(data_env, monkeypatch):
    monkeypatch.setattr(D, "_to_tensor", lambda a: np.asarray(a))
    tf = T.Compose([T.RandomCrop(28, padding=2), T.RandomRotation(10), T.ToTensor()])
    ds = D.Subset(V.MNIST(train=False, transform=tf), np.arange(256))
    run = [[xb for xb, _ in D.DataLoader(ds, batch_size=64, shuffle=True, generator=s)] for s in (1, 1, 2)]
    np.testing.assert_array_equal(run[0][0], run[1][0])
    assert not np.array_equal(run[0][0], run[2][0])
    assert run[0][0].shape == (64, 1, 28, 28)


@needs_mnist
def test_keras_load_data():
    from minigrad.keras.datasets import mnist
    (x_train, y_train), (x_test, y_test) = mnist.load_data(path=DATA_DIR)
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and y_train.dtype == np.uint8
    assert x_test.shape == (10000, 28, 28) and y_test[:5].tolist() == [7, 2, 1, 0, 4]
    np.testing.assert_array_equal(x_test, V.MNIST(root=DATA_DIR, train=False).data)


# ---------------------------------------------------------------------------- verification

def _test_split_copy(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for f in FILES[2:]:
        shutil.copy(MNIST_DIR / f, folder / f)
    return folder


@needs_mnist
def test_corrupted_gz_names_the_file(tmp_path):
    folder = _test_split_copy(tmp_path)
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    blob = bytearray(labels.read_bytes())
    blob[len(blob) // 2] ^= 0xFF  # flip a byte inside the compressed stream
    labels.write_bytes(bytes(blob))
    with pytest.raises(RuntimeError, match="t10k-labels-idx1-ubyte.gz"):
        V.MNIST(root=tmp_path, train=False)


@needs_mnist
def test_truncated_gz_names_the_file(tmp_path):
    folder = _test_split_copy(tmp_path)
    images = folder / "t10k-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:100_000])
    with pytest.raises(RuntimeError, match=r"t10k-images-idx3-ubyte\.gz.*(corrupt|truncated)"):
        V.MNIST(root=tmp_path, train=False)


@needs_mnist
def test_wrong_content_fails_the_checksum(tmp_path):
    folder = _test_split_copy(tmp_path)
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(labels.read_bytes()))
    raw[-1] = (raw[-1] + 1) % 10  # a valid gzip of one changed label
    labels.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(RuntimeError, match=r"t10k-labels-idx1-ubyte\.gz: checksum mismatch: SHA256"):
        V.MNIST(root=folder, train=False)


@needs_mnist
def test_recompressed_copy_still_verifies(tmp_path):
    folder = _test_split_copy(tmp_path)
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(gzip.compress(gzip.decompress(labels.read_bytes()), compresslevel=1))
    assert V.MNIST(root=folder, train=False).targets[:3].tolist() == [7, 2, 1]


def test_md5_of_gz_resources(tmp_path):
    """Fashion-MNIST's kind of resource: the digest of the .gz file itself."""
    path = tmp_path / "x.gz"
    _idx_gz(path, np.arange(6, dtype=np.uint8).reshape(2, 3))
    good = ("md5", "gz", hashlib.md5(path.read_bytes()).hexdigest())
    V.verify_file(path, good)
    np.testing.assert_array_equal(V.read_idx(path, good), np.arange(6).reshape(2, 3))
    with pytest.raises(RuntimeError, match=r"x\.gz: checksum mismatch: MD5 of the file"):
        V.verify_file(path, ("md5", "gz", "0" * 32))
    assert all(r[:2] == ("md5", "gz") and len(r[2]) == 32 for r in V.FashionMNIST.resources.values())


def test_idx_parsing_errors(tmp_path):
    good = bytes([0, 0, 8, 1]) + np.array([3], ">i4").tobytes() + b"\x01\x02\x03"
    np.testing.assert_array_equal(V.parse_idx(good), [1, 2, 3])
    with pytest.raises(ValueError, match="bad magic"):
        V.parse_idx(b"\x1f\x8b\x08\x00" + good, "f.idx")
    with pytest.raises(ValueError, match="unknown IDX type code 0x07"):
        V.parse_idx(bytes([0, 0, 7, 1]) + good[4:], "f.idx")
    with pytest.raises(ValueError, match=r"f\.idx: IDX payload has 2 bytes"):
        V.parse_idx(good[:-1], "f.idx")
    ints = bytes([0, 0, 0x0C, 1]) + np.array([2], ">i4").tobytes() + np.array([1, -2], ">i4").tobytes()
    out = V.parse_idx(ints)
    assert out.tolist() == [1, -2] and out.dtype == np.int32


def test_missing_dataset_error(tmp_path):
    with pytest.raises(RuntimeError, match=r"MNIST: dataset not found.*download=True"):
        V.MNIST(root=tmp_path)
    with pytest.raises(RuntimeError, match="FashionMNIST"):
        V.FashionMNIST(root=tmp_path, train=False)


# ---------------------------------------------------------------------------- downloads (no network)

def test_download_file_tries_the_next_mirror(tmp_path, no_network):
    bad, good, dest = tmp_path / "bad", tmp_path / "good", tmp_path / "dest"
    bad.mkdir(), good.mkdir()
    digest = _idx_gz(good / "f.gz", np.arange(4, dtype=np.uint8))
    _idx_gz(bad / "f.gz", np.zeros(4, dtype=np.uint8))  # a mirror serving the wrong bytes
    mirrors = ["http://unreachable.invalid/", (tmp_path / "missing").as_uri(), bad.as_uri(), good.as_uri()]
    path = V.download_file("f.gz", dest, mirrors, ("sha256", "raw", digest), quiet=True)
    assert path == dest / "f.gz" and V.read_idx(path).tolist() == [0, 1, 2, 3]
    assert sorted(p.name for p in dest.iterdir()) == ["f.gz"]  # no temporary files left


def test_download_failure_leaves_nothing(tmp_path, no_network):
    bad, dest = tmp_path / "bad", tmp_path / "dest"
    bad.mkdir()
    (bad / "f.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(RuntimeError) as e:
        V.download_file("f.gz", dest, ["http://unreachable.invalid/", bad.as_uri()],
                        ("sha256", "raw", "0" * 64), quiet=True)
    msg = str(e.value)
    assert "f.gz" in msg and "unreachable.invalid" in msg and bad.as_uri() in msg
    assert list(dest.iterdir()) == []


@needs_mnist
def test_mnist_download_from_fake_mirrors(tmp_path, monkeypatch, no_network, capsys):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for f in FILES:
        shutil.copy(MNIST_DIR / f, mirror / f)
    monkeypatch.setattr(V.MNIST, "mirrors", [(tmp_path / "dead").as_uri(), mirror.as_uri()])
    root = tmp_path / "data"
    ds = V.MNIST(root=root, train=False, download=True)
    assert sorted(p.name for p in (root / "mnist").iterdir()) == sorted(FILES)
    assert ds.targets[:5].tolist() == [7, 2, 1, 0, 4]
    assert "Downloading" in capsys.readouterr().err
    # A corrupt local copy is replaced on the next download=True.
    labels = root / "mnist" / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:50])
    assert V.MNIST(root=root, train=False, download=True).targets[:5].tolist() == [7, 2, 1, 0, 4]
    # Present and valid: nothing is fetched.
    monkeypatch.setattr(V.MNIST, "mirrors", [])
    assert len(V.MNIST(root=root, train=False, download=True)) == 10000


def test_fashion_mnist_download_layout_and_keras(tmp_path, monkeypatch, no_network):
    """FashionMNIST's path: MD5 of each .gz, stored under <data dir>/fashion-mnist/ (synthetic files)."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    rng = np.random.default_rng(0)
    resources = {}
    for f in FILES:
        n = 6 if f.startswith("train") else 4
        arr = rng.integers(0, 256, (n, 28, 28)) if "images" in f else rng.integers(0, 10, n)
        _idx_gz(mirror / f, arr.astype(np.uint8))
        resources[f] = ("md5", "gz", hashlib.md5((mirror / f).read_bytes()).hexdigest())
    monkeypatch.setattr(V.FashionMNIST, "resources", resources)
    monkeypatch.setattr(V.FashionMNIST, "mirrors", [mirror.as_uri()])
    monkeypatch.setenv("MINIGRAD_DATA_DIR", str(tmp_path / "data"))
    ds = V.FashionMNIST(train=False, download=True, transform=T.RandomHorizontalFlip(p=1.0))
    assert len(ds) == 4 and ds.folder_path == tmp_path / "data" / "fashion-mnist"
    np.testing.assert_array_equal(ds[1][0], ds.data[1][:, ::-1])
    assert ds.classes[9] == "Ankle boot"
    from minigrad.keras.datasets import fashion_mnist
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    assert x_train.shape == (6, 28, 28) and y_train.dtype == np.uint8 and x_test.shape == (4, 28, 28)


# ---------------------------------------------------------------------------- transforms

IMG = np.random.default_rng(0).integers(0, 256, (28, 28)).astype(np.uint8)


def test_to_tensor_layouts():
    mg = _mg()
    t = T.ToTensor()(IMG)
    assert isinstance(t, mg.Tensor) and t.shape == (1, 28, 28) and t.dtype == np.float32
    np.testing.assert_allclose(t.numpy()[0], IMG / 255, rtol=1e-6)
    hwc = np.random.default_rng(1).integers(0, 256, (5, 6, 3)).astype(np.uint8)
    chw = T.ToTensor()(hwc).numpy()
    assert chw.shape == (3, 5, 6)
    np.testing.assert_allclose(chw[2], hwc[..., 2] / 255, rtol=1e-6)
    floats = np.random.default_rng(2).random((4, 4))
    assert T.ToTensor()(floats).dtype == np.float64  # non-uint8 kept as is, as torchvision
    assert T.ToTensor().apply_batch(np.zeros((7, 28, 28), np.uint8)).shape == (7, 1, 28, 28)


def test_normalize():
    x = np.random.default_rng(3).random((3, 4, 5)).astype(np.float32)
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 2.0)
    out = T.Normalize(mean, std)(x)
    want = (x - np.array(mean, np.float32)[:, None, None]) / np.array(std, np.float32)[:, None, None]
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_allclose(out, want, rtol=1e-6)
    np.testing.assert_allclose(T.Normalize(mean, std).apply_batch(np.stack([x, x]))[1], want, rtol=1e-6)
    np.testing.assert_allclose(T.Normalize(0.5, 0.5)(x[0]), (x[0] - 0.5) / 0.5, rtol=1e-6)
    with pytest.raises(TypeError, match="float"):
        T.Normalize(0.5, 0.5)(IMG)
    with pytest.raises(ValueError, match="non-zero"):
        T.Normalize(0.5, 0.0)
    mg = pytest.importorskip("minigrad")
    if hasattr(mg, "tensor"):
        out = T.Normalize(mean, std)(mg.tensor(x))
        assert isinstance(out, mg.Tensor)
        np.testing.assert_allclose(out.numpy(), want, rtol=1e-6)


def test_random_crop_with_padding():
    crop = T.RandomCrop(28, padding=4)
    np.random.seed(0)
    a = crop(IMG)
    np.random.seed(0)
    b = crop(IMG)
    np.testing.assert_array_equal(a, b)  # numpy's global seed decides
    assert a.shape == (28, 28) and a.dtype == np.uint8
    padded = np.pad(IMG, 4)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (28, 28))
    assert (windows == a).all(axis=(-1, -2)).any()  # a window of the zero-padded image
    rng_out = [crop.apply_batch(np.stack([IMG] * 8), np.random.default_rng(5)) for _ in range(2)]
    np.testing.assert_array_equal(*rng_out)
    assert len({x.tobytes() for x in rng_out[0]}) > 1  # independent offsets per sample
    chw = np.stack([IMG, 255 - IMG])
    out = T.RandomCrop((20, 24))(chw)
    assert out.shape == (2, 20, 24)
    np.testing.assert_array_equal(out[1], 255 - out[0])  # channels share the window
    np.testing.assert_array_equal(T.RandomCrop(28)(IMG), IMG)
    with pytest.raises(ValueError, match="larger"):
        T.RandomCrop(30)(IMG)
    assert T.RandomCrop(32, pad_if_needed=True)(IMG).shape == (32, 32)


def test_flips():
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(IMG), IMG[:, ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(IMG), IMG)
    np.testing.assert_array_equal(T.RandomVerticalFlip(p=1.0)(IMG), IMG[::-1])
    batch = T.RandomHorizontalFlip().apply_batch(np.stack([IMG] * 64), np.random.default_rng(0))
    flipped = [(b == IMG[:, ::-1]).all() for b in batch]
    assert 10 < sum(flipped) < 54 and all(f or (b == IMG).all() for f, b in zip(flipped, batch))


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_rotation_zero_is_identity(interpolation):
    np.testing.assert_array_equal(T.RandomRotation(0, interpolation=interpolation)(IMG), IMG)
    x = np.random.default_rng(4).random((3, 9, 7)).astype(np.float32)
    np.testing.assert_allclose(T.RandomRotation(0, interpolation=interpolation)(x), x, atol=1e-6)
    np.testing.assert_array_equal(T.RandomAffine(0, interpolation=interpolation)(IMG), IMG)


def test_rotation_by_90_is_rot90():
    out = T.RandomRotation((90, 90))(IMG)
    np.testing.assert_array_equal(out, np.rot90(IMG))  # counter-clockwise on screen
    np.testing.assert_array_equal(T.RandomRotation((-90, -90))(IMG), np.rot90(IMG, -1))


def test_affine_translation_is_a_shift():
    aff = T.RandomAffine(0, translate=(0.1, 0.1))
    out = aff.apply_batch(np.stack([IMG] * 4), np.random.default_rng(0))
    for o in out:  # each an integer shift with zero fill
        found = False
        for dy in range(-3, 4):
            for dx in range(-3, 4):
                shifted = np.zeros_like(IMG)
                src = IMG[max(0, -dy):28 - max(0, dy), max(0, -dx):28 - max(0, dx)]
                shifted[max(0, dy):max(0, dy) + src.shape[0], max(0, dx):max(0, dx) + src.shape[1]] = src
                found |= np.array_equal(o, shifted)
        assert found


def test_affine_bilinear_matches_torch_grid_sample():
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F
    x = np.random.default_rng(5).random((4, 2, 16, 16)).astype(np.float32)
    angles = np.array([0.0, 17.0, -33.0, 90.0])
    scale = np.array([1.0, 1.2, 0.8, 1.0])
    shift = np.array([[0, 0], [2, -1], [-3, 1], [1, 1]], dtype=np.float64)
    maps = T._linear_maps(angles, scale, np.array([0, 5.0, 0, 0]), np.zeros(4))
    ours = T.affine_warp(x, maps, shift, "bilinear")
    inv = np.linalg.inv(maps)  # output -> input, in pixels about the centre; the same in [-1, 1] units
    theta = np.concatenate([inv, -(inv @ (shift * 2 / 16)[..., None])], axis=2)
    grid = F.affine_grid(torch.tensor(theta, dtype=torch.float32), (4, 2, 16, 16), align_corners=False)
    theirs = F.grid_sample(torch.from_numpy(x), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    np.testing.assert_allclose(ours, theirs.numpy(), atol=1e-5)


def test_random_rotation_is_seeded_and_per_sample():
    rot = T.RandomRotation(30, interpolation="bilinear")
    batch = np.stack([IMG.astype(np.float32)] * 6)
    a = rot.apply_batch(batch, np.random.default_rng(1))
    np.testing.assert_array_equal(a, rot.apply_batch(batch, np.random.default_rng(1)))
    assert len({x.tobytes() for x in a}) == 6
    assert rot(IMG).dtype == np.uint8 and rot(IMG).shape == (28, 28)


def test_compose_and_tensor_inputs():
    mg = _mg()
    tf = T.Compose([T.RandomCrop(28, padding=2), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(0.5, 0.5)])
    assert tf.batchable
    out = tf(IMG)
    assert isinstance(out, mg.Tensor) and out.shape == (1, 28, 28)
    assert tf.apply_batch(np.stack([IMG] * 3)).shape == (3, 1, 28, 28)
    flipped = T.RandomHorizontalFlip(p=1.0)(mg.tensor(IMG.astype(np.float32)))
    assert isinstance(flipped, mg.Tensor)
    np.testing.assert_array_equal(flipped.numpy(), IMG[:, ::-1])
    lam = T.Compose([T.ToTensor(), T.Lambda(lambda t: t)])
    assert not lam.batchable
    with pytest.raises(TypeError, match="Lambda"):
        lam.apply_batch(np.stack([IMG]))
