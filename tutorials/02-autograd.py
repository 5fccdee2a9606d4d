# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Autograd from scratch
#
# **What you will learn**
# - a computation is a graph of small operations; **backpropagation** is the chain rule applied to that graph from the output back;
# - how to build a working reverse-mode autograd for scalars in about 40 lines;
# - how minigrad grows the same idea to tensors: `Function.forward` / `Function.backward`, `grad_fn`, topological order;
# - how to look at the graph with `minigrad.viz.draw`.

# %%
import math
import os

import matplotlib.pyplot as plt
import numpy as np

import minigrad as mg
from minigrad.viz import draw
from helpers import show  # prints a library object's source (tutorials/helpers.py)

FAST = os.environ.get("MINIGRAD_FAST") == "1"
_ = mg.manual_seed(0)

# %% [markdown]
# ## The chain rule on a graph
#
# Take $L = (a b + c)^2$. Name the intermediate values: $d = ab$, $e = d + c$, $L = e^2$.
# Each node knows only its **local derivative**; the chain rule multiplies them along the path:
#
# $$\frac{\partial L}{\partial a} = \frac{\partial L}{\partial e}\,\frac{\partial e}{\partial d}\,\frac{\partial d}{\partial a}
#   = 2e \cdot 1 \cdot b .$$
#
# Going **backward** from $L$, every node receives $\bar v = \partial L / \partial v$ (its "gradient")
# and passes $\bar v \cdot \partial v / \partial u$ to each input $u$. When a value feeds several
# nodes, the contributions **add up**:
#
# $$\bar u = \sum_{v \,\in\, \text{consumers}(u)} \bar v \, \frac{\partial v}{\partial u}.$$
#
# One backward pass gives the derivative of $L$ with respect to **every** input, at about the cost of
# one forward pass. That is why training networks with millions of weights is possible.

# %% [markdown]
# ## A scalar autograd in 40 lines
#
# Each `Value` stores its number, its gradient, the values it was made from, and a closure
# `_backward` that applies the local derivatives. `backward()` orders the graph so that every node
# comes after all of its consumers, then calls the closures in that order.

# %%
class Value:
    def __init__(self, data, parents=(), op=""):
        self.data, self.grad = float(data), 0.0
        self._parents, self._op = parents, op
        self._backward = lambda: None

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():                      # d(a+b)/da = 1, d(a+b)/db = 1
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():                      # d(ab)/da = b, d(ab)/db = a
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def tanh(self):
        t = math.tanh(self.data)
        out = Value(t, (self,), "tanh")

        def _backward():                      # d tanh(x)/dx = 1 - tanh(x)^2
            self.grad += (1 - t * t) * out.grad
        out._backward = _backward
        return out

    __radd__, __rmul__ = __add__, __mul__

    def backward(self):
        order, seen = [], set()

        def visit(v):                         # depth-first: parents before children
            if v not in seen:
                seen.add(v)
                for p in v._parents:
                    visit(p)
                order.append(v)
        visit(self)
        self.grad = 1.0                       # dL/dL
        for v in reversed(order):             # children before parents: the chain rule
            v._backward()

    def __repr__(self):
        return f"Value(data={self.data:.4f}, grad={self.grad:.4f})"


# %% [markdown]
# A single neuron, $y = \tanh(w_1 x_1 + w_2 x_2 + b)$:

# %%
x1, x2, w1, w2, b = Value(2.0), Value(-1.0), Value(0.5), Value(-0.3), Value(0.1)
y = (w1 * x1 + w2 * x2 + b).tanh()
y.backward()
print("y =", y)
for name, v in [("w1", w1), ("w2", w2), ("b", b), ("x1", x1)]:
    print(f"dy/d{name} = {v.grad:+.6f}")

# %% [markdown]
# The same computation in minigrad gives the same numbers. minigrad's tensors work exactly like
# `Value`, except that every node holds a whole array:

# %%
X1, X2 = mg.tensor(2.0, dtype=mg.float64), mg.tensor(-1.0, dtype=mg.float64)
W1, W2, B = (mg.tensor(v, dtype=mg.float64, requires_grad=True) for v in (0.5, -0.3, 0.1))
Y = (W1 * X1 + W2 * X2 + B).tanh()
Y.backward()
print("y =", Y.item(), "| dy/dw1 =", W1.grad.item(), "| dy/dw2 =", W2.grad.item(), "| dy/db =", B.grad.item())
assert abs(W1.grad.item() - w1.grad) < 1e-12

# %% [markdown]
# ## From scalars to tensors: `Function`
#
# In minigrad every differentiable op is a subclass of `minigrad.autograd.Function` with two methods:
#
# - `forward(*arrays)` computes the result on raw numpy (or CuPy) arrays;
# - `backward(gy)` receives $\bar y = \partial L/\partial y$ (a Tensor, same shape as $y$) and returns one gradient per input.
#
# For an elementwise product $y = a \odot b$ the local rule is $\bar a = \bar y \odot b$, $\bar b = \bar y \odot a$,
# followed by `sum_to` to undo any broadcasting (chapter 01):

# %%
show(mg.ops.elementwise.Mul)

# %% [markdown]
# For a matrix product $Y = AB$ the same reasoning gives $\bar A = \bar Y B^\top$ and $\bar B = A^\top \bar Y$:

# %%
from minigrad.ops.matmul import MatMul

show(MatMul)

# %% [markdown]
# Calling a `Function` runs `forward` and, when an input requires a gradient, records the
# function as the output's `grad_fn` and keeps its `inputs`. That record **is** the graph.
# `backward()` then sorts the functions so that each comes after everything that consumes its
# output (a depth-first search, like `Value.backward`, written with an explicit stack so that a
# 10,000-op chain needs no recursion). The same walk notes each node's edges (where its gradients go)
# and the leaves; a leaf's `AccumulateGrad` node comes right after the last node that uses it:

# %%
show(mg.autograd_engine._topological_order)

# %% [markdown]
# and walks them, adding each input's gradient into a dictionary until all consumers have
# contributed; leaves receive theirs in `.grad`. The heart of `run_backward`:
#
# ```python
# grads = {root.grad_fn: gradient}
# order, edges, leaves = _topological_order([root.grad_fn])
# for node in order:
#     gy = grads.pop(node)               # every consumer has added its share by now
#     if type(node) is AccumulateGrad:   # a leaf: accumulate into leaf.grad
#         node.accumulate(gy)
#         continue
#     gxs = node.backward(gy)            # local derivatives times gy
#     for (target, _), gx in zip(edges[node], gxs):
#         grads[target] = grads.get(target, 0) + gx   # pass it on to the node that made the input
# ```
#
# The real loop (`minigrad/autograd_engine.py`) adds hooks, nodes with several outputs and
# `grad(inputs=...)` on top of these lines.

# %% [markdown]
# ## Seeing the graph
#
# `minigrad.viz.draw(t)` draws the graph behind `t`: one box per Function (blue) or leaf
# (green: requires grad, grey: a constant), with shape, dtype and device. After a backward pass
# that kept the graph (`retain_graph=True`), a box also shows the norm of its tensor's `.grad`.
# Only leaves keep a `.grad` by default: the gradients of intermediate tensors are passed on and
# dropped, to save memory. `h.retain_grad()` asks autograd to keep one, as in PyTorch; here the
# hidden activation `h` and the loss keep theirs, so their boxes show a norm too, and the matrix
# product and addition in between, which were not asked, show none.

# %%
x = mg.randn(4, 3)
W = mg.randn(3, 2, requires_grad=True)
b = mg.zeros(2, requires_grad=True)
h = (x @ W + b).tanh()
h.retain_grad()            # keep dL/dh after backward (intermediate gradients are dropped otherwise)
loss = (h ** 2).mean()
loss.retain_grad()         # dL/dL = 1
loss.backward(retain_graph=True)
print("|dL/dh| =", float(np.linalg.norm(h.grad.numpy())), "| |dL/dW| =", float(np.linalg.norm(W.grad.numpy())))
draw(loss, names={"x": x, "W": W, "b": b, "h": h, "loss": loss})

# %% [markdown]
# Values or gradients that hold NaN or inf are drawn in red, which makes it easy to find the op
# where a computation went wrong. Here `log` receives a zero:

# %%
p = mg.tensor([0.5, 0.0, 0.25], requires_grad=True)
with np.errstate(divide="ignore", invalid="ignore"):
    entropy = -(p * p.log()).sum()
draw(entropy, names={"p": p})

# %% [markdown]
# ## Experiment: derivatives of a whole curve in one pass
#
# Because `backward` handles arrays, evaluating $f$ at 400 points and calling `backward` on
# $\sum_i f(x_i)$ gives $f'(x_i)$ at every point at once (each $x_i$ affects only its own term).
# Compare with the derivative worked out by hand,
# $f(x) = \sin(x)\,e^{-x^2/4}$, $\;f'(x) = \big(\cos x - \tfrac{x}{2}\sin x\big)\,e^{-x^2/4}$.

# %%
xs = mg.linspace(-6, 6, 400, dtype=mg.float64, requires_grad=True)
f = xs.sin() * (-(xs ** 2) / 4).exp()
f.sum().backward()
xn = xs.detach().numpy()
by_hand = (np.cos(xn) - xn / 2 * np.sin(xn)) * np.exp(-xn ** 2 / 4)
print("largest difference autograd vs by hand:", np.abs(xs.grad.numpy() - by_hand).max())

plt.figure(figsize=(7, 3))
plt.plot(xn, f.detach().numpy(), label="f(x)")
plt.plot(xn, xs.grad.numpy(), label="f'(x) by autograd")
plt.plot(xn[::20], by_hand[::20], "k.", label="f'(x) by hand")
plt.axhline(0, color="grey", lw=0.5)
plt.legend()
plt.title("one backward pass, 400 derivatives")
plt.show()

# %% [markdown]
# ## Gradients accumulate
#
# `.grad` is **added to** by every backward pass (that is how a value used twice gets the sum of
# its contributions). In a training loop you therefore reset gradients before each step, which is
# what `optimizer.zero_grad()` does.

# %%
w = mg.tensor([1.0, 2.0], requires_grad=True)
for _ in range(3):
    (w * w).sum().backward()
    print(w.grad)
w.grad = None  # reset

# %% [markdown]
# ## Exercises
#
# Fill in each function in the next cell (each raises `NotImplementedError` until you do), then run
# it: `check` applies the same assertions the test suite applies to the reference answers, and prints
# `ok`, `not yet` or `wrong` (with the values that differ) for every exercise.
#
# 1. Give the scalar `Value` class `__pow__` (integer exponent), `relu` and `exp`, each with its
#    local derivative (the check compares $L = \mathrm{relu}(a^3 + e^{b})\cdot a$ and its gradients with minigrad).
# 2. `linear_backward(x, W, gy)`: for $y = xW + b$ with $x$ of shape $(n, d)$ and $W$ of shape $(d, k)$,
#    return $(\bar x, \bar W, \bar b)$ computed by hand with numpy, given $\bar y$.
# 3. `grad_at(f, x)`: $f'(x)$ for a Python float `x`, using minigrad (float64).
#
# **Questions to think about.** Why does `Value.backward` need the topological order: what goes
# wrong if it simply recursed into the parents? In `(w * w).sum()`, which node receives two
# contributions, and where in the code are they added?

# %%
from practice import check


def value_pow(self, k):
    """self ** k for an int k: a new Value whose _backward adds k * self.data ** (k - 1) * out.grad."""
    raise NotImplementedError("your code here")


def value_relu(self):
    """max(self, 0): the gradient passes where the input was positive."""
    raise NotImplementedError("your code here")


def value_exp(self):
    """e ** self: its derivative is its own value."""
    raise NotImplementedError("your code here")


Value.__pow__, Value.relu, Value.exp = value_pow, value_relu, value_exp


def linear_backward(x, W, gy):
    """x: (n, d), W: (d, k), gy: (n, k) -> (dx (n, d), dW (d, k), db (k,)) for y = x W + b."""
    raise NotImplementedError("your code here")


def grad_at(f, x):
    """f'(x) for a Python float x, where f maps a minigrad tensor to a scalar tensor."""
    raise NotImplementedError("your code here")


check("02", Value=Value, linear_backward=linear_backward, grad_at=grad_at)
