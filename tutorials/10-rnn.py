# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 10 · Recurrent networks: reading a digit row by row
#
# **What you will learn**
# - the recurrent idea from the seed articles: a network that reads a **sequence** one step at a time, carrying a **hidden state**;
# - the update equations of a plain RNN, an **LSTM** and a **GRU**, and why gates help gradients survive long sequences;
# - how minigrad implements them (one matrix product for all time steps' inputs, a loop for the recurrence; backpropagation through time is just autograd);
# - an experiment: **sequential MNIST**, where each image is a sequence of 28 rows of 28 pixels;
# - how far back the gradient reaches in an RNN and an LSTM, **truncated** backpropagation through time, and a run that fails without **gradient clipping**.

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F
from diagrams import draw_lstm_cell, draw_unrolled_rnn  # tutorials/diagrams.py
from helpers import show  # prints a library object's source (tutorials/helpers.py)

FAST = os.environ.get("MINIGRAD_FAST") == "1"
if "MINIGRAD_DATA_DIR" not in os.environ and os.path.isdir("../../shared/data/mnist"):
    os.environ["MINIGRAD_DATA_DIR"] = "../../shared/data"  # a local copy, if there is one; else it downloads
_ = mg.manual_seed(0)

(x_train, y_train), (x_test, y_test) = mg.keras.datasets.mnist.load_data()
x_train = x_train.astype(np.float32) / 255   # (N, 28, 28): 28 time steps of 28 features
x_test = x_test.astype(np.float32) / 255
y_train, y_test = y_train.astype(np.int64), y_test.astype(np.int64)

# %% [markdown]
# ## A network with a memory
#
# A recurrent layer applies the **same** weights at every time step $t$, combining the input $x_t$
# with the previous hidden state $h_{t-1}$:
#
# $$h_t = \tanh(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}).$$
#
# After the last step, $h_T$ summarises the whole sequence and a linear layer classifies it. Training
# unrolls the loop into one long graph and backpropagates through it ("backpropagation through time").
# The gradient reaching step $t$ is multiplied by $\partial h_{k+1}/\partial h_k = \mathrm{diag}(1 - h_{k+1}^2)\,W_{hh}$ once per
# step in between, so over many steps it tends to **vanish** (or explode). Unrolled, for the first
# four rows of an image:

# %%
draw_unrolled_rnn()

# %% [markdown]
#
# The **LSTM** adds a cell state $c_t$ that is changed only by gated addition:
#
# $$\begin{aligned}
# i, f, g, o &= \sigma(\cdot),\ \sigma(\cdot),\ \tanh(\cdot),\ \sigma(\cdot) \text{ of } W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh} \text{ (split in four)}\\
# c_t &= f \odot c_{t-1} + i \odot g, \qquad h_t = o \odot \tanh(c_t).
# \end{aligned}$$
#
# With the forget gate $f \approx 1$, $\partial c_t / \partial c_{t-1} \approx 1$: the gradient flows
# back along $c$ without shrinking. One step of the cell, with $c$ running along the top:

# %%
draw_lstm_cell()

# %% [markdown]
# The **GRU** gets a similar effect with two gates (reset $r$,
# update $z$) and no separate cell: $h_t = (1 - z)\odot n + z \odot h_{t-1}$.
#
# minigrad's step function is exactly these equations:

# %%
from minigrad.nn.layers import rnn as rnn_module

show(rnn_module._rnn_step)

# %% [markdown]
# ## Sequential MNIST
#
# Each image becomes a sequence of 28 rows; the model sees one row per step and must remember
# what it saw to name the digit at the end.

# %%
fig, axes = plt.subplots(1, 7, figsize=(10, 1.8))
for ax, t in zip(axes, [0, 4, 8, 12, 16, 20, 27]):
    img = x_train[0].copy()
    img[t + 1:] *= 0.15
    ax.imshow(img, cmap="gray")
    ax.set_title(f"after row {t + 1}", fontsize=8)
    ax.axis("off")
plt.show()


class RowReader(nn.Module):
    def __init__(self, cell="LSTM", hidden=64):
        super().__init__()
        self.rnn = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}[cell](28, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 10)

    def forward(self, x):                    # x: (N, 28 steps, 28 features)
        out, _ = self.rnn(x)                 # out: (N, 28, hidden), the hidden state at every step
        return self.head(out[:, -1])         # classify from the last step


def accuracy(model, x, y):
    with mg.no_grad():
        pred = np.concatenate([model(mg.tensor(x[i:i + 1000])).argmax(1).numpy() for i in range(0, len(x), 1000)])
    return (pred == y).mean()


def train(cell, n_train, epochs, n_test):
    mg.manual_seed(0)
    model = RowReader(cell)
    opt = mg.optim.Adam(model.parameters(), lr=2e-3)
    rng = np.random.default_rng(0)
    losses, start = [], time.time()
    for _ in range(epochs):
        order = rng.permutation(n_train)
        for i in range(0, n_train, 64):
            idx = order[i:i + 64]
            loss = F.cross_entropy(model(mg.tensor(x_train[idx])), mg.tensor(y_train[idx]))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)   # guard against exploding gradients
            opt.step()
            losses.append(loss.item())
    acc = accuracy(model, x_test[:n_test], y_test[:n_test])
    print(f"{cell:4s}: test accuracy {acc:.4f} ({time.time() - start:.0f} s)")
    return model, np.array(losses), acc


# %% [markdown]
# ## Experiment: RNN vs LSTM vs GRU
#
# The same budget for each: hidden size 64, Adam, gradients clipped to norm 1. Full mode: all 60,000
# images for 2 epochs; fast mode: 640 images, one epoch.

# %%
n_train, epochs, n_test = (640, 1, 500) if FAST else (60000, 2, 10000)
runs = {cell: train(cell, n_train, epochs, n_test) for cell in ("RNN", "LSTM", "GRU")}

plt.figure(figsize=(7, 3.5))
for cell, (_, losses, acc) in runs.items():
    k = min(50, len(losses))
    plt.plot(np.convolve(losses, np.ones(k) / k, mode="valid"), label=f"{cell} ({acc:.1%} test)")
plt.yscale("log")
plt.xlabel("step")
plt.ylabel("training loss (moving average)")
plt.legend()
plt.title("sequential MNIST, 28 steps of 28 pixels")
plt.show()

# %% [markdown]
# ## When does the LSTM know the answer?
#
# Classifying from the hidden state after each row shows the model making up its mind as it reads:

# %%
model = runs["LSTM"][0]
with mg.no_grad():
    out, _ = model.rnn(mg.tensor(x_test[:n_test]))
    step_acc = [(model.head(out[:, t]).argmax(1).numpy() == y_test[:n_test]).mean() for t in range(28)]
plt.figure(figsize=(6, 3))
plt.plot(range(1, 29), step_acc, "o-")
plt.xlabel("rows read")
plt.ylabel("accuracy from h_t")
plt.title("LSTM: accuracy of an early answer")
plt.grid(alpha=0.3)
plt.show()

# %% [markdown]
# ## How far back does the gradient reach?
#
# The equations say that the RNN's gradient shrinks by a factor at every step, while the LSTM's
# cell carries it back multiplied only by the forget gate $f$. We can watch that: make the input
# images require a gradient, compute the loss (which reads only the last hidden state), and
# measure $\lVert \partial L / \partial x_t \rVert$, the gradient that reaches the input row of step $t$
# (averaged over 256 test images). We compare freshly initialised networks, so that nothing but the
# architecture differs: the RNN, the LSTM, and the LSTM with its forget-gate bias raised by 1 and
# by 3, so that $f = \sigma(\cdot)$ starts near $0.73$ and $0.95$ instead of $0.5$ (a common initialisation
# trick; PyTorch's order of the four gates is input, forget, cell, output).

# %%
def gradient_per_step(model, n=256):
    x = mg.tensor(x_test[:n], requires_grad=True)
    F.cross_entropy(model(x), mg.tensor(y_test[:n])).backward()
    return np.linalg.norm(x.grad.numpy(), axis=2).mean(0)   # (28,): one norm per row


def fresh(cell, forget_bias=0.0, hidden=64):
    mg.manual_seed(0)
    model = RowReader(cell, hidden)
    if forget_bias:
        with mg.no_grad():
            model.rnn.bias_ih_l0[hidden:2 * hidden] += forget_bias   # the forget gate's rows
    return model


plt.figure(figsize=(7, 3.6))
for label, model in [("RNN", fresh("RNN")), ("LSTM", fresh("LSTM")),
                     ("LSTM, forget bias +1", fresh("LSTM", 1.0)), ("LSTM, forget bias +3", fresh("LSTM", 3.0))]:
    g = gradient_per_step(model)
    plt.semilogy(range(1, 29), g, "o-", ms=3, label=f"{label}: first/last = {g[0] / g[-1]:.0e}")
plt.xlabel("time step t (row)")
plt.ylabel("|dL / dx_t|")
plt.title("the gradient reaching each input row, at initialisation")
plt.grid(alpha=0.3)
plt.legend(fontsize=8)
plt.show()

# %% [markdown]
# The plain RNN's gradient falls by a roughly constant factor per step: some seven orders of
# magnitude from the last row back to the first, so the first rows barely influence learning.
# The LSTM with its default initialisation is hardly better: its forget gates start at
# $\sigma(0) = 1/2$, and halving at every step is a vanishing factor too. Raise the forget bias and
# the cell keeps what it holds: with $f \approx 0.95$ the gradient reaching the first row is about as
# large as at the last. That is the LSTM's advantage, and training can find it by learning to open
# the forget gates; it is also why some libraries start the forget bias at 1.
#
# ## Truncated backpropagation through time
#
# Backpropagating through all $T$ steps costs memory for every step's activations. For long
# sequences (a book, an audio stream) one cuts the sequence into chunks of $k$ steps and
# *detaches* the hidden state between chunks: the forward pass still carries information across
# the whole sequence, but gradients flow back at most $k$ steps. With $k = 7$, the gradient
# reaching each input row (as above, on a fresh LSTM with forget bias +3, whose gradient would
# otherwise reach every row) stops dead at the chunk boundary:

# %%
def forward_truncated(model, x, k):
    """Like model(x), but gradients stop at every k-th step: the state is detached between chunks."""
    state = None
    for s in range(0, x.shape[1], k):
        out, state = model.rnn(x[:, s:s + k], state)
        state = tuple(t.detach() for t in state)   # (h, c): the next chunk starts from values, not a graph
    return model.head(out[:, -1])


x = mg.tensor(x_test[:256], requires_grad=True)
F.cross_entropy(forward_truncated(fresh("LSTM", 3.0), x, 7), mg.tensor(y_test[:256])).backward()
reached = np.linalg.norm(x.grad.numpy(), axis=2).mean(0)
print("rows that receive a gradient:", np.flatnonzero(reached > 0) + 1, "| rows with exactly 0:", int((reached == 0).sum()))


def train_truncated(k, n_train, epochs):
    mg.manual_seed(0)
    model = RowReader("LSTM")
    opt = mg.optim.Adam(model.parameters(), lr=2e-3)
    rng = np.random.default_rng(0)
    for _ in range(epochs):
        order = rng.permutation(n_train)
        for i in range(0, n_train, 64):
            idx = order[i:i + 64]
            loss = F.cross_entropy(forward_truncated(model, mg.tensor(x_train[idx]), k), mg.tensor(y_train[idx]))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
    return accuracy(model, x_test[:n_test], y_test[:n_test])


n_tbptt = 640 if FAST else 12000
truncated = {k: train_truncated(k, n_tbptt, 1) for k in (7, 28)}
for k, acc in truncated.items():
    print(f"LSTM, gradients through the last {k:2d} rows only: test accuracy {acc:.4f}"
          + ("  (k = 28: full backpropagation through time)" if k == 28 else ""))

# %% [markdown]
# With $k = 7$ the gradient never reaches the first three quarters of the image, where most of the
# ink is: the network cannot learn *what to store* from those rows, only how to use the last seven.
# It still learns something, because the same weights read every row, but it ends well below full
# backpropagation (compare the two accuracies printed above: 12,000 images, one epoch; fast mode's
# 640 images are too few to show it). Truncation trades what the model can learn for memory and
# speed; in language models $k$ is the context length.
#
# ## A run that fails without clipping
#
# Every training loop in this chapter clips the gradient's norm to 1 (`nn.utils.clip_grad_norm_`).
# What happens without it? A plain RNN whose recurrent matrix starts twice as large as the default,
# trained with SGD (momentum 0.9, learning rate 0.1) on the same batches, with and without clipping:

# %%
def train_sgd(clip, steps):
    mg.manual_seed(0)
    model = RowReader("RNN")
    with mg.no_grad():
        model.rnn.weight_hh_l0.mul_(2.0)                 # a recurrent matrix twice too large
    opt = mg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(0)
    losses, norms = [], []
    for i in rng.permutation(len(x_train))[:steps * 64].reshape(steps, 64):
        loss = F.cross_entropy(model(mg.tensor(x_train[i])), mg.tensor(y_train[i]))
        opt.zero_grad()
        loss.backward()
        norms.append(nn.utils.clip_grad_norm_(model.parameters(), clip).item())  # the norm before clipping
        opt.step()
        losses.append(loss.item())
    return losses, norms


steps = 20 if FAST else 100
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.3))
for clip, color in ((float("inf"), "tab:red"), (1.0, "tab:green")):
    losses, norms = train_sgd(clip, steps)
    label = "no clipping" if clip == float("inf") else f"clipped to norm {clip}"
    ax1.plot(losses, color=color, label=f"{label}: last-10 loss {np.mean(losses[-10:]):.2f}")
    ax2.semilogy(norms, color=color, label=label)
ax1.set_xlabel("step")
ax1.set_ylabel("training loss")
ax1.legend()
ax2.set_xlabel("step")
ax2.set_ylabel("gradient norm (before clipping)")
ax2.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# Both runs soon see gradients of norm 5 to 15 (right). Unclipped, a gradient of norm 10 becomes a
# step of $0.1 \times 10 = 1$ in weight space, momentum piles the next ones on top, and the weights
# are thrown far from where the gradient was measured: the loss jumps about and, over 100 steps,
# climbs above its starting value $\ln 10 \approx 2.3$ (the legend gives the run's last-10-step loss).
# Clipping keeps the direction and caps the length, so the
# same run learns. (Adam, used above, divides by a running gradient scale and is hurt less, which
# is one reason it is the default for recurrent networks; clipping is still the usual guard.)

# %% [markdown]
# ## Exercises
#
# Fill in each function in the next cell (each raises `NotImplementedError` until you do), then run
# it: `check` applies the same assertions the test suite applies to the reference answers, and prints
# `ok`, `not yet` or `wrong` (with the values that differ) for every exercise.
#
# 1. `lstm_step(x, h, c, w_ih, w_hh, b_ih, b_hh)`: one LSTM step in numpy, PyTorch's gate order
#    (input, forget, cell, output), returning `(h', c')`.
# 2. `gru_step(x, h, w_ih, w_hh, b_ih, b_hh)`: one GRU step (reset, update, new), returning `h'`.
# 3. `rnn_param_count(kind, input_size, hidden)` for `"RNN"`, `"LSTM"`, `"GRU"` (two bias vectors each, as PyTorch).
# 4. `clip_by_global_norm(grads, max_norm)`: numpy's version of `nn.utils.clip_grad_norm_`, returning
#    `(clipped grads, norm before clipping)`.
#
# **Questions to think about.** Run the unclipped RNN with a learning rate ten times smaller: does
# it still blow up? What does truncating BPTT at 7 steps prevent the model from learning? Why does
# the LSTM's cell state carry a gradient further than the RNN's hidden state?

# %%
from practice import check


def lstm_step(x, h, c, w_ih, w_hh, b_ih, b_hh):
    """x: (N, I), h, c: (N, H), w_ih: (4H, I), w_hh: (4H, H), biases (4H,) -> (h', c')."""
    raise NotImplementedError("your code here")


def gru_step(x, h, w_ih, w_hh, b_ih, b_hh):
    """x: (N, I), h: (N, H), w_ih: (3H, I), w_hh: (3H, H), biases (3H,) -> h'."""
    raise NotImplementedError("your code here")


def rnn_param_count(kind, input_size, hidden):
    raise NotImplementedError("your code here")


def clip_by_global_norm(grads, max_norm):
    """grads: list of arrays -> (list of arrays scaled by one common factor, total L2 norm before)."""
    raise NotImplementedError("your code here")


check("10", lstm_step=lstm_step, gru_step=gru_step, rnn_param_count=rnn_param_count,
      clip_by_global_norm=clip_by_global_norm)
