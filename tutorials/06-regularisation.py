# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · Overfitting and regularisation
#
# **What you will learn**
# - what **overfitting** looks like: training loss keeps falling while validation loss turns up;
# - five remedies from the seed articles, each a few lines in minigrad: **L2** (weight decay), **L1**,
#   **dropout**, **data augmentation** and **early stopping**;
# - how to compare them fairly, on train/validation curves.

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F
from minigrad.vision import transforms

FAST = os.environ.get("MINIGRAD_FAST") == "1"
if "MINIGRAD_DATA_DIR" not in os.environ and os.path.isdir("../../shared/data/mnist"):
    os.environ["MINIGRAD_DATA_DIR"] = "../../shared/data"  # a local copy, if there is one; else it downloads
_ = mg.manual_seed(0)

(x_all, y_all), _ = mg.keras.datasets.mnist.load_data()
x_all = x_all.astype(np.float32) / 255
y_all = y_all.astype(np.int64)

# %% [markdown]
# ## A setting that overfits
#
# Overfitting needs a model with more capacity than the data can pin down. We keep only a few
# hundred training images (a "small data" problem) and a wide MLP (784-256-256-10), and hold out 5,000 other images
# for **validation**: data the model never trains on, so its loss there estimates the loss on new data.

# %%
n_train = 200 if FAST else 1000
epochs = 6 if FAST else 60
x_train, y_train = x_all[:n_train], y_all[:n_train]
n_val = 1000 if FAST else 5000
x_val, y_val = x_all[50000:50000 + n_val], y_all[50000:50000 + n_val]
print(f"{len(x_train)} training images, {len(x_val)} validation images, {epochs} epochs")

# %% [markdown]
# ## The remedies
#
# **L2 regularisation** (seed article: $J(\theta) + \lambda \sum_i \theta_i^2$) pulls every weight
# towards zero in proportion to its size. Its gradient is $2\lambda\theta$, so gradient descent becomes
#
# $$\theta \leftarrow \theta - \alpha\,(\nabla J + 2\lambda\theta) = (1 - 2\alpha\lambda)\,\theta - \alpha \nabla J ,$$
#
# a "decay" of the weights at every step: `optim.SGD(..., weight_decay=wd)` adds `wd * θ` to the
# gradient (so `wd` $= 2\lambda$).
#
# **L1 regularisation**, $J(\theta) + \lambda \sum_i |\theta_i|$, has gradient $\lambda\,\mathrm{sign}(\theta)$: a constant pull
# that drives small weights to exactly zero (sparse weights). We add `lam * nn.utils.l1_penalty(params)` to the loss.
#
# **Dropout** zeroes each activation with probability $p$ during training and scales the survivors by $1/(1-p)$,
# so the expected value is unchanged; at evaluation (`model.eval()`) it does nothing. No unit can rely
# on any other being present, which discourages co-adapted, memorised features.
#
# **Data augmentation** trains on randomly shifted, rotated and scaled copies of the images: new
# data for free, and the invariances we know the answer should have.
#
# **Early stopping** watches the validation loss and keeps the weights from the best epoch,
# stopping after `patience` epochs without improvement.

# %%
def make_model(dropout=0.0):
    mg.manual_seed(0)
    layers = [nn.Flatten(), nn.Linear(784, 256), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers += [nn.Linear(256, 256), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(256, 10))
    return nn.Sequential(*layers)


augment = transforms.RandomAffine(degrees=12, translate=(0.1, 0.1), scale=(0.9, 1.1))


def evaluate(model, x, y):
    model.eval()
    with mg.no_grad():
        logits = model(mg.tensor(x))
        loss = F.cross_entropy(logits, mg.tensor(y)).item()
    model.train()
    return loss, (logits.argmax(1).numpy() == y).mean()


def run(name, dropout=0.0, weight_decay=0.0, l1=0.0, augmented=False, patience=None):
    model = make_model(dropout)
    opt = mg.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=weight_decay)
    rng = np.random.default_rng(0)
    hist = {"train": [], "val": [], "val_acc": []}
    best, best_state, waited = np.inf, None, 0
    for epoch in range(epochs):
        order = rng.permutation(n_train)
        for i in range(0, n_train, 32):
            idx = order[i:i + 32]
            xb = x_train[idx]
            if augmented:
                xb = augment.apply_batch(xb, rng)
            loss = F.cross_entropy(model(mg.tensor(xb)), mg.tensor(y_train[idx]))
            if l1:
                loss = loss + l1 * nn.utils.l1_penalty(p for n, p in model.named_parameters() if "weight" in n)
            opt.zero_grad()
            loss.backward()
            opt.step()
        train_loss, _ = evaluate(model, x_train, y_train)
        val_loss, val_acc = evaluate(model, x_val, y_val)
        for k, v in zip(hist, (train_loss, val_loss, val_acc)):
            hist[k].append(v)
        if patience is not None:  # early stopping
            if val_loss < best:
                best, waited = val_loss, 0
                best_state = {k: v.clone() for k, v in model.state_dict().items()}
            else:
                waited += 1
                if waited >= patience:
                    model.load_state_dict(best_state)
                    break
    _, acc = evaluate(model, x_val, y_val)
    hist["final_acc"] = acc
    print(f"{name:22s} validation accuracy {acc:.4f}  ({len(hist['val'])} epochs)")
    return hist


start = time.time()
runs = {
    "no regularisation": run("no regularisation"),
    "L2 (weight_decay=5e-3)": run("L2 (weight_decay=5e-3)", weight_decay=5e-3),
    "L1 (lambda=1e-5)": run("L1 (lambda=1e-5)", l1=1e-5),
    "dropout 0.5": run("dropout 0.5", dropout=0.5),
    "augmentation": run("augmentation", augmented=True),
    "early stopping": run("early stopping", patience=5),
}
print(f"total {time.time() - start:.0f} s")

# %% [markdown]
# ## Experiment: train vs validation curves

# %%
fig, axes = plt.subplots(2, 3, figsize=(12, 6), sharey=True)
for ax, (name, h) in zip(axes.flat, runs.items()):
    ax.plot(h["train"], label="train")
    ax.plot(h["val"], label="validation")
    best = int(np.argmin(h["val"]))
    ax.plot(best, h["val"][best], "k*")
    ax.set_yscale("log")
    ax.set_title(f"{name}: val acc {h['final_acc']:.1%}", fontsize=10)
    ax.set_xlabel("epoch")
axes[0, 0].legend()
axes[0, 0].set_ylabel("cross-entropy")
axes[1, 0].set_ylabel("cross-entropy")
plt.tight_layout()
plt.show()

# %% [markdown]
# Without regularisation the training loss falls towards zero (the network memorises its
# images) while the validation loss bottoms out early (the star) and climbs: overfitting. Each
# remedy narrows the gap between the curves in its own way; augmentation, which adds information
# rather than only constraining the model, usually helps most on images. Early stopping ends the
# run a few epochs after the best validation loss and restores those weights.
#
# The effect of L1 and L2 is visible in the weights themselves:

# %%
def first_layer_weights(**kw):
    global epochs
    saved, epochs = epochs, max(3, epochs // 4)
    model = make_model()
    opt = mg.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=kw.get("wd", 0.0))
    rng = np.random.default_rng(0)
    for _ in range(epochs):
        for i in range(0, n_train, 32):
            idx = rng.integers(0, n_train, 32)
            loss = F.cross_entropy(model(mg.tensor(x_train[idx])), mg.tensor(y_train[idx]))
            if kw.get("l1"):
                loss = loss + kw["l1"] * model[1].weight.abs().sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    epochs = saved
    return model[1].weight.detach().numpy().ravel()


plt.figure(figsize=(7, 3))
for label, kw in [("none", {}), ("L2", {"wd": 5e-3}), ("L1", {"l1": 1e-4})]:
    plt.hist(first_layer_weights(**kw), bins=100, range=(-0.12, 0.12), histtype="step", label=label, density=True)
plt.yscale("log")
plt.xlabel("first-layer weight")
plt.legend()
plt.title("L1 piles weights up at zero; L2 shrinks them all")
plt.show()

# %% [markdown]
# ## Exercises
#
# Fill in each function in the next cell (each raises `NotImplementedError` until you do), then run
# it: `check` applies the same assertions the test suite applies to the reference answers, and prints
# `ok`, `not yet` or `wrong` (with the values that differ) for every exercise.
#
# 1. `l2_grad_step(w, g, lr, lam)`: one gradient step on $J + \lambda\lVert w\rVert^2$ (numpy); it equals $(1-2\alpha\lambda)w - \alpha g$.
# 2. `soft_threshold(w, t)`: the proximal step of $t\,|w|$, $\operatorname{sign}(w)\max(|w| - t, 0)$.
# 3. `dropout_mask(shape, p, rng)`: the inverted-dropout multiplier: 0 with probability $p$, else $1/(1-p)$.
# 4. `EarlyStopping(patience)`: a class with `step(val_loss) -> bool` (True when training should stop) and a `best_epoch` attribute (epochs count from 0).
#
# **Questions to think about.** Give `early stopping` a patience of 1 and of 20: what happens to
# the epoch it stops at and to the accuracy? Run L1 with the subgradient and with the proximal
# step at the same $\lambda$ and count the exact zeros. Why does dropout need `model.eval()`?

# %%
from practice import check


def l2_grad_step(w, g, lr, lam):
    """w, g: arrays of one shape -> the weights after one step on J + lam * sum(w ** 2), g = dJ/dw."""
    raise NotImplementedError("your code here")


def soft_threshold(w, t):
    """Shrink every entry of w towards 0 by t; entries with |w| <= t become exactly 0."""
    raise NotImplementedError("your code here")


def dropout_mask(shape, p, rng):
    """An array of `shape`: 0 with probability p, else 1 / (1 - p); rng: np.random.Generator."""
    raise NotImplementedError("your code here")


class EarlyStopping:
    def __init__(self, patience=5):
        self.patience = patience

    def step(self, val_loss):
        """Record one epoch's validation loss; True once `patience` epochs in a row did not improve."""
        raise NotImplementedError("your code here")


check("06", l2_grad_step=l2_grad_step, soft_threshold=soft_threshold, dropout_mask=dropout_mask,
      EarlyStopping=EarlyStopping)
