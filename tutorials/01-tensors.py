# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Tensors and broadcasting
#
# **What you will learn**
# - what a minigrad `Tensor` is: an n-dimensional array plus a little bookkeeping (dtype, device, gradient);
# - how to create tensors, index them and reshape them;
# - **broadcasting**, the rule that lets `(3, 1) + (4,)` make a `(3, 4)` result, and why its gradient is a sum;
# - how tensors move to and from numpy.
#
# Everything later in this series (autograd, layers, a CNN on MNIST) is built from these few ideas.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import minigrad as mg

FAST = os.environ.get("MINIGRAD_FAST") == "1"  # set by CI to keep the run short; unused in this chapter
_ = mg.manual_seed(0)

# %% [markdown]
# ## A tensor is an array that remembers things
#
# A `Tensor` wraps an array (numpy on the CPU, CuPy on a GPU) in its `.array` attribute and adds:
# `dtype`, `shape`, `device`, `requires_grad`, `grad` and `grad_fn`. The last three are for
# chapter 02; here we only compute.

# %%
x = mg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
print(x)
print("shape", x.shape, "| dtype", x.dtype, "| device", x.device, "| ndim", x.ndim)
print("the array inside:", type(x.array).__name__)

# %% [markdown]
# Python floats become `float32`, the default for deep learning (half the memory of `float64`,
# and fast on every chip). Python ints become `int64`. Factories mirror PyTorch:

# %%
print(mg.zeros(2, 3))
print(mg.arange(5), mg.linspace(0, 1, 5))
print(mg.randn(2, 2))  # standard normal, reproducible thanks to mg.manual_seed(0)
print(mg.eye(3, dtype=mg.float64))

# %% [markdown]
# ## Indexing and reshaping
#
# Indexing follows numpy. `reshape` reads the same numbers in a new shape (row-major order);
# `permute` / `.T` reorder the axes.

# %%
a = mg.arange(12).reshape(3, 4)
print(a)
print("row 1:", a[1], "| column 2:", a[:, 2], "| corner:", a[-1, -1].item())
print(a.reshape(2, 6))
print(a.T.shape, a.permute(1, 0).shape, a.unsqueeze(0).shape, a.flatten().shape)

# %% [markdown]
# ## Broadcasting
#
# An elementwise op between shapes that differ first lines the shapes up **from the right**.
# Two sizes are compatible when they are equal or one of them is 1; missing leading dimensions
# count as 1. Each size-1 dimension is then stretched (without copying) to match:
#
# $$(3, 1) \;\oplus\; (4,) \;\to\; (3, 1) \oplus (1, 4) \;\to\; (3, 4), \qquad
#   c_{ij} = a_{i1} + b_{1j}.$$
#
# This is how a bias vector $b$ is added to every row of a batch in $y = xW + b$.

# %%
col = mg.arange(3).reshape(3, 1).float()  # shape (3, 1)
row = mg.arange(4).float() * 10          # shape (4,)
grid = col + row
print(col.shape, "+", row.shape, "->", grid.shape)
print(grid)

# %% [markdown]
# A picture makes the stretching visible: the column is copied across, the row is copied down.

# %%
fig, axes = plt.subplots(1, 3, figsize=(9, 2.6))
for ax, t, title in zip(axes, [col.expand(3, 4), row.expand(3, 4), grid],
                        ["a (3,1) stretched", "b (4,) stretched", "a + b  (3,4)"]):
    ax.imshow(t.numpy(), cmap="viridis")
    for (i, j), v in np.ndenumerate(t.numpy()):
        ax.text(j, i, f"{v:g}", ha="center", va="center", color="w")
    ax.set_title(title)
    ax.set_xticks([]), ax.set_yticks([])
plt.tight_layout()
plt.show()

# %% [markdown]
# Shapes that cannot be lined up raise an error that names both shapes:

# %%
try:
    mg.ones(3, 2) + mg.ones(3)
except ValueError as e:
    print("ValueError:", e)

# %% [markdown]
# ### Why the gradient of a broadcast is a sum
#
# If $c_{ij} = a_i + b_j$, each $b_j$ is used by every row $i$, so its effect on a loss $L$ adds
# up over the rows:
#
# $$\frac{\partial L}{\partial b_j} = \sum_i \frac{\partial L}{\partial c_{ij}}.$$
#
# minigrad's binary ops therefore finish their backward pass with `sum_to`, which sums the
# incoming gradient back down to each input's shape. Here is the op that a broadcast records:

# %%
from helpers import show  # prints a library object's source (tutorials/helpers.py)

show(mg.ops.shape.Expand)
show(mg.ops.shape.sum_to)

# %% [markdown]
# ## Reductions
#
# `sum`, `mean`, `max`, `var`, ... reduce over all elements or over a `dim`; `keepdim=True`
# keeps the reduced axis as size 1, which is exactly what you need to broadcast the result
# back, e.g. to standardise the columns of a data matrix:

# %%
data = mg.randn(100, 3) * mg.tensor([1.0, 5.0, 0.1]) + mg.tensor([0.0, 10.0, -3.0])
mu = data.mean(dim=0, keepdim=True)       # (1, 3)
sd = data.std(dim=0, keepdim=True)        # (1, 3)
z = (data - mu) / sd                      # (100, 3) - (1, 3): broadcast
print("means", mu.numpy().round(2), "->", z.mean(0).numpy().round(4))
print("stds ", sd.numpy().round(2), "->", z.std(0).numpy().round(4))

# %% [markdown]
# ## numpy interop
#
# - `t.numpy()` returns the array inside a CPU tensor (no copy: they share memory);
# - `mg.from_numpy(arr)` wraps an array without copying; `mg.tensor(arr)` copies it;
# - numpy functions accept tensors (`np.asarray(t)`), and `array * tensor` gives a tensor.

# %%
arr = np.arange(4.0)
shared = mg.from_numpy(arr)
copied = mg.tensor(arr)
arr[0] = 100.0
print("from_numpy sees the change:", shared[0].item(), "| tensor() does not:", copied[0].item())
print(np.sqrt(copied), type(np.asarray(copied)).__name__, np.ones(4) * copied)

# %% [markdown]
# dtypes are numpy dtypes (`mg.float32 is np.dtype("float32")`), and `.to()` converts:

# %%
h = mg.tensor([1.5, 2.5]).to(mg.float64)
print(h.dtype, h.double().dtype, h.long(), mg.float32 == np.float32)

# %% [markdown]
# ## Exercises
#
# Fill in each function in the next cell (each raises `NotImplementedError` until you do), then run
# it: `check` applies the same assertions the test suite applies to the reference answers, and prints
# `ok`, `not yet` or `wrong` (with the values that differ) for every exercise.
#
# 1. `outer(a, b)`: the outer product $c_{ij} = a_i b_j$ of two 1-D tensors, with broadcasting only (no `matmul`).
# 2. `pairwise_sq_dists(x, y)`: for `x` of shape `(n, d)` and `y` of shape `(m, d)` return the
#    `(n, m)` tensor $D_{ij} = \lVert x_i - y_j \rVert^2$ using broadcasting (hint: `x[:, None, :] - y[None, :, :]`).
# 3. `standardize(x)`: zero mean and unit (population) standard deviation per column.
#
# **Questions to think about.** How much memory does `pairwise_sq_dists` use for $n = m = 10^4$,
# $d = 512$ in float32, and how does $\lVert x\rVert^2 - 2x\cdot y + \lVert y\rVert^2$ avoid it?
# What goes wrong in `standardize` for a column that is constant?

# %%
from practice import check


def outer(a, b):
    """a: (n,), b: (m,) -> (n, m) with out[i, j] = a[i] * b[j]."""
    raise NotImplementedError("your code here")


def pairwise_sq_dists(x, y):
    """x: (n, d), y: (m, d) -> (n, m) with D[i, j] = ||x[i] - y[j]||^2."""
    raise NotImplementedError("your code here")


def standardize(x):
    """x: (n, d) -> (n, d), each column shifted to mean 0 and scaled to standard deviation 1."""
    raise NotImplementedError("your code here")


check("01", outer=outer, pairwise_sq_dists=pairwise_sq_dists, standardize=standardize)
