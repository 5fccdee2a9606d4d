"""Checks that need several ranks: run as `mpiexec -n 2 python checks.py OUT_DIR` (tests/test_distributed.py
does). Each check runs on every rank; OUT_DIR/rank<r>.json maps each check's name to "ok" or what failed.
The single-process references are computed on every rank, from the same seed, on the whole batch."""
import contextlib
import datetime
import json
import os
import sys
import traceback

import numpy as np

import minigrad as mg
import minigrad.distributed as dist
import minigrad.nn as nn
import minigrad.nn.functional as F
from minigrad.nn.parallel import DistributedDataParallel as DDP
from minigrad.utils.data import DataLoader, DistributedSampler, TensorDataset

CHECKS = {}


def check(fn):
    CHECKS[fn.__name__] = fn
    return fn


def gather_numpy(arr):
    """Every rank's copy of a float64 array, stacked: (world, *shape)."""
    out = [mg.zeros(*arr.shape, dtype=mg.float64) for _ in range(dist.get_world_size())]
    dist.all_gather(out, mg.tensor(np.ascontiguousarray(arr, dtype=np.float64)))
    return np.stack([t.numpy() for t in out])


@contextlib.contextmanager
def raises(exc_type, *words):
    try:
        yield
    except exc_type as e:
        missing = [w for w in words if w not in str(e)]
        assert not missing, f"{exc_type.__name__} message {str(e)!r} lacks {missing}"
    else:
        raise AssertionError(f"no {exc_type.__name__} raised")


# ------------------------------------------------------------------ collectives
@check
def collectives():
    r, n = dist.get_rank(), dist.get_world_size()
    ranks = np.arange(n, dtype=np.float64)
    cases = [(dist.ReduceOp.SUM, ranks.sum()), (dist.ReduceOp.AVG, ranks.mean()), (dist.ReduceOp.MAX, n - 1.0),
             (dist.ReduceOp.MIN, 0.0), (dist.ReduceOp.PRODUCT, np.prod(ranks + 1))]
    for op, expected in cases:
        x = mg.full((2, 3), float(r + 1 if op is dist.ReduceOp.PRODUCT else r), dtype=mg.float64)
        assert dist.all_reduce(x, op=op) is None
        np.testing.assert_array_equal(x.numpy(), np.full((2, 3), expected), err_msg=str(op))
    xi = mg.tensor([r, 10 * r])
    dist.all_reduce(xi, op=dist.ReduceOp.MAX)
    assert xi.dtype == mg.int64 and xi.tolist() == [n - 1, 10 * (n - 1)]
    base = mg.tensor(np.arange(6.0).reshape(2, 3) * (r + 1))  # a transposed (non-contiguous) view, reduced in place
    view = base.T
    dist.all_reduce(view)
    np.testing.assert_array_equal(base.numpy(), np.arange(6.0).reshape(2, 3) * sum(range(1, n + 1)))
    x = mg.tensor([float(r)])
    work = dist.all_reduce(x, async_op=True)
    assert work.wait() and work.is_completed() and x.item() == ranks.sum()
    b = mg.tensor([[float(r), 7.0]])
    dist.broadcast(b, src=n - 1)
    assert b.tolist() == [[n - 1.0, 7.0]]
    out = [mg.zeros(2) for _ in range(n)]
    dist.all_gather(out, mg.tensor([float(r), r + 0.5]))
    assert [t.tolist() for t in out] == [[float(k), k + 0.5] for k in range(n)]
    dist.barrier()
    with raises(TypeError, "all_reduce", "AVG", "int64"):
        dist.all_reduce(mg.tensor([1, 2]), op=dist.ReduceOp.AVG)
    with raises(ValueError, "broadcast", "src", "5"):
        dist.broadcast(mg.zeros(1), src=5)
    with raises(ValueError, "all_gather", "rank 0: (1,)", "rank 1: (2,)"):  # shapes differ across ranks
        dist.all_gather([mg.zeros(r + 1) for _ in range(n)], mg.zeros(r + 1))
    with raises(ValueError, "all_gather", "list of world_size=2"):
        dist.all_gather([mg.zeros(1)], mg.zeros(1))
    with raises(RuntimeError, "already initialised"):
        dist.init_process_group("mpi")


# ------------------------------------------------------------------ DDP
def mlp(seed):
    mg.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3)).double()


class TiedLM(nn.Module):
    """A tiny language model whose output layer is its embedding, transposed. tokens: (N, T) -> (N, T, V)."""

    def __init__(self, vocab=7, dim=4):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.mix = nn.Linear(dim, dim)

    def forward(self, tokens):
        h = F.gelu(self.mix(self.emb(tokens)))
        return h @ self.emb.weight.T


def batch_mlp(step):
    rng = np.random.default_rng(100 + step)
    return mg.tensor(rng.standard_normal((8, 5))), mg.tensor(rng.integers(0, 3, 8))


def batch_lm(step):
    rng = np.random.default_rng(200 + step)
    return mg.tensor(rng.integers(0, 7, (8, 5))), mg.tensor(rng.integers(0, 7, (8, 5)))


def loss_of(model, x, y):
    out = model(x)
    return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))


def train(model, make_batch, optimizer, steps, shard=None):
    """`steps` optimiser steps; shard=(rank, world): this rank's contiguous part of each batch."""
    for step in range(steps):
        x, y = make_batch(step)
        if shard is not None:
            k = x.shape[0] // shard[1]
            x, y = x[shard[0] * k:(shard[0] + 1) * k], y[shard[0] * k:(shard[0] + 1) * k]
        optimizer.zero_grad()
        loss_of(model, x, y).backward()
        optimizer.step()


def params_of(model):
    return [p.detach().numpy().copy() for p in model.parameters()]


def same_as_one_process(make_model, make_batch, make_opt, bucket_cap_mb):
    r, n = dist.get_rank(), dist.get_world_size()
    reference = make_model(1)
    train(reference, make_batch, make_opt(reference), 3)
    ddp = DDP(make_model(1 + r), bucket_cap_mb=bucket_cap_mb)  # different seeds: the wrap copies rank 0's
    assert all(np.array_equal(a, b) for a, b in zip(params_of(ddp.module), params_of(make_model(1))))
    train(ddp, make_batch, make_opt(ddp), 3, shard=(r, n))
    for (name, p), want in zip(ddp.module.named_parameters(), params_of(reference)):
        np.testing.assert_allclose(p.numpy(), want, rtol=1e-12, atol=1e-13, err_msg=name)
        copies = gather_numpy(p.numpy())
        assert all(np.array_equal(copies[0], c) for c in copies[1:]), f"{name} differs across ranks"
    return ddp


@check
def ddp_wrap_makes_ranks_equal():
    model = DDP(mlp(10 + dist.get_rank()))
    for name, p in model.module.named_parameters():
        copies = gather_numpy(p.numpy())
        assert all(np.array_equal(copies[0], c) for c in copies[1:]), name
    assert set(model.state_dict()) == {"module." + k for k in model.module.state_dict()}


@check
def ddp_mlp_matches_one_process():
    for cap in (25.0, 1e-4):  # one bucket; one bucket per parameter (reductions overlap backward)
        ddp = same_as_one_process(mlp, batch_mlp, lambda m: mg.optim.SGD(m.parameters(), lr=0.1, momentum=0.9), cap)
        assert len(ddp.reducer.buckets) == (1 if cap == 25.0 else 6)
    same_as_one_process(mlp, batch_mlp, lambda m: mg.optim.Adam(m.parameters(), lr=0.01), 1e-4)


@check
def ddp_tied_weights_match_one_process():
    def make(seed):
        mg.manual_seed(seed)
        return TiedLM().double()
    ddp = same_as_one_process(make, batch_lm, lambda m: mg.optim.AdamW(m.parameters(), lr=0.01), 1e-4)
    assert len(ddp.reducer._where) == 3  # emb.weight once, mix.weight, mix.bias


@check
def ddp_no_sync_accumulates():
    r, n = dist.get_rank(), dist.get_world_size()
    reference = mlp(0)
    x, y = batch_mlp(0)
    loss_of(reference, x, y).backward()
    k = x.shape[0] // (2 * n)  # two micro-batches per rank
    parts = [(x[(2 * r + m) * k:(2 * r + m + 1) * k], y[(2 * r + m) * k:(2 * r + m + 1) * k]) for m in range(2)]
    for style in ("no_sync", "attribute"):  # the attribute is how nanoGPT's loop switches it
        ddp = DDP(mlp(0), bucket_cap_mb=1e-4)
        if style == "no_sync":
            with ddp.no_sync():
                (loss_of(ddp, *parts[0]) / 2).backward()
        else:
            ddp.require_backward_grad_sync = False
            (loss_of(ddp, *parts[0]) / 2).backward()
            ddp.require_backward_grad_sync = True
        local = ddp.module[0].weight.grad.numpy().copy()
        assert not np.allclose(*gather_numpy(local)[:2]), f"{style}: the gradients were reduced"
        (loss_of(ddp, *parts[1]) / 2).backward()
        for p, q in zip(ddp.module.parameters(), reference.parameters()):
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12, atol=1e-14, err_msg=style)


class Branchy(nn.Module):
    """Rank 0 uses `extra`, the others do not: x: (N, 5) -> (N, 3)."""

    def __init__(self):
        super().__init__()
        self.body, self.extra = nn.Linear(5, 3), nn.Linear(5, 3)

    def forward(self, x, use_extra):
        return self.body(x) + (self.extra(x) if use_extra else 0.0)


@check
def ddp_parameter_unused_on_one_rank():
    r = dist.get_rank()
    mg.manual_seed(3)
    ddp = DDP(Branchy().double())
    x, _ = batch_mlp(0)
    ddp(x, use_extra=(r == 0)).sum().backward()
    for name, p in ddp.module.named_parameters():
        copies = gather_numpy(p.grad.numpy())
        assert all(np.array_equal(copies[0], c) for c in copies[1:]), f"{name}.grad differs across ranks"
    g = ddp.module.extra.bias.grad.numpy()
    np.testing.assert_allclose(g, np.full(3, 8.0 / dist.get_world_size()))  # rank 0's sum of ones, averaged


@check
def ddp_mismatched_shapes_raise_on_every_rank():
    r = dist.get_rank()
    model = nn.Sequential(nn.Linear(4, 2 + r), nn.Linear(2 + r, 1))
    with raises(ValueError, "DistributedDataParallel", "'0.weight'", "(2, 4)", "(3, 4)", "rank 1"):
        DDP(model)


@check
def ddp_broadcasts_buffers():
    mg.manual_seed(4)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).double()
    ddp = DDP(model)
    ddp(mg.tensor(np.random.default_rng(dist.get_rank()).standard_normal((6, 3))))
    ddp(mg.zeros(2, 3, dtype=mg.float64))  # the forward after copies rank 0's running stats first
    copies = gather_numpy(model[1].running_mean.numpy())
    assert np.array_equal(copies[0], copies[1])


# ------------------------------------------------------------------ sampler and Keras
@check
def sampler_shards_cover_the_data():
    n = 11
    for shuffle in (True, False):
        sampler = DistributedSampler(range(n), shuffle=shuffle, seed=5)
        sampler.set_epoch(2)
        mine = np.array(list(sampler), dtype=np.float64)
        everyone = gather_numpy(mine)
        assert everyone.shape == (dist.get_world_size(), 6)
        assert sorted(set(everyone.ravel().astype(int))) == list(range(n))
        assert everyone.size - n == 1  # one index repeated, as padding
    ds = TensorDataset(np.arange(10.0))
    loader = DataLoader(ds, batch_size=2, sampler=DistributedSampler(ds, shuffle=False))
    seen = np.concatenate([b[0].numpy() for b in loader])
    assert seen.tolist() == list(np.arange(dist.get_rank(), 10, dist.get_world_size()).astype(float))


@check
def keras_fit_matches_one_process():
    import minigrad.keras as keras
    r, n = dist.get_rank(), dist.get_world_size()
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 6)).astype(np.float32), rng.integers(0, 3, 32)

    def make(seed):
        mg.manual_seed(seed)
        model = keras.Sequential([keras.layers.Dense(8, activation="relu", input_shape=(6,)),
                                  keras.layers.Dense(3, activation="softmax")])
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
        return model
    reference = make(1)
    reference.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    model = make(1 + r)
    history = dist.keras.fit(model, x, y, batch_size=8 // n, epochs=2, shuffle=False, verbose=0)
    assert len(history.history["loss"]) == 2
    for w, want in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(w, want, rtol=2e-5, atol=2e-6)


def main(out_dir):
    dist.init_process_group("mpi", timeout=datetime.timedelta(seconds=20))
    results = {}
    for name, fn in CHECKS.items():
        print(dist.get_rank(), name, file=sys.stderr, flush=True)  # (shows where a hang happened)
        try:
            fn()
            results[name] = "ok"
        except Exception:  # recorded, so pytest shows which check failed and why
            results[name] = traceback.format_exc()
    path = os.path.join(out_dir, f"rank{dist.get_rank()}.json")
    with open(path + ".tmp", "w") as f:
        json.dump(results, f)
    os.replace(path + ".tmp", path)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
