# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 09 · Running on a GPU
#
# **What you will learn**
# - how a GPU differs from a CPU: thousands of simple threads, grouped in blocks that share a fast scratchpad;
# - how minigrad's CUDA backend works: its own CUDA C kernels, compiled at run time and launched through **CuPy**;
# - how a tensor and a model move to the GPU with `.to("cuda")`, and what stays the same (everything else);
# - how to time GPU code correctly.
#
# This notebook runs anywhere. Cells that need a GPU check `minigrad.cuda.is_available()` and skip
# cleanly when it is False (no CuPy, no driver, or no NVIDIA device). To run them, install CuPy for
# your CUDA version (`pip install cupy-cuda12x`) on a machine with an NVIDIA GPU.
#
# **Read the first output before the rest.** The outputs committed with this notebook come from
# whatever machine last executed it; the cell below prints, in capitals, whether a GPU was there.
# When it says *CPU ONLY*, every GPU cell printed its skip message and there are **no GPU figures
# in this notebook**: the speed-ups and timings the text talks about are what you will see when
# you run it on a GPU yourself, not something this copy shows.

# %%
import importlib.resources
import os
import time

import matplotlib.pyplot as plt
import numpy as np

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F

FAST = os.environ.get("MINIGRAD_FAST") == "1"
GPU = mg.cuda.is_available()
print("CUDA available:", GPU, "| devices:", mg.cuda.device_count())
if GPU:
    print("OUTPUTS BELOW: FROM A GPU RUN")
else:
    print("OUTPUTS BELOW: CPU ONLY. No usable GPU here: the GPU cells say so and do nothing,\n"
          "so this copy of the notebook holds no GPU output at all.")

# %% [markdown]
# ## The programming model
#
# A CUDA **kernel** is a function that many threads run at once. Threads come in **blocks** (up to
# 1024 threads; here usually 256); blocks form a **grid**. Each thread finds its element from its
# indices, e.g. $e = \text{blockIdx.x}\cdot\text{blockDim.x} + \text{threadIdx.x}$. Threads of one block
# can share **shared memory** (fast, ~100 KB per multiprocessor) and wait for each other with
# `__syncthreads()`.
#
# The simplest minigrad kernel fuses a bias add and a ReLU, $y = \max(x + b_c, 0)$: one read and
# one write per element instead of three passes. The loop is a *grid-stride loop*: any grid size
# covers any number of elements.

# %%
src = importlib.resources.files("minigrad.kernels.cuda").joinpath("fused.cu").read_text()
start = src.index("template <typename T>\n__device__ __forceinline__ void bias_relu_fwd_impl")
print(src[start:src.index("// Tree reduction")])

# %% [markdown]
# ## The matrix product on a GPU
#
# The GPU GEMM uses the same ideas as the CPU kernel of chapter 08, one level up: a block of 256
# threads owns a $128\times128$ tile of $C$; slabs of $A$ and $B$ are staged in shared memory; each
# thread keeps an $8\times 8$ micro-tile of $C$ in registers. Its design notes:

# %%
gemm = importlib.resources.files("minigrad.kernels.cuda").joinpath("matmul.cu").read_text()
print(gemm[:gemm.index("typedef long long i64;")])

# %% [markdown]
# ## How the backend is wired
#
# Every tensor has a `device`. The ops ask `minigrad.backend.get_backend(device)` for their
# kernels: on `cpu` the numpy or Numba backend (chapter 08), on `cuda` the module
# `minigrad.backend.cuda_backend`. That module reads the `.cu` files, compiles them once with NVRTC
# (`cupy.RawModule`) and launches them on CuPy arrays. Elementwise ops and reductions use CuPy's own
# array functions: a tensor's `.array` is a `cupy.ndarray` on the GPU, just as it is a `numpy.ndarray`
# on the CPU. Autograd does not know or care: the graph and the backward formulas are the same.

# %%
x_cpu = mg.randn(3, 4)
print(x_cpu.device, type(x_cpu.array).__module__)
if GPU:
    x_gpu = x_cpu.to("cuda")
    print(x_gpu.device, type(x_gpu.array).__module__)
    print("round trip exact:", np.array_equal(x_gpu.cpu().numpy(), x_cpu.numpy()))
else:
    print("skipped: no GPU")

# %% [markdown]
# ## Autograd on the GPU
#
# Tensors on the GPU require gradients and call `backward()` exactly as on the CPU; mixing devices
# in one op is an error that names both devices.

# %%
if GPU:
    w = mg.randn(4, 2, device="cuda", requires_grad=True)
    loss = ((x_gpu @ w).relu() ** 2).mean()
    loss.backward()
    w_cpu = w.detach().cpu().requires_grad_()
    ((x_cpu @ w_cpu).relu() ** 2).mean().backward()
    print("gradient on GPU matches CPU:", np.allclose(w.grad.cpu().numpy(), w_cpu.grad.numpy(), atol=1e-5))
    try:
        x_cpu @ w
    except RuntimeError as e:
        print("RuntimeError:", e)
else:
    print("skipped: no GPU")

# %% [markdown]
# ## Experiment: matrix product speed, CPU vs GPU
#
# GPU calls are **asynchronous**: the Python call returns as soon as the kernel is queued. To time
# GPU work, wait for it with `mg.cuda.synchronize()` before stopping the clock (and do a warm-up
# call first: it compiles the kernel).

# %%
def time_matmul(device, n, repeat=3):
    a = mg.randn(n, n, device=device)
    b = mg.randn(n, n, device=device)
    (a @ b)  # warm up (and compile, on the GPU)
    if device == "cuda":
        mg.cuda.synchronize()
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        a @ b
        if device == "cuda":
            mg.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


sizes = [128, 256, 512] if FAST else [128, 256, 512, 1024, 2048]
speed = {"cpu": [time_matmul("cpu", n) for n in sizes]}
if GPU:
    speed["cuda"] = [time_matmul("cuda", n) for n in sizes + ([] if FAST else [4096])]
plt.figure(figsize=(6, 3.5))
for dev, g in speed.items():
    plt.plot((sizes + [4096])[:len(g)], g, "o-", label=dev)
plt.xscale("log", base=2)
plt.yscale("log")
plt.xlabel("n (n x n @ n x n, float32)")
plt.ylabel("GFLOP/s")
plt.legend()
plt.title("matrix product speed" + ("" if GPU else " (CPU only: no GPU here)"))
plt.show()

# %% [markdown]
# ## A model on the GPU
#
# `model.to("cuda")` moves every parameter and buffer; inputs go with `.to("cuda")` too, and the
# training loop is unchanged. Small models barely profit (each op is a kernel launch of a few
# microseconds); large batches and convolutions profit a lot.

# %%
def cnn():
    mg.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 64), nn.ReLU(), nn.Linear(64, 10))


def step_time(device, batch=256, steps=3):
    model = cnn().to(device)
    opt = mg.optim.Adam(model.parameters(), lr=1e-3)
    x = mg.rand(batch, 1, 28, 28).to(device)
    y = mg.randint(0, 10, (batch,)).to(device)
    times = []
    for _ in range(steps + 1):
        t = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()  # waits for the GPU
        times.append(time.perf_counter() - t)
    return min(times[1:])


t_cpu = step_time("cpu", steps=1 if FAST else 3)
print(f"CPU: {t_cpu * 1e3:.0f} ms per training step (batch 256)")
if GPU:
    t_gpu = step_time("cuda")
    print(f"GPU: {t_gpu * 1e3:.1f} ms per training step, {t_cpu / t_gpu:.0f}x faster")
else:
    print("GPU: skipped (no GPU)")

# %% [markdown]
# ## Exercises
#
# Fill in each function in the next cell (each raises `NotImplementedError` until you do), then run
# it: `check` applies the same assertions the test suite applies to the reference answers, and prints
# `ok`, `not yet` or `wrong` (with the values that differ) for every exercise.
#
# 1. `launch_geometry(n, threads=256, max_blocks=65536)`: the number of blocks for an
#    elementwise kernel over `n` elements (enough to cover them, but at most `max_blocks`; the kernel
#    then loops with a grid stride).
# 2. `bias_relu_reference(x, b)`: the numpy reference of the fused bias + ReLU kernel, for `x` of shape $(N, C, H, W)$ and `b` of shape $(C,)$.
# 3. `to_device_and_back(t, device)`: move a tensor to `device` and back, returning a numpy array.
#
# **Questions to think about.** Why would a 1,000-element addition run slower on the GPU than on
# the CPU? Where in a training step does the data cross between the two, and how would you make
# it cross once?

# %%
from practice import check


def launch_geometry(n, threads=256, max_blocks=65536):
    raise NotImplementedError("your code here")


def bias_relu_reference(x, b):
    raise NotImplementedError("your code here")


def to_device_and_back(t, device):
    raise NotImplementedError("your code here")


check("09", launch_geometry=launch_geometry, bias_relu_reference=bias_relu_reference,
      to_device_and_back=to_device_and_back)
