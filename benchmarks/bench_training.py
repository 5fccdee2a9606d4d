"""Training and inference throughput of the seed models, minigrad vs PyTorch CPU, same run.

    python benchmarks/bench_training.py [--threads 2] [--steps 30] [--json PATH]

The models are built by one function from either library's `nn` namespace (the APIs
match), fed the same random MNIST-shaped batches, and trained with Adam:
  cnn: Conv 32 3x3, ReLU, MaxPool 2, Conv 64 3x3, ReLU, MaxPool 2, Flatten, Linear 128, ReLU, Linear 10
  mlp: 784-128-128-10 with ReLU
  rnn: 1-layer RNN (tanh), hidden 128, 28 steps of 28 pixels, Linear 10 on the last state
"""
import argparse
import json
import resource
import time

import numpy as np


def build(nn, kind):
    if kind == "cnn":
        return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Linear(128, 10))
    if kind == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                             nn.Linear(128, 10))
    raise ValueError(kind)


class _RNNHead:
    """rnn model: the RNN's last hidden state through a Linear layer."""

    def __init__(self, nn):
        self.rnn, self.fc = nn.RNN(28, 128, batch_first=True), nn.Linear(128, 10)

    def parameters(self):
        return list(self.rnn.parameters()) + list(self.fc.parameters())

    def __call__(self, x):
        out, _ = self.rnn(x.reshape(x.shape[0], 28, 28))
        return self.fc(out[:, -1])


def _lib(name):
    if name == "torch":
        import torch
        return torch, torch.nn, torch.nn.functional, torch.optim, torch.from_numpy
    import minigrad  # after torch: its OpenMP pool keeps its own settings
    import minigrad.nn.functional as F
    return minigrad, minigrad.nn, F, minigrad.optim, minigrad.from_numpy


def train_rate(lib_name, kind, batch, steps, seed=0):
    lib, nn, F, optim, from_numpy = _lib(lib_name)
    lib.manual_seed(seed)
    model = _RNNHead(nn) if kind == "rnn" else build(nn, kind)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(seed)
    xs = [from_numpy(rng.random((batch, 1, 28, 28), dtype=np.float32)) for _ in range(4)]
    ys = [from_numpy(rng.integers(0, 10, batch).astype(np.int64)) for _ in range(4)]

    def step(i):
        opt.zero_grad()
        loss = F.cross_entropy(model(xs[i % 4]), ys[i % 4])
        loss.backward()
        opt.step()

    for i in range(3):  # warm-up: JIT compilation, allocator
        step(i)
    t0 = time.perf_counter()
    for i in range(steps):
        step(i)
    return batch * steps / (time.perf_counter() - t0)


def infer_rate(lib_name, kind, batch, steps=5):
    lib, nn, F, optim, from_numpy = _lib(lib_name)
    lib.manual_seed(0)
    model = build(nn, kind)
    x = from_numpy(np.random.default_rng(0).random((batch, 1, 28, 28), dtype=np.float32))
    with lib.no_grad():
        model(x)
        t0 = time.perf_counter()
        for _ in range(steps):
            model(x)
    return batch * steps / (time.perf_counter() - t0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--libs", default="minigrad,torch")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)
    libs = args.libs.split(",")
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        libs = [lib for lib in libs if lib != "torch"]
    import minigrad  # after torch: its OpenMP pool keeps its own settings
    minigrad.set_num_threads(args.threads)
    rows = []
    cases = [("train", "cnn", 64), ("train", "mlp", 64), ("train", "rnn", 64), ("infer", "cnn", 1000)]
    for mode, kind, batch in cases:
        rates = {}
        for lib in libs:
            if mode == "train":
                rates[lib] = train_rate(lib, kind, batch, args.steps if kind != "mlp" else args.steps * 5)
            else:
                rates[lib] = infer_rate(lib, kind, batch)
        rows.append({"case": f"{kind} {mode} b{batch}", **rates})
        ratio = rates["minigrad"] / rates["torch"] if "torch" in rates else float("nan")
        print(f"{rows[-1]['case']:18s} " + " ".join(f"{lib} {r:10.0f} img/s" for lib, r in rates.items())
              + f"   ratio {ratio:.2f}", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak:.0f} MiB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "peak_rss_mib": peak, "threads": args.threads}, f, indent=2)
    return rows


if __name__ == "__main__":
    main()
