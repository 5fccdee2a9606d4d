"""Data-parallel scaling of the seed CNN: DDP over MPI ranks against one process.

    python benchmarks/bench_ddp.py                  # 3 rounds, configurations alternated within each
    python benchmarks/bench_ddp.py --rounds 5 --steps 60 --json runs/bench_ddp.json

Weak scaling: 64 images per rank per step (MNIST-shaped random data, generated before timing), Adam.
Configurations, each in its own process(es), run in turn in every round (the median is reported):
    1 rank      one process, 1 kernel thread, batch 64, no DDP (the baseline)
    2 ranks     mpiexec -n 2, 1 thread each, batch 64 each, DDP with one 25 MB bucket: the whole
                reduction starts when backward ends (no overlap)
    2 ranks+ov  the same with 0.05 MB buckets: fc1's weight (0.8 MB) alone, the rest in small buckets,
                so the reductions of the last layers run while backward computes the first ones
    1 proc 2 th one process, 2 kernel threads, batch 128 (the same images per step as 2 ranks)
Reported: global images/s (all ranks; the slowest rank's time), the speed-up over 1 rank, and the
share of the step that ranks spend waiting for their gradient reductions after backward.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from _machine import cpu_model  # noqa: E402 (benchmarks/ is on sys.path when run as a script)

CONFIGS = {  # name: (ranks, threads per rank, batch per rank, bucket_cap_mb or None for no DDP)
    "1 rank": (1, 1, 64, None),
    "2 ranks, no overlap": (2, 1, 64, 25.0),
    "2 ranks, overlap": (2, 1, 64, 0.05),
    "1 process, 2 threads": (1, 2, 128, None),
}



def worker(args):
    """One configuration's timed loop; rank 0 prints a RESULT line (JSON)."""
    import numpy as np

    import minigrad as mg
    import minigrad.nn.functional as F
    from minigrad.examples.mnist_cnn import CNN
    mg.set_num_threads(args.threads)
    ddp = args.bucket_cap_mb is not None
    rank, world = 0, 1
    if ddp:
        import minigrad.distributed as dist
        from minigrad.nn.parallel import DistributedDataParallel as DDP
        dist.init_process_group("mpi")
        rank, world = dist.get_rank(), dist.get_world_size()
    mg.manual_seed(rank)
    model = CNN()
    if ddp:
        model = DDP(model, bucket_cap_mb=args.bucket_cap_mb)
    opt = mg.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(rank)
    batches = [(mg.tensor(rng.standard_normal((args.batch, 1, 28, 28)).astype(np.float32)),
                mg.tensor(rng.integers(0, 10, args.batch))) for _ in range(8)]

    def step(i):
        x, y = batches[i % len(batches)]
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    for i in range(args.warmup):
        step(i)
    if ddp:
        dist.barrier()
        model.reducer.wait_seconds = 0.0
    start = time.perf_counter()
    for i in range(args.steps):
        step(i)
    elapsed = time.perf_counter() - start
    wait = model.reducer.wait_seconds if ddp else 0.0
    if ddp:
        figures = mg.tensor([elapsed, wait], dtype=mg.float64)
        slowest = mg.tensor([elapsed], dtype=mg.float64)
        dist.all_reduce(figures, op=dist.ReduceOp.AVG)
        dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
        mean_elapsed, wait = figures.tolist()
        elapsed = slowest.item()
        wait_share = wait / mean_elapsed
    else:
        wait_share = 0.0
    if rank == 0:
        print("RESULT " + json.dumps({"images_per_s": world * args.batch * args.steps / elapsed,
                                      "step_ms": 1000 * elapsed / args.steps, "wait_share": wait_share}), flush=True)
    if ddp:
        dist.destroy_process_group()


def run_config(name, args):
    ranks, threads, batch, cap = CONFIGS[name]
    cmd = [sys.executable, __file__, "--worker", "--threads", str(threads), "--batch", str(batch),
           "--steps", str(args.steps), "--warmup", str(args.warmup)]
    if cap is not None:
        mpiexec = Path(sys.executable).parent / "mpiexec"
        cmd = [str(mpiexec) if mpiexec.exists() else "mpiexec", "-n", str(ranks)] + cmd + ["--bucket-cap-mb", str(cap)]
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"bench_ddp: {name} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return json.loads(lines[0][len("RESULT "):])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=40, help="timed steps per run")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first (kernel compile, allocator)")
    p.add_argument("--json", default=None, help="also write the figures here")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, default=64, help=argparse.SUPPRESS)
    p.add_argument("--bucket-cap-mb", type=float, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args)

    runs = {name: [] for name in CONFIGS}
    for r in range(args.rounds):
        for name in CONFIGS:
            runs[name].append(run_config(name, args))
            print(f"round {r + 1}/{args.rounds} {name}: {runs[name][-1]['images_per_s']:.0f} img/s", file=sys.stderr)
    base = statistics.median(x["images_per_s"] for x in runs["1 rank"])
    print(f"seed CNN, {time.strftime('%Y-%m-%d')}, {cpu_model()}, {os.cpu_count()} cores, "
          f"{args.steps} steps x {args.rounds} rounds (median)\n")
    print("| configuration | images/s (global) | vs 1 rank | step ms | comm wait share |")
    print("|---|---|---|---|---|")
    summary = {"cpu": cpu_model(), "date": time.strftime("%Y-%m-%d"), "configs": {}}
    for name, results in runs.items():
        ips = statistics.median(x["images_per_s"] for x in results)
        step = statistics.median(x["step_ms"] for x in results)
        wait = statistics.median(x["wait_share"] for x in results)
        summary["configs"][name] = {"images_per_s": ips, "speedup": ips / base, "step_ms": step, "wait_share": wait,
                                    "runs": results}
        print(f"| {name} | {ips:,.0f} | {ips / base:.2f}x | {step:.1f} | "
              f"{'-' if CONFIGS[name][3] is None else f'{100 * wait:.1f}%'} |")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json + ".tmp", "w") as f:
            json.dump(summary, f, indent=2)
        os.replace(args.json + ".tmp", args.json)
    return summary


if __name__ == "__main__":
    main()
