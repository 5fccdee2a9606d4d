"""Benchmark the Numba CPU kernels against the numpy reference (OpenBLAS) and torch (CPU).

    python benchmarks/bench_kernels.py [--threads 2] [--rounds 5] [--json PATH]
    python benchmarks/bench_kernels.py --compare gemm1024,conv2,rnn [--repeats 5] [--before DIR]
    python benchmarks/bench_kernels.py --vector-width [--threads 1] [--repeats 5]

Prints matmul float32 GFLOP/s, conv2d forward+backward times at the seed CNN's shapes,
max_pool2d 2x2 times, and first-call JIT compile times. Each engine runs its rounds as one
block (numba's and OpenBLAS's spinning thread pools slow each other when interleaved);
numbers are medians. Compare ratios from one run: the absolute numbers move with load.

--compare runs each library in its own worker process (no shared thread pools or allocator),
the workers one after another in turn (minigrad, torch, numpy, minigrad, ...) so that a busy
machine slows all alike, and prints each worker's medians and the same-run ratios. Cases:
gemm1024 (float32 1024^3; minigrad's GEMM, numpy's OpenBLAS, torch), conv2 (the seed CNN's
layer-2 convolution forward + both backwards, batch 64: x (64, 32, 13, 13), w (64, 32, 3, 3)),
rnn (RNN(28->128) training step, batch 64, 28 steps: fused op, step-by-step path, torch).
--before DIR adds a "minigrad-before" worker that imports minigrad from another checkout (an
unpacked `git archive`), for before/after figures taken in the same run.
"""
import argparse
import importlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _machine import cpu_model, timings  # noqa: E402 (benchmarks/ is on sys.path when run as a script)


def _median_time(fn, rounds, warmup=1):
    return statistics.median(timings(fn, rounds, warmup))



def _worker_case(lib, case, threads, rounds):
    """Median seconds of one case for one library, in this (worker) process."""
    rng = np.random.default_rng(0)
    if lib == "torch":
        import torch
        torch.set_num_threads(threads)
    else:
        try:
            from threadpoolctl import threadpool_limits
            threadpool_limits(threads)
        except ImportError:
            pass
    if case == "rnn":
        sys.path.insert(0, str(Path(__file__).parent))
        import bench_training
        if lib.startswith("minigrad"):
            import minigrad
            minigrad.set_num_threads(threads)
            minigrad.nn.RNN.fused = lib != "minigrad-steps"
        steps = 20
        rates = [bench_training.train_rate("torch" if lib == "torch" else "minigrad", "rnn", 64, steps)
                 for _ in range(max(1, rounds // 3))]
        return 64 / statistics.median(rates)  # seconds per step
    if case == "gemm1024":
        a = rng.standard_normal((1024, 1024)).astype(np.float32)
        b = rng.standard_normal((1024, 1024)).astype(np.float32)
        if lib == "torch":
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            return _median_time(lambda: ta @ tb, rounds, warmup=2)
        if lib == "numpy":
            return _median_time(lambda: a @ b, rounds, warmup=2)
        from minigrad.backend import cpu_backend as cb
        cb.set_num_threads(threads)
        return _median_time(lambda: cb.gemm(a, b), rounds, warmup=2)
    if case == "conv2":
        x = rng.standard_normal((64, 32, 13, 13)).astype(np.float32)
        w = rng.standard_normal((64, 32, 3, 3)).astype(np.float32)
        if lib == "torch":
            tx, tw = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_()

            def tstep():
                y = torch.nn.functional.conv2d(tx, tw)
                tx.grad = tw.grad = None
                y.backward(y.detach())
            return _median_time(tstep, rounds, warmup=2)
        from minigrad.backend import cpu_backend as cb
        be = cb
        if lib == "numpy":
            from minigrad.backend import numpy_backend as be
        else:
            cb.set_num_threads(threads)
        args6 = ((1, 1), (0, 0), (1, 1), 1)

        def step():
            y = be.conv2d_forward(x, w, *args6)
            be.conv2d_backward_input(y, w, x.shape, *args6)
            be.conv2d_backward_weight(y, x, w.shape, *args6)
        return _median_time(step, rounds, warmup=2)
    raise ValueError(f"bench_kernels: unknown case {case!r}")


_LIBS = {"gemm1024": ["minigrad", "numpy", "torch"], "conv2": ["minigrad", "torch"],
         "rnn": ["minigrad", "minigrad-steps", "torch"]}
_FLOP = {"gemm1024": 2.0 * 1024 ** 3, "conv2": 3 * 2.0 * 64 * 64 * 11 * 11 * 32 * 9}


_BEFORE = "MINIGRAD_BENCH_BEFORE"  # the before worker's checkout (its environment)


def _import_kernels_from(root):
    """Make `minigrad.kernels` the package in root/kernels. PYTHONPATH alone is not enough: an
    editable install maps minigrad.kernels to the installed tree's kernels/ ahead of sys.path, so
    a "before" worker measured the current kernels (before/after figures taken that way were equal)."""
    spec = importlib.util.spec_from_file_location("minigrad.kernels", Path(root) / "kernels" / "__init__.py",
                                                  submodule_search_locations=[str(Path(root) / "kernels")])
    module = importlib.util.module_from_spec(spec)
    sys.modules["minigrad.kernels"] = module
    spec.loader.exec_module(module)


def compare(cases, threads, rounds, repeats, before=None):
    """Alternate one worker process per (library, case), `repeats` times; print medians and ratios."""
    results = {}
    for case in cases:
        libs = _LIBS[case] + (["minigrad-before"] if before and case != "rnn" else [])
        times = {lib: [] for lib in libs}
        for _ in range(repeats):
            for lib in libs:
                env = dict(os.environ)
                if lib == "minigrad-before":
                    env["PYTHONPATH"] = env[_BEFORE] = str(Path(before).resolve())
                cmd = [sys.executable, __file__, "--worker", lib if lib != "minigrad-before" else "minigrad", case,
                       "--threads", str(threads), "--rounds", str(rounds)]
                out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
                times[lib].append(float(out.strip().splitlines()[-1]))
        med = {lib: statistics.median(ts) for lib, ts in times.items()}
        results[case] = {"seconds": times, "median_s": med}
        print(f"\n{case} ({cpu_model()}, {threads} threads, {repeats} alternated worker runs, median s)")
        for lib, t in med.items():
            rate = f"  {_FLOP[case] / t / 1e9:7.1f} GFLOP/s" if case in _FLOP else ""
            print(f"  {lib:16s} {1e3 * t:9.2f} ms{rate}   {libs[0]} speed vs this: {med[lib] / med[libs[0]]:.2f}x")
    return results


def vector_width_ab(threads, repeats, rounds=5):
    """The GEMM compiled twice in this process, with and without full-width (512-bit) vectors
    (matmul.wide_vectors), timed alternately on gemm1024 and conv2: {(build, case): [best ms per repeat]}."""
    import numba
    from numba.core.compiler_lock import global_compiler_lock
    from minigrad.backend import cpu_backend as cb
    from minigrad.kernels.cpu import matmul as mm
    cb.set_num_threads(threads)

    def build(flags):
        kernel = numba.njit(parallel=True, fastmath={"contract"})(mm._gemm.py_func)
        compile_for_args = kernel._compile_for_args

        def compile_with(*args, **kwargs):
            with global_compiler_lock:
                before, numba.config.SLP_VECTORIZE = numba.config.SLP_VECTORIZE, 1
                try:
                    with mm.wide_vectors(flags):
                        return compile_for_args(*args, **kwargs)
                finally:
                    numba.config.SLP_VECTORIZE = before
        kernel._compile_for_args = compile_with
        return kernel

    rng = np.random.default_rng(0)
    a = rng.standard_normal((1024, 1024)).astype(np.float32)
    x = rng.standard_normal((64, 32, 13, 13)).astype(np.float32)
    w = rng.standard_normal((64, 32, 3, 3)).astype(np.float32)
    conv = ((1, 1), (0, 0), (1, 1), 1)
    y = cb.conv2d_forward(x, w, *conv)

    def conv2():
        cb.conv2d_forward(x, w, *conv)
        cb.conv2d_backward_input(y, w, x.shape, *conv)
        cb.conv2d_backward_weight(y, x, w.shape, *conv)
    cases = {"gemm1024": lambda: cb.gemm(a, a), "conv2": conv2}
    builds = {"256-bit": build(frozenset()), "512-bit": build(None)}
    kept, out = mm._gemm, {}
    try:
        for _ in range(repeats):
            for name, kernel in builds.items():
                mm._gemm = kernel
                for case, fn in cases.items():
                    fn()  # compiles on first use
                    out.setdefault((name, case), []).append(1e3 * min(_median_time(fn, 1, 0) for _ in range(rounds)))
    finally:
        mm._gemm = kept
    print(f"GEMM vector width A/B ({cpu_model()}, {threads} threads, {repeats} alternated repeats, best of {rounds} ms)")
    for (name, case), ts in out.items():
        print(f"  {case:9s} {name}: median {statistics.median(ts):8.2f} ms  range {min(ts):.2f}-{max(ts):.2f}")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", metavar="PATH")
    ap.add_argument("--compare", metavar="CASES", help="comma-separated: gemm1024, conv2, rnn")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--before", metavar="DIR", help="another checkout's root, for a minigrad-before worker")
    ap.add_argument("--vector-width", action="store_true",
                    help="A/B in one process: the GEMM compiled for 256- and 512-bit vectors (AVX-512 CPUs)")
    ap.add_argument("--worker", nargs=2, metavar=("LIB", "CASE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        if os.environ.get(_BEFORE):
            _import_kernels_from(os.environ[_BEFORE])
        print(_worker_case(*args.worker, args.threads, args.rounds))
        return 0
    if args.vector_width:
        vector_width_ab(args.threads, args.repeats)
        return 0
    if args.compare:
        results = compare(args.compare.split(","), args.threads, args.rounds, args.repeats, args.before)
        results["cpu"] = cpu_model()
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=2)
        return 0

    t0 = time.perf_counter()
    cb = importlib.import_module("minigrad.backend.cpu_backend")
    nb = importlib.import_module("minigrad.backend.numpy_backend")
    t_import = time.perf_counter() - t0
    cb.set_num_threads(args.threads)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads)
    except ImportError:
        pass
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    results = {"threads": args.threads, "rounds": args.rounds, "import_s": t_import}

    # first-call compile (or cache load) time of each kernel family
    compile_s = {}
    a = rng.standard_normal((128, 128)).astype(np.float32)
    old, cb._SMALL_MATMUL = cb._SMALL_MATMUL, 0
    t = time.perf_counter(); cb.gemm(a, a); compile_s["matmul"] = time.perf_counter() - t
    cb._SMALL_MATMUL = old
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    t = time.perf_counter()
    y = cb.conv2d_forward(x, w, (1, 1), (0, 0), (1, 1), 1)
    cb.conv2d_backward_input(y, w, x.shape, (1, 1), (0, 0), (1, 1), 1)
    cb.conv2d_backward_weight(y, x, w.shape, (1, 1), (0, 0), (1, 1), 1)
    compile_s["conv2d"] = time.perf_counter() - t
    t = time.perf_counter()
    yp, ip = cb.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0), (1, 1))
    cb.max_pool2d_backward(yp, ip, x.shape)
    compile_s["max_pool2d"] = time.perf_counter() - t
    results["first_call_s"] = compile_s
    print(f"import {t_import:.2f}s; first call (compile or cache load): "
          + ", ".join(f"{k} {v:.2f}s" for k, v in compile_s.items()))

    print(f"\nmatmul float32, GFLOP/s ({args.threads} threads, median of {args.rounds})")
    print(f"{'N':>6} {'minigrad-numba':>15} {'numpy':>10} {'torch':>10} {'numba/numpy':>12}")
    mm = []
    for n in (64, 128, 256, 512, 1024, 2048):
        a = rng.standard_normal((n, n)).astype(np.float32)
        b = rng.standard_normal((n, n)).astype(np.float32)
        rounds = max(args.rounds, min(200, int(2e9 / n ** 3)))
        flop = 2.0 * n ** 3
        row = {"n": n, "numba": flop / _median_time(lambda: cb.gemm(a, b), rounds) / 1e9,
               "numpy": flop / _median_time(lambda: a @ b, rounds) / 1e9}
        if torch is not None:
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            row["torch"] = flop / _median_time(lambda: ta @ tb, rounds) / 1e9
        mm.append(row)
        print(f"{n:>6} {row['numba']:>15.1f} {row['numpy']:>10.1f} {row.get('torch', float('nan')):>10.1f} "
              f"{row['numba'] / row['numpy']:>12.2f}")
    results["matmul_gflops"] = mm

    print(f"\nconv2d forward + backward(input) + backward(weight), ms (median of {args.rounds})")
    print(f"{'shape':>34} {'minigrad-numba':>15} {'numpy':>10} {'torch':>10} {'torch/numba':>12}")
    conv = []
    for layer, (c, h, o) in (("layer1", (1, 28, 32)), ("layer2", (32, 13, 64))):
        for bsz in (64, 256):
            x = rng.standard_normal((bsz, c, h, h)).astype(np.float32)
            w = rng.standard_normal((o, c, 3, 3)).astype(np.float32)
            args6 = ((1, 1), (0, 0), (1, 1), 1)

            def step(be):
                y = be.conv2d_forward(x, w, *args6)
                be.conv2d_backward_input(y, w, x.shape, *args6)
                be.conv2d_backward_weight(y, x, w.shape, *args6)

            row = {"layer": layer, "batch": bsz, "numba_ms": 1e3 * _median_time(lambda: step(cb), args.rounds),
                   "numpy_ms": 1e3 * _median_time(lambda: step(nb), args.rounds)}
            if torch is not None:
                tx = torch.from_numpy(x).requires_grad_()
                tw = torch.from_numpy(w).requires_grad_()

                def tstep():
                    y = torch.nn.functional.conv2d(tx, tw)
                    tx.grad = tw.grad = None
                    y.backward(y.detach())

                row["torch_ms"] = 1e3 * _median_time(tstep, args.rounds)
            conv.append(row)
            label = f"{layer} x{(bsz, c, h, h)} w{(o, c, 3, 3)}"
            print(f"{label:>34} {row['numba_ms']:>15.2f} {row['numpy_ms']:>10.2f} {row.get('torch_ms', float('nan')):>10.2f} "
                  f"{row.get('torch_ms', float('nan')) / row['numba_ms']:>12.2f}")
    results["conv2d_fwd_bwd"] = conv

    print(f"\nmax_pool2d 2x2 forward + backward, ms (median of {args.rounds})")
    pool = []
    for shape in ((64, 32, 26, 26), (256, 32, 26, 26), (256, 64, 11, 11)):
        x = rng.standard_normal(shape).astype(np.float32)
        p4 = ((2, 2), (2, 2), (0, 0), (1, 1))

        def pstep(be):
            y, i = be.max_pool2d_forward(x, *p4)
            be.max_pool2d_backward(y, i, x.shape)

        row = {"shape": shape, "numba_ms": 1e3 * _median_time(lambda: pstep(cb), args.rounds),
               "numpy_ms": 1e3 * _median_time(lambda: pstep(nb), args.rounds)}
        if torch is not None:
            tx = torch.from_numpy(x).requires_grad_()

            def tpool():
                y = torch.nn.functional.max_pool2d(tx, 2, 2)
                tx.grad = None
                y.backward(y.detach())

            row["torch_ms"] = 1e3 * _median_time(tpool, args.rounds)
        pool.append(row)
        print(f"{str(shape):>34} {row['numba_ms']:>15.2f} {row['numpy_ms']:>10.2f} {row.get('torch_ms', float('nan')):>10.2f}")
    results["max_pool2d_fwd_bwd"] = pool

    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    sys.exit(main())
