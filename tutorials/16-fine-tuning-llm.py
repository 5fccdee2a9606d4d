# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 16 · Fine-tuning a language model
#
# **What you will learn**
# - how a pretrained language model is shipped and loaded: a Hugging Face **GPT-2 checkpoint**
#   (`config.json` + `model.safetensors` + `tokenizer.json`) read by `GPT.from_pretrained`;
# - three ways to adapt it to a new text, compared on trainable parameters, loss, time and the size of
#   what you must store: **frozen body + new head**, **LoRA**, and **full fine-tuning**;
# - LoRA's math, $W + BA\,\alpha/r$: why it is cheap, why $B$ starts at zero, and how merging makes it free at inference.
#
# This notebook runs offline: it first makes a small GPT-2-format checkpoint itself (a character-level
# GPT pretrained on Shakespeare), then fine-tunes it on a text in a different style: the documentation of
# Python's standard library. If you have the real `gpt2` checkpoint on disk, one line switches to it.
#
# Full mode (the default) pretrains for 800 steps and fine-tunes each way for 300: a few minutes on a
# 2-core machine (more if it is busy). `MINIGRAD_FAST=1` shrinks it to about a minute (the numbers are then meaningless).

# %%
import importlib
import inspect
import math
import os
import tempfile
import time
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F
from minigrad.models import GPT, GPTConfig
from minigrad.text import CharTokenizer, load_tinyshakespeare, load_tokenizer

FAST = os.environ.get("MINIGRAD_FAST") == "1"
if "MINIGRAD_DATA_DIR" not in os.environ and os.path.isdir("../../shared/data/tinyshakespeare"):
    os.environ["MINIGRAD_DATA_DIR"] = "../../shared/data"  # a local copy, if there is one
_ = mg.manual_seed(0)
workdir = Path(tempfile.mkdtemp(prefix="minigrad-ch16-"))


def get_batch(ids, B, T, rng):
    starts = rng.integers(0, len(ids) - T - 1, B)
    x = np.stack([ids[s:s + T] for s in starts])
    y = np.stack([ids[s + 1:s + T + 1] for s in starts])
    return mg.tensor(x), mg.tensor(y)

# %% [markdown]
# ## Step 0: a pretrained checkpoint
#
# Pretraining is what chapter 15 did: a GPT learns to predict the next character of tiny Shakespeare.
# We do a shorter run here and save the result **in Hugging Face's GPT-2 format** with `save_pretrained`:
# the same files `transformers.GPT2LMHeadModel.save_pretrained` writes, plus the tokenizer. That
# directory is all a user of the model needs.

# %%
shakespeare = load_tinyshakespeare(download=True)
char_tok = CharTokenizer.from_text(shakespeare)
sh_ids = np.array(char_tok.encode(shakespeare), dtype=np.int64)
sh_train, sh_val = sh_ids[: int(0.9 * len(sh_ids))], sh_ids[int(0.9 * len(sh_ids)):]

if FAST:
    pre_config = GPTConfig(vocab_size=char_tok.vocab_size, block_size=32, n_layer=2, n_head=2, n_embd=48)
    PRE_STEPS, B = 80, 8
else:
    pre_config = GPTConfig(vocab_size=char_tok.vocab_size, block_size=64, n_layer=4, n_head=4, n_embd=128)
    PRE_STEPS, B = 800, 12
T = pre_config.block_size

base = GPT(pre_config)
opt = base.configure_optimizers(weight_decay=0.1, learning_rate=1e-3, betas=(0.9, 0.99))
rng = np.random.default_rng(0)
t0 = time.perf_counter()
for it in range(PRE_STEPS):
    for group in opt.param_groups:  # a short warm-up, then constant
        group["lr"] = 1e-3 * min(1.0, (it + 1) / 50)
    _, loss = base(*get_batch(sh_train, B, T, rng))
    opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(base.parameters(), 1.0)
    opt.step()
print(f"pretrained {PRE_STEPS} steps in {time.perf_counter() - t0:.0f} s, last training loss {loss.item():.3f}")

pretrained_dir = workdir / "tiny-shakespeare-gpt"
base.save_pretrained(pretrained_dir)
char_tok.save(pretrained_dir / "tokenizer.json")
for f in sorted(pretrained_dir.iterdir()):
    print(f"{f.name:20s} {f.stat().st_size / 1e3:8.1f} kB")
print((pretrained_dir / "config.json").read_text())

# %% [markdown]
# ## Loading it: `GPT.from_pretrained`
#
# **This is the one line to change** for the real GPT-2: download it once with
# `huggingface-cli download gpt2 --local-dir gpt2` (or take it from `transformers`' cache) and set
# `PRETRAINED = "gpt2"` (the directory). `from_pretrained` reads `config.json`, builds the
# `GPTConfig`, and copies the tensors in one by one, transposing the four projections that GPT-2 stores
# as `Conv1D` (in, out) rather than `Linear` (out, in). `load_tokenizer` reads our character
# tokenizer or GPT-2's byte-level BPE `tokenizer.json` alike. With GPT-2 (124 M parameters) every
# step below is some hundred times slower: keep the step counts small, or use LoRA only.

# %%
PRETRAINED = os.environ.get("PRETRAINED_GPT2_DIR") or pretrained_dir  # e.g. "gpt2"
tok = load_tokenizer(PRETRAINED)
model = GPT.from_pretrained(PRETRAINED)
print(tok)
print(model.config)
print(f"{model.get_num_params():,} parameters")

# %% [markdown]
# Is it really GPT-2's format? If `transformers` is installed, load the same directory with
# `GPT2LMHeadModel` and compare the logits of both implementations on the same tokens.

# %%
try:
    with warnings.catch_warnings():  # quiet transformers' import (progress-bar and version notes)
        warnings.simplefilter("ignore")
        import torch
        from transformers import GPT2LMHeadModel
        from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()
except ImportError:
    print("transformers is not installed: skipping the cross-check")
else:
    hf = GPT2LMHeadModel.from_pretrained(PRETRAINED).eval()
    ids = tok.encode("ROMEO:\nBut soft, what light")
    with torch.no_grad():
        theirs = hf(torch.tensor([ids])).logits.numpy()
    model.eval()
    with mg.no_grad():
        ours = model(mg.tensor([ids])).numpy()
    print(f"largest difference between minigrad's and transformers' logits: {np.abs(ours - theirs).max():.2e}")

# %% [markdown]
# ## The new text
#
# The fine-tuning text is the documentation of Python modules: prose about functions and arguments,
# nothing like Shakespeare. A pretrained model's **vocabulary is fixed**: characters our Shakespeare
# tokenizer never saw (digits, brackets, `_`) have no id, so we replace them by a space. (GPT-2's
# byte-level BPE never has this problem: any string is a sequence of bytes.)

# %%
modules = ["collections", "functools", "itertools", "json", "re", "pathlib", "argparse", "textwrap",
           "string", "random", "statistics", "fractions", "datetime", "calendar", "heapq", "bisect",
           "shutil", "tempfile", "logging", "typing", "dataclasses", "enum", "contextlib", "csv",
           "difflib", "inspect", "threading", "queue", "subprocess", "os", "zipfile", "tarfile", "gzip"]
docs = []
for name in modules:
    module = importlib.import_module(name)
    docs.append(inspect.getdoc(module) or "")
    for key, value in sorted(vars(module).items()):
        if not key.startswith("_") and getattr(value, "__module__", None) == module.__name__:
            docs.append(inspect.getdoc(value) or "")
new_text = "\n\n".join(d for d in docs if d)
if isinstance(tok, CharTokenizer):
    new_text = "".join(c if c in tok.stoi else " " for c in new_text)
new_ids = np.array(tok.encode(new_text), dtype=np.int64)
cut = int(0.9 * len(new_ids))
new_train, new_val = new_ids[:cut], new_ids[cut:]
print(f"{len(new_text):,} characters, {len(new_ids):,} tokens; a sample:\n")
print(new_text[5000:5400])

# %% [markdown]
# As with Shakespeare, the validation batches are drawn once and reused, for every method and every estimate.

# %%
eval_rng = np.random.default_rng(123)
n_eval = 4 if FAST else 30
new_val_batches = [get_batch(new_val, 12, T, eval_rng) for _ in range(n_eval)]
sh_val_batches = [get_batch(sh_val, 12, T, eval_rng) for _ in range(n_eval)]


def mean_loss(model, batches):
    was_training = model.training
    model.eval()
    with mg.no_grad():
        losses = [model(x, y)[1].item() for x, y in batches]
    model.train(was_training)
    return float(np.mean(losses))


print(f"pretrained model: loss {mean_loss(model, sh_val_batches):.3f} on Shakespeare, "
      f"{mean_loss(model, new_val_batches):.3f} on the new text")
print("its idea of documentation:\n" + tok.decode(model.generate(mg.tensor([tok.encode("Return a ")]), 150,
                                                                  temperature=0.8, top_k=20,
                                                                  generator=mg.Generator().manual_seed(0))[0].tolist()))

# %% [markdown]
# ## Three ways to fine-tune
#
# 1. **Frozen body + new head.** Every pretrained weight stays fixed; only a new output layer learns.
#    GPT's output layer is *tied* to its token embedding (one matrix, two roles), so we untie it: a new
#    `Linear` initialised as a copy of the old one, the embedding frozen. Cheap, but the features
#    themselves cannot change.
# 2. **LoRA** (low-rank adaptation). Every adapted weight $W$ (out × in) becomes $W + BA\,\alpha/r$
#    with $A$ (r × in) and $B$ (out × r) trainable and $W$ frozen. With $r = 8$ that is
#    $8\,(\text{in} + \text{out})$ numbers per layer instead of $\text{in} \times \text{out}$; we adapt every
#    matrix inside the blocks (`c_attn`, `c_proj`, `c_fc`), with `nn.utils.apply_lora`.
# 3. **Full fine-tuning.** Everything trains; the most capacity, the most memory (Adam keeps two extra
#    numbers per trainable parameter) and a full copy of the model to store per task.
#
# Each starts from the same checkpoint and sees the same batches. LoRA and the head get a larger
# learning rate than full fine-tuning: they start from zero or move few numbers, and large steps on
# all weights would destroy what pretraining learned.

# %%
STEPS = 40 if FAST else 300
EVAL_EVERY = 10 if FAST else 50
LORA_R, LORA_ALPHA = 8, 16


def prepare(method):
    model = GPT.from_pretrained(PRETRAINED)
    if method == "frozen + new head":
        model.requires_grad_(False)
        head = nn.Linear(model.config.n_embd, model.config.vocab_size, bias=False)
        with mg.no_grad():
            head.weight.copy_(model.lm_head.weight)  # start from the pretrained output layer, untied
        model.lm_head = head
    elif method == "LoRA":
        nn.utils.apply_lora(model, r=LORA_R, lora_alpha=LORA_ALPHA, target_modules=("c_attn", "c_proj", "c_fc"))
    return model


def save_trainable(model, method, directory):
    """What must be stored for this fine-tune: the bytes on disk."""
    directory.mkdir(parents=True, exist_ok=True)
    if method == "LoRA":
        nn.utils.save_lora(model, directory)
    elif method == "frozen + new head":
        mg.save({"lm_head.weight": model.lm_head.weight}, directory / "head.safetensors")
    else:
        model.save_pretrained(directory)
    return sum(f.stat().st_size for f in directory.iterdir())


def fine_tune(method, lr):
    _ = mg.manual_seed(0)
    model = prepare(method)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = mg.optim.AdamW(params, lr=lr, weight_decay=0.0)
    rng = np.random.default_rng(1)  # the same batches for every method
    curve = [(0, mean_loss(model, new_val_batches))]
    seconds = 0.0
    for it in range(1, STEPS + 1):
        t0 = time.perf_counter()
        _, loss = model(*get_batch(new_train, B, T, rng))
        opt.zero_grad()
        loss.backward()
        opt.step()
        seconds += time.perf_counter() - t0
        if it % EVAL_EVERY == 0:
            curve.append((it, mean_loss(model, new_val_batches)))
    return model, {"trainable": sum(p.numel() for p in params), "curve": curve, "seconds": seconds,
                   "stored bytes": save_trainable(model, method, workdir / method.replace(" ", "_")),
                   "shakespeare loss": mean_loss(model, sh_val_batches)}


results, tuned = {}, {}
for method, lr in [("frozen + new head", 3e-3), ("LoRA", 5e-3), ("full", 1e-3)]:
    tuned[method], results[method] = fine_tune(method, lr)
    print(f"{method:18s} done in {results[method]['seconds']:.1f} s")

# %%
total = model.get_num_params(non_embedding=False)
print(f"{'method':18s} {'trainable':>10s} {'share':>7s} {'new-text loss':>14s} {'Shakespeare loss':>17s} "
      f"{'s/step':>7s} {'stored':>9s}")
print(f"{'(pretrained)':18s} {'':>10s} {'':>7s} {mean_loss(model, new_val_batches):14.3f} "
      f"{mean_loss(model, sh_val_batches):17.3f}")
for method, r in results.items():
    print(f"{method:18s} {r['trainable']:10,d} {r['trainable'] / total:7.1%} {r['curve'][-1][1]:14.3f} "
          f"{r['shakespeare loss']:17.3f} {r['seconds'] / STEPS:7.3f} {r['stored bytes'] / 1e3:7.1f} kB")

fig, ax = plt.subplots(figsize=(7, 4))
for method, r in results.items():
    ax.plot(*zip(*r["curve"]), "o-", label=f"{method} ({r['trainable']:,} trainable)")
ax.set_xlabel("fine-tuning step"); ax.set_ylabel("validation loss on the new text (nats/char)")
ax.set_title("three ways to fine-tune the same checkpoint"); ax.legend()
plt.show()

# %% [markdown]
# How to read the table (full mode; in fast mode the runs are too short to separate the methods):
#
# - **Full fine-tuning** reaches the lowest loss on the new text: it can change everything. It also
#   forgets the most Shakespeare (the loss there rises the most), and each task costs a whole copy of the model.
# - **LoRA** comes close with a small share of the parameters trainable, and what it must store is a
#   adapter of a few hundred kilobytes; the base model is shared by every task. Its steps are no
#   cheaper here, even a little slower: the forward and backward passes still go through the whole
#   frozen model, plus two thin matmuls per adapted layer. The saving is in optimizer memory and in
#   what is stored, and, for large models on a GPU, in memory: no gradients or Adam state for $W$.
# - **The new head** improves the least: it can reweight the output letters, but the features the body
#   computes were made for Shakespeare.
#
# Samples after fine-tuning, same prompt and seed:

# %%
for method, m in tuned.items():
    out = m.generate(mg.tensor([tok.encode("Return a ")]), 150, temperature=0.8, top_k=20,
                     generator=mg.Generator().manual_seed(0))
    print(f"---- {method} ----\n{tok.decode(out[0].tolist())}\n")

# %% [markdown]
# ## LoRA, looked at closely
#
# `nn.LoRALinear` wraps one `Linear`. Its forward pass is
#
# $$y = x W^\top + b + (x A^\top B^\top)\,\frac{\alpha}{r}$$
#
# computed as two thin matmuls (never forming $BA$). Three facts to check by hand:
#
# 1. **$B$ starts at zero**, so at step 0 the adapted model computes *exactly* what the pretrained one
#    did: fine-tuning starts from the pretrained behaviour, not from a perturbed one.
# 2. Still, it learns: the gradient of $B$ is $\frac{\alpha}{r}\, g^\top (xA^\top)$, non-zero because $A$
#    is random. (If $A$ were zero too, both gradients would be zero forever.) $A$'s gradient is zero at
#    step 0 and becomes non-zero once $B$ has moved.
# 3. The update $BA\,\alpha/r$ has **rank at most $r$**, and **merging** it into $W$ gives a plain
#    `Linear` with the same outputs: no extra cost at inference.

# %%
_ = mg.manual_seed(0)
layer = nn.Linear(64, 32)
lora = nn.LoRALinear(nn.Linear(64, 32), r=4, lora_alpha=8)
with mg.no_grad():
    lora.weight.copy_(layer.weight)
    lora.bias.copy_(layer.bias)
x = mg.randn(16, 64)
print("1. max |LoRA(x) - Linear(x)| at init:", np.abs(lora(x).numpy() - layer(x).numpy()).max())

(lora(x) ** 2).sum().backward()
print(f"2. |grad B| = {np.abs(lora.lora_B.grad.numpy()).sum():.3f}, |grad A| = {np.abs(lora.lora_A.grad.numpy()).sum():.3f},"
      f" grad W: {lora.weight.grad}")

opt = mg.optim.SGD([lora.lora_A, lora.lora_B], lr=0.01)
for _ in range(5):
    opt.zero_grad()
    ((lora(x) - 1) ** 2).mean().backward()
    opt.step()
delta = lora.delta_weight().numpy()
print("3. rank of B A alpha/r:", np.linalg.matrix_rank(delta), "of a", delta.shape, "matrix (r = 4)")
before = lora(x).detach().numpy()
lora.merge()
print("   after merge(): max output difference", f"{np.abs(lora(x).numpy() - before).max():.1e}")

# %% [markdown]
# The same with the whole fine-tuned GPT: the saved adapter is applied to a freshly loaded base model
# with `nn.utils.load_lora`, giving the same logits; `nn.utils.merge_lora` then folds every adapter in.

# %%
fresh = nn.utils.load_lora(GPT.from_pretrained(PRETRAINED), workdir / "LoRA")
ids = mg.tensor([tok.encode("Return the number of ")])
tuned["LoRA"].eval(), fresh.eval()
with mg.no_grad():
    a, b = tuned["LoRA"](ids).numpy(), fresh(ids).numpy()
    nn.utils.merge_lora(fresh)
    c = fresh(ids).numpy()
print(f"saved adapter reloaded: max logit difference {np.abs(a - b).max():.1e}; after merging: {np.abs(a - c).max():.1e}")
print("adapter files:", {f.name: f"{f.stat().st_size / 1e3:.1f} kB" for f in sorted((workdir / 'LoRA').iterdir())})

# %% [markdown]
# ## What to take away
#
# - A checkpoint is a config plus named tensors; `from_pretrained` maps GPT-2's names and layouts
#   onto minigrad's modules, so the same code fine-tunes your own model or OpenAI's.
# - Freezing + a new head is the cheapest and the weakest; full fine-tuning the strongest and the most
#   expensive to store; LoRA gets most of the way with a small adapter per task.
# - LoRA starts exactly at the pretrained model ($B = 0$), is low-rank by construction, and merges away.
#
# ## Exercises
#
# Fill in each function in the next cell (each raises `NotImplementedError` until you do), then run
# it: `check` applies the same assertions the test suite applies to the reference answers, and prints
# `ok`, `not yet` or `wrong` (with the values that differ) for every exercise.
#
# 1. `lora_param_count(shapes, r)`: the number of LoRA parameters for Linear layers of the given
#    `(out_features, in_features)` shapes. (The model above: `shapes` of `c_attn`, `attn.c_proj`,
#    `c_fc`, `mlp.c_proj` per block.)
# 2. `lora_forward(x, W, b, A, B, alpha, r)` and `merged_weight(W, A, B, alpha, r)` in numpy:
#    the adapted layer's output, and the plain weight that gives the same output.
# 3. `freeze_all_but(model, prefixes)`: set `requires_grad` only on the parameters whose name starts
#    with one of `prefixes` (e.g. `("transformer.h.3.",)`: fine-tune the last block only); return the
#    number of trainable parameters.
#
# **Questions to think about.** Fine-tune only the last block with `freeze_all_but`: where does it land
# in the table, and why? What happens to LoRA with `lora_alpha` 16 and `r` 1, 8, 64 at the same learning
# rate? Why is initialising both $A$ and $B$ at zero a bad idea?

# %%
from practice import check


def lora_param_count(shapes, r):
    raise NotImplementedError("your code here")


def lora_forward(x, W, b, A, B, alpha, r):
    """x: (N, in) -> (N, out)"""
    raise NotImplementedError("your code here")


def merged_weight(W, A, B, alpha, r):
    raise NotImplementedError("your code here")


def freeze_all_but(model, prefixes):
    raise NotImplementedError("your code here")


check("16", lora_param_count=lora_param_count, lora_forward=lora_forward, merged_weight=merged_weight,
      freeze_all_but=freeze_all_but)
