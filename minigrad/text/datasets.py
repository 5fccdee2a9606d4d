"""Tiny Shakespeare (Karpathy's char-rnn corpus, 1,115,394 bytes), found, verified and split like MNIST.

Where the file lives: `<data dir>/tinyshakespeare/input.txt`, the data dir being `root` if given,
else $MINIGRAD_DATA_DIR, else ~/.cache/minigrad (minigrad.vision.datasets.data_dir). With
download=True a missing or corrupt file is fetched: first from the copy under
$MINIGRAD_DATA_DIR when `root` points elsewhere (offline), then from the mirrors, each
download verified against the SHA-256 before it is renamed into place.

    text = load_tinyshakespeare()                 # the whole corpus, a str
    train = load_tinyshakespeare(split="train")   # nanoGPT's split: the first 90%
"""
import hashlib
import os
import sys
from pathlib import Path

import numpy as np

from ..utils.data import Dataset
from ..vision.datasets import data_dir, download_file

__all__ = ["load_tinyshakespeare", "tinyshakespeare_path", "TokenBlocks", "SHAKESPEARE_SHA256"]

SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
SHAKESPEARE_MIRRORS = [
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
    "https://raw.githubusercontent.com/karpathy/nanoGPT/master/data/shakespeare_char/input.txt",
]
FOLDER, FILENAME = "tinyshakespeare", "input.txt"


def _verify(path, expected=None):
    """The file's bytes, or RuntimeError naming it when its SHA-256 is not `expected` (the corpus's)."""
    expected = expected or SHAKESPEARE_SHA256
    blob = Path(path).read_bytes()
    got = hashlib.sha256(blob).hexdigest()
    if got != expected:
        raise RuntimeError(f"{path}: checksum mismatch: SHA-256 is {got}, expected {expected}; the file is corrupt "
                           "or not tiny Shakespeare -- delete it and download it again")
    return blob


def _download(urls, target):
    """Fetch the first url (all ending in /input.txt) whose bytes verify, into target, atomically."""
    bases = [url.rsplit("/", 1)[0] for url in urls]
    return download_file(FILENAME, target.parent, bases, None, verify=_verify)


def _offline_sources(root):
    env = os.environ.get("MINIGRAD_DATA_DIR")
    if root is None or not env or data_dir(env).resolve() == data_dir(root).resolve():
        return []
    local = data_dir(env) / FOLDER / FILENAME
    return [local.resolve().as_uri()] if local.is_file() else []


def tinyshakespeare_path(root=None, download=False):
    """The verified input.txt: `<data dir>/tinyshakespeare/input.txt`, downloaded if asked and needed."""
    target = data_dir(root) / FOLDER / FILENAME
    if target.is_file():
        try:
            _verify(target)
            return target
        except RuntimeError as e:
            if not download:
                raise
            print(f"{e}; downloading it again", file=sys.stderr)
    if not download:
        raise RuntimeError(f"tiny Shakespeare: {target} not found. Pass download=True, or set root= or "
                           "MINIGRAD_DATA_DIR to a folder holding tinyshakespeare/input.txt.")
    return _download(_offline_sources(root) + SHAKESPEARE_MIRRORS, target)


def load_tinyshakespeare(root=None, split=None, download=False):
    """The corpus as a str: all of it (split=None), the first 90% ("train") or the rest ("val")."""
    if split not in (None, "train", "val"):
        raise ValueError(f"load_tinyshakespeare: split must be None, 'train' or 'val', got {split!r}")
    text = _verify(tinyshakespeare_path(root, download)).decode("utf-8")
    if split is None:
        return text
    n = int(0.9 * len(text))
    return text[:n] if split == "train" else text[n:]


class TokenBlocks(Dataset):
    """Next-token pairs from a 1-D token array: item i is (tokens[i : i+T], tokens[i+1 : i+T+1]),
    two int64 (T,) arrays, T = block_size. Batchable through the DataLoader's default collate."""

    def __init__(self, tokens, block_size):
        self.tokens = np.asarray(tokens, dtype=np.int64)
        if self.tokens.ndim != 1:
            raise ValueError(f"TokenBlocks: tokens must be 1-D, got shape {self.tokens.shape}")
        if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
            raise ValueError(f"TokenBlocks: block_size must be a positive int, got {block_size!r}")
        if len(self.tokens) <= block_size:
            raise ValueError(f"TokenBlocks: {len(self.tokens)} tokens are too few for blocks of {block_size} "
                             "plus the next token")
        self.block_size = block_size

    def __len__(self):
        return len(self.tokens) - self.block_size

    def __getitem__(self, i):
        if not -len(self) <= i < len(self):
            raise IndexError(f"TokenBlocks: index {i} out of range for {len(self)} blocks")
        i = i % len(self)
        chunk = self.tokens[i:i + self.block_size + 1]
        return chunk[:-1].copy(), chunk[1:].copy()
