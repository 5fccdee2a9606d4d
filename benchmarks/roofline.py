"""The roofline of this machine, with every kernel of the seed CNN's training step and of the char
GPT's step on it.

    python benchmarks/roofline.py [--threads 2] [--out benchmarks/roofline.png] [--json PATH]

A kernel that does F floating-point operations while moving B bytes to or from memory has the
arithmetic intensity I = F / B (FLOP per byte). It cannot run faster than the machine's peak
FLOP/s, nor than I times its memory bandwidth: attainable(I) = min(peak, I * bandwidth). Kernels
left of the ridge point (peak / bandwidth) are memory-bound: only moving fewer bytes speeds them
up (fusion, smaller dtypes); those right of it are compute-bound (better tiles, more threads).

Measured here, on the running machine:
  * peak: the best of minigrad's and numpy's (OpenBLAS) float32 GEMMs at a few sizes, and of the
    GEMM's register tile
    (kernels/cpu/micro.py) run on panels that stay in L1 (the core's own limit, float32);
  * bandwidth: a STREAM-like triad a = b + s * c over float64 arrays larger than the last-level
    cache where memory allows (the size used is printed), and over arrays that fit in L2: a
    kernel whose operands stay in cache (the small matmuls) can sit above the memory roof;
  * each kernel: median wall time of the backend call on the real shapes (seed CNN, batch 64;
    GPT: 4 layers, 4 heads, width 128, context 64, batch 12, vocabulary 65). B counts each
    operand read once and each result written once: the least traffic the kernel could have,
    so a kernel's dot sits at or below the roofline and the gap is what it loses.
Every time is the best of several runs. The figures move with the machine's load: the CPU model
and the load average are printed and drawn with them.
"""
import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
from numba import njit, prange

sys.path.insert(0, str(Path(__file__).parent))
from _machine import cpu_model, timings  # noqa: E402


def _best_time(fn, rounds=7, warmup=2):
    """The best of `rounds` timings (seconds): what the machine can do when it is not interrupted,
    which is what a roofline compares. On a busy machine the median can be several times slower."""
    return min(timings(fn, rounds, warmup))


def _micro_peak_kernel():
    """The GEMM's register tile (kernels/cpu/micro.py) on panels that stay in L1, on every thread:
    FLOP = 2 * MR * NR * 256 per call. Built on first use (the tile is compiled with SLP on)."""
    from minigrad.kernels.cpu.matmul import slp_vectorized
    from minigrad.kernels.cpu.micro import MR, NR, micro_kernel

    @slp_vectorized
    @njit(parallel=True, fastmath={"contract"})
    def run(ap, bp, C, reps):
        for t in prange(C.shape[0]):
            for _ in range(reps):
                micro_kernel(256, ap, bp, C[t], 0, 0, MR, NR, True)
    return run, MR, NR


@njit(parallel=True)
def _triad(a, b, c, s, reps, parts):
    """a = b + s c, each thread on its own contiguous part, `reps` times (s changes so no pass is skipped)."""
    n = a.shape[0]
    for p in prange(parts):
        lo, hi = p * n // parts, (p + 1) * n // parts
        for r in range(reps):
            sr = s + r
            for i in range(lo, hi):
                a[i] = b[i] + sr * c[i]


def peak_flops(threads):
    from minigrad.backend import cpu_backend as cb
    best = {}
    for n in (512, 1024, 1536):
        a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
        best[f"gemm{n}"] = 2.0 * n ** 3 / _best_time(lambda: cb.gemm(a, a), rounds=5)
        best[f"openblas{n}"] = 2.0 * n ** 3 / _best_time(lambda: a @ a, rounds=5)
    run, mr, nr = _micro_peak_kernel()
    ap, bp = np.full(256 * mr, 1e-3, np.float32), np.full(256 * nr, 1e-3, np.float32)
    C = np.zeros((threads, mr, nr), np.float32)
    reps = 20_000
    best["register_tile"] = 2.0 * mr * nr * 256 * reps * threads / _best_time(lambda: run(ap, bp, C, reps), rounds=5)
    return max(best.values()), best


def llc_bytes():
    """The largest cache's size from /sys (None where it cannot be read)."""
    sizes = []
    for d in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            text = (d / "size").read_text().strip()
        except OSError:
            continue
        unit = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1], 1)
        sizes.append(int(text.rstrip("KMG")) * unit)
    return max(sizes) if sizes else None


def bandwidth(threads):
    """Triad bytes / time (a written, b and c read: 24 bytes per element; write-allocate not counted)."""
    llc = llc_bytes() or (32 << 20)
    per_array = int(min(max(2 * llc, 64 << 20), 256 << 20))  # past the cache, within a shared machine's memory
    n = per_array // 8
    a, b, c = np.zeros(n), np.ones(n), np.full(n, 2.0)
    t = _best_time(lambda: _triad(a, b, c, 3.0, 1, threads), rounds=5)
    m = threads * (128 << 10) // 8  # 3 x 128 KiB per thread: within a core's L2 on both CPU families
    a2, b2, c2 = np.zeros(m), np.ones(m), np.full(m, 2.0)
    reps = 2000
    t2 = _best_time(lambda: _triad(a2, b2, c2, 3.0, reps, threads), rounds=5)
    return 24.0 * n / t, per_array, llc, 24.0 * m * reps / t2


def _conv_entry(name, fn, flop, reads, writes, itemsize=4):
    return {"name": name, "fn": fn, "flop": flop, "bytes": (reads + writes) * itemsize}


def cnn_kernels():
    """Every backend kernel of the seed CNN's training step, batch 64 (forward and backward)."""
    from minigrad.backend import cpu_backend as cb
    rng = np.random.default_rng(0)
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    one, zero = (1, 1), (0, 0)
    out = []
    for tag, (c, h, o) in (("conv1", (1, 28, 32)), ("conv2", (32, 13, 64))):
        x, w, b = f32(64, c, h, h), f32(o, c, 3, 3), f32(o)
        oh = h - 2
        y = cb.conv2d_forward(x, w, one, zero, one, 1, bias=b)
        macs = 64 * o * oh * oh * c * 9
        out.append(_conv_entry(f"{tag} fwd", lambda x=x, w=w, b=b: cb.conv2d_forward(x, w, one, zero, one, 1, bias=b),
                               2 * macs, x.size + w.size, y.size))
        if c > 1:
            out.append(_conv_entry(f"{tag} bwd input", lambda y=y, w=w, x=x: cb.conv2d_backward_input(
                y, w, x.shape, one, zero, one, 1), 2 * macs, y.size + w.size, x.size))
        out.append(_conv_entry(f"{tag} bwd weight", lambda y=y, x=x, w=w: cb.conv2d_backward_weight(
            y, x, w.shape, one, zero, one, 1), 2 * macs, y.size + x.size, w.size))
        out.append(_conv_entry(f"{tag} bwd bias", lambda y=y: cb.conv2d_backward_bias(y), y.size, y.size, o))
        r = cb.relu_forward(y)
        out.append(_conv_entry(f"relu{tag[-1]} fwd", lambda y=y: cb.relu_forward(y), y.size, y.size, y.size))
        out.append(_conv_entry(f"relu{tag[-1]} bwd", lambda y=y, r=r: cb.relu_backward(y, r), y.size, 2 * y.size,
                               y.size))
        p, idx = cb.max_pool2d_forward(r, (2, 2), (2, 2), zero, one)
        out.append(_conv_entry(f"pool{tag[-1]} fwd", lambda r=r: cb.max_pool2d_forward(r, (2, 2), (2, 2), zero, one),
                               3 * p.size, r.size, 3 * p.size))  # y and int64 indices (2 words)
        out.append(_conv_entry(f"pool{tag[-1]} bwd", lambda p=p, idx=idx, s=r.shape: cb.max_pool2d_backward(p, idx, s),
                               0, 3 * p.size, r.size))
    for tag, (m, k, n) in (("fc1", (64, 1600, 128)), ("fc2", (64, 128, 10))):
        a, w = f32(m, k), f32(k, n)
        for part, (x1, x2) in (("fwd", (a, w)), ("bwd input", (f32(m, n), f32(n, k))), ("bwd weight", (a.T, f32(m, n)))):
            out.append(_conv_entry(f"{tag} {part}", lambda x1=x1, x2=x2: cb.matmul(x1, x2), 2 * m * k * n,
                                   x1.size + x2.size, x1.shape[0] * x2.shape[1]))
    logits, t = f32(64, 10), rng.integers(0, 10, 64)
    out.append(_conv_entry("cross-entropy", lambda: cb.softmax_cross_entropy(logits, t, None, -100, 0.0),
                           5 * logits.size, logits.size, logits.size))
    p = f32(1600 * 128 + 32 * 9 + 64 * 32 * 9 + 128 * 10)
    g, m_, v_ = f32(p.size), np.zeros(p.size, np.float32), np.ones(p.size, np.float32)
    out.append(_conv_entry("adam (all params)", lambda: cb.adam_update(p, g, m_, v_, None, 1e-3, 0.9, 0.999, 1e-8, 0.0,
                                                                     False, 0.1, 0.001), 12 * p.size, 4 * p.size,
                           3 * p.size))
    return out


def gpt_kernels():
    """The matmul, attention and layer-norm shapes of the char GPT's step (4 layers, 4 heads, width 128,
    context 64, batch 12): one of each per layer (timed once; the step runs each 4 times, 3 for backward)."""
    import minigrad as mg
    import minigrad.nn.functional as F
    from minigrad.backend import cpu_backend as cb
    rng = np.random.default_rng(0)
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    B, T, C, nh, V = 12, 64, 128, 4, 65
    M = B * T
    out = []
    for tag, (k, n) in (("qkv", (C, 3 * C)), ("attn proj", (C, C)), ("mlp up", (C, 4 * C)), ("mlp down", (4 * C, C)),
                        ("lm head", (C, V))):
        a, w = f32(M, k), f32(k, n)
        out.append(_conv_entry(f"gpt {tag}", lambda a=a, w=w: cb.matmul(a, w), 2 * M * k * n, a.size + w.size, M * n))
    q, kk, v = (mg.tensor(f32(B, nh, T, C // nh)) for _ in range(3))

    def attention():
        with mg.no_grad():
            F.scaled_dot_product_attention(q, kk, v, is_causal=True)
    # QK^T and PV: 2 * 2 * B*nh*T*T*hd; softmax ~5 per score; reads q, k, v, writes y (the scores are internal)
    out.append(_conv_entry("gpt attention (sdpa)", attention, 4 * B * nh * T * T * (C // nh) + 5 * B * nh * T * T,
                           3 * B * T * C, B * T * C))
    x, gam, bet = mg.tensor(f32(B, T, C)), mg.tensor(f32(C)), mg.tensor(f32(C))

    def layer_norm():
        with mg.no_grad():
            F.layer_norm(x, (C,), gam, bet)
    out.append(_conv_entry("gpt layernorm", layer_norm, 8 * M * C, M * C + 2 * C, M * C))
    return out


def measure(threads):
    import minigrad as mg
    mg.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(threads)
    except ImportError:
        pass
    peak, peaks = peak_flops(threads)
    bw, per_array, llc, bw_l2 = bandwidth(threads)
    rows = []
    for group, entries in (("cnn", cnn_kernels()), ("gpt", gpt_kernels())):
        for e in entries:
            t = _best_time(e["fn"])
            rows.append({"group": group, "name": e["name"], "seconds": t, "flop": e["flop"], "bytes": e["bytes"],
                         "intensity": e["flop"] / e["bytes"], "gflops": e["flop"] / t / 1e9,
                         "gbytes": e["bytes"] / t / 1e9})
    return {"cpu": cpu_model(), "threads": threads, "load": os.getloadavg(), "peak_flops": peak, "peaks": peaks,
            "bandwidth": bw, "bandwidth_l2": bw_l2, "triad_array_bytes": per_array, "llc_bytes": llc, "kernels": rows}


def plot(res, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    peak, bw = res["peak_flops"] / 1e9, res["bandwidth"] / 1e9
    fig, ax = plt.subplots(figsize=(10, 6.5))
    xs = np.logspace(-2, 3, 200)
    ax.loglog(xs, np.minimum(peak, xs * bw), "k-", lw=2, label=f"roofline: {peak:.0f} GFLOP/s, memory {bw:.1f} GB/s")
    bw2 = res["bandwidth_l2"] / 1e9
    ax.loglog(xs, np.minimum(peak, xs * bw2), "k--", lw=1, label=f"data in L2: {bw2:.0f} GB/s")
    ax.axvline(peak / bw, color="grey", ls=":", lw=1)
    ax.text(peak / bw * 1.1, peak * 0.02, f"ridge {peak / bw:.1f} FLOP/byte", color="grey", fontsize=8)
    for group, marker, color in (("cnn", "o", "tab:blue"), ("gpt", "s", "tab:orange")):
        for r in res["kernels"]:
            if r["group"] != group or r["flop"] == 0:
                continue
            ax.loglog(r["intensity"], r["gflops"], marker, color=color, ms=6)
            ax.annotate(r["name"], (r["intensity"], r["gflops"]), fontsize=7, xytext=(4, 2), textcoords="offset points")
        ax.plot([], [], marker, color=color, label={"cnn": "seed CNN step, batch 64", "gpt": "char GPT step shapes"}[group])
    ax.set_xlabel("arithmetic intensity (FLOP / byte, least traffic)")
    ax.set_ylabel("achieved GFLOP/s")
    ax.set_title(f"Roofline: {res['cpu']}, {res['threads']} threads (load average {res['load'][0]:.1f})", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    tmp = Path(path).with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(Path(__file__).with_name("roofline.png")))
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args(argv)
    res = measure(args.threads)
    print(f"{res['cpu']}, {args.threads} threads, load average {res['load'][0]:.1f}")
    print(f"peak {res['peak_flops'] / 1e9:.1f} GFLOP/s (" + ", ".join(f"{k} {v / 1e9:.1f}" for k, v in res["peaks"].items())
          + f"); triad bandwidth {res['bandwidth'] / 1e9:.1f} GB/s over {res['triad_array_bytes'] >> 20} MiB arrays, "
          f"{res['bandwidth_l2'] / 1e9:.1f} GB/s over 128 KiB ones per thread (L2)")
    print(f"{'kernel':26s} {'ms':>8s} {'GFLOP/s':>8s} {'GB/s':>7s} {'FLOP/B':>7s} {'of roof':>7s}  bound")
    ridge = res["peak_flops"] / res["bandwidth"]
    for r in res["kernels"]:
        roof = min(res["peak_flops"], r["intensity"] * res["bandwidth"]) / 1e9
        share = r["gflops"] / roof if roof else float("nan")
        print(f"{r['name']:26s} {1e3 * r['seconds']:8.3f} {r['gflops']:8.1f} {r['gbytes']:7.1f} {r['intensity']:7.2f} "
              f"{share:7.0%}  {'compute' if r['intensity'] > ridge else 'memory'}")
    plot(res, args.out)
    print(f"wrote {args.out}")
    if args.json:
        tmp = Path(args.json).with_suffix(".tmp")
        tmp.write_text(json.dumps(res, indent=2))
        os.replace(tmp, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
