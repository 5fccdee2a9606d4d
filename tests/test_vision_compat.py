"""minigrad.vision as code written for torchvision uses it (`from torchvision import datasets, transforms`
becomes `from minigrad.vision import datasets, transforms`): the PyTorch "basics" tutorials' calls.

torchvision is not installed: the tests check its documented behaviour itself (the root layout
root/FashionMNIST/raw/, the class names, ToTensor giving float32 (C, H, W) in [0, 1], the reprs).
FashionMNIST is built here as tiny IDX files in the real format; nothing needs the network."""
import gzip
import hashlib

import numpy as np
import pytest

import minigrad as mg
from minigrad.utils.data import DataLoader
from minigrad.vision import datasets, transforms
from minigrad.vision.transforms import ToTensor

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def _write_idx_gz(path, array):
    """`array` (uint8) as a gzipped IDX file: magic 0x0000 08 ndim, big-endian int32 sizes, the bytes."""
    raw = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">i4").tobytes() + array.tobytes()
    path.write_bytes(gzip.compress(raw))


@pytest.fixture
def fashion(tmp_path, monkeypatch):
    """A tiny FashionMNIST (6 train, 4 test images) in torchvision's layout root/FashionMNIST/raw/,
    with the dataset's checksums set to these files'. -> (root, {split: (images, labels)})."""
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays, resources = {}, {}
    for prefix, n in (("train", 6), ("t10k", 4)):
        images = rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        arrays[prefix] = (images, labels)
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{prefix}-{kind}-ubyte.gz"
            _write_idx_gz(raw / name, arr)
            resources[name] = ("md5", "gz", hashlib.md5((raw / name).read_bytes()).hexdigest())
    monkeypatch.setattr(datasets.FashionMNIST, "resources", resources)
    monkeypatch.setattr(datasets.FashionMNIST, "mirrors", [])
    monkeypatch.delenv("MINIGRAD_DATA_DIR", raising=False)
    return tmp_path / "data", arrays


def test_the_torchvision_names_are_there():
    for name in ("MNIST", "FashionMNIST"):
        assert hasattr(datasets, name)
    for name in ("ToTensor", "Normalize", "Compose", "Lambda"):
        assert hasattr(transforms, name)
    assert datasets.FashionMNIST.classes == FASHION_CLASSES
    assert datasets.MNIST.classes[0] == "0 - zero" and len(datasets.MNIST.classes) == 10


def test_fashion_mnist_as_the_basics_tutorials_call_it(fashion):
    root, arrays = fashion
    training_data = datasets.FashionMNIST(root=str(root), train=True, download=True, transform=ToTensor())
    test_data = datasets.FashionMNIST(root=str(root), train=False, download=True, transform=ToTensor())
    assert len(training_data) == 6 and len(test_data) == 4
    images, labels = arrays["train"]
    np.testing.assert_array_equal(training_data.data, images)
    assert training_data.data.dtype == np.uint8 and training_data.data.shape == (6, 28, 28)
    assert training_data.targets.dtype == np.int64 and training_data.targets.tolist() == labels.tolist()
    assert training_data.classes == FASHION_CLASSES
    assert training_data.class_to_idx["Ankle boot"] == 9
    img, label = training_data[2]
    assert isinstance(img, mg.Tensor) and img.shape == (1, 28, 28) and img.dtype == mg.float32
    assert isinstance(label, int) and label == labels[2]
    np.testing.assert_allclose(img.numpy()[0], images[2] / 255, rtol=1e-6)
    assert 0.0 <= img.numpy().min() and img.numpy().max() <= 1.0
    assert training_data.raw_folder == root / "FashionMNIST" / "raw"


def test_dataloader_batches_like_torch(fashion):
    root, arrays = fashion
    data = datasets.FashionMNIST(root=root, train=True, transform=ToTensor())
    X, y = next(iter(DataLoader(data, batch_size=4)))
    assert X.shape == (4, 1, 28, 28) and X.dtype == mg.float32
    assert y.shape == (4,) and y.dtype == mg.int64
    np.testing.assert_allclose(X.numpy(), arrays["train"][0][:4, None] / 255, rtol=1e-6)
    assert [len(xb) for xb, _ in DataLoader(data, batch_size=4)] == [4, 2]


def test_target_transform_and_lambda(fashion):
    root, arrays = fashion
    one_hot = transforms.Lambda(lambda y: np.eye(10, dtype=np.float32)[y])
    data = datasets.FashionMNIST(root=root, train=False, transform=ToTensor(), target_transform=one_hot)
    _, target = data[1]
    assert target.shape == (10,) and target.argmax() == arrays["t10k"][1][1] and target.sum() == 1
    assert repr(one_hot) == "Lambda()"
    with pytest.raises(TypeError, match="Lambda.*callable"):
        transforms.Lambda(3)


def test_dataset_repr_as_torchvision_prints_it(fashion):
    root, _ = fashion
    data = datasets.FashionMNIST(root=root, train=True, transform=ToTensor())
    assert repr(data).splitlines() == ["Dataset FashionMNIST", "    Number of datapoints: 6",
                                       f"    Root location: {root}", "    Split: Train",
                                       "    StandardTransform", "Transform: ToTensor()"]
    assert "StandardTransform" not in repr(datasets.FashionMNIST(root=root, train=False))


def test_download_true_uses_the_offline_directory(fashion, tmp_path, monkeypatch, no_network):
    """root="data", download=True (the tutorials' call) with no network: the copy under
    $MINIGRAD_DATA_DIR is verified and copied into root, then read from there."""
    offline, arrays = fashion
    monkeypatch.setenv("MINIGRAD_DATA_DIR", str(offline))
    monkeypatch.chdir(tmp_path)
    data = datasets.FashionMNIST(root="fresh", train=False, download=True, transform=ToTensor())
    assert len(data) == 4 and data.targets.tolist() == arrays["t10k"][1].tolist()
    assert (tmp_path / "fresh" / "fashion-mnist" / "t10k-images-idx3-ubyte.gz").is_file()
    # Without the offline copy and without network, the error lists what was tried.
    monkeypatch.setenv("MINIGRAD_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setattr(datasets.FashionMNIST, "mirrors", ["http://unreachable.invalid/"])
    with pytest.raises(RuntimeError, match="unreachable.invalid"):
        datasets.FashionMNIST(root="other", train=False, download=True)


def test_missing_without_download_names_the_dataset(tmp_path, monkeypatch):
    monkeypatch.delenv("MINIGRAD_DATA_DIR", raising=False)
    with pytest.raises(RuntimeError, match=r"FashionMNIST: dataset not found.*download=True"):
        datasets.FashionMNIST(root=tmp_path, train=True)


def test_to_tensor_follows_torchvision_rules():
    rng = np.random.default_rng(1)
    hw = rng.integers(0, 256, (5, 7)).astype(np.uint8)
    hwc = rng.integers(0, 256, (5, 7, 3)).astype(np.uint8)
    t = ToTensor()(hw)
    assert t.shape == (1, 5, 7) and t.dtype == mg.float32
    np.testing.assert_allclose(t.numpy()[0], hw / 255, rtol=1e-6)
    t = ToTensor()(hwc)
    assert t.shape == (3, 5, 7)
    np.testing.assert_allclose(t.numpy(), hwc.transpose(2, 0, 1) / 255, rtol=1e-6)
    f64 = rng.random((5, 7))
    t = ToTensor()(f64)  # not uint8: neither scaled nor cast
    assert t.dtype == mg.float64 and np.array_equal(t.numpy()[0], f64)
    assert repr(ToTensor()) == "ToTensor()"


def test_normalize_and_compose_match_torch():
    torch = pytest.importorskip("torch")
    img = np.random.default_rng(2).integers(0, 256, (4, 6, 3)).astype(np.uint8)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    tf = transforms.Compose([ToTensor(), transforms.Normalize(mean, std)])
    got = tf(img)
    # torchvision's documented computation: to_tensor, then (x - mean[c]) / std[c]
    ref = torch.from_numpy(img).permute(2, 0, 1).float().div(255)
    ref = (ref - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    assert got.dtype == mg.float32
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)
    assert repr(tf) == f"Compose(\n    ToTensor()\n    Normalize(mean={mean}, std={std})\n)"
