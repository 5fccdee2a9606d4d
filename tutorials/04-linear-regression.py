# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · Linear regression with gradient descent
#
# **What you will learn**
# - the simplest model, $y = mx + b$, and its loss, the mean squared error (MSE);
# - **gradient descent**: $\theta_{t+1} = \theta_t - \alpha \nabla J(\theta_t)$, first with gradients by hand, then with autograd;
# - the same model as a minigrad `nn.Linear` trained by `optim.SGD` (the Keras `Dense(1)` with `optimizer='sgd'`, `loss='mean_squared_error'`);
# - what the learning rate $\alpha$ does, watched on the loss surface.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import minigrad as mg
import minigrad.nn as nn

FAST = os.environ.get("MINIGRAD_FAST") == "1"
_ = mg.manual_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## The data and the model
#
# We draw $n$ points from a line $y = 3x + 2$ with noise, and look for the $m$ and $b$ that fit them best:
#
# $$\hat y_i = m x_i + b, \qquad
#   J(m, b) = \mathrm{MSE} = \frac{1}{n}\sum_{i=1}^{n}(y_i - \hat y_i)^2 .$$

# %%
n = 100
x = rng.uniform(-1, 1, n).astype(np.float32)
y = (3 * x + 2 + rng.normal(0, 0.3, n)).astype(np.float32)
plt.figure(figsize=(5, 3))
plt.scatter(x, y, s=10)
plt.title("noisy samples of y = 3x + 2")
plt.show()

# %% [markdown]
# ## Gradient descent, by hand
#
# Differentiating $J$ (chain rule on $(y_i - m x_i - b)^2$):
#
# $$\frac{\partial J}{\partial m} = -\frac{2}{n}\sum_i x_i\,(y_i - \hat y_i), \qquad
#   \frac{\partial J}{\partial b} = -\frac{2}{n}\sum_i (y_i - \hat y_i).$$
#
# Gradient descent repeatedly steps against the gradient, with learning rate $\alpha$:
#
# $$m \leftarrow m - \alpha \frac{\partial J}{\partial m}, \qquad b \leftarrow b - \alpha \frac{\partial J}{\partial b}.$$

# %%
def gd_by_hand(x, y, lr=0.1, steps=100):
    m, b, path = 0.0, 0.0, []
    for _ in range(steps):
        err = y - (m * x + b)
        path.append((m, b, float(np.mean(err ** 2))))
        m -= lr * (-2 * np.mean(x * err))
        b -= lr * (-2 * np.mean(err))
    return m, b, np.array(path)


m_hand, b_hand, path_hand = gd_by_hand(x, y)
print(f"by hand: m = {m_hand:.4f}, b = {b_hand:.4f}, final MSE = {path_hand[-1, 2]:.4f}")

# %% [markdown]
# ## The same with autograd
#
# minigrad computes the two derivatives for us. Updates happen under `mg.no_grad()` (they are not
# part of the model), and `.grad` is reset after each step (gradients accumulate, chapter 02).

# %%
X, Y = mg.tensor(x), mg.tensor(y)
m = mg.tensor(0.0, requires_grad=True)
b = mg.tensor(0.0, requires_grad=True)
lr = 0.1
for step in range(100):
    loss = ((Y - (m * X + b)) ** 2).mean()
    loss.backward()
    with mg.no_grad():
        m.sub_(lr * m.grad)  # in place: m stays the same leaf tensor
        b.sub_(lr * b.grad)
    m.grad = b.grad = None
print(f"autograd: m = {m.item():.4f}, b = {b.item():.4f}, MSE = {loss.item():.4f}")
assert abs(m.item() - m_hand) < 1e-4 and abs(b.item() - b_hand) < 1e-4

# %% [markdown]
# ## The same with layers: `nn.Linear`, `nn.MSELoss`, `optim.SGD`
#
# `nn.Linear(1, 1)` holds a $1\times1$ weight ($m$) and a bias ($b$); `optim.SGD` applies the
# update rule above to every parameter. This is the seeds' Keras regression
# (`Dense(units=1, input_shape=(1,))`, `compile(optimizer='sgd', loss='mean_squared_error')`)
# written the PyTorch way. We snapshot the line while it fits.

# %%
model = nn.Linear(1, 1)
opt = mg.optim.SGD(model.parameters(), lr=0.1)
loss_fn = nn.MSELoss()
Xc, Yc = X.reshape(-1, 1), Y.reshape(-1, 1)
history, snapshots = [], {}
for step in range(100):
    loss = loss_fn(model(Xc), Yc)
    opt.zero_grad()
    loss.backward()
    opt.step()
    history.append(loss.item())
    if step in (0, 2, 5, 10, 25, 99):
        snapshots[step] = (model.weight.item(), model.bias.item())
print(f"nn.Linear: m = {model.weight.item():.4f}, b = {model.bias.item():.4f}")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
ax1.scatter(x, y, s=8, color="grey")
line = np.array([-1, 1])
for i, (step, (mm, bb)) in enumerate(snapshots.items()):
    ax1.plot(line, mm * line + bb, color=plt.cm.viridis(i / len(snapshots)), label=f"step {step}")
ax1.legend(fontsize=8)
ax1.set_title("the line as it fits")
ax2.plot(history)
ax2.set_yscale("log")
ax2.set_xlabel("step")
ax2.set_ylabel("MSE")
ax2.set_title("training loss")
plt.tight_layout()
plt.show()

# %% [markdown]
# For a straight line there is also a closed form (least squares, exercise 1); gradient descent
# matters because it works just as well for models with millions of parameters, where no formula exists.
#
# ## Experiment: the learning rate on the loss surface
#
# $J(m, b)$ is a bowl: a quadratic whose curvature is the Hessian
#
# $$H = \frac{2}{n}\begin{pmatrix} \sum x_i^2 & \sum x_i \\ \sum x_i & n \end{pmatrix},$$
#
# the same at every point. Along the eigenvector of its largest eigenvalue $\lambda_{\max}$ (the
# steepest direction) one step multiplies the distance to the minimum by $1 - \alpha\lambda_{\max}$.
# For $\alpha < 1/\lambda_{\max}$ that factor is positive: the path slides down without overshooting.
# Between $1/\lambda_{\max}$ and $2/\lambda_{\max}$ it is negative but smaller than 1 in size: every
# step jumps across the valley and lands a little closer, a **zigzag** that converges. Beyond
# $2/\lambda_{\max}$ each jump lands farther out, and the run **diverges**.

# %%
H = 2 * np.array([[np.mean(x * x), np.mean(x)], [np.mean(x), 1.0]])
lam_max = np.linalg.eigvalsh(H).max()
print(f"lambda_max = {lam_max:.3f}: slides for lr < {1 / lam_max:.3f}, zigzags up to {2 / lam_max:.3f}, diverges beyond")

ms, bs = np.meshgrid(np.linspace(-1, 6, 120), np.linspace(-2, 5, 120))
J = ((y[None, None, :] - (ms[..., None] * x + bs[..., None])) ** 2).mean(-1)
plt.figure(figsize=(6.5, 5.5))
plt.contour(ms, bs, J, levels=np.logspace(-1.5, 1.5, 20), cmap="Greys")
rates = [(0.02, "tab:blue", "crawls"), (0.3, "tab:green", "slides"),
         (round(0.9 * 2 / lam_max, 3), "tab:orange", "zigzags, converges"),
         (round(1.1 * 2 / lam_max, 3), "tab:red", "diverges")]
for lr, color, what in rates:
    _, _, path = gd_by_hand(x, y, lr=lr, steps=30)
    plt.plot(path[:, 0], path[:, 1], ".-", color=color, lw=1, alpha=0.6 if what == "diverges" else 1,
             label=f"lr = {lr} ({what}): MSE after 30 steps {path[-1, 2]:.3g}")
plt.xlim(ms.min(), ms.max())  # the diverging path leaves the plot: keep the axes on the bowl
plt.ylim(bs.min(), bs.max())
plt.xlabel("m")
plt.ylabel("b")
plt.legend(fontsize=7, loc="lower right")
plt.title(f"30 gradient-descent steps from (0, 0); 2 / lambda_max = {2 / lam_max:.3f}")
plt.show()

# %% [markdown]
# The orange path crosses the valley at every step and still settles on the minimum; the red
# one, only 20 % faster, crosses farther each time and leaves the picture (its MSE in the legend).
# Along the flat direction (the smaller eigenvalue) all four move slowly: how fast gradient
# descent converges is set by the ratio $\lambda_{\max}/\lambda_{\min}$, the *condition number*.

# %% [markdown]
# ## Exercises
#
# Fill in each function in the next cell (each raises `NotImplementedError` until you do), then run
# it: `check` applies the same assertions the test suite applies to the reference answers, and prints
# `ok`, `not yet` or `wrong` (with the values that differ) for every exercise.
#
# 1. `closed_form(x, y)`: the least-squares $(m, b)$: $m = \frac{\sum (x_i-\bar x)(y_i - \bar y)}{\sum (x_i - \bar x)^2}$, $b = \bar y - m \bar x$.
# 2. `gd_step(m, b, x, y, lr)`: one gradient-descent step by hand, returning the new `(m, b)`.
# 3. `fit(x, y, lr, steps)`: fit $(m, b)$ with minigrad autograd and `optim.SGD`, returning floats.
#
# **Questions to think about.** Compute $\lambda_{\max}$ for data with $x$ in $[-10, 10]$ instead of
# $[-1, 1]$: which learning rates still converge? Standardising $x$ first changes the Hessian how?
# With momentum, where is the divergence threshold?

# %%
from practice import check


def closed_form(x, y):
    """x, y: (n,) numpy arrays -> (m, b) minimising the mean squared error."""
    raise NotImplementedError("your code here")


def gd_step(m, b, x, y, lr):
    """One step of gradient descent on the MSE of m * x + b; returns the new (m, b)."""
    raise NotImplementedError("your code here")


def fit(x, y, lr=0.1, steps=100):
    """(m, b) as Python floats after `steps` steps of optim.SGD on nn.Linear(1, 1) (or two tensors)."""
    raise NotImplementedError("your code here")


check("04", closed_form=closed_form, gd_step=gd_step, fit=fit)
