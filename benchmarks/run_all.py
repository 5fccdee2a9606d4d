"""Run every CPU benchmark and record the figures in benchmarks/README.md.

    python benchmarks/run_all.py [--threads 2] [--no-write]

Each benchmark runs in its own process (so thread pools and JIT caches don't interfere)
and writes JSON; this script then renders one table per benchmark, a matmul scaling plot
(matmul_scaling.png), and replaces the block between the markers in README.md with them,
stamped with the date, CPU model and thread count.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from _machine import cpu_model  # noqa: E402 (benchmarks/ is on sys.path when run as a script)

HERE = Path(__file__).resolve().parent
START, END = "<!-- figures:start -->", "<!-- figures:end -->"



def run(script, out, threads):
    cmd = [sys.executable, str(HERE / script), "--json", str(out)]
    if script != "bench_overhead.py":
        cmd += ["--threads", str(threads)]
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)  # an old-CPU workaround that slows current OpenBLAS:
    env.pop("OPENBLAS_L2_SIZE", None)   # compare against numpy as users get it
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=env)
    return json.loads(Path(out).read_text())


def fmt(v, digits=1):
    return "n/a" if v is None else f"{v:,.{digits}f}"


def render(kern, train, over, threads):
    lines = [f"Measured {datetime.date.today().isoformat()} on {cpu_model()}, {os.cpu_count()} cores, "
             f"{threads} threads (minigrad's Numba kernels and PyTorch both set to it), "
             f"`python benchmarks/run_all.py`.", ""]
    lines += ["**matmul float32, GFLOP/s** (higher is better)", "",
              "| N | minigrad (Numba) | numpy (OpenBLAS) | PyTorch | minigrad / numpy |", "|---|---|---|---|---|"]
    for r in kern["matmul_gflops"]:
        lines.append(f"| {r['n']} | {fmt(r['numba'])} | {fmt(r['numpy'])} | {fmt(r.get('torch'))} | "
                     f"{r['numba'] / r['numpy']:.2f} |")
    lines += ["", "**conv2d forward + backward (input and weight), ms** (lower is better)", "",
              "| layer | batch | minigrad (Numba) | numpy reference | PyTorch | PyTorch / minigrad |",
              "|---|---|---|---|---|---|"]
    for r in kern["conv2d_fwd_bwd"]:
        t = r.get("torch_ms")
        lines.append(f"| {r['layer']} | {r['batch']} | {fmt(r['numba_ms'], 2)} | {fmt(r['numpy_ms'], 2)} | "
                     f"{fmt(t, 2)} | {(t / r['numba_ms']) if t else float('nan'):.2f} |")
    lines += ["", "**max_pool2d 2x2 forward + backward, ms**", "",
              "| input | minigrad (Numba) | numpy reference | PyTorch |", "|---|---|---|---|"]
    for r in kern["max_pool2d_fwd_bwd"]:
        lines.append(f"| {tuple(r['shape'])} | {fmt(r['numba_ms'], 2)} | {fmt(r['numpy_ms'], 2)} | "
                     f"{fmt(r.get('torch_ms'), 2)} |")
    lines += ["", "**Training and inference, images/s** (higher is better; Adam, random MNIST-shaped data)", "",
              "| case | minigrad | PyTorch | minigrad / PyTorch |", "|---|---|---|---|"]
    for r in train["rows"]:
        t = r.get("torch")
        lines.append(f"| {r['case']} | {fmt(r['minigrad'], 0)} | {fmt(t, 0)} | "
                     f"{(r['minigrad'] / t) if t else float('nan'):.2f} |")
    lines += ["", f"Peak resident memory of the training benchmark process: {train['peak_rss_mib']:.0f} MiB.", "",
              "**Per-op overhead, microseconds** (4x4 tensors, so it is all bookkeeping; 1 thread)", "",
              "| case | minigrad | PyTorch | minigrad / PyTorch |", "|---|---|---|---|"]
    for k, v in over["minigrad"].items():
        t = over.get("torch", {}).get(k)
        lines.append(f"| {k} | {v:.2f} | {fmt(t, 2)} | {(v / t) if t else float('nan'):.2f} |")
    first = kern.get("first_call_s", {})
    lines += ["", "First call of each kernel family (JIT compile, or load from Numba's on-disk cache): "
              + ", ".join(f"{k} {v:.2f} s" for k, v in first.items()) + f"; `import minigrad` compiles nothing.",
              "", "![matmul scaling](matmul_scaling.png)"]
    return "\n".join(lines)


def plot(kern, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rows = kern["matmul_gflops"]
    ns = [r["n"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for key, label in (("numba", "minigrad (Numba)"), ("numpy", "numpy / OpenBLAS"), ("torch", "PyTorch")):
        if all(key in r for r in rows):
            ax.plot(ns, [r[key] for r in rows], marker="o", label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("N (square float32 matmul)")
    ax.set_ylabel("GFLOP/s")
    ax.set_title(f"matmul scaling, {kern['threads']} threads")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-write", action="store_true", help="print the tables, leave README.md alone")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        kern = run("bench_kernels.py", Path(tmp) / "k.json", args.threads)
        train = run("bench_training.py", Path(tmp) / "t.json", args.threads)
        over = run("bench_overhead.py", Path(tmp) / "o.json", args.threads)
    block = render(kern, train, over, args.threads)
    print("\n" + block)
    if args.no_write:
        return
    readme = HERE / "README.md"
    text = readme.read_text() if readme.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    if START not in text:
        text += f"\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    readme.write_text(f"{head}{START}\n{block}\n{END}{tail}")
    plot(kern, HERE / "matmul_scaling.png")
    print(f"\nwrote {readme}")


if __name__ == "__main__":
    main()
