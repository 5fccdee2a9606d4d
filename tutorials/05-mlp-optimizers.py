# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · An MLP on MNIST, and four optimisers
#
# **What you will learn**
# - a multi-layer perceptron $y = f(Wx + b)$, stacked: the seed article's 784-128-128-10 network;
# - softmax and cross-entropy for classification;
# - mini-batch **stochastic gradient descent**, **momentum**, **RMSprop** and **Adam**, their update rules, and their code in `minigrad.optim`;
# - how they compare on the same network, loss curves side by side.

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
x_train = x_train.reshape(-1, 784).astype(np.float32) / 255
x_test = x_test.reshape(-1, 784).astype(np.float32) / 255
y_train, y_test = y_train.astype(np.int64), y_test.astype(np.int64)
fig, axes = plt.subplots(1, 10, figsize=(10, 1.3))
for ax, img, label in zip(axes, x_train, y_train):
    ax.imshow(img.reshape(28, 28), cmap="gray")
    ax.set_title(label)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## The network
#
# Each layer computes $h = f(Wx + b)$ (seed article: $y = f(Wx+b)$), with $f = \mathrm{ReLU}(z) = \max(z, 0)$
# in the hidden layers. The last layer outputs 10 scores ("logits") $z$; softmax turns them into
# probabilities and the loss is the cross-entropy with the true class $t$:
#
# $$p_k = \frac{e^{z_k}}{\sum_j e^{z_j}}, \qquad L = -\log p_t = -z_t + \log\sum_j e^{z_j}, \qquad
#   \frac{\partial L}{\partial z_k} = p_k - [k = t].$$
#
# minigrad fuses softmax and cross-entropy in one op (`F.cross_entropy` takes the logits), which is
# both faster and numerically safer than `log(softmax(z))`.

# %%
def make_mlp():
    mg.manual_seed(0)  # the same initial weights for every optimiser
    return nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))


print(make_mlp())
print("parameters:", sum(p.numel() for p in make_mlp().parameters()))

# %% [markdown]
# ## The update rules
#
# With $g_t = \nabla_\theta L$ on a mini-batch, and learning rate $\alpha$:
#
# | optimiser | update |
# |---|---|
# | SGD | $\theta \leftarrow \theta - \alpha g_t$ |
# | SGD + momentum $\mu$ | $v \leftarrow \mu v + g_t,\quad \theta \leftarrow \theta - \alpha v$ |
# | RMSprop | $s \leftarrow \rho s + (1-\rho) g_t^2,\quad \theta \leftarrow \theta - \alpha\, g_t / (\sqrt{s} + \epsilon)$ |
# | Adam | $m \leftarrow \beta_1 m + (1-\beta_1) g_t,\ \ v \leftarrow \beta_2 v + (1-\beta_2) g_t^2,\ \ \theta \leftarrow \theta - \alpha \frac{m / (1-\beta_1^t)}{\sqrt{v / (1-\beta_2^t)} + \epsilon}$ |
#
# Momentum averages gradients over steps, so noise cancels and consistent directions build up speed.
# RMSprop divides each coordinate by a running RMS of its gradients, giving every weight its own
# step size. Adam does both, and corrects the bias of the zero-initialised averages in the first steps.
# In minigrad each optimiser implements `_update` on raw arrays; here is Adam's:

# %%
show(mg.optim.Adam._update)

# %% [markdown]
# ## The training loop
#
# The same five lines for every optimiser: forward, loss, `zero_grad`, `backward`, `step`.

# %%
def train(opt_name, make_opt, epochs, n_train, batch_size=64):
    model = make_mlp()
    opt = make_opt(model.parameters())
    rng = np.random.default_rng(0)  # the same batches for every optimiser
    losses, start = [], time.time()
    for epoch in range(epochs):
        order = rng.permutation(n_train)
        for i in range(0, n_train - batch_size + 1, batch_size):
            idx = order[i:i + batch_size]
            loss = F.cross_entropy(model(mg.tensor(x_train[idx])), mg.tensor(y_train[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    n_test = 2000 if FAST else len(x_test)
    with mg.no_grad():
        acc = (model(mg.tensor(x_test[:n_test])).argmax(1).numpy() == y_test[:n_test]).mean()
    print(f"{opt_name:16s} test accuracy {acc:.4f}   ({time.time() - start:.0f} s)")
    return np.array(losses), acc


epochs = 1 if FAST else 2
n_train = 3000 if FAST else len(x_train)
optimisers = {
    "SGD lr=0.05": lambda p: mg.optim.SGD(p, lr=0.05),
    "momentum 0.9": lambda p: mg.optim.SGD(p, lr=0.05, momentum=0.9),
    "RMSprop": lambda p: mg.optim.RMSprop(p, lr=1e-3),
    "Adam": lambda p: mg.optim.Adam(p, lr=1e-3),
}
results = {name: train(name, make, epochs, n_train) for name, make in optimisers.items()}

# %% [markdown]
# ## Experiment: loss curves side by side

# %%
def smooth(v, k=50):
    k = min(k, len(v))
    return np.convolve(v, np.ones(k) / k, mode="valid")


fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
for name, (losses, acc) in results.items():
    ax1.plot(smooth(losses), label=f"{name} ({acc:.2%})")
    ax2.plot(smooth(losses[:300], 10), label=name)
ax1.set_yscale("log")
ax1.set_xlabel("step")
ax1.set_ylabel("training loss (moving average)")
ax1.set_title(f"{epochs} epoch(s), batch 64; legend: test accuracy")
ax1.legend()
ax2.set_yscale("log")
ax2.set_xlabel("step")
ax2.set_title("the first 300 steps")
plt.tight_layout()
plt.show()

# %% [markdown]
# Plain SGD makes steady but slow progress; momentum with the same $\alpha$ moves much faster
# (its effective step is about $\alpha / (1-\mu) = 10\alpha$); RMSprop and Adam adapt a step size
# per weight and get going at once. In the run above momentum, RMSprop and Adam end within a few
# tenths of a point of each other, while plain SGD is still several points behind after two epochs
# (given more epochs it closes most of the gap); the adaptive methods get there with little tuning, which is why Adam is the
# default in the seed article's `model.compile(optimizer='adam', ...)`.

# %% [markdown]
# ## Exercises
#
# Fill in each function in the next cell (each raises `NotImplementedError` until you do), then run
# it: `check` applies the same assertions the test suite applies to the reference answers, and prints
# `ok`, `not yet` or `wrong` (with the values that differ) for every exercise.
#
# Each function takes and returns numpy arrays (the new parameter and the new state) and must match
# `minigrad.optim` exactly.
#
# 1. `momentum_step(p, g, buf, lr, mu)` (with `buf=None` on the first step, when the buffer starts as $g$).
# 2. `rmsprop_step(p, g, s, lr, rho=0.99, eps=1e-8)`.
# 3. `adam_step(p, g, m, v, t, lr, b1=0.9, b2=0.999, eps=1e-8)` ($t$ counts from 1).
#
# **Questions to think about.** Drop Adam's bias correction: how large is the first step, and
# for how many steps does it matter with $\beta_2 = 0.999$? Why does RMSprop's effective step grow
# when the gradients shrink?

# %%
from practice import check


def momentum_step(p, g, buf, lr, mu):
    """-> (new p, new buf); buf is None on the first step."""
    raise NotImplementedError("your code here")


def rmsprop_step(p, g, s, lr, rho=0.99, eps=1e-8):
    """-> (new p, new s), s the running mean of g ** 2."""
    raise NotImplementedError("your code here")


def adam_step(p, g, m, v, t, lr, b1=0.9, b2=0.999, eps=1e-8):
    """-> (new p, new m, new v), with bias-corrected moments; t = 1, 2, ..."""
    raise NotImplementedError("your code here")


check("05", momentum_step=momentum_step, rmsprop_step=rmsprop_step, adam_step=adam_step)
