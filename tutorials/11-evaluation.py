# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 11 · Evaluating a classifier
#
# **What you will learn**
# - why accuracy alone can mislead, and what **precision**, **recall** and **F1** measure;
# - the **confusion matrix**, and how to read a model's mistakes from it;
# - macro, micro and weighted averages over classes;
# - the precision/recall trade-off of a decision threshold;
# - all of it with `minigrad.metrics`, whose functions are shaped like scikit-learn's.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F
from minigrad import metrics

FAST = os.environ.get("MINIGRAD_FAST") == "1"
if "MINIGRAD_DATA_DIR" not in os.environ and os.path.isdir("../../shared/data/mnist"):
    os.environ["MINIGRAD_DATA_DIR"] = "../../shared/data"  # a local copy, if there is one; else it downloads
_ = mg.manual_seed(0)

(x_train, y_train), (x_test, y_test) = mg.keras.datasets.mnist.load_data()
x_train = x_train.reshape(-1, 784).astype(np.float32) / 255
x_test = x_test.reshape(-1, 784).astype(np.float32) / 255
y_train, y_test = y_train.astype(np.int64), y_test.astype(np.int64)

# %% [markdown]
# ## A model to evaluate
#
# A small MLP (chapter 05), trained briefly so that it still makes mistakes worth studying.

# %%
n_train = 3000 if FAST else 20000
model = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
opt = mg.optim.Adam(model.parameters(), lr=1e-3)
rng = np.random.default_rng(0)
for epoch in range(2):
    order = rng.permutation(n_train)
    for i in range(0, n_train, 128):
        idx = order[i:i + 128]
        loss = F.cross_entropy(model(mg.tensor(x_train[idx])), mg.tensor(y_train[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()

with mg.no_grad():
    logits = model(mg.tensor(x_test))
probs = logits.softmax(dim=1).numpy()
y_pred = probs.argmax(1)
print(f"test accuracy: {metrics.accuracy(y_test, y_pred):.4f}")

# %% [markdown]
# ## Precision, recall, F1
#
# For one class treated as "positive", count true positives (TP), false positives (FP) and false
# negatives (FN):
#
# $$\text{precision} = \frac{TP}{TP + FP}, \qquad \text{recall} = \frac{TP}{TP + FN}, \qquad
#   F_1 = \frac{2\,\text{precision}\cdot\text{recall}}{\text{precision} + \text{recall}} = \frac{2\,TP}{2\,TP + FP + FN}.$$
#
# Precision: of what the model called a "3", how much was a 3? Recall: of the real 3s, how many
# did it find? $F_1$ is their harmonic mean, high only when both are.
#
# Accuracy can hide a useless model. Detecting the digit 5 (about 9 % of the test set): the
# "model" that always answers *not a 5* is 91 % accurate, and finds no 5 at all.

# %%
is5 = (y_test == 5).astype(int)
never = np.zeros_like(is5)
print(f"always 'not 5': accuracy {metrics.accuracy(is5, never):.3f}, "
      f"recall {metrics.recall(is5, never):.3f}, F1 {metrics.f1_score(is5, never):.3f}")
ours = (y_pred == 5).astype(int)
print(f"our model:      accuracy {metrics.accuracy(is5, ours):.3f}, precision {metrics.precision(is5, ours):.3f}, "
      f"recall {metrics.recall(is5, ours):.3f}, F1 {metrics.f1_score(is5, ours):.3f}")

# %% [markdown]
# ## The confusion matrix
#
# Row $i$, column $j$ counts the test images of digit $i$ that the model called $j$. The diagonal
# holds the correct answers; everything else is a specific mistake.

# %%
cm = metrics.confusion_matrix(y_test, y_pred, num_classes=10)
fig, ax = plt.subplots(figsize=(5.5, 5))
ax.imshow(np.log1p(cm), cmap="Blues")
for (i, j), v in np.ndenumerate(cm):
    ax.text(j, i, v, ha="center", va="center", fontsize=7, color="white" if i == j else "black")
ax.set_xlabel("predicted")
ax.set_ylabel("true")
ax.set_xticks(range(10)), ax.set_yticks(range(10))
ax.set_title("confusion matrix (colour: log count)")
plt.show()
off = cm.copy()
np.fill_diagonal(off, 0)
i, j = np.unravel_index(off.argmax(), off.shape)
print(f"most frequent mistake: {off[i, j]} images of a {i} called a {j}")

# %% [markdown]
# Per-class precision and recall come straight from the matrix: precision of class $j$ is the
# diagonal over column $j$'s sum, recall of class $i$ the diagonal over row $i$'s sum.

# %%
p, r, f1, support = metrics.precision_recall_fscore_support(y_test, y_pred)
assert np.allclose(p, np.diag(cm) / cm.sum(0)) and np.allclose(r, np.diag(cm) / cm.sum(1))
print(metrics.classification_report(y_test, y_pred, digits=3))

# %% [markdown]
# ## Averages over classes
#
# - **macro**: the plain mean of the per-class scores (every class counts the same);
# - **weighted**: the mean weighted by each class's support;
# - **micro**: pool TP, FP, FN over all classes first; for single-label classification micro precision = micro recall = accuracy.

# %%
for avg in ("macro", "weighted", "micro"):
    print(f"{avg:8s} precision {metrics.precision(y_test, y_pred, average=avg):.4f}  "
          f"recall {metrics.recall(y_test, y_pred, average=avg):.4f}  F1 {metrics.f1_score(y_test, y_pred, average=avg):.4f}")
print("top-2 accuracy:", metrics.top_k_accuracy(y_test, probs, k=2))

# %% [markdown]
# ## Experiment: the threshold trades precision for recall
#
# A detector answers "5" when $P(5 \mid x) > t$. Raising $t$ makes it more careful (precision up)
# and less thorough (recall down). Sweeping $t$ draws the precision–recall curve:

# %%
thresholds = np.linspace(0.02, 0.98, 49)
pr = np.array([(metrics.precision(is5, (probs[:, 5] > t).astype(int)),
                metrics.recall(is5, (probs[:, 5] > t).astype(int)),
                metrics.f1_score(is5, (probs[:, 5] > t).astype(int))) for t in thresholds])
best = thresholds[pr[:, 2].argmax()]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
ax1.plot(thresholds, pr[:, 0], label="precision")
ax1.plot(thresholds, pr[:, 1], label="recall")
ax1.plot(thresholds, pr[:, 2], label="F1")
ax1.axvline(best, color="grey", ls="--")
ax1.set_xlabel("threshold t on P(5 | x)")
ax1.legend()
ax2.plot(pr[:, 1], pr[:, 0], ".-")
ax2.set_xlabel("recall")
ax2.set_ylabel("precision")
ax2.set_title("precision-recall curve for the digit 5")
plt.tight_layout()
plt.show()
print(f"best F1 {pr[:, 2].max():.3f} at t = {best:.2f}")

# %% [markdown]
# ## Look at the mistakes
#
# The test digits the model got wrong with the highest confidence:

# %%
wrong = np.flatnonzero(y_pred != y_test)
worst = wrong[np.argsort(-probs[wrong].max(1))][:8]
fig, axes = plt.subplots(1, 8, figsize=(12, 2))
for ax, k in zip(axes, worst):
    ax.imshow(x_test[k].reshape(28, 28), cmap="gray")
    ax.set_title(f"true {y_test[k]}, said {y_pred[k]}\n({probs[k].max():.0%})", fontsize=8)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Exercises
#
# Fill in each function in the next cell (each raises `NotImplementedError` until you do), then run
# it: `check` applies the same assertions the test suite applies to the reference answers, and prints
# `ok`, `not yet` or `wrong` (with the values that differ) for every exercise.
#
# 1. `confusion(y_true, y_pred, k)`: the $k\times k$ confusion matrix (rows: true class) with one `np.add.at`.
# 2. `prf_from_confusion(cm)`: per-class precision, recall and F1 from the matrix (0 where undefined).
# 3. `macro_f1(y_true, y_pred, k)`: the unweighted mean of the per-class F1 over the classes present in either array.
#
# **Questions to think about.** When is accuracy a poor summary: build a 99 %-accurate classifier
# that is useless. How would the confusion matrix change if one class had ten times fewer test images?

# %%
from practice import check


def confusion(y_true, y_pred, k):
    raise NotImplementedError("your code here")


def prf_from_confusion(cm):
    """cm: (k, k) -> (precision (k,), recall (k,), f1 (k,))."""
    raise NotImplementedError("your code here")


def macro_f1(y_true, y_pred, k):
    raise NotImplementedError("your code here")


check("11", confusion=confusion, prf_from_confusion=prf_from_confusion, macro_f1=macro_f1)
