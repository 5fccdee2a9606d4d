# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 12 · Fine-tuning a pretrained model
#
# **What you will learn**
# - the idea behind fine-tuning from the seed articles: reuse a model trained on a big task, **freeze its base**, add a **new head**, and train with a **smaller learning rate**;
# - how to do each step in minigrad: `state_dict` / `minigrad.save`, `requires_grad_(False)`, parameter groups with their own learning rates;
# - when it wins: a comparison with training from scratch, as the new task's data grows from 5 to 500 images per class.

# %%
import os
import tempfile
import time

import matplotlib.pyplot as plt
import numpy as np

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F

FAST = os.environ.get("MINIGRAD_FAST") == "1"
if "MINIGRAD_DATA_DIR" not in os.environ and os.path.isdir("../../shared/data/mnist"):
    os.environ["MINIGRAD_DATA_DIR"] = "../../shared/data"  # a local copy, if there is one; else it downloads
_ = mg.manual_seed(0)

(x_train, y_train), (x_test, y_test) = mg.keras.datasets.mnist.load_data()
x_train = (x_train.astype(np.float32) / 255)[:, None]
x_test = (x_test.astype(np.float32) / 255)[:, None]
y_train, y_test = y_train.astype(np.int64), y_test.astype(np.int64)

# %% [markdown]
# ## Two tasks
#
# - **Task A** (the "big" pretraining task): tell apart the digits 0–4, with all ~30,000 training images.
# - **Task B** (the new task): tell apart the digits 5–9, with only **20 images per class**.
#
# The strokes, curves and edges that recognise 0–4 are useful for 5–9 too; that reusable knowledge
# is what fine-tuning transfers.

# %%
a_train = np.flatnonzero(y_train < 5)[: 1500 if FAST else None]
per_class = 20
rng = np.random.default_rng(0)
b_train = np.concatenate([rng.choice(np.flatnonzero(y_train == c), per_class, replace=False) for c in range(5, 10)])
b_test = np.flatnonzero(y_test >= 5)[: 500 if FAST else None]
xb_train, yb_train = x_train[b_train], y_train[b_train] - 5   # labels 0..4 for the new head
xb_test, yb_test = x_test[b_test], y_test[b_test] - 5
print(f"task A: {len(a_train)} images; task B: {len(b_train)} training images, {len(b_test)} test images")

# %% [markdown]
# ## The model: a base and a head
#
# The **base** is everything but the last layer: three convolutions that turn an image into
# $128 \times 3 \times 3 = 1{,}152$ features (edges, then strokes, then their combinations). The
# **head** is one linear layer from those features to the classes. The base holds almost all
# of the weights, so freezing it leaves only the head's few thousand to learn.

# %%
def make_base():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),      # (N, 32, 13, 13)
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),     # (N, 64, 5, 5)
        nn.Conv2d(64, 128, 3), nn.ReLU(),                     # (N, 128, 3, 3)
        nn.Flatten(),                                         # (N, 1152)
    )


def make_head():
    return nn.Linear(1152, 5)


def n_params(module, trainable_only=False):
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


print(f"base {n_params(make_base()):,} parameters, head {n_params(make_head()):,}")


def accuracy(model, x, y):
    model.eval()
    with mg.no_grad():
        pred = np.concatenate([model(mg.tensor(x[i:i + 1000])).argmax(1).numpy() for i in range(0, len(x), 1000)])
    model.train()
    return (pred == y).mean()


def fit(model, opt, x, y, epochs, batch=64, x_val=None, y_val=None, seed=0):
    rng, accs = np.random.default_rng(seed), []
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            loss = F.cross_entropy(model(mg.tensor(x[idx])), mg.tensor(y[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
        if x_val is not None:
            accs.append(accuracy(model, x_val, y_val))
    return accs


# %% [markdown]
# ## Step 1: pretrain on task A, save the weights

# %%
start = time.time()
mg.manual_seed(0)
pretrained = nn.Sequential(make_base(), make_head())
fit(pretrained, mg.optim.Adam(pretrained.parameters(), lr=1e-3), x_train[a_train], y_train[a_train], epochs=1)
a_test = np.flatnonzero(y_test < 5)[: 500 if FAST else None]
print(f"task A test accuracy: {accuracy(pretrained, x_test[a_test], y_test[a_test]):.4f} ({time.time() - start:.0f} s)")

path = os.path.join(tempfile.mkdtemp(), "base.safetensors")
mg.save(pretrained[0].state_dict(), path)  # keep only the base
print("saved", sorted(pretrained[0].state_dict()))

# %% [markdown]
# ## Step 2: three ways to learn task B from 100 images
#
# 1. **From scratch**: a fresh base and head, trained on the 100 images.
# 2. **Frozen base + new head** (feature extraction): load the pretrained base, freeze it with
#    `requires_grad_(False)`, and train only a new, randomly initialised head. Frozen parameters get no
#    gradient, and the optimiser is given only the head's parameters.
# 3. **Fine-tune everything with a smaller learning rate for the base**: the base starts from the
#    pretrained weights and moves only a little ($\alpha_\text{base} = \alpha_\text{head}/10$), using parameter groups.
#
# With so few images we use batches of 10 (10 steps per epoch):
#
# ```python
# mg.optim.Adam([{"params": base.parameters(), "lr": 1e-4},
#                {"params": head.parameters(), "lr": 1e-3}])
# ```

# %%
epochs_b = 3 if FAST else 20


def pretrained_base():
    base = make_base()
    base.load_state_dict(mg.load(path))
    return base


def learn_task_b(how, x, y, epochs, batch, seed=1, x_val=None, y_val=None):
    """Train a model for task B the way `how` says; returns (model, accuracy after each epoch)."""
    mg.manual_seed(seed)
    if how == "from scratch":
        model = nn.Sequential(make_base(), make_head())
        opt = mg.optim.Adam(model.parameters(), lr=1e-3)
    elif how == "frozen base + new head":
        model = nn.Sequential(pretrained_base().requires_grad_(False), make_head())   # freeze the base
        opt = mg.optim.Adam(model[1].parameters(), lr=1e-3)
    else:  # fine-tune all, small base lr
        model = nn.Sequential(pretrained_base(), make_head())
        opt = mg.optim.Adam([{"params": model[0].parameters(), "lr": 1e-4},
                             {"params": model[1].parameters(), "lr": 1e-3}])
    return model, fit(model, opt, x, y, epochs, batch=batch, x_val=x_val, y_val=y_val, seed=seed)


HOWS = ("from scratch", "frozen base + new head", "fine-tune all, small base lr")
curves = {}
for how in HOWS:
    model, curves[how] = learn_task_b(how, xb_train, yb_train, epochs_b, 10, x_val=xb_test, y_val=yb_test)
    print(f"{how:30s} trainable {n_params(model, True):6,} of {n_params(model):,}; "
          f"task B test accuracy {curves[how][-1]:.4f}")

# %% [markdown]
# ## Experiment: accuracy on task B as training goes on

# %%
plt.figure(figsize=(7, 4))
for name, acc in curves.items():
    plt.plot(range(1, epochs_b + 1), acc, "o-", ms=3, label=name)
plt.xlabel("epoch (100 training images, batches of 10)")
plt.ylabel("task B test accuracy")
plt.title("learning digits 5-9 from 20 images per class")
plt.legend()
plt.grid(alpha=0.3)
plt.show()

# %% [markdown]
# With 100 images, a network trained from scratch has to learn edges, strokes and the
# classification all at once, from very little evidence. The pretrained base already computes
# useful features, so the new head has less to learn: in the run above both pretrained recipes end
# a few points ahead of training from scratch (the three accuracies printed above). A frozen base
# is never updated, so its 93,000 weights cannot be bent out of
# shape by 100 noisy examples, and each step is cheaper (no gradients for the base's weights).
#
# ## Experiment: how many images per class before fine-tuning pays?
#
# Unfreezing the base with a small learning rate lets the features adapt to the new digits, at
# the price of 93,000 more weights to fit. The sweep below repeats the three recipes with 5 to 500
# images per class, each trained for the same number of steps (batches of 20) and averaged over
# seeds, so that only the amount of data changes.

# %%
sizes = [5, 20] if FAST else [5, 20, 100, 500]
steps = 15 if FAST else 300
seeds = (1,) if FAST else (1, 2, 3)
sweep = {how: [] for how in HOWS}
start = time.time()
for k in sizes:
    for how in HOWS:
        accs = []
        for seed in seeds:
            pick = np.random.default_rng(seed)
            idx = np.concatenate([pick.choice(np.flatnonzero(y_train == c), k, replace=False) for c in range(5, 10)])
            batch = min(20, len(idx))
            epochs = max(1, round(steps * batch / len(idx)))
            model, _ = learn_task_b(how, x_train[idx], y_train[idx] - 5, epochs, batch, seed=seed)
            accs.append(accuracy(model, xb_test, yb_test))
        sweep[how].append(np.mean(accs))
    print(f"{k:4d} images per class: " + ", ".join(f"{h.split(' ')[0]} {sweep[h][-1]:.3f}" for h in HOWS))
print(f"({time.time() - start:.0f} s)")

plt.figure(figsize=(7, 4))
for how in HOWS:
    plt.plot(sizes, sweep[how], "o-", label=how)
plt.xscale("log")
plt.xlabel("training images per class (task B)")
plt.ylabel(f"task B test accuracy (mean of {len(seeds)} seed(s))")
plt.title("transfer helps most when data is scarce")
plt.legend()
plt.grid(alpha=0.3)
plt.show()

# %% [markdown]
# %%
for k, *accs in zip(sizes, *(sweep[h] for h in HOWS)):
    best = HOWS[int(np.argmax(accs))]
    print(f"{k:4d} images per class: best is '{best}'"
          f" (pretrained frozen {accs[1] - accs[0]:+.1%}, fine-tuned {accs[2] - accs[0]:+.1%} vs from scratch)")

# %% [markdown]
# Read the curves from the left. With 5 or 20 images per class the pretrained base is worth a few
# points over training from scratch: its features come from thousands of images, the scratch
# network's from a hundred. The margin is modest because MNIST digits are easy; a small CNN
# learns a good deal from 100 images. As the data grows, training from scratch catches up: by 500
# images per class the three recipes end within about half a point of each other, and the frozen
# base no longer beats training from scratch. Features learned for 0–4 suit 5–9 well but not
# perfectly, so once the data can pin down 93,000 weights, pretraining helps little. Between the
# two pretrained recipes, the frozen base keeps its 0–4 features no matter how much data there is,
# while fine-tuning can adapt them, so fine-tuning pulls ahead of freezing as the data grows.
# (The printed sweep gives this run's figures; they move by a point or two between runs and
# seeds.) That is the seed articles' recipe: freeze the base when data is scarce;
# fine-tune more layers, gently, as data grows; and with plenty of data for the task itself,
# check whether pretraining still helps at all.

# %% [markdown]
# ## Exercises
#
# Fill in each function in the next cell (each raises `NotImplementedError` until you do), then run
# it: `check` applies the same assertions the test suite applies to the reference answers, and prints
# `ok`, `not yet` or `wrong` (with the values that differ) for every exercise.
#
# 1. `count_trainable(model)`: the number of parameters that require a gradient.
# 2. `freeze_all_but_last(model)`: for an `nn.Sequential`, freeze every parameter except the last layer's; return the model.
# 3. `param_groups(base, head, lr)`: optimiser parameter groups giving `base` one tenth of `lr` and `head` the full `lr`.
#
# **Questions to think about.** In the sweep above, at what number of images per class does
# fine-tuning everything overtake the frozen base, and why? What would happen to the frozen
# features if the new task were letters instead of digits?

# %%
from practice import check


def count_trainable(model):
    raise NotImplementedError("your code here")


def freeze_all_but_last(model):
    raise NotImplementedError("your code here")


def param_groups(base, head, lr):
    """-> [{"params": ..., "lr": lr / 10}, {"params": ..., "lr": lr}]"""
    raise NotImplementedError("your code here")


check("12", count_trainable=count_trainable, freeze_all_but_last=freeze_all_but_last, param_groups=param_groups)
