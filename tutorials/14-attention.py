# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 14 · Attention from scratch
#
# **What you will learn**
# - scaled dot-product attention, $\mathrm{softmax}(QK^\top/\sqrt{d})\,V$, written in four lines of minigrad ops,
#   and why each piece is there (the scale, the mask, the softmax);
# - multi-head attention: several small attentions side by side, and the reshapes that make them one matmul;
# - why attention needs **positional embeddings**, shown by a model that cannot learn without them;
# - a toy task the model solves (reversing a sequence), with the attention weights as a heat map;
# - that the hand-written layer computes what `nn.MultiheadAttention` computes, gradients included;
# - the idea behind FlashAttention (the *online softmax*), and its effect on memory, measured.
#
# This chapter starts the large-model arc: chapters 15–17 build a GPT on top of it, fine-tune it, and
# train it on several processes.

# %%
import json
import os
import subprocess
import sys
import tempfile
import time

import matplotlib.pyplot as plt
import numpy as np

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F

FAST = os.environ.get("MINIGRAD_FAST") == "1"
_ = mg.manual_seed(0)

# %% [markdown]
# ## Attention is a soft dictionary lookup
#
# A Python dict maps a key to a value: a query either matches a key exactly or not. Attention makes the
# match soft. Each position of a sequence emits three vectors: a **query** $q_i$ (what am I looking for?),
# a **key** $k_j$ (what do I contain?) and a **value** $v_j$ (what do I hand over if chosen?). Query $i$
# scores every key with a dot product, the scores become weights with a softmax, and the output is the
# weighted average of the values:
#
# $$\mathrm{out}_i = \sum_j a_{ij} v_j, \qquad a_{ij} = \frac{\exp(s_{ij})}{\sum_{j'} \exp(s_{ij'})}, \qquad
# s_{ij} = \frac{q_i \cdot k_j}{\sqrt{d}}.$$
#
# For a whole sequence these are two matrix products: $Q K^\top$ is the $(L, S)$ table of scores, and
# multiplying the weights by $V$ averages the values. Everything is differentiable, so the network
# *learns* what to ask for and what to advertise.

# %%
def attention(q, k, v, mask=None):
    """q: (..., L, d), k: (..., S, d), v: (..., S, dv), mask: bool (L, S), True = may attend.
    -> (out (..., L, dv), weights (..., L, S))."""
    scores = q @ k.transpose(-2, -1) / np.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))  # exp(-inf) = 0: no weight at all
    weights = scores.softmax(-1)
    return weights @ v, weights


q, k, v = mg.randn(3, 4), mg.randn(5, 4), mg.randn(5, 2)
out, w = attention(q, k, v)
print("out", out.shape, "weights", w.shape, "each row of weights sums to", w.sum(-1).numpy().round(6))

# %% [markdown]
# ### Why divide by $\sqrt{d}$?
#
# If the entries of $q$ and $k$ are independent with variance 1, the dot product $q \cdot k$ is a sum of
# $d$ such products: its variance is $d$. With $d = 512$ the scores spread over ±20 or so, the softmax puts
# nearly all the weight on one key, and its gradient (which is $a(1-a)$-shaped) nearly vanishes: the
# layer stops learning. Dividing by $\sqrt{d}$ brings the variance back to 1 whatever the width.

# %%
for d in (16, 512):
    qd, kd = mg.randn(1000, d), mg.randn(64, d)
    raw = (qd @ kd.T).softmax(-1).max(-1).values.numpy().mean()
    scaled = (qd @ kd.T / np.sqrt(d)).softmax(-1).max(-1).values.numpy().mean()
    print(f"d={d:3d}: mean largest weight over 64 keys: unscaled {raw:.2f}, scaled {scaled:.2f}")

# %% [markdown]
# ### Masks
#
# A **mask** says which keys a query may see. The one every language model uses is **causal**: position
# $i$ may look at positions $j \le i$ only, so that predicting the next token cannot peek at it. The
# mask sets the forbidden scores to $-\infty$ *before* the softmax, so they get weight exactly 0 and the
# remaining weights still sum to 1 (zeroing weights *after* the softmax would break that).

# %%
T = 5
causal = mg.ones(T, T).tril().bool()  # True on and below the diagonal
x = mg.randn(T, 4)
_, w = attention(x, x, x, mask=causal)
print(w.numpy().round(2))

# %% [markdown]
# ## Multi-head attention
#
# One attention computes one weighted average per position, so it can follow one relation at a time
# ("the previous token", "the matching bracket", ...). **Multi-head** attention runs $H$ attentions side
# by side, each on its own $d/H$-dimensional slice of learned projections, and concatenates the results:
#
# $$\mathrm{head}_h = \mathrm{attention}(X W^Q_h, X W^K_h, X W^V_h), \qquad
# \mathrm{MHA}(X) = [\mathrm{head}_1, \dots, \mathrm{head}_H]\, W^O.$$
#
# It costs the same as one wide head: the $H$ projections are one `Linear(d, 3d)`, and a reshape turns
# `(N, T, d)` into `(N, H, T, d/H)`, so the heads become one more batch dimension of the matmuls.

# %%
class SelfAttention(nn.Module):
    """Multi-head self-attention. x: (N, T, d) -> (N, T, d); the last weights are kept in .weights (N, H, T, T)."""

    def __init__(self, d, heads):
        super().__init__()
        assert d % heads == 0, "d must be a multiple of heads"
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)   # W^Q, W^K, W^V of every head, stacked
        self.proj = nn.Linear(d, d)      # W^O

    def forward(self, x, mask=None):
        N, T, d = x.shape
        qkv = self.qkv(x).reshape(N, T, 3, self.heads, d // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)            # each (N, H, T, d/H)
        out, self.weights = attention(q, k, v, mask)     # (N, H, T, d/H)
        return self.proj(out.transpose(1, 2).reshape(N, T, d))   # heads side by side, then W^O


sa = SelfAttention(8, heads=2)
print(sa(mg.randn(3, 5, 8)).shape, sa.weights.shape)

# %% [markdown]
# ## Positional embeddings: attention does not know the order
#
# Nothing in the formula above looks at *where* a token is: shuffle the input positions and the outputs
# come out shuffled the same way (attention is *permutation-equivariant*). A sentence is not a bag of
# words, so models add a **position vector** to each token's embedding. Two common choices:
#
# - **learned**: an `nn.Embedding(max_len, d)` indexed by position (GPT-2, and chapter 15);
# - **sinusoidal** (the original Transformer): $PE_{t, 2i} = \sin(t / 10000^{2i/d})$,
#   $PE_{t, 2i+1} = \cos(t / 10000^{2i/d})$: each pair of dimensions is a clock of its own frequency,
#   and shifting by $k$ positions is a fixed rotation of every pair, easy for a dot product to detect.
#
# First the equivariance, checked:

# %%
x = mg.randn(1, 6, 8)
perm = np.random.default_rng(0).permutation(6)
with mg.no_grad():
    y, y_perm = sa(x), sa(x[:, perm])
print("permuting the input permutes the output:", np.allclose(y.numpy()[:, perm], y_perm.numpy(), atol=1e-6))


def sinusoidal(T, d):
    """(T, d) sinusoidal positional encodings."""
    pos = np.arange(T)[:, None]
    freq = 1.0 / 10000 ** (np.arange(0, d, 2) / d)
    pe = np.zeros((T, d))
    pe[:, 0::2], pe[:, 1::2] = np.sin(pos * freq), np.cos(pos * freq)
    return pe


plt.figure(figsize=(8, 2.5))
plt.imshow(sinusoidal(64, 32).T, aspect="auto", cmap="RdBu")
plt.xlabel("position t")
plt.ylabel("dimension")
plt.title("sinusoidal positional encodings: fast clocks at the top, slow ones below")
plt.colorbar()
plt.show()

# %% [markdown]
# ## A toy task: reverse a sequence
#
# The input is 8 random digits, the target the same digits reversed: output position $i$ must copy the
# token at input position $7 - i$. One self-attention layer can do that exactly, if query $i$ learns to
# score key $7 - i$ highest; the only way to know which key that is, is its position. We train the same
# model twice, with and without learned positional embeddings.

# %%
SEQ, VOCAB, D, HEADS = 8, 10, 32, 2


class Reverser(nn.Module):
    """tokens (N, SEQ) -> logits (N, SEQ, VOCAB): embeddings (+ positions), one attention layer, a linear head."""

    def __init__(self, positions=True):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, D)
        self.pos = nn.Embedding(SEQ, D) if positions else None
        self.attn = SelfAttention(D, HEADS)
        self.head = nn.Linear(D, VOCAB)

    def forward(self, tokens):
        h = self.tok(tokens)
        if self.pos is not None:
            h = h + self.pos(mg.arange(tokens.shape[1]))  # (T, D) broadcasts over the batch
        return self.head(self.attn(h))


def train_reverser(positions, steps, seed=0):
    mg.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = Reverser(positions)
    opt = mg.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(steps):
        x = rng.integers(0, VOCAB, (64, SEQ))
        logits = model(mg.tensor(x))
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), mg.tensor(x[:, ::-1].reshape(-1)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    x = rng.integers(0, VOCAB, (1000, SEQ))
    with mg.no_grad():
        acc = (model(mg.tensor(x)).argmax(-1).numpy() == x[:, ::-1]).mean()
    return model, losses, acc


steps = 150 if FAST else 600
start = time.time()
results = {pos: train_reverser(pos, steps) for pos in (True, False)}
for pos, (_, _, acc) in results.items():
    print(f"{'with' if pos else 'without'} positional embeddings: token accuracy {acc:.3f}")
print(f"({time.time() - start:.0f} s for both)")

plt.figure(figsize=(7, 3.5))
for pos, (_, losses, _) in results.items():
    plt.plot(losses, label=f"{'with' if pos else 'without'} positions")
plt.yscale("log")
plt.xlabel("step (batches of 64 sequences)")
plt.ylabel("cross-entropy")
plt.title("reversing 8 digits with one attention layer")
plt.legend()
plt.grid(alpha=0.3)
plt.show()

# %% [markdown]
# Without positions the loss stalls: every output position sees the same bag of tokens, so the best the
# model can do is guess digits that occur in the sequence (better than the 10 % of a blind guess, far from
# 100 %). With positions the task is solved within a few dozen steps. The attention weights show *how*:

# %%
model = results[True][0]
x = np.random.default_rng(1).integers(0, VOCAB, (1, SEQ))
with mg.no_grad():
    pred = model(mg.tensor(x)).argmax(-1).numpy()[0]
print("input ", x[0], "\noutput", pred)
fig, axes = plt.subplots(1, HEADS, figsize=(4 * HEADS, 3.6))
for h, ax in enumerate(axes):
    im = ax.imshow(model.attn.weights.numpy()[0, h], cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(SEQ), x[0])
    ax.set_yticks(range(SEQ), pred)
    ax.set_xlabel("key: input token")
    ax.set_ylabel("query: output token")
    ax.set_title(f"head {h}")
fig.colorbar(im, ax=axes, shrink=0.8)
plt.show()

# %% [markdown]
# The weights form an anti-diagonal: output position $i$ puts (almost) all its weight on input position
# $7 - i$, and the value it copies is that token's embedding, which the head maps back to the digit.
# The two heads usually split the work or duplicate it; either is a valid solution.
#
# ## The same layer in the library: `nn.MultiheadAttention`
#
# `nn.MultiheadAttention` has PyTorch's parameters: `in_proj_weight` `(3d, d)` holds $W^Q, W^K, W^V$
# stacked (our `qkv.weight`), `out_proj` is $W^O$. Copy them into our layer and the two must agree, in
# the output, in the (head-averaged) weights and in every gradient. We check in float64, where the only
# differences are rounding.

# %%
d, H, T, N = 8, 2, 5, 3
ref = nn.MultiheadAttention(d, H, batch_first=True, dtype=mg.float64)
mine = SelfAttention(d, H).to(mg.float64)
with mg.no_grad():
    mine.qkv.weight.copy_(ref.in_proj_weight)
    mine.qkv.bias.copy_(ref.in_proj_bias)
    mine.proj.weight.copy_(ref.out_proj.weight)
    mine.proj.bias.copy_(ref.out_proj.bias)

x1 = mg.randn(N, T, d, dtype=mg.float64, requires_grad=True)
x2 = x1.detach().clone().requires_grad_()
mask = mg.ones(T, T).tril().bool()
out_ref, w_ref = ref(x1, x1, x1, attn_mask=~mask)  # nn.MultiheadAttention's bool mask: True = masked OUT
out_mine = mine(x2, mask=mask)                      # ours: True = may attend
out_ref.sum().backward()
out_mine.sum().backward()
print("output   max |diff|", np.abs(out_ref.detach().numpy() - out_mine.detach().numpy()).max())
print("weights  max |diff|", np.abs(w_ref.detach().numpy() - mine.weights.mean(1).detach().numpy()).max())
print("grad x   max |diff|", np.abs(x1.grad.numpy() - x2.grad.numpy()).max())
print("grad W   max |diff|", np.abs(ref.in_proj_weight.grad.numpy() - mine.qkv.weight.grad.numpy()).max())

# %% [markdown]
# Watch the mask convention: `nn.MultiheadAttention` (like PyTorch's) takes a boolean mask where
# **True means "leave out"**, while `F.scaled_dot_product_attention` (and our function) keep the True
# positions. Mixing them up silently gives the anti-causal model.
#
# Agreeing with the library is half a check: both could be wrong the same way. `mg.gradcheck` compares our
# layer's backward pass with finite differences of its forward pass, which needs no reference at all
# (chapter 03):

# %%
x3 = mg.randn(2, 4, d, dtype=mg.float64, requires_grad=True)
print("gradcheck, hand-written multi-head attention:",
      mg.gradcheck(lambda t: mine(t, mask=mg.ones(4, 4).tril().bool()), x3))

# %% [markdown]
# ## FlashAttention: attention without the $L \times S$ table
#
# The code above materialises the scores, an $(L, S)$ matrix per head, plus the weights and, in
# training, their gradients. For a sequence of 8192 tokens that is 64 million numbers per head, per
# layer: memory grows with the **square** of the length, long before the compute becomes the limit.
#
# The fix is to never hold a whole row of scores. Walk the keys in blocks and keep, for each query, three
# running quantities: the largest score seen so far $m$, the sum $\ell$ of $\exp(s - m)$, and the
# un-normalised output $o = \sum \exp(s - m) v$. When a block brings a larger maximum $m'$, everything
# summed so far is rescaled by $\exp(m - m')$, which is exact, because
# $\exp(s - m') = \exp(s - m)\exp(m - m')$. At the end, $o / \ell$ is the softmax-weighted average.
# This is the **online softmax**; FlashAttention (Dao et al., 2022) tiles it so each block of queries and
# keys stays in fast memory, and recomputes the scores in the backward pass instead of storing them.
# In numpy, for one query:

# %%
def online_attention_row(q, K, V, block=4):
    """One query q (d,) against K (S, d), V (S, dv), reading `block` keys at a time."""
    m, l, o = -np.inf, 0.0, np.zeros(V.shape[1])
    for j in range(0, len(K), block):
        s = K[j:j + block] @ q / np.sqrt(len(q))
        m_new = max(m, s.max())
        p = np.exp(s - m_new)
        l = l * np.exp(m - m_new) + p.sum()              # rescale the old sum, add the new block
        o = o * np.exp(m - m_new) + p @ V[j:j + block]
        m = m_new
    return o / l


rng = np.random.default_rng(0)
qn, Kn, Vn = rng.normal(size=8), rng.normal(size=(19, 8)), rng.normal(size=(19, 3))
full, _ = attention(mg.tensor(qn[None]), mg.tensor(Kn), mg.tensor(Vn))
print("online == full softmax:", np.allclose(online_attention_row(qn, Kn, Vn), full.numpy()[0]))

# %% [markdown]
# minigrad's `F.scaled_dot_product_attention` is this algorithm: a fused op whose Numba kernels
# (`kernels/cpu/attention.py`) walk blocks of queries and keys, save only the output and one number per
# query row (the log-sum-exp $m + \log \ell$), and rebuild each tile of weights in the backward pass. It
# takes the same masks as PyTorch's (here `is_causal=True`) and gives the same numbers as the hand version:

# %%
q, k, v = (mg.randn(2, 4, 64, 16, dtype=mg.float64) for _ in range(3))
fused = F.scaled_dot_product_attention(q, k, v, is_causal=True)
hand, _ = attention(q, k, v, mask=mg.ones(64, 64).tril().bool())
print("fused vs hand, max |diff|:", np.abs(fused.numpy() - hand.numpy()).max())

# %% [markdown]
# ### Peak memory against sequence length, measured
#
# We measure the **peak resident memory** (RSS) of a process running one forward and backward pass,
# for the hand-written attention and the fused op. `tracemalloc` would not do: it sees only allocations
# made through Python, and the fused kernels allocate inside Numba. The peak RSS of a process normally
# only grows, and importing the libraries already sets a high one; Linux lets a process reset its peak
# (writing `5` to `/proc/self/clear_refs`) and read it back (`VmHWM` in `/proc/self/status`). For each
# length we run one pass to load the kernels, give the memory that `malloc` kept for reuse back to the
# system (`malloc_trim`: otherwise the second pass would reuse it unseen), reset the peak, run the pass
# again and report its peak above the memory in use before it. Each method runs in a fresh process;
# one head, $d = 64$, float32.

# %%
MEASURE = r'''
import ctypes, gc, json, sys
import minigrad as mg
import minigrad.nn.functional as F

def status_mb(key):  # VmRSS: memory in use now; VmHWM: the peak since the last reset
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024

def hand(q, k, v):
    w = (q @ k.transpose(-2, -1) / 8.0).softmax(-1)
    return w @ v

method, lengths = sys.argv[1], [int(n) for n in sys.argv[2:]]
fn = hand if method == "hand" else F.scaled_dot_product_attention
for L in lengths:
    q, k, v = (mg.randn(1, 1, L, 64, requires_grad=True) for _ in range(3))
    fn(q, k, v).sum().backward()  # a first pass loads (or compiles) the kernels this size uses
    q.grad = k.grad = v.grad = None
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand the memory malloc kept for reuse back to the system
    except (OSError, AttributeError):
        pass  # not glibc: the figures may then undercount
    before = status_mb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak to the current RSS
    fn(q, k, v).sum().backward()
    print(json.dumps({"L": L, "peak_mb": status_mb("VmHWM") - before}), flush=True)
    del q, k, v
'''

lengths = [256, 512, 1024, 2048] if FAST else [256, 512, 1024, 2048, 4096, 8192]
peaks = {}
if os.path.exists("/proc/self/clear_refs"):
    script = os.path.join(tempfile.mkdtemp(), "measure_attention.py")
    with open(script, "w") as f:
        f.write(MEASURE)
    env = dict(os.environ, NUMBA_NUM_THREADS="1")  # per-thread scratch would otherwise depend on the core count
    for method in ("hand", "fused"):
        run = subprocess.run([sys.executable, script, method, *map(str, lengths)], capture_output=True,
                             text=True, env=env, check=True)
        peaks[method] = [json.loads(line)["peak_mb"] for line in run.stdout.splitlines()]
    print(" L      hand MB   fused MB   one L x L float32 matrix MB")
    for i, L in enumerate(lengths):
        print(f"{L:5d} {peaks['hand'][i]:9.1f} {peaks['fused'][i]:9.1f} {L * L * 4 / 2**20:12.1f}")
else:
    print("this measurement reads /proc/self (Linux only): skipped here")

# %%
if peaks:
    plt.figure(figsize=(6.5, 4))
    plt.plot(lengths, peaks["hand"], "o-", label="hand-written (holds the scores)")
    plt.plot(lengths, peaks["fused"], "s-", label="fused, online softmax")
    plt.plot(lengths, [L * L * 4 / 2**20 for L in lengths], "k:", label="one $L \\times L$ float32 matrix")
    plt.xscale("log", base=2)
    plt.yscale("log")
    plt.xlabel("sequence length L")
    plt.ylabel("peak RSS above start (MB)")
    plt.title("attention forward + backward, 1 head, d = 64")
    plt.legend()
    plt.grid(alpha=0.3, which="both")
    plt.show()

# %% [markdown]
# The hand-written version climbs with the square of $L$: a factor 4 per doubling, about six
# $L \times L$ matrices at the peak (the scores, the scaled scores, the weights, and in the backward
# pass their gradients). The fused op grows linearly, a factor 2 per doubling: what it holds is the size
# of $Q$, $K$, $V$, the output and their gradients, plus a few tiles. That is what lets long-context
# models train at all; on a GPU the same tiling also saves most of the
# memory traffic, which makes it faster as well.
#
# ## Exercises
#
# Fill in each function in the next cell (each raises `NotImplementedError` until you do), then run
# it: `check` applies the same assertions the test suite applies to the reference answers, and prints
# `ok`, `not yet` or `wrong` (with the values that differ) for every exercise.
#
# 1. `causal_mask(T)`: the `(T, T)` boolean numpy array that is True where query $i$ may attend to key $j$.
# 2. `attention_np(q, k, v, mask=None)`: scaled dot-product attention in numpy, returning `(out, weights)`;
#    a mask as in exercise 1, broadcasting to `(..., L, S)`. A row with no allowed key must give zero
#    weights and a zero output, as PyTorch does, not NaN.
# 3. `sinusoidal_positions(T, d)`: the `(T, d)` sinusoidal encodings of the original Transformer; raise
#    a `ValueError` for an odd `d`.
# 4. `online_softmax(x, block)`: the softmax of a 1-D array, reading it `block` entries at a time and
#    keeping only a running maximum and a running sum (then one more pass to normalise). It must not
#    overflow for entries like 700.
#
# **Questions to think about.** In the reversal task, what do the attention weights look like if you
# train on sequences of 8 and test on sequences of 6 (with learned positions, and with sinusoidal ones)?
# Why does a float32 softmax need the running maximum at all? The fused kernel saves one number per
# query row for the backward pass: which one, and why is it enough to rebuild the weights?

# %%
from practice import check


def causal_mask(T):
    raise NotImplementedError("your code here")


def attention_np(q, k, v, mask=None):
    """-> (out (..., L, dv), weights (..., L, S))"""
    raise NotImplementedError("your code here")


def sinusoidal_positions(T, d):
    raise NotImplementedError("your code here")


def online_softmax(x, block):
    raise NotImplementedError("your code here")


check("14", causal_mask=causal_mask, attention_np=attention_np, sinusoidal_positions=sinusoidal_positions,
      online_softmax=online_softmax)
