"""Compile the Numba kernels ahead of time, so that a first training run does not wait for them.

    python -m minigrad.backend.warmup        # or: minigrad warmup
    python -m minigrad.backend.warmup --install   # as `make` runs it: never fails, warns instead
    python -m minigrad.backend.warmup --dtypes float32   # only what float32 work needs (half the time)

Numba compiles a kernel the first time it is called with a new combination of argument types
(a signature) and, since every kernel here has `cache=True`, writes the machine code to disk:
into NUMBA_CACHE_DIR when that is set, else into __pycache__ beside the kernel's source. Later
processes load it from there (well under a second for all of them) instead of compiling again
(about 30 s on a 2-core machine for the main job's kernels).

This module runs, in float32 and float64, the work that calls those kernels with the argument
types real code uses: one training step and one evaluation batch of the seed CNN (the main job:
batch 64, Adam, cross-entropy, and the batch of 1000 its test pass uses), and the common layers
around it (padded and grouped convolutions, average pooling, SGD with momentum, large matrix
products). Driving the real layers, rather than naming signatures by hand, keeps the list exact
as the backend's routing changes. It imports minigrad inside its functions only: the kernels
themselves never import the Tensor.

The cache stays correct by itself: Numba keys each entry on the kernel's source file (its
modification time and size) and on the CPU (name and features), so an edited kernel or another
machine recompiles instead of loading a stale build; matmul.py carries the micro-kernel's stamp
because its micro-kernel lives in another file.
"""
import argparse
import sys
import time


def _kernel_modules():
    from minigrad.kernels.cpu import attention, conv, fused, matmul, pool, rnn
    return [attention, conv, fused, matmul, pool, rnn]


def dispatchers():
    """{"module.name": Numba dispatcher} for every compiled kernel that has its own cache entry."""
    from numba.core.registry import CPUDispatcher
    out = {}
    for mod in _kernel_modules():
        for name, obj in vars(mod).items():
            if isinstance(obj, CPUDispatcher) and obj.targetoptions.get("inline") != "always":
                out[f"{mod.__name__.rsplit('.', 1)[-1]}.{name}"] = obj
    return out


def kernel_report():
    """One dict per (kernel, signature) this process holds: where it came from ("cache" or "compiled")
    and the seconds Numba spent compiling it (None when it was loaded from the cache)."""
    rows = []
    for name, d in sorted(dispatchers().items()):
        hits = d.stats.cache_hits
        for sig in d.signatures:
            cached = hits.get(sig, 0) > 0
            seconds = None
            if not cached:
                timers = (d.get_metadata(sig) or {}).get("timers", {})
                seconds = timers.get("compiler_lock")
            rows.append({"kernel": name, "signature": "(" + ", ".join(map(str, sig)) + ")",
                         "source": "cache" if cached else "compiled", "seconds": seconds})
    return rows


def _cnn_work(dtype):
    """One training step (batch 64, Adam) and one evaluation batch (1000) of the seed CNN."""
    import numpy as np

    import minigrad as mg
    import minigrad.nn as nn
    import minigrad.optim as optim
    from minigrad.examples.mnist_cnn import CNN

    model = CNN().to(getattr(mg, dtype))
    opt = optim.Adam(model.parameters(), lr=1e-3)
    x = mg.tensor(np.zeros((64, 1, 28, 28), dtype))
    y = mg.tensor(np.arange(64) % 10)
    loss = nn.CrossEntropyLoss()(model(x), y)
    loss.backward()
    opt.step()
    with mg.no_grad():
        model(mg.tensor(np.zeros((1000, 1, 28, 28), dtype))).argmax(1)


def _layer_work(dtype):
    """The common layers beyond the CNN: padded/strided and grouped convolutions, average and padded max
    pooling, SGD with momentum, a large 2-D product, a stack of products and cross-entropy."""
    import numpy as np

    import minigrad as mg
    import minigrad.nn as nn
    import minigrad.nn.functional as F
    import minigrad.optim as optim

    x = mg.tensor(np.zeros((8, 16, 16, 16), dtype), requires_grad=True)
    layers = nn.Sequential(nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
                           nn.Conv2d(32, 32, 3, padding=1, groups=4), nn.AvgPool2d(2),
                           nn.MaxPool2d(2, padding=1)).to(getattr(mg, dtype))
    a = mg.tensor(np.zeros((300, 300), dtype), requires_grad=True)
    opt = optim.SGD([*layers.parameters(), a], lr=0.1, momentum=0.9)  # small (serial) and large updates
    layers(x).sum().backward()
    (a @ a).sum().backward()
    opt.step()
    s = mg.tensor(np.zeros((4, 100, 100), dtype), requires_grad=True)
    (s @ s).sum().backward()
    for n in (4, 2000):  # the serial and the parallel build
        F.cross_entropy(mg.tensor(np.zeros((n, 10), dtype)), mg.tensor(np.arange(n) % 10))


def _sequence_work(dtype):
    """The sequence layers: causal and masked attention (forward and backward) and the fused
    RNN/LSTM/GRU kernels, at sizes that take their parallel paths."""
    import numpy as np

    import minigrad as mg
    import minigrad.nn as nn
    import minigrad.nn.functional as F

    q = mg.tensor(np.zeros((2, 4, 64, 32), dtype), requires_grad=True)
    F.scaled_dot_product_attention(q, q, q, is_causal=True).sum().backward()
    mask = mg.tensor(np.ones((64, 64), bool))
    F.scaled_dot_product_attention(q, q, q, attn_mask=mask).sum().backward()
    x = mg.tensor(np.zeros((28, 64, 28), dtype))
    for layer in (nn.RNN(28, 128), nn.LSTM(28, 128), nn.GRU(28, 128)):
        out, _ = layer.to(getattr(mg, dtype))(x)
        out.sum().backward()
    small = mg.tensor(np.zeros((3, 2, 4), dtype))
    for layer in (nn.RNN(4, 5), nn.LSTM(4, 5), nn.GRU(4, 5)):
        out, _ = layer.to(getattr(mg, dtype))(small)
        out.sum().backward()


PARTS = {"cnn": "_cnn_work", "layers": "_layer_work", "sequence": "_sequence_work"}


def warm_up(dtypes=("float32", "float64"), verbose=True, parts=tuple(PARTS)):
    """Compile (or load) every kernel signature the main jobs and the common layers use, for each of
    `dtypes`; parts: which of "cnn" (the seed CNN), "layers" (other conv/pool/matmul forms) and
    "sequence" (attention, the fused RNNs); -> seconds taken."""
    import minigrad as mg

    start = time.perf_counter()
    if mg.get_backend_name() != "numba":
        if verbose:
            print(f"minigrad warmup: the CPU backend is {mg.get_backend_name()!r}, nothing to compile")
        return 0.0
    for dtype in dtypes:
        for part in parts:
            globals()[PARTS[part]](dtype)
    seconds = time.perf_counter() - start
    if verbose:
        rows = kernel_report()
        built = sum(r["source"] == "compiled" for r in rows)
        print(f"minigrad warmup: {len(rows)} kernel signatures ready ({built} compiled, "
              f"{len(rows) - built} already cached) in {seconds:.1f} s")
    return seconds


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m minigrad.backend.warmup",
                                description="Compile minigrad's Numba kernels into the on-disk cache.")
    p.add_argument("--install", action="store_true",
                   help="run as an install step: on any error print a warning and exit 0")
    p.add_argument("--dtypes", default="float32,float64",
                   help="comma-separated dtypes to compile for (default float32,float64)")
    p.add_argument("--parts", default=",".join(PARTS),
                   help=f"comma-separated parts to compile (default {','.join(PARTS)})")
    args = p.parse_args(argv)
    parts = [x.strip() for x in args.parts.split(",") if x.strip()]
    unknown = [x for x in parts if x not in PARTS]
    if unknown:
        p.error(f"--parts: choose from {', '.join(PARTS)}, not {', '.join(unknown)}")
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    bad = [d for d in dtypes if d not in ("float32", "float64")]
    if bad:
        p.error(f"--dtypes: the kernels take float32 and float64, not {', '.join(bad)}")
    if not args.install:
        warm_up(dtypes, parts=parts)
        return 0
    try:
        print("minigrad: compiling the Numba kernels once (a few minutes on 2 cores)...", flush=True)
        warm_up(dtypes, parts=parts)
    except Exception as e:  # noqa: BLE001 -- an install must not fail over a cache it can build later
        print(f"warning: minigrad warmup failed ({type(e).__name__}: {e}); the kernels will compile "
              f"on first use instead", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
