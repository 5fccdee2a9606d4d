# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 17 · Data-parallel training
#
# **What you will learn**
# - why averaging gradients over shards of a batch gives *exactly* the gradient of the whole batch, which
#   is all data parallelism needs;
# - how MPI runs one script as several processes (*ranks*), and an all-reduce written by hand with
#   `mpi4py`; how the ring all-reduce makes its cost independent of the number of ranks;
# - `DistributedDataParallel`: the four changes that make a training loop data-parallel, checked to give
#   the same weights as one process;
# - what scales and what does not: images per second on 1 and 2 ranks, and how DDP overlaps the
#   gradient communication with the backward pass, measured and plotted.
#
# The notebook writes small scripts and starts them with `mpiexec -n 2`, because a data-parallel job is
# several processes and a notebook is one. It needs `mpi4py` and an MPI library
# (`pip install "minigrad[distributed]"` brings both, with `mpiexec` next to `python`); without them
# the MPI cells say so and skip. The reference for everything used here is `docs/distributed.md`.

# %%
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F

FAST = os.environ.get("MINIGRAD_FAST") == "1"
if "MINIGRAD_DATA_DIR" not in os.environ and os.path.isdir("../../shared/data/mnist"):
    os.environ["MINIGRAD_DATA_DIR"] = os.path.abspath("../../shared/data")  # a local copy, if there is one
_ = mg.manual_seed(0)

beside = Path(sys.executable).parent / "mpiexec"  # the mpich wheel puts it next to python
MPIEXEC = str(beside) if beside.exists() else shutil.which("mpiexec")
HAVE_MPI = MPIEXEC is not None and importlib.util.find_spec("mpi4py") is not None
if not HAVE_MPI:
    print("mpi4py or mpiexec is missing: the cells that launch several processes will skip.\n"
          "To run them: pip install 'minigrad[distributed]'")
WORK = Path(tempfile.mkdtemp(prefix="ch17-"))  # the scripts and their results go here


def launch(script, *args, n=2, threads=1, timeout=600):
    """Run `mpiexec -n n python script args...`; return its stdout (raise with both streams on failure)."""
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    cmd = [MPIEXEC, "-n", str(n), sys.executable, str(script), *map(str, args)]
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({run.returncode}):\n"
                           f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    return run.stdout


# %% [markdown]
# ## Why averaging gradients is enough
#
# A training step computes the gradient of the mean loss over a batch of $B$ examples. Split the batch
# into $R$ shards of $B/R$ examples, one per worker. The mean over the batch is the mean of the shards'
# means, and the gradient is linear, so
#
# $$\nabla_\theta \frac{1}{B}\sum_{i=1}^{B} \ell_i = \frac{1}{R}\sum_{r=1}^{R} g_r, \qquad
#   g_r = \nabla_\theta \frac{R}{B}\sum_{i \in \text{shard } r} \ell_i \ \text{(what worker } r \text{ computes)}.$$
#
# So if every worker holds the **same weights**, computes $g_r$ on its own shard, and all of them then
# replace their gradient by the **average** $\frac{1}{R}\sum_r g_r$, each takes exactly the step one
# process would have taken on the whole batch, and the copies stay identical. That is data parallelism.
# It is not an approximation (up to the rounding of a different summation order), provided the shards
# have equal sizes and nothing couples the examples of a batch (BatchNorm does: its statistics are then
# per shard). Checked in one process:

# %%
model = nn.Sequential(nn.Linear(10, 16), nn.Tanh(), nn.Linear(16, 3)).to(mg.float64)
x, y = mg.randn(8, 10, dtype=mg.float64), mg.tensor(np.random.default_rng(0).integers(0, 3, 8))


def grads(xb, yb):
    model.zero_grad()
    F.cross_entropy(model(xb), yb).backward()
    return [p.grad.numpy().copy() for p in model.parameters()]


whole = grads(x, y)
shards = [grads(x[:4], y[:4]), grads(x[4:], y[4:])]
averaged = [(a + b) / 2 for a, b in zip(*shards)]
print("max |whole-batch gradient - average of the two shards' gradients|:",
      max(np.abs(w - a).max() for w, a in zip(whole, averaged)))

# %% [markdown]
# ## Several processes: MPI
#
# The workers are separate processes, each with its own Python interpreter and its own copy of the
# model, so that nothing (not even the GIL) is shared. **MPI** starts them and connects them:
# `mpiexec -n 4 python train.py` runs four copies of the *same* script (SPMD: single program, multiple
# data). Each asks for its **rank** (0 to 3) and the **world size** (4), and behaves accordingly: read
# shard `rank`, print only on rank 0. The processes talk by messages: `comm.Send(array, dest)` and
# `comm.Recv(array, source)` copy a numpy buffer from one rank to another (the capitalised mpi4py
# methods take buffers directly; the lower-case ones pickle Python objects, which we never need).
#
# ### An all-reduce by hand
#
# What DDP needs after every backward pass is an **all-reduce**: every rank contributes an array and
# every rank receives the element-wise sum. The simplest way: everyone sends to rank 0, rank 0 adds them
# up and sends the sum back. The script below does that with `Send`/`Recv`, and compares the result with
# MPI's own `Allreduce`.

# %%
ALLREDUCE = r'''
import sys
import numpy as np
from mpi4py import MPI

comm = MPI.COMM_WORLD
rank, world = comm.Get_rank(), comm.Get_size()
x = np.arange(6, dtype=np.float64) * (rank + 1)          # each rank's own "gradient"


def allreduce_via_root(x):
    """Everyone sends to rank 0, rank 0 sums and sends the total back to everyone."""
    total = x.copy()
    if rank == 0:
        buf = np.empty_like(x)
        for src in range(1, world):
            comm.Recv(buf, source=src)
            total += buf
        for dst in range(1, world):
            comm.Send(total, dest=dst)
    else:
        comm.Send(x, dest=0)
        comm.Recv(total, source=0)
    return total


mine = allreduce_via_root(x)
theirs = np.empty_like(x)
comm.Allreduce(x, theirs, op=MPI.SUM)
print(f"rank {rank}/{world}: mine {mine}, MPI's {theirs}, equal: {np.array_equal(mine, theirs)}", flush=True)
'''
script = WORK / "allreduce.py"
script.write_text(ALLREDUCE)
if HAVE_MPI:
    for n in (2, 4):
        print(f"--- mpiexec -n {n}")
        print("".join(sorted(launch(script, n=n).splitlines(True))))

# %% [markdown]
# (With 4 ranks on a 2-core machine the processes take turns on the cores; for messages this small it
# does not matter.)
#
# ### Why not through rank 0: the ring
#
# Through rank 0, the root receives $R - 1$ whole arrays and sends $R - 1$ back: its traffic, and so the
# time, grows with the number of ranks. The **ring all-reduce** avoids the bottleneck. Cut each array
# into $R$ chunks and arrange the ranks in a ring. In $R - 1$ steps of *reduce-scatter*, every rank sends
# one chunk to its right neighbour and adds the chunk it receives from its left one; afterwards rank $r$
# holds the complete sum of one chunk. In $R - 1$ steps of *all-gather* the finished chunks travel round
# the ring once more. Each rank sends $2(R-1)$ chunks of size $n/R$, that is
#
# $$2\,\frac{R-1}{R}\,n \ \text{elements, less than } 2n \text{ whatever } R,$$
#
# and all links are busy at once. That is why data-parallel training scales to hundreds of GPUs: the
# communication per step is about twice the model size per rank, nearly independent of the number of
# ranks. (MPI libraries pick between ring, tree and other algorithms by message size; exercise 1
# writes the ring.) What the cost *does* grow with is the model; the next script measures `Allreduce`
# against the message size, on this machine, where a "message" is a copy through shared memory.

# %%
BANDWIDTH = r'''
import json, sys, time
import numpy as np
from mpi4py import MPI

comm = MPI.COMM_WORLD
sizes, reps, out = [int(s) for s in sys.argv[1].split(",")], int(sys.argv[2]), sys.argv[3]
results = []
for n in sizes:
    x, y = np.ones(n, np.float32), np.empty(n, np.float32)
    comm.Allreduce(x, y)                      # warm up
    best = float("inf")
    for _ in range(reps):
        comm.Barrier()
        t = time.perf_counter()
        comm.Allreduce(x, y)
        best = min(best, time.perf_counter() - t)
    results.append({"floats": n, "seconds": comm.allreduce(best, op=MPI.MAX)})
if comm.Get_rank() == 0:
    with open(out, "w") as f:
        json.dump(results, f)
'''
(WORK / "bandwidth.py").write_text(BANDWIDTH)
if HAVE_MPI:
    sizes = [10 ** k for k in range(2, 8)]
    launch(WORK / "bandwidth.py", ",".join(map(str, sizes)), 3 if FAST else 10, WORK / "bandwidth.json")
    bw = json.loads((WORK / "bandwidth.json").read_text())
    mb = [r["floats"] * 4 / 2**20 for r in bw]
    ms = [1000 * r["seconds"] for r in bw]
    cnn_mb = 225_034 * 4 / 2**20
    plt.figure(figsize=(6.5, 4))
    plt.loglog(mb, ms, "o-", label="Allreduce, 2 ranks, this machine")
    plt.axvline(cnn_mb, color="gray", ls=":", label=f"the seed CNN's gradients ({cnn_mb:.1f} MB)")
    plt.xlabel("message size (MB, float32)")
    plt.ylabel("time (ms, best of several)")
    plt.title("all-reduce time against message size")
    plt.legend()
    plt.grid(alpha=0.3, which="both")
    plt.show()
    for m, t in zip(mb, ms):
        print(f"{m:9.3f} MB  {t:8.3f} ms  {m / max(t, 1e-9) * 1000 / 1024:7.2f} GB/s")

# %% [markdown]
# Small messages cost a fixed latency (a few microseconds here, through shared memory; more on a
# loaded machine or across a network); large ones
# cost their size over the bandwidth. Between machines the bandwidth is far lower (1 Gbit/s Ethernet
# moves about 0.1 GB/s), which is why overlapping the communication with computation matters, below.
#
# ## `DistributedDataParallel`
#
# minigrad follows PyTorch: `minigrad.distributed` has `torch.distributed`'s functions and
# `nn.parallel.DistributedDataParallel` wraps a model. Four changes turn a training loop into a
# data-parallel one:
#
# 1. `dist.init_process_group("mpi")`: join the job `mpiexec` started;
# 2. `model = DDP(model)`: copies rank 0's initial weights to every rank, and from then on averages the
#    gradients *inside* `backward()`;
# 3. `DistributedSampler(dataset)` in the `DataLoader`: each rank reads its own shard, and
#    `sampler.set_epoch(epoch)` reshuffles each epoch identically on every rank;
# 4. only rank 0 prints and saves.
#
# The first script checks the promise of the first section through the real thing: two ranks train a
# small float64 network with DDP, each on half of every batch, while every rank also trains a plain copy
# on the whole batch; after a few steps the weights must agree to rounding.

# %%
EQUIVALENCE = r'''
import numpy as np
import minigrad as mg
import minigrad.distributed as dist
import minigrad.nn as nn
import minigrad.nn.functional as F
from minigrad.nn.parallel import DistributedDataParallel as DDP

dist.init_process_group("mpi")
rank, world = dist.get_rank(), dist.get_world_size()


def make():
    return nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 5)).to(mg.float64)


mg.manual_seed(rank)          # different initial weights on each rank on purpose: DDP copies rank 0's
ddp = DDP(make())
single = make()
single.load_state_dict(ddp.module.state_dict())
opt_ddp = mg.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
opt_single = mg.optim.SGD(single.parameters(), lr=0.1, momentum=0.9)
rng = np.random.default_rng(0)  # the same batches on every rank
for step in range(10):
    x, y = mg.tensor(rng.normal(size=(32, 20))), mg.tensor(rng.integers(0, 5, 32))
    shard = slice(rank * 32 // world, (rank + 1) * 32 // world)
    for model, opt, xb, yb in ((ddp, opt_ddp, x[shard], y[shard]), (single, opt_single, x, y)):
        opt.zero_grad()
        F.cross_entropy(model(xb), yb).backward()
        opt.step()
diff = max(float(np.abs(a.numpy() - b.numpy()).max()) for a, b in zip(ddp.parameters(), single.parameters()))
print(f"rank {rank}: after 10 steps, max |DDP weights - one process on the whole batch| = {diff:.1e}", flush=True)
dist.destroy_process_group()
'''
(WORK / "equivalence.py").write_text(EQUIVALENCE)
if HAVE_MPI:
    print("".join(sorted(launch(WORK / "equivalence.py").splitlines(True))))

# %% [markdown]
# Both ranks end with the weights one process gets from the whole batches, to about $10^{-16}$
# (float64 rounding: the two halves are summed in another order). Note `mg.manual_seed(rank)`: the ranks
# *started* from different random weights, and DDP's constructor replaced them by rank 0's.
#
# ### Training the seed CNN on two ranks
#
# The library ships the full example, `minigrad.examples.mnist_ddp` (the seeds' CNN with
# `DistributedSampler`, evaluation split over the ranks, a checkpoint written by rank 0). Here it is,
# launched on two ranks of one thread each:

# %%
if HAVE_MPI:
    limit = ["--limit", "1024"] if FAST else []
    start = time.time()
    log = launch("-m", "minigrad.examples.mnist_ddp", "--epochs", 1, "--threads", 1, *limit,
                 "--out", WORK / "mnist_ddp", timeout=3600)
    print(log)
    print(f"({time.time() - start:.0f} s including start-up)")

# %% [markdown]
# ## What scales, and the overlap
#
# Now we measure. The script below trains the CNN for a number of steps on real MNIST images with 64
# images **per rank** per step (*weak scaling*: two ranks process twice the images per step) and records,
# on each rank:
#
# - the time of each step, and the time spent **waiting** for gradient reductions after backward;
# - for the last step, a timeline: when backward started, when each gradient *bucket*'s reduction was
#   started, when backward ended and when the last reduction was done.
#
# DDP does not wait for the end of backward to communicate. It groups the parameters into **buckets** of
# about `bucket_cap_mb`, last layers first (backward produces their gradients first). As soon as every
# gradient in a bucket is ready, a non-blocking all-reduce (`Iallreduce`) starts for it, while backward
# goes on computing the earlier layers. With one big bucket (25 MB holds this whole model) nothing can
# start before backward ends; with small buckets most of the communication can hide behind compute.
# Here is the hook DDP registers on every parameter (`register_post_accumulate_grad_hook`), which
# backward calls once that parameter's gradient is complete:

# %%
from helpers import show  # prints a library object's source (tutorials/helpers.py)
from minigrad.nn.parallel.distributed import GradientReducer

show(GradientReducer._on_grad_ready)

# %% [markdown]
# We run three configurations, each in fresh processes: one rank without DDP (the baseline), two ranks
# with one bucket, two ranks with small (0.05 MB) buckets.

# %%
TRAIN = r'''
import argparse, json, time
import numpy as np
import minigrad as mg
import minigrad.distributed as dist
import minigrad.nn.functional as F
from minigrad.examples.mnist_cnn import CNN
from minigrad.nn.parallel import DistributedDataParallel as DDP
from minigrad.utils.data import DataLoader, DistributedSampler, TensorDataset

p = argparse.ArgumentParser()
p.add_argument("--data"); p.add_argument("--out"); p.add_argument("--steps", type=int)
p.add_argument("--warmup", type=int, default=3); p.add_argument("--bucket-cap-mb", type=float, default=None)
args = p.parse_args()
ddp = args.bucket_cap_mb is not None                  # without: one plain process, the baseline
rank, world = 0, 1
if ddp:
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
mg.manual_seed(rank)
data = np.load(args.data)
dataset = TensorDataset(mg.tensor(data["x"]), mg.tensor(data["y"]))
sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, seed=0)
loader = DataLoader(dataset, batch_size=64, sampler=sampler, drop_last=True)
model = DDP(CNN(), bucket_cap_mb=args.bucket_cap_mb) if ddp else CNN()
opt = mg.optim.Adam(model.parameters(), lr=1e-3)

timeline = {}
if ddp:  # record when each bucket's reduction starts and when backward ends (the reducer's hooks)
    reducer = model.reducer
    start_bucket, finish = reducer._start, reducer._finish
    def timed_start(bucket):
        timeline.setdefault("bucket_starts", []).append(time.perf_counter())
        start_bucket(bucket)
    def timed_finish():
        timeline["backward_end"] = time.perf_counter()
        finish()
        timeline["reduced"] = time.perf_counter()
    reducer._start, reducer._finish = timed_start, timed_finish
    for name, param in model.module.named_parameters():  # and when each parameter's gradient is ready
        param.register_post_accumulate_grad_hook(
            lambda p, name=name: timeline.setdefault("ready", {}).setdefault(name, time.perf_counter()))

step_times, losses, epoch = [], [], 0
while len(step_times) < args.warmup + args.steps:
    sampler.set_epoch(epoch)
    epoch += 1
    for x, y in loader:
        if len(step_times) == args.warmup and ddp:
            dist.barrier()
            reducer.wait_seconds = 0.0          # count the waiting of the timed steps only
        timeline.clear()
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        timeline["backward_start"] = time.perf_counter()
        loss.backward()
        opt.step()
        timeline["step_end"] = time.perf_counter()
        timeline["step_start"] = t0
        step_times.append(timeline["step_end"] - t0)
        losses.append(loss.item())
        if len(step_times) == args.warmup + args.steps:
            break
timed = sum(step_times[args.warmup:])
result = {"rank": rank, "world": world, "seconds": timed, "wait": model.reducer.wait_seconds if ddp else 0.0,
          "images_per_s": 64 * args.steps / timed, "losses": losses,
          "timeline": {k: (np.array(v) - t0).tolist() if k == "bucket_starts" else
                       {n: t - t0 for n, t in v.items()} if k == "ready" else v - t0 for k, v in timeline.items()}}
with open(f"{args.out}.rank{rank}.json", "w") as f:
    json.dump(result, f)
if ddp:
    dist.destroy_process_group()
'''
(WORK / "train.py").write_text(TRAIN)

# %% [markdown]
# The data: the first MNIST training images, normalised, saved once as a `.npz` that every rank reads
# (numpy's format, no pickling).

# %%
(x_train, y_train), _ = mg.keras.datasets.mnist.load_data()
n_images = 4096 if FAST else 16384
x_small = ((x_train[:n_images].astype(np.float32) / 255 - 0.1307) / 0.3081)[:, None]
np.savez(WORK / "mnist_small.npz", x=x_small, y=y_train[:n_images].astype(np.int64))

CONFIGS = {  # name: (ranks, bucket_cap_mb or None for no DDP)
    "1 rank": (1, None),
    "2 ranks, one bucket": (2, 25.0),
    "2 ranks, small buckets": (2, 0.05),
}
steps, rounds = (10, 1) if FAST else (40, 3)
runs = {name: [] for name in CONFIGS}
if HAVE_MPI:
    start = time.time()
    for r in range(rounds):  # the configurations take turns, so that a change of load hits all of them
        for name, (ranks, cap) in CONFIGS.items():
            out = WORK / f"{name.replace(' ', '_').replace(',', '')}_{r}"
            args = ["--data", WORK / "mnist_small.npz", "--out", out, "--steps", steps]
            launch(WORK / "train.py", *args, *(["--bucket-cap-mb", cap] if cap else []), n=ranks)
            runs[name].append([json.loads(Path(f"{out}.rank{k}.json").read_text()) for k in range(ranks)])
    print(f"{len(CONFIGS) * rounds} launches, {time.time() - start:.0f} s")

# %% [markdown]
# Images per second count every rank's images and take the *slowest* rank's time (a step ends for
# everyone when the last rank is done). The waiting share is the part of the step a rank spends blocked
# in the reductions after its backward pass ended.

# %%
def summary(name):
    """(images/s over all ranks, share of the step spent waiting), medians over the rounds."""
    per_round = [(ranks[0]["world"] * 64 * steps / max(r["seconds"] for r in ranks),
                  np.mean([r["wait"] / r["seconds"] for r in ranks])) for ranks in runs[name]]
    ips, wait = np.median([p[0] for p in per_round]), np.median([p[1] for p in per_round])
    return ips, wait


if HAVE_MPI:
    import platform
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor()) if os.path.exists("/proc/cpuinfo") else platform.processor()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{cpu}, {os.cpu_count()} cores, load average {load:.1f}, {steps} steps x {rounds} round(s), median\n")
    base = summary("1 rank")[0]
    table = {name: summary(name) for name in CONFIGS}
    print(f"{'configuration':26s} {'images/s':>9s} {'vs 1 rank':>9s} {'waiting':>8s}")
    for name, (ips, wait) in table.items():
        print(f"{name:26s} {ips:9.0f} {ips / base:8.2f}x {100 * wait:7.1f}%")

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    names = list(table)
    ax1.bar(names, [table[n][0] for n in names], color=["gray", "tab:blue", "tab:orange"])
    ax1.axhline(2 * base, color="k", ls=":", label="perfect scaling (2x one rank)")
    ax1.set_ylabel("images / s (all ranks)")
    ax1.set_title("weak scaling, 64 images per rank per step")
    ax1.set_ylim(0, 1.3 * max(2 * base, *(v[0] for v in table.values())))
    ax1.legend(loc="upper left")
    ax1.tick_params(axis="x", labelsize=8)

    for row, name in enumerate(names[1:]):
        t = runs[name][-1][0]["timeline"]
        ax2.barh(row, t["backward_start"], color="lightgray", label="forward" if row == 0 else None)
        ax2.barh(row, t["backward_end"] - t["backward_start"], left=t["backward_start"], color="tab:green",
                 label="backward" if row == 0 else None)
        ax2.barh(row, t["reduced"] - t["backward_end"], left=t["backward_end"], color="tab:red",
                 label="waiting for the reductions" if row == 0 else None)
        ax2.barh(row, t["step_end"] - t["reduced"], left=t["reduced"], color="tab:purple",
                 label="optimiser step" if row == 0 else None)
        ax2.plot(list(t["ready"].values()), [row - 0.25] * len(t["ready"]), "bv", ms=6,
                 label="a parameter's gradient is ready" if row == 0 else None)
        ax2.plot(t["bucket_starts"], [row + 0.25] * len(t["bucket_starts"]), "k^", ms=6,
                 label="a bucket's all-reduce starts" if row == 0 else None)
    ax2.set_yticks(range(len(names) - 1), names[1:])
    ax2.set_xlabel("seconds since the start of the step (rank 0, last step)")
    ax2.set_title("one DDP step: communication against backward")
    ax2.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3)
    plt.tight_layout()
    plt.show()

    ready = runs["2 ranks, small buckets"][-1][0]["timeline"]
    print("when each gradient was ready, ms after backward started (rank 0, small buckets):")
    for name, t in sorted(ready["ready"].items(), key=lambda kv: kv[1]):
        print(f"  {name:14s} {1000 * (t - ready['backward_start']):7.1f}")

    plt.figure(figsize=(6, 3.5))
    for name in names:
        plt.plot(runs[name][-1][0]["losses"], label=name)
    plt.xlabel("step")
    plt.ylabel("training loss (rank 0's shard)")
    plt.title("the runs train: loss over the steps")
    plt.legend()
    plt.grid(alpha=0.3)
    plt.show()

# %% [markdown]
# How to read this (the figures above come from one shared 2-core machine, often under heavy load from
# other work; they move from run to run, so look at their shape rather than the digits):
#
# - **Scaling.** With a free core for each rank, two ranks of one thread process close to twice the
#   images per second of one rank (`benchmarks/README.md` reports 1.4x to 1.9x on this kind of machine),
#   because each rank computes its own 64 images on its own core and they meet only once a step. The gap
#   to 2x is the communication and the waiting for the slower rank. When other programs occupy the cores,
#   the two ranks compete with them for the cores and the gain shrinks, possibly to nothing: that is
#   the machine, not the method (compare the load average printed above the table). `benchmarks/bench_ddp.py` measures
#   the same more carefully (alternated rounds, several repeats), with one process of two threads too.
# - **Overlap.** With one bucket, the reduction starts at the *end* of backward (the black mark at the
#   right edge of the green bar), and the red wait follows. Small buckets can start *inside* backward,
#   but only once every gradient in them is ready, and only in order (bucket $k$ after buckets
#   $0, \dots, k-1$: MPI needs every rank to start its collectives in the same order). So the blue
#   marks, when each parameter's gradient is ready, decide everything. Look at the list printed above
#   the loss plot: the last layer's weight and bias are ready first, then each earlier layer's right
#   after its own backward. That is the backward pass's order at work: `F.linear` computes
#   `x @ weight.T`, and minigrad's engine walks a node's first input (the activation) first, so the
#   small `weight.T` node runs right after the layer instead of after the whole branch below it
#   (PyTorch gets the same effect by running the newest nodes first). An earlier version of the engine
#   did it the other way round: `fc1.weight` and `fc2.weight` were ready only at the very end of
#   backward, the first bucket waited for them, and small buckets behaved like one big one. The
#   lesson holds for any framework: overlap needs the gradients of the *last* layers to be ready
#   *early*. On one machine the reduction is a memory copy that costs little, so there is little to
#   hide anyway; between machines, where the all-reduce of this CNN takes tens of milliseconds, the
#   overlap is what keeps the scaling.
# - **What does not scale:** the communication per step is the model's size whatever the batch, so a
#   small batch per rank (little compute per step) or a large model on a slow network makes it dominate.
#   The usual answers: larger batches per rank (then keep the learning rate that suits the larger global
#   batch), gradient accumulation with `model.no_sync()` (one reduction every few micro-batches), and the
#   overlap shown here.
#
# To go further: run `python -m minigrad.examples.mnist_ddp` with `mpiexec -n 2` yourself, or across
# machines with a host file or under SLURM (`docs/distributed.md` shows both).
#
# ## Exercises
#
# Fill in each function in the next cell (each raises `NotImplementedError` until you do), then run
# it: `check` applies the same assertions the test suite applies to the reference answers, and prints
# `ok`, `not yet` or `wrong` (with the values that differ) for every exercise.
#
# 1. `ring_allreduce(arrays)`: simulate the ring all-reduce in one process. `arrays` is a list of $R$
#    numpy arrays of one shape (rank $r$'s gradient); return the $R$ results (each the element-wise sum)
#    and a list of how many elements each rank sent, computing them only by passing chunks from each
#    rank to its right-hand neighbour: $R-1$ reduce-scatter steps, then $R-1$ all-gather steps. Any size
#    must work, even one not divisible by $R$ (`np.array_split` helps). Arrays of different shapes are a
#    `ValueError`.
# 2. `shard_indices(n, world, rank)`: the indices rank `rank` reads from a data set of `n` examples with
#    `DistributedSampler(shuffle=False)`: every rank gets `ceil(n / world)` of them, the list `0..n-1`
#    being padded by repeating it from the start.
# 3. `allreduce_seconds(num_params, world, gbit_per_s, bytes_per_param=4)`: the time of one ring all-reduce
#    of a model's gradients when each link moves `gbit_per_s` gigabits per second (ignore latency).
#
# **Questions to think about.** With your `allreduce_seconds`, how long does one step of the seed CNN
# spend communicating on 8 machines linked by 1 Gbit/s Ethernet, and how does that compare with the
# step times measured above? What happens to the result of training if one rank's shard is one example
# shorter than the others' and nothing pads it? Why must every rank start its buckets in the same order?

# %%
from practice import check


def ring_allreduce(arrays):
    """-> (list of R summed arrays, list of R element counts sent)"""
    raise NotImplementedError("your code here")


def shard_indices(n, world, rank):
    raise NotImplementedError("your code here")


def allreduce_seconds(num_params, world, gbit_per_s, bytes_per_param=4):
    raise NotImplementedError("your code here")


check("17", ring_allreduce=ring_allreduce, shard_indices=shard_indices, allreduce_seconds=allreduce_seconds)
