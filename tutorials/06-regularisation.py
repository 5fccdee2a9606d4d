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
#   **dropout**, **data augmentation** and **early stopping**, and the proximal step that makes L1 weights exactly zero;
# - how to compare them fairly: train/validation curves averaged over seeds, and what each remedy does (and does not do) to accuracy.

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
epochs = 6 if FAST else 40
seeds = (0,) if FAST else (0, 1, 2)   # every run is repeated with these seeds and averaged
x_train, y_train = x_all[:n_train], y_all[:n_train]
n_val = 1000 if FAST else 5000
x_val, y_val = x_all[50000:50000 + n_val], y_all[50000:50000 + n_val]
print(f"{len(x_train)} training images, {len(x_val)} validation images, {epochs} epochs, {len(seeds)} seed(s)")

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
# **L1 regularisation**, $J(\theta) + \lambda \sum_i |\theta_i|$, pulls every weight towards zero
# by the same amount, $\alpha\lambda$ per step, whatever its size. It can make weights *exactly*
# zero (sparse weights), but only if the update is written for it. Adding $\lambda\,\mathrm{sign}(\theta)$
# to the gradient (the *subgradient*) does not: a weight near zero is pushed across it and back,
# step after step, and with momentum it overshoots further; it hovers around 0 without ever being 0.
# The **proximal** step does it properly: take the ordinary step on $J$, then *soft-threshold*,
#
# $$\theta \leftarrow \operatorname{sign}(\theta)\,\max\big(|\theta| - \alpha\lambda,\ 0\big),$$
#
# which shrinks every weight by $\alpha\lambda$ and sets those smaller than that to exactly 0 (in
# tensor form, `w - w.clamp(-t, t)`). We run both, with the same $\lambda$.
#
# **Dropout** zeroes each activation with probability $p$ during training and scales the survivors by $1/(1-p)$,
# so the expected value is unchanged; at evaluation (`model.eval()`) it does nothing. No unit can rely
# on any other being present, which discourages co-adapted, memorised features.
#
# **Data augmentation** trains on randomly shifted, rotated and scaled copies of the images: new
# data for free, and the invariances we know the answer should have.
#
# **Early stopping** watches the validation loss and keeps the weights from the best epoch,
# stopping after `patience` epochs without improvement. It changes nothing about training itself,
# so with the same seed it *is* the unregularised run, cut short: we compute it from that run's
# history instead of training again.

# %%
def make_model(dropout=0.0, seed=0):
    mg.manual_seed(seed)
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


def run(seed, dropout=0.0, weight_decay=0.0, l1=0.0, proximal=False, augmented=False, lr=0.05):
    """Train one model; the per-epoch train/validation loss and validation accuracy, and its first layer."""
    model = make_model(dropout, seed)
    opt = mg.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
    weights = [p for n, p in model.named_parameters() if "weight" in n]
    rng = np.random.default_rng(seed)
    hist = {"train": [], "val": [], "val_acc": []}
    for epoch in range(epochs):
        order = rng.permutation(n_train)
        for i in range(0, n_train, 32):
            idx = order[i:i + 32]
            xb = x_train[idx]
            if augmented:
                xb = augment.apply_batch(xb, rng)
            loss = F.cross_entropy(model(mg.tensor(xb)), mg.tensor(y_train[idx]))
            if l1 and not proximal:  # subgradient: lambda * sign(w) joins the gradient
                loss = loss + l1 * nn.utils.l1_penalty(weights)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if l1 and proximal:      # proximal: soft-threshold by lr * lambda after the step
                with mg.no_grad():
                    for w in weights:
                        w.copy_(w - w.clamp(-lr * l1, lr * l1))
        train_loss, _ = evaluate(model, x_train, y_train)
        val_loss, val_acc = evaluate(model, x_val, y_val)
        for k, v in zip(hist, (train_loss, val_loss, val_acc)):
            hist[k].append(v)
    hist["first_layer"] = model[1].weight.detach().numpy().ravel()
    return hist


def averaged(name, **kw):
    """run() once per seed; the curves averaged over seeds, and per seed the validation accuracy
    of the last 5 epochs (averaged: with a constant learning rate it moves from epoch to epoch)."""
    hists = [run(seed, **kw) for seed in seeds]
    out = {k: np.mean([h[k] for h in hists], axis=0) for k in ("train", "val", "val_acc")}
    out["accs"] = [np.mean(h["val_acc"][-5:]) for h in hists]
    out["first_layer"] = hists[0]["first_layer"]
    out["seeds"] = hists
    print(f"{name:24s} validation accuracy {np.mean(out['accs']):.2%} +- {np.std(out['accs']):.2%} "
          f"(seeds: {', '.join(f'{a:.2%}' for a in out['accs'])})")
    return out


L2, L1 = 5e-3, 5e-4
start = time.time()
runs = {
    "no regularisation": averaged("no regularisation"),
    f"L2 (weight_decay={L2})": averaged(f"L2 (weight_decay={L2})", weight_decay=L2),
    f"L1 subgradient ({L1})": averaged(f"L1 subgradient ({L1})", l1=L1),
    f"L1 proximal ({L1})": averaged(f"L1 proximal ({L1})", l1=L1, proximal=True),
    "dropout 0.5": averaged("dropout 0.5", dropout=0.5),
    "augmentation": averaged("augmentation", augmented=True),
}
print(f"total {time.time() - start:.0f} s")

# %% [markdown]
# Early stopping, computed from each seed's unregularised run (patience 5 epochs):

# %%
def early_stop(val_losses, patience=5):
    """(epoch of the best validation loss, epoch at which training stops), counting from 0."""
    best, waited = 0, 0
    for epoch in range(1, len(val_losses)):
        if val_losses[epoch] < val_losses[best]:
            best, waited = epoch, 0
        else:
            waited += 1
            if waited >= patience:
                return best, epoch
    return best, len(val_losses) - 1


stops = [early_stop(h["val"]) for h in runs["no regularisation"]["seeds"]]
es_accs = [h["val_acc"][best] for h, (best, _) in zip(runs["no regularisation"]["seeds"], stops)]
for k, (seed, (best, stop), acc) in enumerate(zip(seeds, stops, es_accs)):
    print(f"seed {seed}: best validation loss at epoch {best + 1}, stops at epoch {stop + 1}, "
          f"restored weights: {acc:.2%} (the full run: {runs['no regularisation']['accs'][k]:.2%})")

# %% [markdown]
# ## Experiment: train vs validation curves
#
# Each panel shows the training and validation loss (left axis, averaged over the seeds) and the
# validation accuracy (green, right axis); the star marks the epoch of the lowest validation loss,
# and the dotted lines in the first panel the epochs where early stopping ends each seed's run.
# The accuracy in each title is that of the last 5 epochs, averaged over the seeds.

# %%
fig, axes = plt.subplots(2, 3, figsize=(13, 6.5), sharey=True)
for ax, (name, h) in zip(axes.flat, runs.items()):
    ax.plot(h["train"], label="train loss")
    ax.plot(h["val"], label="validation loss")
    best = int(np.argmin(h["val"]))
    ax.plot(best, h["val"][best], "k*", ms=10)
    ax.set_yscale("log")
    ax.set_title(f"{name}: val acc {np.mean(h['accs']):.1%}", fontsize=10)
    ax.set_xlabel("epoch")
    acc_ax = ax.twinx()
    acc_ax.plot(h["val_acc"], color="tab:green", lw=1, label="validation accuracy")
    acc_ax.set_ylim(0.6 if FAST else 0.8, 1.0)
    if name == "no regularisation":
        for best_epoch, stop_epoch in stops:
            ax.axvline(stop_epoch, color="grey", ls=":", lw=1)
acc_ax.set_ylabel("validation accuracy")
axes[0, 0].legend(fontsize=8, loc="lower left")
axes[0, 0].set_ylabel("cross-entropy")
axes[1, 0].set_ylabel("cross-entropy")
plt.tight_layout()
plt.show()

base_acc = np.mean(runs["no regularisation"]["accs"])
print(f"{'early stopping (patience 5)':28s} {np.mean(es_accs):.2%}   ({np.mean(es_accs) - base_acc:+.2%} vs none)")
for name, h in runs.items():
    print(f"{name:28s} {np.mean(h['accs']):.2%}   ({np.mean(h['accs']) - base_acc:+.2%} vs none)")

# %% [markdown]
# **What the curves show.** Without regularisation the training loss falls towards zero (the
# network memorises its 1,000 images) while the validation loss bottoms out within the first
# epochs (the star) and then climbs: overfitting, as the textbook says. Now read the accuracies
# printed under the plot, averaged over seeds, against the unregularised run; on this problem
# they tell a less flattering story than the loss curves:
#
# - **L2** and **L1** flatten the validation-loss curve: it stops climbing, and the gap to the
#   training loss narrows. The *accuracy*, however, does not improve: in the run above every L1/L2
#   variant ends at or below the unregularised run, by about half a point (L2, proximal L1) to a
#   couple of points (L1 by subgradient). A penalty can only remove what the weights learned from
#   the 1,000 images; it cannot add information the images lack. (A stronger penalty shrinks the
#   weights more and costs accuracy: try `weight_decay=3e-2`.)
# - **L1, proximal**: at the same $\lambda$ at least as accurate as L1 by subgradient (better in the
#   run above), and with a large share of the first layer's weights *exactly* zero (the histogram's
#   legend below gives the share), for instance the weights of border pixels
#   that are 0 in almost every image: they get no gradient, and the threshold removes them.
# - **Dropout** makes memorising harder (every step trains a different thinned network), which
#   shows in its validation loss; its accuracy lands close to the baseline or a little below it
#   here. It helps more in larger networks trained longer.
# - **Augmentation** is the one remedy that adds information (shifted and rotated digits the
#   network has not seen), and the one that clearly raises validation accuracy.
# - **Early stopping** restores the weights of the epoch with the lowest validation *loss*, and
#   that epoch comes early, while validation *accuracy* is still rising (the green line): it
#   stops too soon and gives up accuracy. The two measures disagree because the cross-entropy
#   punishes confident mistakes without limit: as training goes on, the network becomes more
#   confident on everything, and the few validation images it gets wrong with growing confidence
#   raise the average loss faster than the images that newly cross to the right side lower it.
#   When accuracy is what matters, watch validation accuracy instead (Keras:
#   `EarlyStopping(monitor="val_accuracy")`), or use a larger patience.
#
# The effect of L1 and L2 is visible in the weights themselves: the first layer of each run (seed
# 0), with the same $\lambda$ as above.

# %%
plt.figure(figsize=(7.5, 3.2))
for name in ("no regularisation", f"L2 (weight_decay={L2})", f"L1 subgradient ({L1})", f"L1 proximal ({L1})"):
    w = runs[name]["first_layer"]
    plt.hist(w, bins=121, range=(-0.121, 0.121), histtype="step", density=True,
             label=f"{name}: {np.mean(w == 0):.1%} exactly 0")
plt.yscale("log")
plt.xlabel("first-layer weight")
plt.legend(fontsize=8)
plt.title("L1 with the proximal step makes weights exactly zero; L2 shrinks them all")
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
