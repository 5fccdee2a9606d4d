"""Benchmark minigrad's CUDA kernels against cuBLAS (cupy.matmul) and PyTorch.

    python benchmarks/bench_cuda.py [--sizes 1024 2048 4096 8192] [--reps 10]

SGEMM (float32, TF32 off everywhere) at N x N x N, then conv2d forward + backward at the seed
CNN's shapes, against torch CUDA when it is installed. Needs CuPy and an NVIDIA GPU.
"""
import argparse
import os
import sys

os.environ.setdefault("CUPY_TF32", "0")  # cuBLAS in strict fp32, before cupy is imported

import numpy as np

import minigrad.cuda

CONV_SHAPES = [  # (x shape, w shape): the seed CNN's two conv layers, stride 1, no padding
    ((256, 1, 28, 28), (32, 1, 3, 3)),
    ((256, 32, 13, 13), (64, 32, 3, 3)),
]


def timeit(fn, reps, warmup=2):
    """Median milliseconds of fn() over reps runs, timed with CUDA events."""
    import cupy
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        start, stop = cupy.cuda.Event(), cupy.cuda.Event()
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(cupy.cuda.get_elapsed_time(start, stop))
    return float(np.median(times))


def try_torch():
    try:
        import torch
    except Exception:
        return None
    if not torch.cuda.is_available():
        return None
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return torch


def bench_sgemm(cb, sizes, reps):
    import cupy
    print(f"{'SGEMM N':>10} {'minigrad ms':>12} {'TFLOP/s':>8} {'cuBLAS ms':>10} {'TFLOP/s':>8} {'ratio':>6} {'max rel err':>12}")
    for n in sizes:
        rng = cupy.random.default_rng(0)
        a = rng.standard_normal((n, n), dtype=cupy.float32)
        b = rng.standard_normal((n, n), dtype=cupy.float32)
        ours = timeit(lambda: cb.matmul(a, b), reps)
        blas = timeit(lambda: cupy.matmul(a, b), reps)
        ref = cupy.matmul(a, b)
        err = float(cupy.abs(cb.matmul(a, b) - ref).max() / cupy.abs(ref).max())
        flops = 2.0 * n ** 3
        print(f"{n:>10} {ours:>12.3f} {flops / ours / 1e9:>8.2f} {blas:>10.3f} {flops / blas / 1e9:>8.2f} "
              f"{blas / ours:>6.2f} {err:>12.2e}")
        del a, b, ref
        cupy.get_default_memory_pool().free_all_blocks()


def bench_conv(cb, reps):
    import cupy
    torch = try_torch()
    args = ((1, 1), (0, 0), (1, 1), 1)
    print(f"\n{'conv2d x / w':>34} {'minigrad fwd+bwd ms':>20} {'torch fwd+bwd ms':>17}")
    for xs, ws in CONV_SHAPES:
        rng = cupy.random.default_rng(0)
        x = rng.standard_normal(xs, dtype=cupy.float32)
        w = rng.standard_normal(ws, dtype=cupy.float32)
        y = cb.conv2d_forward(x, w, *args)
        gy = rng.standard_normal(y.shape, dtype=cupy.float32)

        def ours():
            cb.conv2d_forward(x, w, *args)
            cb.conv2d_backward_input(gy, w, xs, *args)
            cb.conv2d_backward_weight(gy, x, ws, *args)

        t_ours = timeit(ours, reps)
        t_torch = "n/a (no torch CUDA)"
        if torch is not None:
            tx = torch.as_tensor(x, device="cuda").requires_grad_(True)
            tw = torch.as_tensor(w, device="cuda").requires_grad_(True)
            tgy = torch.as_tensor(gy, device="cuda")

            def theirs():
                out = torch.nn.functional.conv2d(tx, tw)
                torch.autograd.grad(out, (tx, tw), tgy)

            t_torch = f"{timeit(theirs, reps):.3f}"
        print(f"{str(xs) + ' ' + str(ws):>34} {t_ours:>20.3f} {t_torch:>17}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096, 8192])
    parser.add_argument("--reps", type=int, default=10)
    opts = parser.parse_args(argv)
    if not minigrad.cuda.is_available():
        sys.exit("bench_cuda: needs CuPy and an NVIDIA GPU (minigrad.cuda.is_available() is False); nothing to time.")
    from minigrad.backend import cuda_backend as cb
    import cupy
    print(f"device: {cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)['name'].decode()}, "
          f"CUPY_TF32={os.environ.get('CUPY_TF32')}")
    bench_sgemm(cb, opts.sizes, opts.reps)
    bench_conv(cb, opts.reps)


if __name__ == "__main__":
    main()
