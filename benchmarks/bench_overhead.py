"""Per-op Python overhead: tiny tensors, so the time is all bookkeeping, not arithmetic.

    python benchmarks/bench_overhead.py [--json PATH]

Prints microseconds per op for minigrad and PyTorch eager (same process, 1 thread):
one forward op without grad, one forward op recorded for autograd, and a 10-op graph
forward + backward.
"""
import argparse
import json
import time

import numpy as np

import minigrad as mg


def _best_us(fn, reps=2000, rounds=7):
    fn()
    best = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        best.append((time.perf_counter() - t0) / reps * 1e6)
    return float(np.median(best))


def _cases(lib, tensor, no_grad):
    a = tensor(np.random.rand(4, 4).astype(np.float32), requires_grad=False)
    b = tensor(np.random.rand(4, 4).astype(np.float32), requires_grad=False)
    p = tensor(np.random.rand(4, 4).astype(np.float32), requires_grad=True)

    def op_no_grad():
        with no_grad():
            a + b

    def op_recorded():
        p * b

    def graph_fwd_bwd():  # 10 ops + backward
        h = (p * b + a).tanh()
        h = (h @ p).relu() * 2.0
        h = h.sigmoid() - a
        loss = (h * h).mean()
        loss.backward()
        p.grad = None

    return {"op_no_grad": op_no_grad, "op_recorded": op_recorded, "graph10_fwd_bwd": graph_fwd_bwd}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    results = {}
    ours = _cases("minigrad", mg.tensor, mg.no_grad)
    results["minigrad"] = {k: _best_us(f) for k, f in ours.items()}
    try:
        import torch
        torch.set_num_threads(1)
        theirs = _cases("torch", lambda x, requires_grad: torch.tensor(x, requires_grad=requires_grad), torch.no_grad)
        results["torch"] = {k: _best_us(f) for k, f in theirs.items()}
    except ImportError:
        pass
    print(f"{'case':18s} {'minigrad us':>12s} {'torch us':>10s} {'ratio':>7s}")
    for k, v in results["minigrad"].items():
        t = results.get("torch", {}).get(k)
        print(f"{k:18s} {v:12.2f} {t if t is not None else float('nan'):10.2f} "
              f"{(v / t) if t else float('nan'):7.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    main()
