# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 18 · Initialisation, batch normalisation and residual connections
#
# **What you will learn**
# - why a deep network's **initial weights** decide whether it can learn at all: activations and
#   gradients that shrink or blow up from layer to layer, seen as per-layer statistics;
# - the scale that keeps them steady (**Xavier/Glorot** for tanh, **Kaiming/He** for ReLU) and where it comes from;
# - **batch normalisation**: re-standardising every layer's input during training, and why it makes a bad initialisation harmless;
# - **residual connections** $y = x + F(x)$: an identity path that gradients travel unharmed;
# - an experiment: a small ResNet on MNIST, trained with and without BatchNorm and skip connections.

# %%
import os
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
x_train = ((x_train.astype(np.float32) / 255 - 0.1307) / 0.3081)[:, None]   # (N, 1, 28, 28), standardised
x_test = ((x_test.astype(np.float32) / 255 - 0.1307) / 0.3081)[:, None]
y_train, y_test = y_train.astype(np.int64), y_test.astype(np.int64)

# %% [markdown]
# ## How the scale of the weights compounds
#
# A linear layer computes $y_j = \sum_{i=1}^{n} w_{ji} x_i$ over its $n$ inputs (its *fan-in*).
# With independent, zero-mean weights of variance $\sigma^2$ and inputs of second moment $E[x^2]$,
#
# $$\operatorname{Var}(y_j) = n\,\sigma^2\,E[x^2].$$
#
# Every layer multiplies the signal's variance by $n\sigma^2$ (times what the nonlinearity keeps).
# After $L$ layers the factor is $(n\sigma^2)^L$: for $n\sigma^2 = 2$ and 20 layers about a million,
# for $n\sigma^2 = 0.5$ about a millionth. The backward pass multiplies gradients by the transposed
# weights, so they grow or shrink the same way. The cure is to pick $\sigma$ so that the factor is 1:
#
# - **tanh** (near 0 it is the identity, and it squashes the rest): $\sigma^2 = 1/n$ (Xavier/Glorot,
#   often with a *gain* of $5/3$ to make up for the squashing);
# - **ReLU** (zeroes half of its inputs, so keeps half the second moment): $\sigma^2 = 2/n$ (Kaiming/He).
#
# ## Experiment: activation and gradient statistics per layer
#
# A 10-layer MLP with 256 tanh units per layer, on one batch of 512 MNIST images, with three
# initialisations of the weights: too small ($\sigma = 0.01$), too large ($\sigma = 1$), and
# Xavier with gain $5/3$. We keep every hidden layer's output with `retain_grad()` (chapter 02), run
# forward and backward once, and look at the distribution of the activations and of their gradients.

# %%
def deep_mlp(std=None, batchnorm=False, depth=10, width=256):
    """784 -> depth x (Linear, [BatchNorm1d], Tanh) -> 10; std=None: Xavier with gain 5/3."""
    mg.manual_seed(0)
    layers, fan_in = [nn.Flatten()], 784
    for _ in range(depth):
        linear = nn.Linear(fan_in, width, bias=not batchnorm)  # BatchNorm's shift replaces the bias
        with mg.no_grad():
            linear.weight.normal_(0, std if std is not None else 5 / 3 / np.sqrt(fan_in))
        layers += [linear] + ([nn.BatchNorm1d(width)] if batchnorm else []) + [nn.Tanh()]
        fan_in = width
    layers.append(nn.Linear(width, 10))
    return nn.Sequential(*layers)


def layer_stats(model, x, y):
    """Forward and backward once; the output and the gradient of every Tanh layer, as numpy arrays."""
    acts, h = [], mg.tensor(x)
    for layer in model:
        h = layer(h)
        if isinstance(layer, nn.Tanh):
            h.retain_grad()
            acts.append(h)
    F.cross_entropy(h, mg.tensor(y)).backward()
    return [a.detach().numpy() for a in acts], [a.grad.numpy() for a in acts]


xb, yb = x_train[:512], y_train[:512]
setups = {"sigma = 0.01": dict(std=0.01), "sigma = 1": dict(std=1.0),
          "Xavier, gain 5/3": dict(), "sigma = 1 + BatchNorm": dict(std=1.0, batchnorm=True)}
stats = {name: layer_stats(deep_mlp(**kw), xb, yb) for name, kw in setups.items()}

fig, axes = plt.subplots(2, 4, figsize=(14, 5.5))
for col, (name, (acts, grads)) in enumerate(stats.items()):
    for k, (a, g) in enumerate(zip(acts, grads)):
        color = plt.cm.viridis(k / len(acts))
        hist, edges = np.histogram(a, bins=60, range=(-1, 1), density=True)
        axes[0, col].plot((edges[1:] + edges[:-1]) / 2, hist, color=color, label=f"layer {k + 1}")
        lim = np.abs(grads[len(grads) // 2]).max() * 3 + 1e-30
        hist, edges = np.histogram(g, bins=60, range=(-lim, lim), density=True)
        axes[1, col].plot((edges[1:] + edges[:-1]) / 2, hist, color=color)
    axes[0, col].set_title(name, fontsize=10)
    axes[1, col].ticklabel_format(axis="x", style="sci", scilimits=(-2, 2))
axes[0, 0].set_ylabel("activations (tanh outputs)")
axes[1, 0].set_ylabel("gradients dL/d(activation)")
axes[0, 3].legend(fontsize=6, ncol=2)
plt.tight_layout()
plt.show()

print(f"{'':24s}" + "".join(f"  layer {k + 1:<2d}" for k in range(0, 10, 3)))
for name, (acts, grads) in stats.items():
    print(f"{name:24s}" + "".join(f"  {a.std():8.3f}" for a in acts[::3]) + "   <- std of the activations")
    print(f"{'':24s}" + "".join(f"  {100 * (np.abs(a) > 0.97).mean():7.1f}%" for a in acts[::3])
          + "   <- saturated (|tanh| > 0.97)")
    print(f"{'':24s}" + "".join(f"  {g.std():8.1e}" for g in grads[::3]) + "   <- std of the gradients")

# %% [markdown]
# Read the columns left to right.
#
# - **$\sigma = 0.01$**: each layer multiplies the spread of its input by $\sqrt{256}\cdot 0.01 = 0.16$.
#   From the second layer on, the activations are a narrow spike whose width (about 0.036) is
#   that of the *biases* (PyTorch's default, uniform in $\pm 1/\sqrt{256}$): the layers no longer
#   depend on the image. Backward, each layer multiplies the gradient by 0.16 again, so the first
#   layer's gradient is some seven orders of magnitude below the last one's (printed above):
#   the early layers learn nothing.
# - **$\sigma = 1$**: the pre-activations have a spread of $\sqrt{256} = 16$, so about 90 % of the
#   tanh units are **saturated** at $\pm1$, where the derivative $1 - \tanh^2$ is nearly zero. The
#   units that are not saturated pass the gradient on multiplied by weights 16 times too large,
#   so the gradients *grow* on the way back, by some four orders of magnitude: the first layers
#   would take huge steps while most units cannot move at all.
# - **Xavier, gain 5/3**: the activations keep the same spread in every layer, about 5 % of the
#   units saturate after the first layer, and the gradients have about the same size in all
#   layers: every layer gets to learn.
# - **$\sigma = 1$ + BatchNorm**: the same bad weights as the second column, yet the statistics look
#   like the third: batch normalisation rescales every layer's pre-activations before the tanh.
#
# ## Batch normalisation
#
# For a batch of $N$ values of one feature (one unit, or one channel of a convolution, over all
# pixels), during training
#
# $$\mu = \frac{1}{N}\sum_i x_i, \qquad \sigma^2 = \frac{1}{N}\sum_i (x_i - \mu)^2, \qquad
#   y_i = \gamma\,\frac{x_i - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta .$$
#
# Whatever the weights did to the scale, the normalised value has mean 0 and variance 1; the
# learned $\gamma$ and $\beta$ give the layer back the freedom to choose its own scale and shift.
# Gradients flow through $\mu$ and $\sigma$ too, so one example's gradient depends on the rest of
# the batch. At evaluation there may be a single example: the layer then uses running averages of
# $\mu$ and $\sigma^2$ collected during training (`model.eval()` switches, as for dropout).

# %%
bn = nn.BatchNorm1d(3)
x = mg.randn(1000, 3) * mg.tensor([1.0, 10.0, 100.0]) + 5
y = bn(x)
print("input  mean", x.numpy().mean(0).round(2), " std", x.numpy().std(0).round(2))
print("output mean", y.detach().numpy().mean(0).round(4), " std", y.detach().numpy().std(0).round(4))
print("running mean after one batch (momentum 0.1):", bn.running_mean.numpy().round(3))

# %% [markdown]
# ## Residual connections
#
# A residual block computes $y = x + F(x)$: the layers learn a *correction* $F$ to the identity.
# The chain rule then gives
#
# $$\frac{\partial y}{\partial x} = I + \frac{\partial F}{\partial x},$$
#
# so the gradient arriving at $y$ reaches $x$ at least unchanged, whatever $F$ does. In a plain
# stack the gradient is a product of $L$ Jacobians and can vanish; with skips it is a sum over all
# paths, one of which goes straight through. Here is the gradient norm at each layer of a
# 40-layer ReLU MLP with PyTorch's default initialisation (uniform with variance $1/(3n)$, a third of
# what ReLU needs), with and without skips:

# %%
class Residual(nn.Module):
    def __init__(self, f):
        super().__init__()
        self.f = f

    def forward(self, x):
        return x + self.f(x)


readout = np.random.default_rng(1).normal(size=(256, 64)).astype(np.float32) / 256


def grad_norms(residual, depth=40, width=64):
    mg.manual_seed(0)
    layers = [nn.Sequential(nn.Linear(width, width), nn.ReLU()) for _ in range(depth)]
    if residual:
        layers = [Residual(f) for f in layers]
    h = mg.tensor(np.random.default_rng(0).normal(size=(256, width)).astype(np.float32))
    outs = []
    for layer in layers:
        h = layer(h)
        h.retain_grad()
        outs.append(h)
    (h * mg.tensor(readout)).sum().backward()   # a fixed linear read-out: dL/d(last output) = readout
    return [float(np.linalg.norm(o.grad.numpy())) for o in outs]


plt.figure(figsize=(6.5, 3.3))
plt.semilogy(range(1, 41), grad_norms(False), "o-", ms=3, label="plain: Linear, ReLU")
plt.semilogy(range(1, 41), grad_norms(True), "o-", ms=3, label="residual: x + ReLU(Linear(x))")
plt.xlabel("layer")
plt.ylabel("|dL / d(layer output)|")
plt.title("gradient at each layer of a 40-layer MLP, at initialisation")
plt.legend()
plt.grid(alpha=0.3)
plt.show()

# %% [markdown]
# The plain stack multiplies the gradient by about $\sqrt{1/6}$ per layer (a third of the variance
# ReLU needs, and ReLU keeps half), so 40 layers lose some fifteen orders of magnitude. In the
# residual stack every layer *adds* its branch's share to the identity, so the gradient cannot
# vanish; here it even grows on the way back, by some 15–20 % per layer (a factor of several
# hundred over 40 layers). Real ResNets keep that in check with a normalisation inside each block,
# or by starting the last layer of each $F$ near zero.
#
# ## Experiment: a small ResNet on MNIST, with and without BatchNorm and skips
#
# A stem (3×3 convolution to 16 channels, 2×2 pooling to 14×14), then six blocks of two 3×3
# convolutions (13 convolutions in all), global average pooling and one linear layer. Each block is
#
# $$\text{block}(x) = \mathrm{ReLU}\big(x + \mathrm{BN}(\mathrm{conv}(\mathrm{ReLU}(\mathrm{BN}(\mathrm{conv}(x)))))\big),$$
#
# and we switch the BatchNorm layers and the skip ($x\, +$) on and off: four networks with the
# same convolutions, trained with the same SGD (momentum 0.9, learning rate 0.05), data and steps.
# Full mode: 12,000 images for 2 epochs; fast mode: 512 images, one epoch.

# %%
class Block(nn.Module):
    def __init__(self, ch, batchnorm, skip):
        super().__init__()
        self.skip = skip
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1, bias=not batchnorm)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1, bias=not batchnorm)
        self.bn1 = nn.BatchNorm2d(ch) if batchnorm else nn.Identity()
        self.bn2 = nn.BatchNorm2d(ch) if batchnorm else nn.Identity()

    def forward(self, x):                          # x: (N, ch, H, W) -> (N, ch, H, W)
        out = self.bn2(self.conv2(self.bn1(self.conv1(x)).relu()))
        return (x + out).relu() if self.skip else out.relu()


def small_resnet(batchnorm, skip, blocks=6, ch=16, seed=0):
    mg.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, ch, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # (N, 16, 14, 14)
        *[Block(ch, batchnorm, skip) for _ in range(blocks)],
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(ch, 10),
    )


def evaluate(model, x, y):
    model.eval()
    with mg.no_grad():
        pred = np.concatenate([model(mg.tensor(x[i:i + 500])).argmax(1).numpy() for i in range(0, len(x), 500)])
    model.train()
    return (pred == y).mean()


def train(batchnorm, skip, n_train, epochs, n_test):
    model = small_resnet(batchnorm, skip)
    opt = mg.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(0)
    losses, first_grads = [], None
    for _ in range(epochs):
        order = rng.permutation(n_train)
        for i in range(0, n_train, 64):
            idx = order[i:i + 64]
            loss = F.cross_entropy(model(mg.tensor(x_train[idx])), mg.tensor(y_train[idx]))
            opt.zero_grad()
            loss.backward()
            if first_grads is None:  # the gradient of each block's first convolution, at step 0
                first_grads = [float(np.linalg.norm(b.conv1.weight.grad.numpy())) for b in model if isinstance(b, Block)]
            opt.step()
            losses.append(loss.item())
    return np.array(losses), first_grads, evaluate(model, x_test[:n_test], y_test[:n_test])


n_train, epochs, n_test = (512, 1, 500) if FAST else (12000, 2, 10000)
resnets = {}
for batchnorm, skip in [(False, False), (True, False), (False, True), (True, True)]:
    name = f"{'BN' if batchnorm else 'no BN'}, {'skips' if skip else 'no skips'}"
    start = time.time()
    resnets[name] = train(batchnorm, skip, n_train, epochs, n_test)
    print(f"{name:16s} test accuracy {resnets[name][2]:.4f}  final loss {np.mean(resnets[name][0][-20:]):.3f}"
          f"  ({time.time() - start:.0f} s)")

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 3.8))
for name, (losses, grads, acc) in resnets.items():
    k = max(1, min(20, len(losses) // 5))
    ax1.plot(np.convolve(losses, np.ones(k) / k, mode="valid"), label=f"{name}: {acc:.1%} test")
    ax2.semilogy(range(1, len(grads) + 1), grads, "o-", label=name)
ax1.set_yscale("log")
ax1.set_xlabel("step")
ax1.set_ylabel("training loss (moving average)")
ax1.set_title("small ResNet on MNIST")
ax1.legend(fontsize=8)
ax2.set_xlabel("block")
ax2.set_ylabel("|gradient| of the block's first conv")
ax2.set_title("gradient per block at the first step")
ax2.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# What to look for. Without BatchNorm and skips, the thirteen convolutions with PyTorch's default
# initialisation pass on a shrinking signal: at the first step the gradient in the first block is
# thousands of times smaller than in the last (right panel), and the loss does not leave its
# starting value $\ln 10 \approx 2.30$ (in full mode it is still there after 375 steps, at chance
# accuracy, about 11 %). The skip connections alone keep the gradient the same size in every block;
# that network starts slowly but trains (mid-80s % after the same 375 steps). BatchNorm
# re-standardises every layer and trains quickly, with or without skips: the two BatchNorm networks
# end with the lowest training losses. Their test accuracies after only 375 steps are a noisy
# ranking, though: in the full run above the network with both (a ResNet as it is usually built)
# ends with the lowest loss yet tests below BatchNorm alone. Compare the loss curves, and train
# longer before ranking them (the first question below). (Fast mode's few steps show the gradients,
# not the training.) Try `blocks=12`: the plain network only gets worse with depth.
#
# ## Exercises
#
# Fill in each function in the next cell (each raises `NotImplementedError` until you do), then run
# it: `check` applies the same assertions the test suite applies to the reference answers, and prints
# `ok`, `not yet` or `wrong` (with the values that differ) for every exercise.
#
# 1. `kaiming_std(fan_in)`: the standard deviation of He initialisation for ReLU layers, $\sqrt{2/n}$.
# 2. `batchnorm_train(x, gamma, beta, eps=1e-5)`: batch normalisation of `x` of shape $(N, F)$ in
#    training mode (biased variance), in numpy.
#
# **Questions to think about.** Train the two BatchNorm networks for 3 epochs instead of 375 steps:
# which tests better then? Train the plain network (no BN, no skips) again after initialising
# every convolution with `nn.init.kaiming_normal_(w, nonlinearity="relu")`: how much of the gap
# closes? What happens to BatchNorm with a batch of 2, and at evaluation if you forget
# `model.eval()`? Why can a residual block's last BatchNorm start with $\gamma = 0$?

# %%
from practice import check


def kaiming_std(fan_in):
    raise NotImplementedError("your code here")


def batchnorm_train(x, gamma, beta, eps=1e-5):
    """x: (N, F), gamma, beta: (F,) -> (N, F)."""
    raise NotImplementedError("your code here")


check("18", kaiming_std=kaiming_std, batchnorm_train=batchnorm_train)
