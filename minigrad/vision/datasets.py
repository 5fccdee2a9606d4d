"""MNIST and Fashion-MNIST, shaped like torchvision.datasets, read from the IDX files with numpy.

Where the files live: the data dir is `root` if given, else the environment variable
MINIGRAD_DATA_DIR, else ~/.cache/minigrad. MNIST is looked for in `<data dir>/mnist/`,
then in `<data dir>` itself (root may point straight at the folder holding the .gz
files), then in torchvision's `<data dir>/MNIST/raw/`; Fashion-MNIST likewise in
`fashion-mnist/` (or `FashionMNIST/raw/`). Downloads go to `<data dir>/mnist/`.

With download=True and an explicit `root`, the matching folders under $MINIGRAD_DATA_DIR are
tried before the network mirrors (an offline copy is verified and copied into `root`).

Verification: MNIST files are checked against the SHA-256 of their *uncompressed*
content (so a re-compressed copy still passes); Fashion-MNIST files against the MD5 of
the published .gz files (Zalando's and torchvision's published digests; no SHA-256
of their content is published, and computing one on first use would only check that
a file matches itself). Every load verifies the bytes it parses, so a corrupt or
truncated file raises a RuntimeError naming it, never returns wrong data.

Downloads try each mirror in turn, stream into a temporary file beside the target,
verify it, then rename it into place atomically: no half-written file is ever left
under the real name.
"""
import gzip
import hashlib
import math
import os
import sys
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from ..utils.data import Dataset, default_collate
from .. import _files

__all__ = ["MNIST", "FashionMNIST", "data_dir", "read_idx", "download_file", "verify_file", "load_split",
           "load_arrays", "offline_mirrors"]

# IDX type codes -> numpy big-endian dtypes.
_IDX_DTYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
               0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}

_cache = {}  # (path, mtime_ns, size) -> parsed array


def data_dir(root=None):
    """The base data directory: `root`, else $MINIGRAD_DATA_DIR, else ~/.cache/minigrad."""
    if root is None:
        root = os.environ.get("MINIGRAD_DATA_DIR") or Path.home() / ".cache" / "minigrad"
    return Path(root).expanduser()


def clear_cache():
    """Forget the parsed files kept in memory (they are re-read and re-verified on next use)."""
    _cache.clear()


# ---------------------------------------------------------------------------- verification

def _digest(data, algorithm):
    return hashlib.new(algorithm, data).hexdigest()


def _decompress(path, blob):
    try:
        return gzip.decompress(blob)
    except (OSError, EOFError, zlib.error) as e:
        raise RuntimeError(f"{path}: cannot decompress ({type(e).__name__}: {e}); the file is corrupt or "
                           "truncated -- delete it and download it again") from None


def _checked_content(path, resource):
    """Read a .gz file, verify it against resource = (algorithm, 'raw'|'gz', hexdigest),
    and return its uncompressed bytes; RuntimeError naming the file on any mismatch."""
    algorithm, of, expected = resource
    try:
        blob = Path(path).read_bytes()
    except OSError as e:
        raise RuntimeError(f"{path}: cannot read ({e})") from None
    if of == "gz":
        _compare(path, _digest(blob, algorithm), expected, algorithm, "file")
    raw = _decompress(path, blob)
    if of == "raw":
        _compare(path, _digest(raw, algorithm), expected, algorithm, "uncompressed content")
    return raw


def _compare(path, got, expected, algorithm, what):
    if got != expected:
        raise RuntimeError(f"{path}: checksum mismatch: {algorithm.upper()} of the {what} is {got}, "
                           f"expected {expected}; the file is corrupt or not the expected one -- "
                           "delete it and download it again")


def verify_file(path, resource):
    """Raise RuntimeError naming `path` unless it matches resource = (algorithm, 'raw'|'gz', hexdigest)."""
    _checked_content(path, resource)


# ---------------------------------------------------------------------------- IDX parsing

def parse_idx(raw, name="<bytes>"):
    """The array stored in an uncompressed IDX blob: magic 0x0000TTDD (T: type code, D: ndim),
    then D big-endian int32 sizes, then the values in C order. ValueError naming `name` if malformed."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{name}: not an IDX file (bad magic number {raw[:4].hex() or 'empty'})")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"{name}: unknown IDX type code 0x{code:02x} in magic number {raw[:4].hex()}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{name}: IDX header truncated ({len(raw)} bytes for {ndim} dimensions)")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    if any(s < 0 for s in shape):
        raise ValueError(f"{name}: IDX header declares a negative size in shape {shape}")
    dtype = _IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize  # (Python ints: no overflow for huge declared sizes)
    if len(raw) - header != expected:
        raise ValueError(f"{name}: IDX payload has {len(raw) - header} bytes, shape {shape} needs {expected}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_idx(path, resource=None):
    """The array in a (.gz) IDX file, verified against `resource` when given; cached in memory
    (returned arrays are copies, safe to modify)."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size, resource)
    if key not in _cache:
        if resource is not None:
            raw = _checked_content(path, resource)
        elif path.suffix == ".gz":
            raw = _decompress(path, path.read_bytes())
        else:
            raw = path.read_bytes()
        _cache[key] = parse_idx(raw, str(path))
    return _cache[key].copy()


# ---------------------------------------------------------------------------- download

def download_file(filename, folder, mirrors, resource, timeout=60.0, quiet=False, verify=None):
    """Fetch `filename` from the first mirror (base URLs, tried in order) whose copy verifies
    against `resource` (or passes verify(path), which raises when it does not); write it atomically
    to folder/filename. Returns the path. RuntimeError listing every mirror's failure when none works."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / filename
    errors = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + filename
        request = urllib.request.Request(url, headers={"User-Agent": "minigrad"})
        if not quiet:
            print(f"Downloading {url} -> {target}", file=sys.stderr)
        fd, tmp = _files.mkstemp(dir=folder, prefix=f".{filename}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as response:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
            verify(tmp) if verify is not None else verify_file(tmp, resource)
            os.replace(tmp, target)
            return target
        except Exception as e:  # any failure: this mirror is no good, try the next
            errors.append(f"  {url}: {type(e).__name__}: {e}")
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    raise RuntimeError(f"could not download {filename}; every source failed:\n" + "\n".join(errors))


# ---------------------------------------------------------------------------- datasets

def _split_files(cls, train):
    prefix = "train" if train else "t10k"
    return f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"


def locate(cls, root=None, train=True):
    """(folder holding the split's files or None, where a download would go, folders searched)."""
    base = data_dir(root)
    candidates = [base / cls.folder, base, base / cls.__name__ / "raw"]
    needed = _split_files(cls, train)
    for c in candidates:
        if all((c / n).is_file() for n in needed):
            return c, c, candidates
    partial = [c for c in candidates if any((c / n).is_file() for n in cls.resources)]
    target = partial[0] if partial else (base if base.name == cls.folder else base / cls.folder)
    return None, target, candidates


def offline_mirrors(cls, root=None):
    """file:// URLs of the folders under $MINIGRAD_DATA_DIR that hold `cls`'s files, when `root` points
    elsewhere: download=True copies (and verifies) from them first, so code written for torchvision
    (`root="data", download=True`) runs offline on the local copy."""
    env = os.environ.get("MINIGRAD_DATA_DIR")
    if root is None or not env or data_dir(env).resolve() == data_dir(root).resolve():
        return []
    base = data_dir(env)
    folders = [base / cls.folder, base, base / cls.__name__ / "raw"]
    return [f.resolve().as_uri() for f in folders if any((f / n).is_file() for n in cls.resources)]


def load_split(cls, root=None, train=True, download=False):
    """-> (images uint8 (N, 28, 28), labels uint8 (N,), folder) for MNIST-like dataset class `cls`."""
    folder, target, searched = locate(cls, root, train)
    if download:
        mirrors = offline_mirrors(cls, root) + list(cls.mirrors)
        for name, resource in cls.resources.items():
            path = target / name
            try:
                if path.is_file():
                    read_idx(path, resource)  # verifies (and caches) the copy already there
                    continue
            except RuntimeError as e:
                print(f"{e}; downloading it again", file=sys.stderr)
            download_file(name, target, mirrors, resource)
        folder = target
    if folder is None:
        missing = ", ".join(_split_files(cls, train))
        raise RuntimeError(f"{cls.__name__}: dataset not found: {missing} not in any of "
                           f"{[str(c) for c in searched]}. Pass download=True, or set root= or "
                           "MINIGRAD_DATA_DIR to a folder holding the files.")
    image_file, label_file = _split_files(cls, train)
    images = read_idx(folder / image_file, cls.resources[image_file])
    labels = read_idx(folder / label_file, cls.resources[label_file])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{folder / image_file}, {folder / label_file}: expected images (N, H, W) and "
                         f"labels (N,), got shapes {images.shape} and {labels.shape}")
    return images, labels, folder


def load_arrays(cls, path=None):
    """Both splits, Keras-style: ((x_train, y_train), (x_test, y_test)), uint8 (N, 28, 28) images
    and uint8 (N,) labels; downloads what is missing (used by minigrad.keras.datasets)."""
    out = []
    for train in (True, False):
        images, labels, _ = load_split(cls, path, train, download=True)
        out.append((images, labels.astype(np.uint8)))
    return tuple(out)


class MNIST(Dataset):
    """The MNIST handwritten digits: 60,000 training / 10,000 test images, 28x28 uint8.

    data: uint8 (N, 28, 28); targets: int64 (N,). dataset[i] -> (transform(img), label)
    with img a uint8 (28, 28) array and label an int (through target_transform).
    Batchable (see minigrad.utils.data) when the transform is None or batchable.
    """

    folder = "mnist"
    mirrors = [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ]
    # filename -> (hash algorithm, what is hashed: "raw" uncompressed content | "gz" file, hex digest)
    resources = {
        "train-images-idx3-ubyte.gz":
            ("sha256", "raw", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
        "train-labels-idx1-ubyte.gz":
            ("sha256", "raw", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
        "t10k-images-idx3-ubyte.gz":
            ("sha256", "raw", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
        "t10k-labels-idx1-ubyte.gz":
            ("sha256", "raw", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
    }
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
               "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root=None, train=True, download=False, transform=None, target_transform=None):
        self.root = data_dir(root)
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        images, labels, self.folder_path = load_split(type(self), root, train, download)
        self.data = images
        self.targets = labels.astype(np.int64)

    @property
    def class_to_idx(self):
        return {c: i for i, c in enumerate(self.classes)}

    @property
    def batchable(self):
        return self.transform is None or getattr(self.transform, "batchable", False)

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        img, target = self.data[index].copy(), int(self.targets[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def get_batch(self, indices, rng=None):
        """-> (images, targets): images = transform.apply_batch(data[indices]), e.g. float32
        (N, 1, 28, 28) after ToTensor; targets int64 (N,) (collated target_transform outputs)."""
        images = self.data[indices]
        if self.transform is not None:
            images = self.transform.apply_batch(images, rng)
        targets = self.targets[indices]
        if self.target_transform is not None:
            targets = default_collate([self.target_transform(int(t)) for t in targets])
        return images, targets

    @property
    def raw_folder(self):
        """The folder the IDX files were read from."""
        return self.folder_path

    def __repr__(self):
        """As torchvision prints a dataset: name, size, root, split, then the transforms."""
        lines = [f"Dataset {type(self).__name__}", f"    Number of datapoints: {len(self)}",
                 f"    Root location: {self.root}", f"    Split: {'Train' if self.train else 'Test'}"]
        if self.transform is not None or self.target_transform is not None:
            lines.append("    StandardTransform")
        if self.transform is not None:
            lines.append(f"Transform: {self.transform!r}")
        if self.target_transform is not None:
            lines.append(f"Target transform: {self.target_transform!r}")
        return "\n".join(lines)


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: 10 clothing classes, same shapes and layout as MNIST."""

    folder = "fashion-mnist"
    mirrors = [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ]
    resources = {
        "train-images-idx3-ubyte.gz": ("md5", "gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        "train-labels-idx1-ubyte.gz": ("md5", "gz", "25c81989df183df01b3e8a0aad5dffbe"),
        "t10k-images-idx3-ubyte.gz": ("md5", "gz", "bef4ecab320f06d8554ea6380940ec79"),
        "t10k-labels-idx1-ubyte.gz": ("md5", "gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    }
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
