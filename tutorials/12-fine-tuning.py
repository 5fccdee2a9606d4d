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
# - why it wins when the new task has little data: a comparison with training from scratch.

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
# The **base** is the convolutional part: it turns an image into $32 \times 5 \times 5 = 800$ features
# (edges, strokes, their combinations). The **head** is a small MLP that maps those features to classes.

# %%
def make_base():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
    )


def make_head():
    return nn.Sequential(nn.Linear(800, 64), nn.ReLU(), nn.Linear(64, 5))


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


curves = {}
mg.manual_seed(1)
scratch = nn.Sequential(make_base(), make_head())
curves["from scratch"] = fit(scratch, mg.optim.Adam(scratch.parameters(), lr=1e-3),
                             xb_train, yb_train, epochs_b, batch=10, x_val=xb_test, y_val=yb_test)

mg.manual_seed(1)
base = pretrained_base().requires_grad_(False)       # freeze
head = make_head()
frozen = nn.Sequential(base, head)
print("trainable parameters:", sum(p.numel() for p in frozen.parameters() if p.requires_grad),
      "of", sum(p.numel() for p in frozen.parameters()))
curves["frozen base + new head"] = fit(frozen, mg.optim.Adam(head.parameters(), lr=1e-3),
                                       xb_train, yb_train, epochs_b, batch=10, x_val=xb_test, y_val=yb_test)

mg.manual_seed(1)
base, head = pretrained_base(), make_head()
tuned = nn.Sequential(base, head)
opt = mg.optim.Adam([{"params": base.parameters(), "lr": 1e-4}, {"params": head.parameters(), "lr": 1e-3}])
curves["fine-tune all, small base lr"] = fit(tuned, opt, xb_train, yb_train, epochs_b, batch=10,
                                             x_val=xb_test, y_val=yb_test)

for name, acc in curves.items():
    print(f"{name:30s} task B test accuracy {acc[-1]:.4f}")

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
# classification all at once, from very little evidence: it starts slowly and stays behind. The
# pretrained base already computes useful features, so the new head learns from the first epochs
# and ends ahead. A frozen base is never updated, so its features cannot be bent out of shape by
# 100 noisy examples, and each step is cheaper (no gradients for the base's weights). Unfreezing the base with a small learning rate
# lets the features adapt to the new digits without wiping out what they learned; with this little
# data it gains little over freezing, and it pays off as the new data set grows. That is the seed
# articles' recipe: freeze the base when data is scarce; fine-tune more layers, gently, as data grows.

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
