"""DistributedSampler: each rank reads its own, equal share of a dataset (torch.utils.data.distributed).

With R ranks and n samples, every epoch all ranks draw the same permutation (seeded with seed + epoch),
pad it by repeating its start (or cut it, drop_last=True) to a multiple of R, and rank r takes the
positions r, r + R, r + 2R, ... So the shards are disjoint (up to the padding), cover the data set and
have the same length, which keeps every rank doing the same number of steps: a rank that ran one step
more would wait forever in its gradient all-reduce.

    sampler = DistributedSampler(train_set)                     # world size and rank from the process group
    loader = DataLoader(train_set, batch_size=64, sampler=sampler)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)                                 # a new order each epoch
        for x, y in loader: ...
"""
import math
import numbers

import numpy as np

from .sampler import Sampler

__all__ = ["DistributedSampler"]


def _check_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"DistributedSampler: {name} must be an int, got {type(value).__name__} {value!r}")
    return int(value)


class DistributedSampler(Sampler):
    """The indices of this rank's shard of `dataset`: len(sampler) = num_samples on every rank.

    num_replicas, rank: default to the world size and rank of the initialised process group.
    shuffle: a permutation seeded with seed + epoch (call set_epoch each epoch); else 0..n-1 in order.
    drop_last: cut the tail so that n splits evenly (else pad with the first indices again).
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        if num_replicas is None or rank is None:
            from ... import distributed as dist
            if not dist.is_initialized():
                raise RuntimeError("DistributedSampler: pass num_replicas and rank, or call "
                                   "minigrad.distributed.init_process_group() first")
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        num_replicas, rank = _check_int("num_replicas", num_replicas), _check_int("rank", rank)
        if num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be >= 1, got {num_replicas}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: rank must be in [0, {num_replicas - 1}], got {rank}")
        self.dataset = dataset
        self.num_replicas, self.rank = num_replicas, rank
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        self.seed = _check_int("seed", seed)
        self.epoch = 0
        n = len(dataset)
        if drop_last and n % num_replicas:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)  # = n // num_replicas
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def set_epoch(self, epoch):
        """Use epoch's permutation next (the same on every rank, different from other epochs')."""
        self.epoch = _check_int("epoch", epoch)

    def state_dict(self):
        """The settings and epoch that fix this rank's order (DataLoader.state_dict includes it)."""
        return {"num_replicas": self.num_replicas, "rank": self.rank, "seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state_dict):
        for key in ("num_replicas", "rank", "seed"):
            if state_dict.get(key) != getattr(self, key):
                raise ValueError(f"DistributedSampler.load_state_dict: the state was saved with {key}="
                                 f"{state_dict.get(key)!r}, this sampler has {key}={getattr(self, key)!r}")
        self.set_epoch(state_dict["epoch"])

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            order = np.random.default_rng(self.seed + self.epoch).permutation(n)
        else:
            order = np.arange(n)
        if self.drop_last:
            order = order[:self.total_size]
        elif self.total_size > n:  # pad by repeating from the start (several times over if n < num_replicas)
            order = np.resize(order, self.total_size) if n else order
        return iter(order[self.rank:self.total_size:self.num_replicas].tolist())

    def __len__(self):
        return self.num_samples
