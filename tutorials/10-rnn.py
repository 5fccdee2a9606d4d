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
# - an experiment: **sequential MNIST**, where each image is a sequence of 28 rows of 28 pixels.

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F
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
# step in between, so over many steps it tends to **vanish** (or explode).
#
# The **LSTM** adds a cell state $c_t$ that is changed only by gated addition:
#
# $$\begin{aligned}
# i, f, g, o &= \sigma(\cdot),\ \sigma(\cdot),\ \tanh(\cdot),\ \sigma(\cdot) \text{ of } W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh} \text{ (split in four)}\\
# c_t &= f \odot c_{t-1} + i \odot g, \qquad h_t = o \odot \tanh(c_t).
# \end{aligned}$$
#
# With the forget gate $f \approx 1$, $\partial c_t / \partial c_{t-1} \approx 1$: the gradient flows
# back along $c$ without shrinking. The **GRU** gets a similar effect with two gates (reset $r$,
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
