# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 15 · A GPT from scratch
#
# **What you will learn**
# - how text becomes numbers: **characters** vs **byte-pair encoding** (BPE), with BPE's merges shown one by one;
# - the simplest language model, a **bigram** table, as the baseline every model must beat;
# - a **GPT** (GPT-2's architecture, `minigrad.models.GPT`) trained on tiny Shakespeare with nanoGPT's recipe:
#   loss curves, **perplexity**, samples at several stages of training;
# - **sampling**: what temperature and top-k do to the next-token distribution;
# - the **KV cache**: why generating with it is faster, measured in tokens per second.
#
# Full mode (the default) trains nanoGPT's small CPU model for 2,000 steps and reaches a validation
# loss of about 1.9 nats per character; it takes a few minutes on a 2-core machine (more if the
# machine is busy).
# With `MINIGRAD_FAST=1` everything shrinks to run in about a minute (the numbers are then meaningless).

# %%
import math
import os
import time

import matplotlib.pyplot as plt
import numpy as np

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F
from minigrad.models import GPT, GPTConfig
from minigrad.text import BPETokenizer, CharTokenizer, load_tinyshakespeare

FAST = os.environ.get("MINIGRAD_FAST") == "1"
if "MINIGRAD_DATA_DIR" not in os.environ and os.path.isdir("../../shared/data/tinyshakespeare"):
    os.environ["MINIGRAD_DATA_DIR"] = "../../shared/data"  # a local copy, if there is one
_ = mg.manual_seed(0)

text = load_tinyshakespeare(download=True)
print(f"{len(text):,} characters; the first 200:\n")
print(text[:200])

# %% [markdown]
# ## Tokens: characters
#
# A language model predicts the next **token** from the ones before it. The simplest tokens are the
# characters: tiny Shakespeare uses 65 distinct ones, so every id is in 0..64. The tokenizer is a
# lookup table both ways.

# %%
chars = CharTokenizer.from_text(text)
print("vocabulary:", repr("".join(chars.chars)))
print("vocab_size:", chars.vocab_size)
ids = chars.encode("To be, or not to be")
print(ids)
print(repr(chars.decode(ids)))

# %% [markdown]
# ## Tokens: byte-pair encoding, merge by merge
#
# Characters make long sequences: a model with a context of 64 characters sees about a dozen words.
# GPT-2 uses **byte-level BPE**: start from the 256 byte values (so any text is encodable, nothing is
# ever "unknown"), then repeatedly find the **most frequent adjacent pair** of ids and replace it
# everywhere by a new id. Frequent words end up as one token, rare ones as a few pieces.
#
# Here is the algorithm by hand on one sentence, so you can see each merge. (GPT-2 first splits the
# text into words so that merges never cross a word boundary; we skip that here.)

# %%
def most_frequent_pair(ids):
    counts = {}
    for pair in zip(ids, ids[1:]):
        counts[pair] = counts.get(pair, 0) + 1
    return max(counts, key=counts.get), counts


def merge(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


sentence = "the theatre then there the other"
ids = list(sentence.encode("utf-8"))
pieces = {i: bytes([i]) for i in range(256)}
print(f"start: {len(ids)} tokens")
for step in range(6):
    pair, counts = most_frequent_pair(ids)
    new_id = 256 + step
    pieces[new_id] = pieces[pair[0]] + pieces[pair[1]]
    ids = merge(ids, pair, new_id)
    shown = "|".join(pieces[i].decode() for i in ids)
    print(f"merge {step + 1}: {pieces[pair[0]]!r} + {pieces[pair[1]]!r} -> {new_id} "
          f"(seen {counts[pair]}x): {len(ids)} tokens  {shown}")

# %% [markdown]
# `minigrad.text.BPETokenizer.train` does the same on a whole corpus, with GPT-2's word split.
# Its first merges on Shakespeare are the commonest pairs of English: ` ` + `t` (the split keeps a
# word's leading space with it), `h` + `e`, ` ` + `a`, `o` + `u`, ... (printed below); a few hundred
# merges later whole words are tokens.
# The payoff is **compression**: the same text in far fewer tokens, at the price of a larger vocabulary
# (a bigger embedding table and output layer).

# %%
bpe_text = text[:100_000] if FAST else text[:500_000]
bpe = BPETokenizer.train(bpe_text, vocab_size=256 + (64 if FAST else 256))
for k, (a, b) in enumerate(bpe.merges[:10]):
    print(f"merge {k + 1:2d}: {bpe.vocab[a]!r} + {bpe.vocab[b]!r} -> {bpe.vocab[256 + k]!r}")

sample = text[-20_000:]  # text the tokenizer did not see in training
n_char, n_bpe = len(chars.encode(sample)), len(bpe.encode(sample))
print(f"\n{len(sample):,} characters -> {n_char:,} character tokens, {n_bpe:,} BPE tokens "
      f"({n_char / n_bpe:.2f} characters per BPE token, vocabulary {bpe.vocab_size})")
print("|".join(bpe.decode([i]) for i in bpe.encode("First Citizen: Before we proceed any further")))

# %% [markdown]
# For the rest of the chapter we use **characters**, as nanoGPT's Shakespeare example does: with only
# 1 MB of text, a BPE vocabulary of thousands would leave most tokens seen too rarely to learn.
# (Exercise 3 asks you to compare the two on equal footing: per character, not per token.)
#
# ## The data: next-token pairs
#
# The first 90 % of the text trains, the rest validates. A training example is a window of `T`
# tokens and the same window shifted by one: at every position the target is the next token, so one
# window gives `T` predictions at once.

# %%
data = np.array(chars.encode(text), dtype=np.int64)
n = int(0.9 * len(data))
train_ids, val_ids = data[:n], data[n:]
V = chars.vocab_size
rng = np.random.default_rng(0)


def get_batch(split, B, T, rng=rng):
    d = train_ids if split == "train" else val_ids
    starts = rng.integers(0, len(d) - T - 1, B)
    x = np.stack([d[s:s + T] for s in starts])
    y = np.stack([d[s + 1:s + T + 1] for s in starts])
    return mg.tensor(x), mg.tensor(y)


x, y = get_batch("train", 2, 16)
print(repr(chars.decode(x[0].tolist())))
print(repr(chars.decode(y[0].tolist())))

# %% [markdown]
# ## A baseline: the bigram model
#
# The bigram model predicts the next character from the current one only: a $V \times V$ table of
# logits, row $i$ holding the scores of every character that may follow character $i$. It is an
# `nn.Embedding(V, V)`. Its loss is the **cross-entropy** $-\frac1N\sum \log p(\text{next} \mid \text{current})$,
# in nats. A model that knows nothing (uniform over 65 characters) scores $\ln 65 \approx 4.17$.
#
# To evaluate fairly we fix a set of validation batches once and reuse them for every model and
# every estimate, so the curves differ by the model, not by which batches were drawn.

# %%
eval_rng = np.random.default_rng(123)
EVAL_T = 32 if FAST else 64
val_batches = [get_batch("val", 12, EVAL_T, eval_rng) for _ in range(4 if FAST else 50)]


def val_loss(model):
    model.eval()
    with mg.no_grad():
        losses = [F.cross_entropy(model(xb).reshape(-1, V), yb.reshape(-1)).item() for xb, yb in val_batches]
    model.train()
    return float(np.mean(losses))


class Bigram(nn.Module):
    def __init__(self, V):
        super().__init__()
        self.table = nn.Embedding(V, V)

    def forward(self, idx):  # idx: (B, T) -> logits (B, T, V)
        return self.table(idx)


bigram = Bigram(V)
opt = mg.optim.AdamW(bigram.parameters(), lr=3e-2, weight_decay=0.0)
bigram_curve = [(0, val_loss(bigram))]
steps = 150 if FAST else 1500
for it in range(1, steps + 1):
    xb, yb = get_batch("train", 32, 32)
    loss = F.cross_entropy(bigram(xb).reshape(-1, V), yb.reshape(-1))
    opt.zero_grad()
    loss.backward()
    opt.step()
    if it % (steps // 5) == 0:
        bigram_curve.append((it, val_loss(bigram)))
print(f"uniform guess: {math.log(V):.3f}; bigram after {steps} steps: validation loss {bigram_curve[-1][1]:.3f}")

# %% [markdown]
# A bigram model can only learn which letters follow which: its samples have word-like chunks but no words.

# %%
def sample_bigram(model, n, start="\n"):
    idx = chars.encode(start)
    g = np.random.default_rng(1)
    with mg.no_grad():
        for _ in range(n):
            p = F.softmax(model(mg.tensor([idx[-1:]]))[0, -1], dim=-1).numpy().astype(np.float64)
            idx.append(int(g.choice(V, p=p / p.sum())))
    return chars.decode(idx)


print(sample_bigram(bigram, 200))

# %% [markdown]
# ## The GPT
#
# `minigrad.models.GPT` is GPT-2's architecture, the one nanoGPT writes: token embedding + learned
# position embedding, then `n_layer` pre-norm blocks, each
#
# $$x \leftarrow x + \text{Attention}(\text{LN}(x)), \qquad x \leftarrow x + \text{MLP}(\text{LN}(x)),$$
#
# where the attention is **causal** (position $t$ sees positions $\le t$ only: the model must not peek at
# the token it predicts), then a final LayerNorm and an output layer that shares its weight with the
# token embedding. Chapter 14 built the attention by hand; here it is a building block.
#
# Training follows nanoGPT's CPU recipe for Shakespeare: 4 layers, 4 heads, 128 wide, context 64,
# batch 12, AdamW (betas 0.9/0.99, weight decay 0.1 on the matrices only), learning rate 1e-3 with
# 100 warm-up steps and cosine decay to 1e-4, gradients clipped at norm 1.
#
# **Why warm-up?** At the start Adam's second-moment estimates are based on few steps and the
# weights are random: large steps then can throw the model into a bad region. **Why cosine decay?**
# Late in training smaller steps let the loss settle into a minimum instead of bouncing around it.

# %%
if FAST:
    config = GPTConfig(vocab_size=V, block_size=32, n_layer=2, n_head=2, n_embd=48)
    MAX_ITERS, WARMUP, EVAL_EVERY, B = 120, 10, 30, 8
else:
    config = GPTConfig(vocab_size=V, block_size=64, n_layer=4, n_head=4, n_embd=128)
    MAX_ITERS, WARMUP, EVAL_EVERY, B = 2000, 100, 250, 12
LR, MIN_LR = 1e-3, 1e-4
T = config.block_size

_ = mg.manual_seed(0)
model = GPT(config)
print(f"{model.get_num_params() / 1e6:.3f} M parameters (without the position embeddings)")
opt = model.configure_optimizers(weight_decay=0.1, learning_rate=LR, betas=(0.9, 0.99))


def lr_at(it):
    if it < WARMUP:
        return LR * (it + 1) / (WARMUP + 1)
    ratio = (it - WARMUP) / max(1, MAX_ITERS - WARMUP)
    return MIN_LR + 0.5 * (1 + math.cos(math.pi * ratio)) * (LR - MIN_LR)


plt.figure(figsize=(5, 2.5))
plt.plot([lr_at(i) for i in range(MAX_ITERS)])
plt.xlabel("iteration"); plt.ylabel("learning rate"); plt.title("warm-up, then cosine decay")
plt.show()

# %% [markdown]
# The training loop is the one from every earlier chapter. Every `EVAL_EVERY` steps it estimates the
# validation loss on the fixed batches and writes a sample, so we can watch the model learn.

# %%
def sample_text(model, n, temperature=1.0, top_k=None, seed=0, prompt="\n"):
    g = mg.Generator().manual_seed(seed)
    idx = mg.tensor([chars.encode(prompt)])
    out = model.generate(idx, n, temperature=temperature, top_k=top_k, generator=g)
    return chars.decode(out[0].tolist())


train_curve, gpt_curve, samples = [], [(0, val_loss(model))], {0: sample_text(model, 100)}
start = time.perf_counter()
smooth = None
for it in range(1, MAX_ITERS + 1):
    for group in opt.param_groups:
        group["lr"] = lr_at(it - 1)
    xb, yb = get_batch("train", B, T)
    _, loss = model(xb, yb)
    opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    smooth = loss.item() if smooth is None else 0.95 * smooth + 0.05 * loss.item()
    train_curve.append((it, smooth))
    if it % EVAL_EVERY == 0 or it == MAX_ITERS:
        gpt_curve.append((it, val_loss(model)))
        samples[it] = sample_text(model, 100)
        print(f"iter {it:5d}  train ~{smooth:.3f}  val {gpt_curve[-1][1]:.3f}  "
              f"({time.perf_counter() - start:.0f} s)")
train_seconds = time.perf_counter() - start
tokens_per_s = MAX_ITERS * B * T / train_seconds
print(f"{MAX_ITERS} steps in {train_seconds:.0f} s ({tokens_per_s:,.0f} training tokens/s, evaluation included)")

# %% [markdown]
# ## Loss curves and perplexity
#
# **Perplexity** is $e^{\text{loss}}$: the number of equally likely choices the model is, on average,
# as uncertain as. Uniform guessing has perplexity 65; the bigram model a dozen or so; the GPT, having
# learned words, spelling and some grammar, about 6-7 in full mode.

# %%
fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(*zip(*train_curve), alpha=0.5, label="GPT train (smoothed)")
ax.plot(*zip(*gpt_curve), "o-", label="GPT validation")
ax.plot(*zip(*bigram_curve), "s--", label="bigram validation (its steps: 32 x 32 tokens)")
ax.axhline(math.log(V), color="gray", lw=0.8, ls=":", label="uniform guess")
ax.set_xlabel("iteration"); ax.set_ylabel("cross-entropy (nats per character)"); ax.legend()
ax.set_title("tiny Shakespeare, character level")
plt.show()

for name, loss_value in [("uniform", math.log(V)), ("bigram", bigram_curve[-1][1]), ("GPT", gpt_curve[-1][1])]:
    print(f"{name:8s} validation loss {loss_value:.3f}   perplexity {math.exp(loss_value):6.2f}")

# %% [markdown]
# ## Samples at several stages of training
#
# Same seed, same prompt, the model at different iterations. At step 0 it is noise over the 65
# characters; soon it learns the line structure and the speaker names in capitals, then words, then
# something that looks like verse from a distance.

# %%
for it, s in samples.items():
    print(f"---- after {it} steps ----")
    print(s.strip())

# %% [markdown]
# ## Sampling: temperature and top-k
#
# The model gives logits $z$ for the next token; we sample from $\text{softmax}(z / \tau)$.
# A **temperature** $\tau < 1$ sharpens the distribution (safer, more repetitive text), $\tau > 1$
# flattens it (more surprising, more misspellings); $\tau \to 0$ is greedy decoding. **Top-k** sets
# every logit outside the $k$ largest to $-\infty$ before sampling, cutting off the long tail of unlikely
# tokens that, sampled often enough, derail a text.

# %%
prompt = "ROMEO:\n"
idx = mg.tensor([chars.encode(prompt)])
with mg.no_grad():
    model.eval()
    logits = model(idx)[0, -1]
fig, axes = plt.subplots(1, 3, figsize=(12, 3), sharey=True)
order = np.argsort(-logits.numpy())[:20]
for ax, tau in zip(axes, (0.5, 1.0, 2.0)):
    p = F.softmax(logits / tau, dim=-1).numpy()
    ax.bar(range(20), p[order])
    ax.set_xticks(range(20), [repr(chars.chars[i])[1:-1] for i in order], fontsize=7)
    ax.set_title(f"temperature {tau}", fontsize=10)
fig.suptitle(f"the 20 likeliest next characters after {prompt!r}", fontsize=10)
fig.tight_layout()
plt.show()

for tau, k in [(0.5, None), (1.0, None), (1.5, None), (1.5, 5)]:
    print(f"---- temperature {tau}, top_k {k} ----")
    print(sample_text(model, 120 if FAST else 250, temperature=tau, top_k=k, seed=1, prompt=prompt))

# %% [markdown]
# ## The KV cache
#
# Generating token $t+1$ needs attention over all $t$ earlier positions. Without a cache each step
# runs the whole window through the model again: $O(t)$ work per layer per step just to recompute keys
# and values that have not changed. With a **KV cache** each step feeds only the newest token, and its
# query attends to the keys and values stored from the earlier steps. `GPT.generate` uses one by default
# (`use_cache=True`); here both ways, same seed, so the texts must be identical too.

# %%
n_new = 30 if FAST else T - len(prompt)  # stay inside the context: past it the window slides and the cache is rebuilt
results = {}
for use_cache in (False, True):
    g = mg.Generator().manual_seed(7)
    t0 = time.perf_counter()
    out = model.generate(idx, n_new, top_k=10, use_cache=use_cache, generator=g)
    seconds = time.perf_counter() - t0
    results[use_cache] = (n_new / seconds, out[0].tolist())
    print(f"use_cache={use_cache}: {n_new / seconds:7.1f} tokens/s")
assert results[True][1] == results[False][1], "the cache must not change the text"
print("same text with and without the cache:", repr(chars.decode(results[True][1])))

plt.figure(figsize=(4, 3))
plt.bar(["no cache", "KV cache"], [results[False][0], results[True][0]])
plt.ylabel("generated tokens / s"); plt.title("generation speed (batch 1)")
plt.show()

# %% [markdown]
# The gain grows with the length of the context: with a context of 1,024 tokens (GPT-2) the cache
# saves a factor of hundreds in the key/value projections. It costs memory:
# $2 \times n_\text{layer} \times T \times C$ numbers per sequence.
#
# ## What to take away
#
# - A language model is a classifier over the next token; its loss is the cross-entropy, its
#   perplexity $e^\text{loss}$.
# - The bigram table is the baseline; attention lets the GPT use the whole context and beat it by far.
# - The tokenizer sets the trade-off between sequence length and vocabulary size.
# - Temperature and top-k shape the samples, not the model; the KV cache makes sampling fast, not different.
#
# ## Exercises
#
# Fill in each function in the next cell (each raises `NotImplementedError` until you do), then run
# it: `check` applies the same assertions the test suite applies to the reference answers, and prints
# `ok`, `not yet` or `wrong` (with the values that differ) for every exercise.
#
# 1. `bigram_nll(train_ids, eval_ids, vocab_size, smoothing=1.0)`: the bigram model by **counting**:
#    the table of how often each token follows each other in `train_ids` (plus `smoothing` in every
#    cell), normalised per row, and the mean negative log-likelihood of `eval_ids` under it. It is the
#    best any bigram model can do: compare it with the trained bigram's loss above.
# 2. `perplexity(loss)` and `bits_per_character(loss, chars_per_token=1.0)`: convert a loss in nats
#    per token to perplexity and to bits per character (for BPE, a token covers several characters).
# 3. `bpe_train(text_bytes, n_merges)`: the merge loop above as a function returning the list of
#    merged pairs (ties go to the pair seen first); it must agree with `BPETokenizer.train` on a text
#    without spaces or punctuation.
# 4. `top_k_probs(logits, k, temperature=1.0)`: the sampling distribution with top-k and
#    temperature, in numpy (1-D logits).
#
# **Questions to think about.** The BPE tokenizer above packs about 1.8 characters into a token: what
# validation loss per *token* would match the GPT's loss per character? Why does the KV cache not
# help once the text is longer than `block_size` with learned position embeddings?

# %%
from practice import check


def bigram_nll(train_ids, eval_ids, vocab_size, smoothing=1.0):
    raise NotImplementedError("your code here")


def perplexity(loss):
    raise NotImplementedError("your code here")


def bits_per_character(loss, chars_per_token=1.0):
    raise NotImplementedError("your code here")


def bpe_train(text_bytes, n_merges):
    """-> [(a, b), ...]: merge k replaced the pair (a, b) by id 256 + k"""
    raise NotImplementedError("your code here")


def top_k_probs(logits, k, temperature=1.0):
    raise NotImplementedError("your code here")


check("15", bigram_nll=bigram_nll, perplexity=perplexity, bits_per_character=bits_per_character,
      bpe_train=bpe_train, top_k_probs=top_k_probs)
