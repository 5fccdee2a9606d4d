"""Datasets and a DataLoader, shaped like torch.utils.data.

A Dataset maps an index to a sample; a DataLoader groups samples into batches and
collates them into minigrad Tensors.

Fast path: a dataset whose `batchable` attribute is true also offers
`get_batch(indices, rng=None)`, returning a whole batched sample (a tuple of arrays
with a leading batch dimension N) from an index array. The DataLoader then slices
batches with one numpy fancy-index per array instead of one Python call per sample;
TensorDataset, Subset of a batchable dataset, and the vision datasets (with batchable
transforms) all do this.

Randomness: shuffles (and, on the fast path, random transforms) draw from the loader's
`generator` (a minigrad.Generator, a numpy Generator or an int seed); without one, each
epoch's numpy Generator is seeded from numpy's global state, which `minigrad.manual_seed`
seeds. random_split draws the same way.
"""
import math
import numbers
import warnings

import numpy as np

from ...random import Generator
from .distributed import DistributedSampler
from .sampler import Sampler

__all__ = ["Dataset", "TensorDataset", "Subset", "DataLoader", "random_split", "default_collate", "Sampler",
           "DistributedSampler"]


def _to_numpy(x):
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "numpy"):
        return np.asarray(x.numpy())
    return np.asarray(x)


def _is_tensor(x):
    import minigrad
    tensor_cls = getattr(minigrad, "Tensor", None)
    return tensor_cls is not None and isinstance(x, tensor_cls)


def _to_tensor(arr):
    """A numpy array as a minigrad Tensor (sharing memory where the core allows)."""
    import minigrad
    arr = np.asarray(arr)
    if not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr)  # (np.ascontiguousarray alone would turn 0-d into 1-d)
    if hasattr(minigrad, "from_numpy"):
        return minigrad.from_numpy(arr)
    return minigrad.tensor(arr)


def make_rng(generator=None):
    """A numpy Generator from an int seed, a numpy Generator (returned as is), a minigrad Generator
    (its numpy one), or None (a seed drawn from numpy's global state, so minigrad.manual_seed makes
    it reproducible)."""
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, Generator):
        return generator.numpy
    if generator is None:
        generator = np.random.randint(0, 2**63 - 1, dtype=np.int64)
    if isinstance(generator, numbers.Integral):
        return np.random.default_rng(int(generator))
    raise TypeError(f"generator must be a minigrad.Generator, a numpy.random.Generator, an int seed or None, "
                    f"got {type(generator).__name__}")


class Dataset:
    """A map-style dataset: subclasses define __getitem__(index) and __len__."""

    batchable = False

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def get_batch(self, indices, rng=None):
        """A batched sample for an index array of shape (N,); the fallback loops over samples."""
        return default_collate([self[int(i)] for i in indices])


class TensorDataset(Dataset):
    """Samples are the i-th rows of each given array or Tensor; all must share their first dimension.

    dataset[i] -> tuple(t[i] for t in tensors) (Tensors for Tensor inputs, arrays otherwise).
    """

    batchable = True

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        self.tensors = tensors
        self._arrays = [_to_numpy(t) for t in tensors]
        self._was_tensor = [not isinstance(t, np.ndarray) and hasattr(t, "numpy") for t in tensors]
        sizes = [a.shape[0] if a.ndim else None for a in self._arrays]
        if None in sizes or len(set(sizes)) != 1:
            raise ValueError(f"TensorDataset: all tensors must have the same first dimension, "
                             f"got shapes {[a.shape for a in self._arrays]}")

    def __len__(self):
        return self._arrays[0].shape[0]

    def __getitem__(self, index):
        return tuple(_to_tensor(a[index]) if was_t else a[index]
                     for a, was_t in zip(self._arrays, self._was_tensor))

    def get_batch(self, indices, rng=None):
        """tuple of arrays, each (N, ...) = t[indices]."""
        return tuple(a[indices] for a in self._arrays)


class Subset(Dataset):
    """The samples of `dataset` at `indices`, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(dataset) if hasattr(dataset, "__len__") else None
        if n is not None and self.indices.size and (self.indices.min() < -n or self.indices.max() >= n):
            raise IndexError(f"Subset: indices must lie in [{-n}, {n}) for a dataset of length {n}, got range "
                             f"[{self.indices.min()}, {self.indices.max()}]")

    @property
    def batchable(self):
        return getattr(self.dataset, "batchable", False)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, index):
        if isinstance(index, (list, np.ndarray)):
            return [self.dataset[int(i)] for i in self.indices[index]]
        return self.dataset[int(self.indices[index])]

    def get_batch(self, indices, rng=None):
        return self.dataset.get_batch(self.indices[np.asarray(indices)], rng)


def random_split(dataset, lengths, generator=None):
    """Split `dataset` into non-overlapping Subsets of the given lengths, in random order.

    lengths: ints summing to len(dataset), or fractions summing to 1. Fractions are turned into
    counts as torch does: floor(n * fraction) each, then the items left over are dealt out one
    at a time from the first subset on. random_split(range(10), [0.25, 0.75]) -> lengths [3, 7].
    generator: a minigrad.Generator (or numpy one) for the permutation; default: the global stream.
    """
    n = len(dataset)
    lengths = list(lengths)
    total = sum(lengths)
    if math.isclose(total, 1) and total <= 1:
        for i, fraction in enumerate(lengths):
            if not 0 <= fraction <= 1:
                raise ValueError(f"random_split: the fraction lengths[{i}] is {fraction}, not between 0 and 1")
        counts = [math.floor(n * fraction) for fraction in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        for i, count in enumerate(counts):
            if count == 0:
                warnings.warn(f"random_split: the split at index {i} has length 0 (an empty dataset)")
        lengths = counts
    if any(x < 0 or int(x) != x for x in lengths) or sum(lengths) != n:
        raise ValueError(f"random_split: the lengths {lengths} must be non-negative ints summing to the dataset's "
                         f"length {n}, or fractions summing to 1")
    perm = make_rng(generator).permutation(n)
    bounds = np.cumsum([0] + [int(x) for x in lengths])
    return [Subset(dataset, perm[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def default_convert(data):
    """Turn numpy arrays in an already-batched sample into Tensors, keeping its structure."""
    if isinstance(data, np.ndarray):
        return _to_tensor(data)
    if isinstance(data, tuple):
        return tuple(default_convert(d) for d in data)
    if isinstance(data, list):
        return [default_convert(d) for d in data]
    if isinstance(data, dict):
        return {k: default_convert(v) for k, v in data.items()}
    return data


def default_collate(batch):
    """Stack a list of N samples into one batched sample, like torch's default_collate.

    Tensors and numpy arrays of shape S -> a Tensor (N, *S); Python ints -> int64 (N,);
    floats -> float64 (N,); bools -> bool (N,); numpy scalars keep their dtype; strings
    stay a list; tuples, lists and dicts are collated field by field.
    """
    if len(batch) == 0:
        raise ValueError("default_collate: empty batch")
    first = batch[0]
    if isinstance(first, tuple) and not hasattr(first, "_fields"):
        _check_sizes(batch)
        return tuple(default_collate(list(f)) for f in zip(*batch))
    if isinstance(first, list):
        _check_sizes(batch)
        return [default_collate(list(f)) for f in zip(*batch)]
    if isinstance(first, dict):
        return {k: default_collate([s[k] for s in batch]) for k in first}
    if isinstance(first, (str, bytes)):
        return list(batch)
    if isinstance(first, np.ndarray) or isinstance(first, np.generic) or _is_tensor(first):
        return _to_tensor(np.stack([_to_numpy(s) for s in batch]))
    if isinstance(first, bool):
        return _to_tensor(np.asarray(batch, dtype=np.bool_))
    if isinstance(first, numbers.Integral):
        return _to_tensor(np.asarray(batch, dtype=np.int64))
    if isinstance(first, numbers.Real):
        return _to_tensor(np.asarray(batch, dtype=np.float64))
    if hasattr(first, "numpy"):
        return _to_tensor(np.stack([_to_numpy(s) for s in batch]))
    raise TypeError(f"default_collate: don't know how to batch samples of type {type(first).__name__}")


def _check_sizes(batch):
    if len({len(s) for s in batch}) != 1:
        raise ValueError("default_collate: every sample in a batch must have the same number of fields")


def _check_bit_generator_state(state, where):
    """Raise ValueError unless `state` is a numpy bit generator's state (checked on a scratch one)."""
    kinds = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
    kind = state.get("bit_generator") if isinstance(state, dict) else None
    try:
        if kind not in kinds:
            raise ValueError(f"bit_generator must be one of {kinds}, got {kind!r}")
        getattr(np.random, kind)().state = state
    except (TypeError, ValueError, KeyError) as e:
        raise ValueError(f"{where} is not a numpy random state ({type(e).__name__}: {e})") from None


class DataLoader:
    """Iterate over `dataset` in batches of `batch_size` samples.

    shuffle: a new random order each epoch; drop_last: skip a final short batch;
    collate_fn: turns a list of samples into a batch (default: `default_collate`);
    generator: a minigrad.Generator, numpy Generator or int seed for the shuffles and random transforms.
    sampler: an iterable of indices with a length (e.g. DistributedSampler) giving the order instead of
    shuffle (the two are exclusive, as in torch).
    With the default collate_fn and a batchable dataset, batches come from
    `dataset.get_batch(indices)` (one fancy-index per batch, no per-sample loop).
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, collate_fn=None, generator=None,
                 sampler=None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Real):
            raise TypeError(f"DataLoader: batch_size must be a positive int, got {type(batch_size).__name__} "
                            f"{batch_size!r}")
        if not math.isfinite(batch_size) or int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler and shuffle=True are mutually exclusive (the sampler sets the order)")
        if sampler is not None and not (hasattr(sampler, "__iter__") and hasattr(sampler, "__len__")):
            raise TypeError(f"DataLoader: sampler must be an iterable of indices with a length, "
                            f"got {type(sampler).__name__}")
        self.sampler = sampler
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        self.generator = generator
        # an int seed starts one stream for all epochs; a Generator is read at each epoch, so reseeding it counts
        self._rng = make_rng(generator) if isinstance(generator, numbers.Integral) else None
        self._epoch = self._resume = None  # the epoch in progress; where load_state_dict resumes

    def __len__(self):
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        n = len(self.dataset)
        resume, self._resume = self._resume, None
        if resume is None:
            rng = self._rng if self._rng is not None else make_rng(self.generator)
        else:  # no fresh draw from the global stream: the interrupted epoch already made it
            rng = self._rng if self._rng is not None else (
                np.random.default_rng() if self.generator is None else make_rng(self.generator))
            rng.bit_generator.state = resume["epoch_rng_state"]
        epoch = {"rng": rng, "start": rng.bit_generator.state, "yielded": 0}
        if self.sampler is not None:  # the sampler's order is a function of its seed and epoch
            order = np.fromiter(iter(self.sampler), dtype=np.int64, count=len(self.sampler))
        else:
            order = rng.permutation(n) if self.shuffle else np.arange(n)
        if resume is not None:
            rng.bit_generator.state = resume["rng_state"]
            epoch["yielded"] = resume["batches_yielded"]
        self._epoch = epoch
        fast = self.collate_fn is None and getattr(self.dataset, "batchable", False)
        collate = self.collate_fn or default_collate
        for b in range(epoch["yielded"], len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            batch = default_convert(self.dataset.get_batch(idx, rng)) if fast else collate(
                [self.dataset[int(i)] for i in idx])
            epoch["yielded"] = b + 1
            yield batch
        if self._epoch is epoch:
            self._epoch = None

    def state_dict(self):
        """Where iteration stands, for load_state_dict to resume from (torchdata's StatefulDataLoader).

        Mid-epoch (after k batches were handed out): the random state the epoch's order was drawn
        from, the state now (random transforms continue from it) and k; between epochs, the
        loader's own stream (an int `generator`). Plain ints, str and numpy arrays: mg.save stores it.
        """
        epoch = self._epoch
        state = {"dataset_len": len(self.dataset), "batch_size": self.batch_size, "shuffle": self.shuffle,
                 "batches_yielded": 0, "epoch_rng_state": None, "rng_state": None}
        if epoch is not None:
            state.update(batches_yielded=epoch["yielded"], epoch_rng_state=epoch["start"],
                         rng_state=epoch["rng"].bit_generator.state)
        elif self._rng is not None:
            state["rng_state"] = self._rng.bit_generator.state
        if hasattr(self.sampler, "state_dict"):
            state["sampler"] = self.sampler.state_dict()
        return state

    def load_state_dict(self, state_dict):
        """Make the next iter() continue where state_dict() was taken: the same order, from the next batch."""
        name = "DataLoader.load_state_dict"
        if not isinstance(state_dict, dict) or "batches_yielded" not in state_dict:
            raise TypeError(f"{name}: expected a dict from DataLoader.state_dict(), got {type(state_dict).__name__}")
        for key, mine in (("dataset_len", len(self.dataset)), ("batch_size", self.batch_size),
                          ("shuffle", self.shuffle)):
            if state_dict.get(key) != mine:
                raise ValueError(f"{name}: the state was saved with {key}={state_dict.get(key)!r}, "
                                 f"this loader has {key}={mine!r}")
        k = state_dict["batches_yielded"]
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 0 <= k <= len(self):
            raise ValueError(f"{name}: batches_yielded must be an int in [0, {len(self)}], got {k!r}")
        for key in ("epoch_rng_state", "rng_state"):
            if state_dict.get(key) is not None:
                _check_bit_generator_state(state_dict[key], f"{name}: {key}")
        if hasattr(self.sampler, "load_state_dict") and state_dict.get("sampler") is not None:
            self.sampler.load_state_dict(state_dict["sampler"])
        self._epoch = None
        if state_dict["epoch_rng_state"] is not None:
            self._resume = {"batches_yielded": int(k), "epoch_rng_state": state_dict["epoch_rng_state"],
                            "rng_state": state_dict["rng_state"]}
        elif state_dict["rng_state"] is not None and self._rng is not None:
            self._rng.bit_generator.state = state_dict["rng_state"]
