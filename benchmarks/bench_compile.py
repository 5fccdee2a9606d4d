"""What capture and replay (minigrad.compile) buys, minigrad alone: variants timed alternately in one process.

    python benchmarks/bench_compile.py [--threads 2] [--rounds 5]

  capture        the first call of a compiled seed-CNN training step (eager step + recording) vs an eager step
  mlp-b8-step    seed MLP training step at batch 8, where Python bookkeeping dominates: eager vs replay
                 without and with the fusion passes
  cnn-b64-step   seed CNN training step at batch 64: the same three
  cnn-infer      seed CNN inference at batch 1000: eager vs replay without passes vs replay with the fusion passes

Medians (and ranges) of `rounds` timed blocks per variant; variants alternate within every round.
"""
import argparse
import statistics
import time

import numpy as np

from _machine import cpu_model
from bench_training import build


def _step(mg, F, kind, batch, compiled, passes=True, seed=0):
    mg.manual_seed(seed)
    model = build(mg.nn, kind)
    opt = mg.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(seed)
    x = mg.from_numpy(rng.random((batch, 1, 28, 28), dtype=np.float32))
    y = mg.from_numpy(rng.integers(0, 10, batch))

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    if compiled:
        cstep = mg.compile(lambda a, b: step(), fullgraph=True, passes=passes)
        return lambda: cstep(x, y)
    return step


def _infer(mg, compiled, passes, batch=1000):
    mg.manual_seed(0)
    model = build(mg.nn, "cnn").eval()
    x = mg.from_numpy(np.random.default_rng(0).random((batch, 1, 28, 28), dtype=np.float32))
    f = mg.compile(model, passes=passes) if compiled else model

    def run():
        with mg.no_grad():
            return f(x)
    return run


def _time(fn, reps):
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps * 1e3


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    import minigrad as mg
    import minigrad.nn.functional as F
    mg.set_num_threads(args.threads)
    print(f"CPU: {cpu_model()}, {args.threads} threads, {args.rounds} rounds")

    eager = _step(mg, F, "cnn", 64, False)
    eager()
    first, steady = [], []
    for _ in range(args.rounds):
        compiled = _step(mg, F, "cnn", 64, True)
        first.append(_time(compiled, 1))
        steady.append(_time(eager, 1))
    print(f"capture: first compiled call {statistics.median(first):.1f} ms vs an eager step "
          f"{statistics.median(steady):.1f} ms")

    cases = {
        "mlp-b8-step": ({"eager": _step(mg, F, "mlp", 8, False), "replay": _step(mg, F, "mlp", 8, True, False),
                         "replay+passes": _step(mg, F, "mlp", 8, True)}, 200),
        "cnn-b64-step": ({"eager": _step(mg, F, "cnn", 64, False), "replay": _step(mg, F, "cnn", 64, True, False),
                          "replay+passes": _step(mg, F, "cnn", 64, True)}, 5),
    }
    infer = {"eager": _infer(mg, False, False), "replay": _infer(mg, True, False),
             "replay+passes": _infer(mg, True, True)}
    for name, (variants, reps) in list(cases.items()) + [("cnn-infer-b1000", (infer, 2))]:
        for fn in variants.values():
            fn(), fn()  # warm-up: JIT, capture
        times = {v: [] for v in variants}
        for r in range(args.rounds):
            for v in (list(variants)[r % len(variants):] + list(variants)[:r % len(variants)]):
                times[v].append(_time(variants[v], reps))
        base = statistics.median(times["eager"])
        print(f"{name:16s} " + "  ".join(
            f"{v} {statistics.median(t):7.2f} ms ({min(t):.2f}-{max(t):.2f}, {base / statistics.median(t):.2f}x)"
            for v, t in times.items()), flush=True)


if __name__ == "__main__":
    main()
