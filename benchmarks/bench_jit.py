"""What the first training step pays for Numba's JIT: cold (empty kernel cache) against warm (filled).

Each case runs in a fresh process with NUMBA_CACHE_DIR pointing at a temporary folder:
  cold  the folder is empty, so every kernel the step needs is compiled (then written there);
  warm  the same folder again, now filled, so every kernel is loaded from disk.
The child times `import minigrad` and the first training step of the seed CNN (batch 64, Adam,
cross-entropy: the main job's path), then lists every Numba kernel with the signatures it
holds, whether each came from the cache, and the compile (or load) time Numba recorded.

    python benchmarks/bench_jit.py                  # cold then warm, one table each
    python benchmarks/bench_jit.py --warmup         # empty cache, `python -m minigrad.backend.warmup`, then the step
    python benchmarks/bench_jit.py --cache-dir DIR  # use (and keep) DIR instead of a temporary folder
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import minigrad as mg
t_import = time.perf_counter() - t0
import numpy as np
import minigrad.nn as nn
import minigrad.optim as optim
from minigrad.examples.mnist_cnn import CNN

mg.manual_seed(0)
model = CNN()
opt = optim.Adam(model.parameters(), lr=1e-3)
loss_fn = nn.CrossEntropyLoss()
rng = np.random.default_rng(0)
x = mg.tensor(rng.standard_normal((64, 1, 28, 28)).astype(np.float32))
y = mg.tensor(rng.integers(0, 10, 64))

def step():
    t = time.perf_counter()
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    loss.item()
    return time.perf_counter() - t

first = step()
second = step()
from minigrad.backend.warmup import kernel_report
print(json.dumps({"import_s": t_import, "first_step_s": first, "second_step_s": second,
                  "kernels": kernel_report()}))
"""


def run_child(cache_dir, code=CHILD):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if out.returncode:
        sys.exit(f"child failed:\n{out.stderr}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_s"] = wall
    return result


def print_case(name, r):
    print(f"\n## {name}: import minigrad {r['import_s']:.2f} s | first step {r['first_step_s']:.2f} s | "
          f"second step {r['second_step_s'] * 1e3:.1f} ms | import + first step "
          f"{r['import_s'] + r['first_step_s']:.2f} s | whole process {r['process_s']:.1f} s\n")
    print("| kernel | signature | from | seconds |")
    print("|---|---|---|---|")
    total = 0.0
    for k in r["kernels"]:
        total += k["seconds"] or 0.0
        secs = "" if k["seconds"] is None else f"{k['seconds']:.2f}"
        print(f"| {k['kernel']} | {k['signature']} | {k['source']} | {secs} |")
    print(f"| **total** | {len(r['kernels'])} signatures | | {total:.1f} |")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cache-dir", default=None, help="kernel cache folder (default: a new temporary one)")
    p.add_argument("--warmup", action="store_true",
                   help="fill the cache with the warm-up command first, then time the step")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="minigrad-jit-") as tmp:
        cache = args.cache_dir or tmp
        if args.warmup:  # what a user meets after `make`'s install step: a cache filled by the warm-up command
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "minigrad.backend.warmup"],
                           env=dict(os.environ, NUMBA_CACHE_DIR=cache), check=True)
            print(f"warm-up command on an empty cache: {time.perf_counter() - t:.1f} s")
            print_case("after the warm-up command", run_child(cache))
            return
        print_case("cold (empty cache)", run_child(cache))
        print_case("warm (filled cache)", run_child(cache))


if __name__ == "__main__":
    main()
