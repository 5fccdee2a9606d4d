"""The IMDB movie-review sentiment data, as keras.datasets.imdb: 25,000 training and 25,000 test
reviews as lists of word ids (most frequent word = 1, shifted by index_from), labels 0/1.

The file is Keras' imdb.npz, looked for in `path` when it names a folder, else in
$MINIGRAD_DATA_DIR (or ~/.cache/minigrad) under imdb/ or at its top; when missing it is
fetched (the copy under $MINIGRAD_DATA_DIR first, then the mirrors) and verified against its
SHA-256 before it gets its name. A file path (with a folder part) is read as it is, unverified:
that is how to read another file in the same layout (the tests use tiny ones).

Its reviews are object arrays, i.e. pickles; minigrad does not unpickle: a restricted reader
(_npy_lists) accepts only that layout (lists of ints). Parsing 12 million ids that way takes
some 20 s, so the first load of the verified file also writes plain arrays (ids + lengths,
imdb.flat.npz, tied to the source's SHA-256) that later loads read directly.
"""
import hashlib
import itertools
import os
from pathlib import Path

import numpy as np

from ...vision.datasets import data_dir, download_file
from ._npy_lists import read_npz
from ... import _files

SHA256 = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
MIRRORS = ["https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
           "https://s3.amazonaws.com/text-datasets/"]


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _verify(path):
    got = _sha256(path)
    if got != SHA256:
        raise RuntimeError(f"{path}: checksum mismatch: SHA-256 is {got}, expected {SHA256}; the file is corrupt or "
                           "not Keras' imdb.npz -- delete it and load again (or pass path= to read a file as it is)")


def _download(folder):
    """Fetch imdb.npz into `folder` from the first source whose copy verifies (the offline copy under
    $MINIGRAD_DATA_DIR first, then the mirrors); the file appears under its name only once verified."""
    env = os.environ.get("MINIGRAD_DATA_DIR")
    offline = [Path(env).resolve() / d for d in ("imdb", ".") if env]
    bases = [d.as_uri() for d in offline if (d / "imdb.npz").is_file()] + list(MIRRORS)
    return download_file("imdb.npz", folder, bases, None, verify=_verify)


def _locate(path):
    """(file, verify?). path: a file path (read as it is, unverified), a folder holding imdb.npz, or
    the default name, looked for in <data dir>/imdb/ and <data dir>."""
    if path is not None and os.path.isfile(path) and os.path.basename(path) != path:
        return Path(path), False
    folders = [Path(path)] if path is not None and os.path.isdir(path) else [data_dir() / "imdb", data_dir()]
    for folder in folders:
        if (folder / "imdb.npz").is_file():
            return folder / "imdb.npz", True
    return _download(folders[0]), True


def _read(file, verify):
    """{x_train, x_test: (ids int64, lengths int64) of the concatenated reviews; y_train, y_test}."""
    flat = file.with_name(file.stem + ".flat.npz")
    if verify:
        digest = _sha256(file)
        if digest != SHA256:
            _verify(file)
        if flat.is_file():
            with np.load(flat, allow_pickle=False) as f:
                if str(f["source_sha256"]) == digest:
                    return {k: (f[f"{k}_ids"], f[f"{k}_lengths"]) if k.startswith("x") else f[k]
                            for k in ("x_train", "y_train", "x_test", "y_test")}
    data = read_npz(file)
    missing = {"x_train", "y_train", "x_test", "y_test"} - set(data)
    if missing:
        raise ValueError(f"imdb: {file} lacks {sorted(missing)}")
    for k in ("x_train", "x_test"):
        seqs = data[k]
        lengths = np.fromiter(map(len, seqs), np.int64, len(seqs))
        data[k] = (np.fromiter(itertools.chain.from_iterable(seqs), np.int64, int(lengths.sum())), lengths)
    if verify:
        _write_flat(flat, data, digest)
    return data


def _write_flat(flat, data, digest):
    arrays = {"source_sha256": np.array(digest), "y_train": data["y_train"], "y_test": data["y_test"]}
    for k in ("x_train", "x_test"):
        arrays[f"{k}_ids"], arrays[f"{k}_lengths"] = data[k]
    try:
        fd, tmp = _files.mkstemp(dir=flat.parent, suffix=".npz")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, flat)
    except OSError:  # a read-only data dir: just parse again next time
        pass


def _select(ids, lengths, rows):
    """The reviews `rows` (indices, in that order) of the concatenation (ids, lengths)."""
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    new = lengths[rows]
    seg = np.repeat(np.arange(len(rows)), new)
    pos = np.arange(int(new.sum())) - np.repeat(np.cumsum(new) - new, new)
    return ids[starts[rows][seg] + pos], new


def load_data(path="imdb.npz", num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1, oov_char=2,
              index_from=3, **kwargs):
    """-> ((x_train, y_train), (x_test, y_test)) exactly as Keras returns them: x are 1-D object arrays of
    lists of word ids (each starting with start_char, ids shifted by index_from, ids >= num_words or
    < skip_top replaced by oov_char -- or dropped when oov_char is None), y int arrays of 0/1; both
    splits shuffled with numpy's RandomState(seed); maxlen drops the reviews of maxlen words or more.
    (Keras' rules, applied to the concatenated ids with numpy rather than list by list.)"""
    if kwargs:
        raise TypeError(f"imdb.load_data: unexpected keyword argument(s) {sorted(kwargs)}")
    data = _read(*_locate(path))
    rs = np.random.RandomState(seed)
    splits = []
    for x_key, y_key in (("x_train", "y_train"), ("x_test", "y_test")):
        (ids, lengths), ys = data[x_key], np.asarray(data[y_key])
        if len(lengths) != len(ys):
            raise ValueError(f"imdb: {x_key} has {len(lengths)} reviews but {y_key} has {len(ys)} labels")
        order = np.arange(len(ys))
        rs.shuffle(order)
        ids, lengths = _select(ids, lengths, order)
        ys = ys[order]
        if index_from:
            ids = ids + index_from
        if start_char is not None:
            ids = np.insert(ids, np.cumsum(lengths) - lengths, start_char)
            lengths = lengths + 1
        if maxlen:
            keep = np.flatnonzero(lengths < maxlen)
            ids, lengths = _select(ids, lengths, keep)
            ys = ys[keep]
        splits.append([ids, lengths, ys])
    if maxlen and not (len(splits[0][1]) and len(splits[1][1])):
        raise ValueError(f"imdb.load_data: after filtering for sequences shorter than maxlen={maxlen}, no sequence "
                         "was kept; increase maxlen")
    if not num_words:
        num_words = max((int(ids.max()) for ids, _, _ in splits if ids.size), default=0)
    out = []
    for ids, lengths, ys in splits:
        valid = (ids >= skip_top) & (ids < num_words)
        if oov_char is not None:
            ids = np.where(valid, ids, oov_char)
        else:
            seg = np.repeat(np.arange(len(lengths)), lengths)
            ids, lengths = ids[valid], np.bincount(seg[valid], minlength=len(lengths))
        arr = np.empty(len(lengths), dtype=object)
        arr[:] = [part.tolist() for part in np.split(ids, np.cumsum(lengths)[:-1])] if len(lengths) else []
        out.append((arr, ys))
    return tuple(out)


def get_word_index(path="imdb_word_index.json"):
    raise NotImplementedError("imdb.get_word_index: not provided by minigrad (the ids are enough to train)")
