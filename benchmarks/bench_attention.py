"""Scaled dot-product attention, minigrad (fused op, Numba kernels) against torch, on the CPU.

    python benchmarks/bench_attention.py [--rounds 5] [--reps 10] [--threads 2] [--skip-memory] [--json PATH]

Speed: forward + backward of F.scaled_dot_product_attention(q, k, v, is_causal=True), float32, at
(B=12, H=4, T=64, D=32) and (B=1, H=8, T=1024, D=64). Each library runs in its own process (so
their thread pools never meet); the processes alternate, `--rounds` times each, and every process
reports the median and the best of `--reps` timed steps after warm-up. Printed: the median over
the rounds and the best step, with minigrad's speed-up (torch time / minigrad time) for each; on a
loaded machine the best step shows what the kernels can do, the median what stalls cost.

Memory: forward + backward at T=8192, one head, D=64, float32, causal, in a fresh process per
library: the peak RSS (VmHWM, reset through /proc/self/clear_refs once the inputs exist and a
small warm-up has run) minus the RSS before the step, minus the bytes of the output and the three
gradients: what the step needed beyond its inputs, outputs and gradients. The (T, T) score
matrix alone would be 256 MiB.

The CPU model and thread count are printed with the figures; they move with machine load.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
from _machine import cpu_model, timings  # noqa: E402 (benchmarks/ is on sys.path when run as a script)

SHAPES = [(12, 4, 64, 32), (1, 8, 1024, 64)]
MEMORY_T, MEMORY_D = 8192, 64



# ------------------------------------------------------------------ the child processes
def _library(lib, threads):
    """-> (make tensor from a numpy array with grad, sdpa, backward(out, grad)) for lib."""
    if lib == "torch":
        import torch
        torch.set_num_threads(threads)
        return (lambda a: torch.from_numpy(a).requires_grad_(), torch.nn.functional.scaled_dot_product_attention,
                lambda t: torch.from_numpy(t))
    import minigrad as mg
    import minigrad.nn.functional as F
    from minigrad.backend import cpu_backend
    cpu_backend.set_num_threads(threads)
    return lambda a: mg.from_numpy(a).requires_grad_(), F.scaled_dot_product_attention, mg.from_numpy


def _child_speed(lib, shape, reps, threads):
    import numpy as np
    make, sdpa, const = _library(lib, threads)
    rng = np.random.default_rng(0)
    q, k, v = (make(rng.standard_normal(shape).astype(np.float32)) for _ in range(3))
    g = const(rng.standard_normal(shape).astype(np.float32))

    def step():
        for t in (q, k, v):
            t.grad = None
        sdpa(q, k, v, is_causal=True).backward(g)
    times = timings(step, reps, warmup=3)
    return statistics.median(times), min(times)


def _rss_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _child_memory(lib, threads):
    import numpy as np
    make, sdpa, const = _library(lib, threads)
    rng = np.random.default_rng(0)
    small = [make(rng.standard_normal((1, 1, 128, MEMORY_D)).astype(np.float32)) for _ in range(3)]
    sdpa(*small, is_causal=True).sum().backward()  # compile / load the kernels first
    shape = (1, 1, MEMORY_T, MEMORY_D)
    q, k, v = (make(rng.standard_normal(shape).astype(np.float32)) for _ in range(3))
    g = const(rng.standard_normal(shape).astype(np.float32))
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # VmHWM := the current RSS
    before = _rss_kib("VmRSS")
    out = sdpa(q, k, v, is_causal=True)
    out.backward(g)
    peak = _rss_kib("VmHWM")
    kept = 4 * int(np.prod(shape)) * 4 / 1024  # the output and three gradients, float32
    return {"peak_growth_mib": (peak - before) / 1024, "beyond_outputs_and_grads_mib": (peak - before - kept) / 1024}


def _child(argv):
    kind, lib, threads = argv[0], argv[1], int(argv[2])
    if kind == "speed":
        shape, reps = tuple(int(x) for x in argv[3].split(",")), int(argv[4])
        print(json.dumps(_child_speed(lib, shape, reps, threads)))
    else:
        print(json.dumps(_child_memory(lib, threads)))


def _run_child(*args):
    env = dict(os.environ)
    env.setdefault("PYTHONPATH", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", *map(str, args)], capture_output=True,
                         text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ the parent
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args(argv)
    results = {"cpu": cpu_model(), "threads": args.threads, "speed": {}, "memory": {}}
    print(f"CPU: {results['cpu']}, {args.threads} threads, {args.rounds} alternating rounds")
    for shape in SHAPES:
        times = {"minigrad": [], "torch": []}
        for _ in range(args.rounds):
            for lib in ("minigrad", "torch"):
                times[lib].append(_run_child("speed", lib, args.threads, ",".join(map(str, shape)), args.reps))
        med = {lib: statistics.median(t[0] for t in ts) for lib, ts in times.items()}
        best = {lib: min(t[1] for t in ts) for lib, ts in times.items()}
        results["speed"][str(shape)] = dict(median=med, best=best, speedup=med["torch"] / med["minigrad"],
                                            speedup_best=best["torch"] / best["minigrad"])
        print(f"SDPA fwd+bwd causal B,H,T,D={shape}: median minigrad {med['minigrad'] * 1e3:.2f} ms, torch "
              f"{med['torch'] * 1e3:.2f} ms ({med['torch'] / med['minigrad']:.2f}x); best step minigrad "
              f"{best['minigrad'] * 1e3:.2f} ms, torch {best['torch'] * 1e3:.2f} ms "
              f"({best['torch'] / best['minigrad']:.2f}x)")
    if not args.skip_memory:
        for lib in ("minigrad", "torch"):
            m = _run_child("memory", lib, args.threads)
            results["memory"][lib] = m
            print(f"memory T={MEMORY_T}, D={MEMORY_D}, one head: {lib} peak RSS growth {m['peak_growth_mib']:.1f} MiB, "
                  f"{m['beyond_outputs_and_grads_mib']:.1f} MiB beyond the output and gradients")
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(results, f, indent=1)
        os.replace(tmp, args.json)
    return results


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2:])
    else:
        main()
