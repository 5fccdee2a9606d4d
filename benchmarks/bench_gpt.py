"""GPT figures: training tokens/s vs PyTorch, generation with and without the KV cache, a 124M model's
build/save/load/generate, and the memory gradient checkpointing saves.

    python benchmarks/bench_gpt.py                       # everything (a few minutes on 2 cores)
    python benchmarks/bench_gpt.py --parts train --rounds 5
    python benchmarks/bench_gpt.py --parts gpt2-124m     # needs ~2 GB of RAM and a minute

Every measurement runs in its own process (`--worker NAME`), so the libraries never share a
process, their thread pools or their memory peak; minigrad and PyTorch alternate, round by
round, and the table reports the median of the rounds. The PyTorch model is the same GPT written
with torch.nn (F.scaled_dot_product_attention(is_causal=True), tanh GELU, tied head), trained
with the same AdamW groups, clipping and batch shapes (nanoGPT's Shakespeare recipe: 4 layers,
4 heads, 128 wide, context 64, batch 12, vocabulary 65).
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _machine import cpu_model  # noqa: E402 (benchmarks/ is on sys.path when run as a script)

SHAKESPEARE = dict(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128)
GPT2_124M = dict(vocab_size=50257, block_size=1024, n_layer=12, n_head=12, n_embd=768)
B = 12



def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------------- the PyTorch twin

def torch_gpt(c):
    import math

    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(c["n_embd"]), nn.LayerNorm(c["n_embd"])
            self.c_attn, self.attn_proj = nn.Linear(c["n_embd"], 3 * c["n_embd"]), nn.Linear(c["n_embd"], c["n_embd"])
            self.c_fc, self.mlp_proj = nn.Linear(c["n_embd"], 4 * c["n_embd"]), nn.Linear(4 * c["n_embd"], c["n_embd"])

        def forward(self, x):
            Bn, T, C = x.shape
            q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
            q, k, v = (t.view(Bn, T, c["n_head"], C // c["n_head"]).transpose(1, 2) for t in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(Bn, T, C)
            x = x + self.attn_proj(y)
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(c["vocab_size"], c["n_embd"]), nn.Embedding(c["block_size"], c["n_embd"])
            self.h = nn.ModuleList([Block() for _ in range(c["n_layer"])])
            self.ln_f = nn.LayerNorm(c["n_embd"])
            self.lm_head = nn.Linear(c["n_embd"], c["vocab_size"], bias=False)
            self.lm_head.weight = self.wte.weight
            for name, p in self.named_parameters():
                if p.ndim == 2:
                    nn.init.normal_(p, 0, 0.02 / math.sqrt(2 * c["n_layer"]) if name.endswith("proj.weight") else 0.02)

        def forward(self, idx, targets):
            x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
            for block in self.h:
                x = block(x)
            logits = self.lm_head(self.ln_f(x))
            return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))

    return GPT()


# ---------------------------------------------------------------------------- workers (one per process)

def _batches(n, c, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, c["vocab_size"], (B, c["block_size"])), rng.integers(0, c["vocab_size"], (B, c["block_size"])))
            for _ in range(n)]


def worker_train_minigrad(steps, c=SHAKESPEARE, **kw):
    import minigrad as mg
    from minigrad.models import GPT, GPTConfig
    mg.manual_seed(0)
    model = GPT(GPTConfig(**c, **kw))
    opt = model.configure_optimizers(0.1, 1e-3, (0.9, 0.99))
    data = [(mg.tensor(x), mg.tensor(y)) for x, y in _batches(4, c)]

    def step(i):
        x, y = data[i % 4]
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        mg.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()
    return _time_steps(step, steps, c)


def worker_train_torch(steps, c=SHAKESPEARE):
    import torch
    torch.manual_seed(0)
    model = torch_gpt(c)
    decay = [p for p in model.parameters() if p.ndim >= 2]
    rest = [p for p in model.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.99))
    data = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in _batches(4, c)]

    def step(i):
        x, y = data[i % 4]
        loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()
    out = _time_steps(step, steps, c)
    out["torch_threads"] = torch.get_num_threads()
    return out


def _time_steps(step, steps, c):
    for i in range(3):  # warm-up: JIT compiles, allocator settles
        step(i)
    t0 = time.perf_counter()
    for i in range(steps):
        step(i)
    dt = time.perf_counter() - t0
    return {"tokens_per_s": steps * B * c["block_size"] / dt, "ms_per_step": 1000 * dt / steps}


def worker_generate(tokens, use_cache, c=SHAKESPEARE, prompt=1):
    import minigrad as mg
    from minigrad.models import GPT, GPTConfig
    mg.manual_seed(0)
    model = GPT(GPTConfig(**c)).eval()
    idx = mg.tensor(np.zeros((1, prompt), dtype=np.int64))
    model.generate(idx, 2, do_sample=False, use_cache=use_cache)  # warm-up
    t0 = time.perf_counter()
    model.generate(idx, tokens, do_sample=False, use_cache=use_cache)
    dt = time.perf_counter() - t0
    return {"tokens_per_s": tokens / dt}


def worker_124m_save(directory):
    import minigrad as mg
    from minigrad.models import GPT, GPTConfig
    mg.manual_seed(0)
    t0 = time.perf_counter()
    model = GPT(GPTConfig(**GPT2_124M))
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.save_pretrained(directory)
    save = time.perf_counter() - t0
    size = os.path.getsize(os.path.join(directory, "model.safetensors"))
    return {"params_M": model.get_num_params(non_embedding=False) / 1e6, "build_s": build, "save_s": save,
            "file_MB": size / 2**20, "peak_rss_MB": peak_rss_mb()}


def worker_124m_load(directory, tokens):
    import minigrad as mg
    from minigrad.models import GPT
    import tracemalloc
    base = peak_rss_mb()
    tracemalloc.start()  # numpy reports its allocations to it: the memory the load itself allocated
    t0 = time.perf_counter()
    model = GPT.from_pretrained(directory).eval()
    load = time.perf_counter() - t0
    allocated = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    after_load = peak_rss_mb()
    idx = mg.tensor(np.zeros((1, 8), dtype=np.int64))
    model.generate(idx, 2, do_sample=False)
    t0 = time.perf_counter()
    model.generate(idx, tokens, do_sample=False)
    gen = time.perf_counter() - t0
    return {"load_s": load, "rss_before_load_MB": base, "allocated_peak_MB": allocated, "peak_rss_after_load_MB": after_load,
            "file_MB": os.path.getsize(os.path.join(directory, "model.safetensors")) / 2**20,
            "generate_tokens_per_s": tokens / gen}


def worker_checkpointing(on):
    """Peak bytes numpy allocated (tracemalloc) during one training step of a deeper, longer-context GPT."""
    import tracemalloc

    import minigrad as mg
    from minigrad.models import GPT, GPTConfig
    c = dict(vocab_size=65, block_size=256, n_layer=8, n_head=4, n_embd=128)
    mg.manual_seed(0)
    model = GPT(GPTConfig(**c, gradient_checkpointing=on))
    (x, y), = _batches(1, c)
    x, y = mg.tensor(x[:8]), mg.tensor(y[:8])
    _, loss = model(x, y)  # warm-up (JIT compile) outside the measurement
    loss.backward()
    model.zero_grad()
    tracemalloc.start()
    t0 = time.perf_counter()
    _, loss = model(x, y)
    loss.backward()
    dt = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"peak_MB": peak / 2**20, "step_s": dt}


WORKERS = {"train_minigrad": worker_train_minigrad, "train_torch": worker_train_torch, "generate": worker_generate,
           "124m_save": worker_124m_save, "124m_load": worker_124m_load, "checkpointing": worker_checkpointing}


def run_worker(name, **kwargs):
    """Run one worker in a fresh process; its JSON result."""
    cmd = [sys.executable, __file__, "--worker", name, "--kwargs", json.dumps(kwargs)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------- the report

def part_train(rounds, steps):
    results = {"minigrad": [], "torch": []}
    threads = None
    for _ in range(rounds):  # alternate, so a load change on the machine hits both alike
        results["minigrad"].append(run_worker("train_minigrad", steps=steps)["tokens_per_s"])
        r = run_worker("train_torch", steps=steps)
        results["torch"].append(r["tokens_per_s"])
        threads = r["torch_threads"]
    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"\ntraining step, Shakespeare GPT (0.8M params, batch {B}x64), median of {rounds} rounds of {steps} steps")
    print("| library | tokens/s (median) | all rounds |")
    print("|---|---|---|")
    for k, v in results.items():
        print(f"| {k}{f' ({threads} threads)' if k == 'torch' else ''} | {med[k]:,.0f} | "
              f"{', '.join(f'{x:,.0f}' for x in v)} |")
    print(f"ratio minigrad / PyTorch: {med['minigrad'] / med['torch']:.2f}x")
    return {"train": results, "ratio": med["minigrad"] / med["torch"]}


def part_generate(rounds, tokens):
    """Inside the context (63 new tokens: the cache grows to 64) and past it (where it is rebuilt each step)."""
    results = {}
    for n in (SHAKESPEARE["block_size"] - 1, tokens):
        for cache in (True, False):
            results[(n, cache)] = []
    for _ in range(rounds):
        for n, cache in results:
            results[(n, cache)].append(run_worker("generate", tokens=n, use_cache=cache)["tokens_per_s"])
    print("\ngeneration, Shakespeare GPT (context 64), greedy, batch 1, from a 1-token prompt")
    print("| new tokens | KV cache | tokens/s (median) | all rounds |")
    print("|---|---|---|---|")
    for (n, cache), v in results.items():
        print(f"| {n} | {'on' if cache else 'off'} | {statistics.median(v):,.0f} | {', '.join(f'{x:,.0f}' for x in v)} |")
    return {"generate": {f"{n} {'cache' if c else 'no cache'}": v for (n, c), v in results.items()}}


def part_124m(tokens):
    with tempfile.TemporaryDirectory() as d:
        saved = run_worker("124m_save", directory=d)
        loaded = run_worker("124m_load", directory=d, tokens=tokens)
    print("\nGPT-2 124M-sized random model (12 layers, 768 wide, vocabulary 50,257), float32")
    print(f"- {saved['params_M']:.1f}M parameters; build {saved['build_s']:.1f} s; save_pretrained "
          f"{saved['save_s']:.1f} s ({saved['file_MB']:.0f} MB file; the saving process peaked at "
          f"{saved['peak_rss_MB']:.0f} MB)")
    print(f"- from_pretrained {loaded['load_s']:.1f} s; it allocated at most {loaded['allocated_peak_MB']:.0f} MB "
          f"(the parameters plus one tensor; file {loaded['file_MB']:.0f} MB); the process's peak RSS was "
          f"{loaded['peak_rss_after_load_MB']:.0f} MB ({loaded['rss_before_load_MB']:.0f} MB before), which also "
          "counts the file's memory-mapped pages (page cache, reclaimable)")
    print(f"- greedy generation with the KV cache: {loaded['generate_tokens_per_s']:.1f} tokens/s ({tokens} tokens)")
    return {"gpt2_124m": {**saved, **loaded}}


def part_checkpointing():
    off, on = run_worker("checkpointing", on=False), run_worker("checkpointing", on=True)
    print("\ngradient checkpointing, one forward+backward, 8 layers, 128 wide, batch 8x256 (tracemalloc peak)")
    print("| checkpointing | peak MB | step s |")
    print("|---|---|---|")
    for name, r in (("off", off), ("on", on)):
        print(f"| {name} | {r['peak_MB']:.0f} | {r['step_s']:.2f} |")
    return {"checkpointing": {"off": off, "on": on}}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parts", default="train,generate,gpt2-124m,checkpointing")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--tokens", type=int, default=200)
    p.add_argument("--json", default=None, help="also write the figures here")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--kwargs", default="{}", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker](**json.loads(args.kwargs))))
        return
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; load average at start {os.getloadavg()[0]:.1f}")
    parts = args.parts.split(",")
    out = {"cpu": cpu_model(), "cores": os.cpu_count()}
    if "train" in parts:
        out.update(part_train(args.rounds, args.steps))
    if "generate" in parts:
        out.update(part_generate(args.rounds, args.tokens))
    if "gpt2-124m" in parts:
        out.update(part_124m(min(args.tokens, 50)))
    if "checkpointing" in parts:
        out.update(part_checkpointing())
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
