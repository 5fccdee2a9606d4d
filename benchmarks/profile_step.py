"""Where a training step of the seed CNN spends its time, kernel by kernel (Numba backend).

    python benchmarks/profile_step.py [--threads 2] [--steps 40] [--batch 64]

Every Numba kernel is wrapped in a timer (the GEMM's calls are told apart by operand shapes);
what is left ("outside the kernels") is Python, numpy's own ops (small matmuls of the Linear
layers, reshapes, the loss) and thread wake-ups. Run it on a quiet machine: it measures wall
time, so anything else running shows up in the numbers.
"""
import argparse
import collections
import os
import sys
import time

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args(argv)
    os.environ.setdefault("NUMBA_NUM_THREADS", str(args.threads))
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

    import minigrad as mg
    import minigrad.nn as nn
    import minigrad.nn.functional as F
    from bench_training import build
    from minigrad.backend import cpu_backend  # noqa: F401  (the kernels below are the ones it calls)
    from minigrad.kernels.cpu import conv, fused, matmul, pool

    mg.set_backend("numba")
    cpu_backend.set_num_threads(args.threads)
    spent, calls = collections.defaultdict(float), collections.Counter()

    def timed(module, name, label=None):
        fn = getattr(module, name)

        def wrapper(*a):
            t = time.perf_counter()
            out = fn(*a)
            key = label(*a) if label else name
            spent[key] += time.perf_counter() - t
            calls[key] += 1
            return out
        setattr(module, name, wrapper)

    def gemm_label(A, B, C, a_idx, b_idx, a_km, b_nk, *rest):
        m, n = C.shape[2:]
        k = A.shape[1] if a_km else A.shape[2]
        how = "implicit B" if rest[5].shape[0] else ("B^T" if b_nk else "B")
        return f"gemm {C.shape[1]} x ({m}x{k} @ {k}x{n}), {how}"

    timed(matmul, "_gemm", gemm_label)
    for name in ("im2row", "im2col", "col2im", "conv_direct", "conv_direct_weight_grad", "group_major", "channel_sum"):
        timed(conv, name)
    for name in ("max_pool2d_forward", "max_pool2d_backward"):
        timed(pool, name)
    for name in ("relu_forward", "relu_backward", "adam_update", "softmax_cross_entropy"):
        timed(fused, name)

    mg.manual_seed(0)
    model = build(nn, "cnn")
    opt = mg.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    x = mg.from_numpy(rng.random((args.batch, 1, 28, 28), dtype=np.float32))
    y = mg.from_numpy(rng.integers(0, 10, args.batch))

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    for _ in range(5):
        step()
    spent.clear()
    calls.clear()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    total = (time.perf_counter() - t0) / args.steps
    print(f"seed CNN training step, batch {args.batch}, {args.threads} thread(s): {total * 1e3:.2f} ms "
          f"({args.batch / total:,.0f} images/s)\n")
    print(f"{'ms/step':>8}  {'share':>6}  calls  kernel")
    inside = 0.0
    for key, s in sorted(spent.items(), key=lambda kv: -kv[1]):
        per = s / args.steps
        inside += per
        print(f"{per * 1e3:8.2f}  {per / total:6.1%}  {calls[key] // args.steps:5d}  {key}")
    print(f"{(total - inside) * 1e3:8.2f}  {(total - inside) / total:6.1%}         outside the kernels")


if __name__ == "__main__":
    main()
