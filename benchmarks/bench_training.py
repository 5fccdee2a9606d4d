"""Training and inference throughput of the seed models: minigrad (eager and compiled) vs PyTorch CPU,
each library in its own worker process, timed alternately.

    python benchmarks/bench_training.py [--threads 2] [--rounds 5] [--steps 30] [--json PATH]
                                        [--engines minigrad,minigrad-compiled,torch] [--cases cnn-train,...]

Why workers: in one process the two libraries share the OpenMP/BLAS thread pools and the allocator,
which understates whichever runs second. Each engine runs in its own process, which keeps its model,
optimizer and batches; the parent asks each worker in turn for one timed block of steps, round after
round (the order rotates every round), so machine noise hits every engine alike; it prints the median
(and range) of the rounds and the CPU model.

The models are built by one function from either library's `nn` namespace (the APIs match), fed the
same random MNIST-shaped batches, and trained with Adam:
  cnn: Conv 32 3x3, ReLU, MaxPool 2, Conv 64 3x3, ReLU, MaxPool 2, Flatten, Linear 128, ReLU, Linear 10
  mlp: 784-128-128-10 with ReLU
  rnn: 1-layer RNN (tanh), hidden 128, 28 steps of 28 pixels, Linear 10 on the last state
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
from _machine import cpu_model  # noqa: E402 (benchmarks/ is on sys.path when run as a script)

ENGINES = ("minigrad", "minigrad-compiled", "torch")
CASES = {"cnn-train": ("train", "cnn", 64), "mlp-train": ("train", "mlp", 64), "rnn-train": ("train", "rnn", 64),
         "cnn-infer": ("infer", "cnn", 1000)}


def build(nn, kind):
    if kind == "cnn":
        return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Linear(128, 10))
    if kind == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                             nn.Linear(128, 10))
    raise ValueError(kind)


def _rnn_model(nn):
    class RNNHead(nn.Module):
        """The RNN's last hidden state through a Linear layer."""

        def __init__(self):
            super().__init__()
            self.rnn, self.fc = nn.RNN(28, 128, batch_first=True), nn.Linear(128, 10)

        def forward(self, x):
            out, _ = self.rnn(x.reshape(x.shape[0], 28, 28))
            return self.fc(out[:, -1])
    return RNNHead()


def _lib(name):
    if name == "torch":
        import torch
        return torch, torch.nn, torch.nn.functional, torch.optim, torch.from_numpy
    import minigrad
    import minigrad.nn.functional as F
    return minigrad, minigrad.nn, F, minigrad.optim, minigrad.from_numpy


def make_runner(engine, mode, kind, batch, seed=0):
    """A function run(steps) -> images/s for one engine and case, keeping its model between calls."""
    lib_name = "torch" if engine == "torch" else "minigrad"
    lib, nn, F, optim, from_numpy = _lib(lib_name)
    lib.manual_seed(seed)
    model = _rnn_model(nn) if kind == "rnn" else build(nn, kind)
    rng = np.random.default_rng(seed)
    if mode == "infer":
        model.eval()
        x = from_numpy(rng.random((batch, 1, 28, 28), dtype=np.float32))
        forward = lib.compile(model) if engine == "minigrad-compiled" else model

        def run(steps):
            with lib.no_grad():
                t0 = time.perf_counter()
                for _ in range(steps):
                    forward(x)
                return batch * steps / (time.perf_counter() - t0)
        return run

    opt = optim.Adam(model.parameters(), lr=1e-3)
    xs = [from_numpy(rng.random((batch, 1, 28, 28), dtype=np.float32)) for _ in range(4)]
    ys = [from_numpy(rng.integers(0, 10, batch).astype(np.int64)) for _ in range(4)]

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    if engine == "minigrad-compiled":
        step = lib.compile(step, fullgraph=True)
    counter = [0]

    def run(steps):
        t0 = time.perf_counter()
        for _ in range(steps):
            i = counter[0] = counter[0] + 1
            step(xs[i % 4], ys[i % 4])
        return batch * steps / (time.perf_counter() - t0)
    return run


def train_rate(lib_name, kind, batch, steps, seed=0):
    """Images/s of `steps` training steps in this process (after 3 warm-up steps)."""
    run = make_runner(lib_name, "train", kind, batch, seed)
    run(3)
    return run(steps)


def infer_rate(lib_name, kind, batch, steps=5):
    run = make_runner(lib_name, "infer", kind, batch)
    run(1)
    return run(steps)


def worker(engine, threads):
    """Serve timing requests on stdin: {"case": name, "steps": n} -> {"rate": images/s} on stdout."""
    if engine == "torch":
        import torch
        torch.set_num_threads(threads)
    else:
        import minigrad
        minigrad.set_num_threads(threads)
    runners = {}
    for line in sys.stdin:
        req = json.loads(line)
        if req["case"] not in runners:
            runners[req["case"]] = make_runner(engine, *CASES[req["case"]])
            runners[req["case"]](req["warmup"])  # JIT, capture, allocator
        rate = runners[req["case"]](req["steps"])
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"rate": rate, "peak_rss_mib": peak}), flush=True)



def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=30, help="training steps per timed block (MLP: 5x)")
    ap.add_argument("--rounds", type=int, default=5, help="timed blocks per engine and case (medians printed)")
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--libs", help="(older name of --engines)")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.threads)
    engines = (args.libs or args.engines).split(",")
    try:
        import torch  # noqa: F401
    except ImportError:
        engines = [e for e in engines if e != "torch"]
    for e in engines:
        if e not in ENGINES:
            raise SystemExit(f"bench_training: unknown engine {e!r}; choose from {', '.join(ENGINES)}")
    cases = args.cases.split(",")
    workers = {e: subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", e, "--threads",
                                    str(args.threads)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
               for e in engines}
    print(f"CPU: {cpu_model()}, {args.threads} threads, {args.rounds} rounds, engines alternating, each in its "
          "own process", flush=True)
    rows, peaks = [], {}
    try:
        for case in cases:
            mode, kind, batch = CASES[case]
            steps = 3 if mode == "infer" else args.steps * (5 if kind == "mlp" else 1)
            rates = {e: [] for e in engines}
            for r in range(args.rounds):
                order = engines[r % len(engines):] + engines[:r % len(engines)]
                for e in order:
                    w = workers[e]
                    w.stdin.write(json.dumps({"case": case, "steps": steps, "warmup": 1 if mode == "infer" else 3})
                                  + "\n")
                    w.stdin.flush()
                    reply = json.loads(w.stdout.readline())
                    rates[e].append(reply["rate"])
                    peaks[e] = reply["peak_rss_mib"]
            row = {"case": f"{kind} {mode} b{batch}"}
            row.update({e: statistics.median(v) for e, v in rates.items()})
            row["ranges"] = {e: [min(v), max(v)] for e, v in rates.items()}
            rows.append(row)
            t = row.get("torch")
            print(f"{row['case']:18s} " + "  ".join(
                f"{e} {row[e]:8.0f} img/s ({min(rates[e]):.0f}-{max(rates[e]):.0f})" + (
                    f" = {row[e] / t:.2f}x" if t and e != "torch" else "") for e in engines), flush=True)
    finally:
        for w in workers.values():
            w.stdin.close()
            w.wait()
    peak = max(peaks.values()) if peaks else 0.0
    print("peak RSS per worker: " + ", ".join(f"{e} {p:.0f} MiB" for e, p in peaks.items()))
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"rows": rows, "peak_rss_mib": peak, "peak_rss_per_engine_mib": peaks,
                       "threads": args.threads, "cpu": cpu_model(), "rounds": args.rounds}, f, indent=2)
        os.replace(tmp, args.json)
    return rows


if __name__ == "__main__":
    main()
