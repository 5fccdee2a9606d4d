# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · Gradient checking
#
# **What you will learn**
# - how to estimate a derivative with **finite differences**, and how accurate that estimate is;
# - why gradient checks are done in `float64`;
# - how to write your own differentiable op (a `minigrad.autograd.Function`) and prove its backward right with `minigrad.gradcheck`.
#
# A wrong backward does not crash: training just goes worse, silently. Checking every op against
# finite differences is the cheapest insurance there is.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import minigrad as mg
from minigrad.autograd import Function
from helpers import show  # prints a library object's source (tutorials/helpers.py)

FAST = os.environ.get("MINIGRAD_FAST") == "1"
_ = mg.manual_seed(0)

# %% [markdown]
# ## Finite differences
#
# The derivative is a limit, $f'(x) = \lim_{\varepsilon\to 0} \frac{f(x+\varepsilon) - f(x)}{\varepsilon}$.
# Taking a small but finite $\varepsilon$ in the **central** difference
#
# $$f'(x) \approx \frac{f(x+\varepsilon) - f(x-\varepsilon)}{2\varepsilon}$$
#
# makes an error of order $\varepsilon^2$ (the $f''$ terms of the Taylor series cancel; the
# one-sided form makes an error of order $\varepsilon$). But $f$ itself is only computed to
# within a rounding error $\delta$ (about $10^{-7}$ relative in float32, $10^{-16}$ in float64),
# and dividing by $2\varepsilon$ magnifies it: the total error behaves like
#
# $$\text{error}(\varepsilon) \approx C\varepsilon^2 + \frac{\delta}{\varepsilon}.$$
#
# ## Experiment: the error against $\varepsilon$, float32 vs float64

# %%
def central_difference(f, x, eps):
    return (f(x + eps) - f(x - eps)) / (2 * eps)


x0 = 0.7
exact = np.cos(x0) * np.exp(np.sin(x0))          # d/dx exp(sin x)
epsilons = np.logspace(-12, -0.5, 60)
errors = {}
for dtype in (np.float32, np.float64):
    f = lambda x, dt=dtype: np.exp(np.sin(dt(x)))  # noqa: E731  (compute f in this precision)
    errors[dtype.__name__] = [abs(float(central_difference(f, dtype(x0), dtype(e))) - exact) for e in epsilons]

plt.figure(figsize=(6.5, 3.5))
for name, err in errors.items():
    plt.loglog(epsilons, np.maximum(err, 1e-17), ".-", label=name)
plt.xlabel("epsilon")
plt.ylabel("|numeric - exact|")
plt.title("central differences: truncation (right) vs rounding (left)")
plt.legend()
plt.show()
for name, err in errors.items():
    i = int(np.argmin(err))
    print(f"{name}: best error {err[i]:.1e} at eps = {epsilons[i]:.0e}")

# %% [markdown]
# **The flat float32 line at the left.** float32 keeps 24 significant bits, so next to $0.7$ its
# numbers are $2^{-24} \approx 6\times10^{-8}$ apart (`np.spacing(np.float32(0.7))`). For $\varepsilon$ below
# half that spacing, about $3\times10^{-8}$, `x0 + eps` and `x0 - eps` are both rounded back to
# `x0`. The numerator is then exactly 0, the "derivative" is 0, and the error is simply
# $|0 - f'(x_0)| = \cos(0.7)\,e^{\sin 0.7} \approx 1.46$, whatever $\varepsilon$ is. (Just above that, the
# numerator is a difference of a few rounding units, so the estimate jumps around.) float64 hits the same wall near $10^{-16}$, left of the plot.
#
# In float32 the rounding term is so large that the curve bottoms out orders of magnitude above
# float64's (compare the two printed minima), and only at a large $\varepsilon$ where the truncation
# error is already growing: the tolerance needed would hide real but small bugs. In float64 the
# error stays around $10^{-9}$ or better for $\varepsilon$ between about $10^{-7}$ and $10^{-4}$. That is why
# `minigrad.gradcheck` insists on float64 inputs and
# uses $\varepsilon = 10^{-6}$ by default.

# %% [markdown]
# ## `minigrad.gradcheck`
#
# For a function with many outputs, `gradcheck` first reduces the output to a scalar with fixed
# random weights $w$, $s = \sum_k w_k\, y_k$, so one backward pass gives the analytic gradient
# $\partial s / \partial x$. Then it perturbs every input element in turn and compares with the
# central difference, within `atol + rtol * |numeric|`:

# %%
show(mg.gradcheck, 50)

# %% [markdown]
# Every op in minigrad passes it, for example a small network's loss with respect to its weights:

# %%
x = mg.randn(5, 4, dtype=mg.float64)
W = mg.randn(4, 3, dtype=mg.float64, requires_grad=True)
b = mg.randn(3, dtype=mg.float64, requires_grad=True)
target = mg.tensor([0, 2, 1, 1, 0])
print(mg.gradcheck(lambda W, b: mg.nn.functional.cross_entropy((x @ W + b).tanh(), target), (W, b)))

# %% [markdown]
# and it refuses float32 inputs, with a message that says why:

# %%
try:
    mg.gradcheck(lambda t: t.exp(), mg.randn(3, requires_grad=True))
except AssertionError as e:
    print(type(e).__name__, "-", e)

# %% [markdown]
# ## Your own op: softsign
#
# $$\operatorname{softsign}(x) = \frac{x}{1 + |x|}, \qquad \frac{d}{dx}\operatorname{softsign}(x) = \frac{1}{(1 + |x|)^2}.$$
#
# A `Function` needs a `forward` on raw arrays and a `backward` that maps the output gradient
# $\bar y$ (a Tensor) to the input gradient. Values the backward needs are read from
# `self.inputs` (or kept on `self` during forward). Let us first write it **with a bug**:
# we forget the square.

# %%
class SoftsignBuggy(Function):
    def forward(self, x):
        return x / (1 + abs(x))

    def backward(self, gy):
        (x,) = self.inputs
        return gy / (1 + x.abs())          # wrong: should be (1 + |x|) ** 2


xin = mg.randn(6, dtype=mg.float64, requires_grad=True)
try:
    mg.gradcheck(lambda t: SoftsignBuggy()(t), xin)
except AssertionError as e:
    print("caught:", e)


# %% [markdown]
# The check names the input, the worst element and both values. Fixing the derivative:

# %%
class Softsign(Function):
    def forward(self, x):
        return x / (1 + abs(x))

    def backward(self, gy):
        (x,) = self.inputs
        return gy / (1 + x.abs()) ** 2


def softsign(x):
    return Softsign()(x)


print("gradcheck:", mg.gradcheck(softsign, xin))
print("gradgradcheck (second derivative, since backward uses Tensor ops):", mg.gradgradcheck(softsign, xin))

# %% [markdown]
# Because `backward` was written with Tensor ops, minigrad can differentiate through it again
# (`create_graph=True`), which `gradgradcheck` verifies. Our op is now a first-class citizen:

# %%
xs = mg.linspace(-6, 6, 200, requires_grad=True)
ys = softsign(xs)
ys.sum().backward()
plt.figure(figsize=(6, 3))
plt.plot(xs.detach().numpy(), ys.detach().numpy(), label="softsign(x)")
plt.plot(xs.detach().numpy(), xs.grad.numpy(), label="its derivative (autograd)")
plt.plot(xs.detach().numpy(), np.tanh(xs.detach().numpy()), "--", label="tanh(x), for comparison")
plt.legend()
plt.show()

# %% [markdown]
# ## Exercises
#
# Fill in each function in the next cell (each raises `NotImplementedError` until you do), then run
# it: `check` applies the same assertions the test suite applies to the reference answers, and prints
# `ok`, `not yet` or `wrong` (with the values that differ) for every exercise.
#
# 1. `numeric_grad(f, x, eps=1e-6)`: the central-difference gradient of a scalar numpy function `f` at the array `x` (any shape).
# 2. `Hypot`: a two-input `Function` for $\sqrt{a^2 + b^2}$ with $\partial/\partial a = a / \sqrt{a^2+b^2}$; pass `mg.gradcheck`.
# 3. `LogCosh`: $\log\cosh x$ (a smooth L1 loss) with derivative $\tanh x$, finite for $x = 400$
#    (where `cosh` overflows); pass `gradcheck` and `gradgradcheck`.
#
# **Questions to think about.** Run `gradcheck` on `SoftsignBuggy` in float32 with a tolerance
# loose enough to accept float32's rounding: does it still catch the bug? What does `Hypot`'s
# gradient do at $a = b = 0$, and what should it return there?

# %%
from practice import check


def numeric_grad(f, x, eps=1e-6):
    """f: numpy array -> float; x: array, any shape -> the array of central differences, x's shape."""
    raise NotImplementedError("your code here")


class Hypot(Function):
    def forward(self, a, b):
        raise NotImplementedError("your code here")

    def backward(self, gy):
        raise NotImplementedError("your code here")


class LogCosh(Function):
    def forward(self, x):
        raise NotImplementedError("your code here")

    def backward(self, gy):
        raise NotImplementedError("your code here")


check("03", numeric_grad=numeric_grad, Hypot=Hypot, LogCosh=LogCosh)
