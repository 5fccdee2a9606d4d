"""Chapter 17 exercises: the ring all-reduce, simulated; sharding; the cost of communication."""
import math

import numpy as np


def ring_allreduce(arrays):
    """arrays: R arrays of one shape (rank r's contribution) -> (R arrays holding the element-wise sum,
    a list of how many elements each rank sent). Only neighbour-to-neighbour transfers, rank r -> rank (r + 1) % R."""
    R = len(arrays)
    if R == 0:
        raise ValueError("ring_allreduce: need at least one array")
    shape = np.shape(arrays[0])
    if any(np.shape(a) != shape for a in arrays):
        raise ValueError(f"ring_allreduce: all arrays must have one shape, got {[np.shape(a) for a in arrays]}")
    # chunks[r][c]: rank r's copy of chunk c (np.array_split allows sizes not divisible by R)
    chunks = [[c.astype(np.float64) for c in np.array_split(np.ravel(a), R)] for a in arrays]
    sent = [0] * R
    # reduce-scatter: at step s rank r sends chunk (r - s) % R to the right, which adds it to its own copy;
    # after R - 1 steps rank r holds the full sum of chunk (r + 1) % R
    for s in range(R - 1):
        outgoing = [chunks[r][(r - s) % R].copy() for r in range(R)]  # everyone sends at once
        for r in range(R):
            c = (r - 1 - s) % R  # what arrives from the left neighbour
            chunks[r][c] += outgoing[(r - 1) % R]
        sent = [n + len(o) for n, o in zip(sent, outgoing)]
    # all-gather: the finished chunks go round the ring once more, overwriting the partial sums
    for s in range(R - 1):
        outgoing = [chunks[r][(r + 1 - s) % R].copy() for r in range(R)]
        for r in range(R):
            chunks[r][(r - s) % R] = outgoing[(r - 1) % R]
        sent = [n + len(o) for n, o in zip(sent, outgoing)]
    return [np.concatenate(c).reshape(shape) for c in chunks], sent


def shard_indices(n, world, rank):
    """DistributedSampler(shuffle=False)'s indices for `rank`: ceil(n / world) of them, padded by wrapping."""
    if not 0 <= rank < world:
        raise ValueError(f"shard_indices: rank must be in [0, {world - 1}], got {rank}")
    total = math.ceil(n / world) * world
    order = [i % n for i in range(total)]
    return order[rank:total:world]


def allreduce_seconds(num_params, world, gbit_per_s, bytes_per_param=4):
    """Time of one ring all-reduce: each rank sends 2 (R - 1) / R of the gradients over a gbit_per_s link."""
    if world == 1:
        return 0.0
    sent_bytes = 2 * (world - 1) / world * num_params * bytes_per_param
    return sent_bytes * 8 / (gbit_per_s * 1e9)
