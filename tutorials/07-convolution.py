# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 07 · Convolution and pooling from scratch
#
# **What you will learn**
# - the convolution formula, and why a convolution layer needs so few weights;
# - two ways to compute it: **direct loops**, and **im2col** (unfold patches into a matrix, then one matrix product), which is how minigrad's numpy backend does it;
# - max pooling, and how its gradient is routed;
# - (exercise) writing the convolution as your own autograd `Function`, im2col forward and col2im backward, and gradchecking it;
# - what filters and feature maps look like;
# - the CNN from the seed article (`Conv2D(32) → MaxPool → Conv2D(64) → MaxPool → Dense(64) → Dense(10)`) trained to **≥ 99 %** test accuracy on MNIST.

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F
from minigrad.backend import numpy_backend
from helpers import show  # prints a library object's source (tutorials/helpers.py)

FAST = os.environ.get("MINIGRAD_FAST") == "1"
if "MINIGRAD_DATA_DIR" not in os.environ and os.path.isdir("../../shared/data/mnist"):
    os.environ["MINIGRAD_DATA_DIR"] = "../../shared/data"  # a local copy, if there is one; else it downloads
_ = mg.manual_seed(0)

(x_train, y_train), (x_test, y_test) = mg.keras.datasets.mnist.load_data()
x_train = (x_train.astype(np.float32) / 255)[:, None]  # (N, 1, 28, 28): channels first, like PyTorch
x_test = (x_test.astype(np.float32) / 255)[:, None]
y_train, y_test = y_train.astype(np.int64), y_test.astype(np.int64)
print(x_train.shape, x_test.shape)

# %% [markdown]
# ## The convolution formula
#
# The seed article writes the convolution of an image $x$ with a kernel $w$ of size $K$ as
#
# $$y(i,j) = \sum_{k=1}^{K} x(i+k-1,\, j+k-1)\, w(k).$$
#
# With a single index $k$ this only walks the kernel's diagonal; a 2-D kernel has two indices.
# Written out in full, for one input channel (0-based indices):
#
# $$y(i, j) = \sum_{m=0}^{K_h-1}\sum_{n=0}^{K_w-1} x(i+m,\; j+n)\; w(m, n) \;+\; b.$$
#
# With $C$ input channels, $O$ output channels, stride $s$ and padding $p$:
#
# $$y_{o}(i, j) = b_o + \sum_{c=0}^{C-1}\sum_{m,n} x_c(s\,i + m - p,\; s\,j + n - p)\; w_{o,c}(m, n),
#   \qquad H_{out} = \left\lfloor \frac{H + 2p - K_h}{s} \right\rfloor + 1 .$$
#
# (Deep-learning libraries compute this *cross-correlation* and call it convolution; flipping the
# kernel would give the textbook convolution, and a learned kernel does not care.)
# The same $K_h K_w C$ weights slide over every position: a $3\times3$ layer from 32 to 64
# channels has $3\cdot3\cdot32\cdot64 + 64 = 18{,}496$ parameters whatever the image size, where a dense
# layer between two $13\times13$ feature stacks would need millions.

# %% [markdown]
# ## Direct loops
#
# The formula, transcribed literally: one loop per index, one multiply-add per term of the sum
# (stride 1, no padding). Seven nested loops in Python are slow, which is the point of what follows.

# %%
def conv2d_loops(x, w, b):
    """x: (N, C, H, W), w: (O, C, KH, KW), b: (O,) -> y: (N, O, H - KH + 1, W - KW + 1)."""
    N, C, H, W = x.shape
    O, _, KH, KW = w.shape
    y = np.zeros((N, O, H - KH + 1, W - KW + 1), dtype=x.dtype)
    for n in range(N):                                     # every image
        for o in range(O):                                 # every output channel
            for i in range(H - KH + 1):                    # every output pixel (i, j)
                for j in range(W - KW + 1):
                    total = b[o]
                    for c in range(C):                     # the sum over c, m, q
                        for m in range(KH):
                            for q in range(KW):
                                total += x[n, c, i + m, j + q] * w[o, c, m, q]
                    y[n, o, i, j] = total
    return y


# %% [markdown]
# ## im2col: convolution as one matrix product
#
# Copy, for every output pixel, the $C K_h K_w$ input values under the kernel into a column.
# The convolution is then a single matrix product of the $(O,\ C K_h K_w)$ weight matrix with this
# $(C K_h K_w,\ H_{out} W_{out})$ column matrix, the operation that BLAS libraries run fastest.
# The picture, for a $4\times4$ image and a $2\times2$ kernel (one channel): nine output pixels, so
# nine columns of four values; every input pixel appears in as many columns as patches cover it.

# %%
def draw_im2col(h=4, k=2):
    img = np.arange(h * h).reshape(h, h)
    oh = h - k + 1
    cols = np.stack([img[i:i + k, j:j + k].ravel() for i in range(oh) for j in range(oh)], axis=1)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2), gridspec_kw={"width_ratios": [1, 2.2]})
    colors = plt.cm.tab10.colors
    ax1.imshow(np.ones((h, h)), cmap="Greys", vmin=0, vmax=4)
    for v in range(h * h):
        ax1.text(v % h, v // h, str(v), ha="center", va="center")
    for p, (i, j) in enumerate([(0, 0), (0, 1), (oh - 1, oh - 1)]):  # three of the patches
        pad = 0.08 * (p + 1)
        ax1.add_patch(plt.Rectangle((j - 0.5 + pad, i - 0.5 + pad), k - 2 * pad, k - 2 * pad,
                                    fill=False, lw=2, edgecolor=colors[p]))
    ax1.set_title(f"image {h}x{h}, three of the {oh * oh} {k}x{k} patches", fontsize=9)
    ax2.imshow(np.ones_like(cols), cmap="Greys", vmin=0, vmax=4)
    for r in range(cols.shape[0]):
        for c in range(cols.shape[1]):
            ax2.text(c, r, str(cols[r, c]), ha="center", va="center")
    for p, c in enumerate([0, 1, oh * oh - 1]):
        ax2.add_patch(plt.Rectangle((c - 0.45, -0.45), 0.9, cols.shape[0] - 0.1, fill=False, lw=2,
                                    edgecolor=colors[p]))
    ax2.set_title(f"cols: ({k}*{k}, {oh}*{oh}), one column per output pixel; y = W (O, {k * k}) @ cols",
                  fontsize=9)
    ax2.set_xlabel("output pixel (i, j), row by row")
    ax2.set_ylabel("kernel tap (m, n)")
    for ax in (ax1, ax2):
        ax.set_xticks([]), ax.set_yticks([])
    plt.tight_layout()
    plt.show()


draw_im2col()

# %% [markdown]
# minigrad's numpy backend fills the columns with one strided slice per kernel tap (a row of the
# picture's right half at a time), not one patch at a time:

# %%
show(numpy_backend.im2col)
show(numpy_backend.conv2d_forward)

# %% [markdown]
# Backward reuses the same trick: $\bar w = \bar y \cdot \text{cols}^\top$, and $\bar x$ is the
# columns $w^\top \bar y$ scattered back onto the image (`col2im`, the adjoint of im2col).
# Both implementations agree; im2col hands the work to one big matrix product:

# %%
xb = x_train[:4]  # the literal loops make 4 x 32 x 26 x 26 x 9 = 780,000 Python multiply-adds
w = np.random.default_rng(0).normal(0, 0.1, (32, 1, 3, 3)).astype(np.float32)
b = np.zeros(32, np.float32)
t = time.perf_counter()
y_loops = conv2d_loops(xb, w, b)
t_loops = time.perf_counter() - t
t = time.perf_counter()
y_im2col = numpy_backend.conv2d_forward(xb, w, (1, 1), (0, 0), (1, 1), 1) + b[:, None, None]
t_im2col = time.perf_counter() - t
print(f"max difference {np.abs(y_loops - y_im2col).max():.2e}")
print(f"direct loops {t_loops * 1e3:.1f} ms, im2col {t_im2col * 1e3:.1f} ms")

# %% [markdown]
# ## Filters and feature maps
#
# A filter responds where the image looks like it. Two hand-made Sobel filters find vertical
# and horizontal edges; `F.conv2d` applies them (padding 1 keeps the size):

# %%
sobel = np.array([[[[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]],
                  [[[-1, -2, -1], [0, 0, 0], [1, 2, 1]]]], dtype=np.float32)  # (2, 1, 3, 3)
digit = mg.tensor(x_train[:1])
edges = F.conv2d(digit, mg.tensor(sobel), padding=1)
pooled = F.max_pool2d(edges.relu(), 2)
fig, axes = plt.subplots(1, 5, figsize=(11, 2.4))
panels = [(digit[0, 0], "input 28x28"), (edges[0, 0], "vertical edges"), (edges[0, 1], "horizontal edges"),
          (pooled[0, 0], "ReLU + 2x2 max pool"), (pooled[0, 1], "ReLU + 2x2 max pool")]
for ax, (img, title) in zip(axes, panels):
    ax.imshow(img.numpy(), cmap="gray")
    ax.set_title(title, fontsize=9)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Max pooling
#
# $$y(i, j) = \max_{0 \le m, n < 2} x(2i + m,\; 2j + n)$$
#
# halves the resolution and keeps the strongest response in each window, so small shifts of the
# input change the output little. Its derivative is 1 for the element that won the window and 0
# for the others, so backward sends each gradient to the winner, remembered during forward:

# %%
show(numpy_backend.max_pool2d_backward)

# %% [markdown]
# ## The seed article's CNN
#
# The Keras model from the seed article, written with minigrad's PyTorch-style layers
# (`Conv2d(in, out, kernel)`; the shapes are NCHW):
#
# | layer | output shape | parameters |
# |---|---|---|
# | Conv2d(1, 32, 3) + ReLU | 32 × 26 × 26 | 320 |
# | MaxPool2d(2) | 32 × 13 × 13 | 0 |
# | Conv2d(32, 64, 3) + ReLU | 64 × 11 × 11 | 18,496 |
# | MaxPool2d(2) | 64 × 5 × 5 | 0 |
# | Flatten, Linear(1600, 64) + ReLU | 64 | 102,464 |
# | Linear(64, 10) | 10 | 650 |
#
# (The seed's PyTorch version flattens to `64 * 4 * 4`; with $3\times3$ kernels and no padding the
# map is $5\times5$, so the right size is `64 * 5 * 5 = 1600`.)

# %%
model = nn.Sequential(
    nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(64 * 5 * 5, 64), nn.ReLU(),
    nn.Linear(64, 10),
)
for layer in model:  # initialise like Keras does (Glorot uniform weights, zero biases)
    if isinstance(layer, (nn.Conv2d, nn.Linear)):
        nn.init.xavier_uniform_(layer.weight)
        nn.init.zeros_(layer.bias)
print(model)
print("parameters:", sum(p.numel() for p in model.parameters()))

# %% [markdown]
# Training: Adam (chapter 05) with the seed's batch size 64, cross-entropy loss on the logits, and
# a learning rate halved after each epoch (`StepLR`): large steps first, fine steps at the end.
# The weights start as in Keras (Glorot uniform, $w \sim U(-a, a)$ with $a = \sqrt{6/(\text{fan}_\text{in} + \text{fan}_\text{out})}$).
# In full mode: all 60,000 images, 5 epochs (about a minute on a 2-core machine; longer on a busy
# one). With `MINIGRAD_FAST=1`:
# 1,280 images and one epoch, just to run every line.

# %%
n_train = 1280 if FAST else len(x_train)
epochs = 1 if FAST else 5
n_test = 1000 if FAST else len(x_test)
opt = mg.optim.Adam(model.parameters(), lr=1e-3)
schedule = mg.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
rng = np.random.default_rng(0)


def evaluate(model, x, y, batch=1000):
    model.eval()
    with mg.no_grad():
        pred = np.concatenate([model(mg.tensor(x[i:i + batch])).argmax(1).numpy() for i in range(0, len(x), batch)])
    model.train()
    return (pred == y).mean()


losses, test_acc = [], []
start = time.time()
for epoch in range(epochs):
    order = rng.permutation(n_train)
    for step, i in enumerate(range(0, n_train, 64)):
        idx = order[i:i + 64]
        loss = F.cross_entropy(model(mg.tensor(x_train[idx])), mg.tensor(y_train[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    schedule.step()
    test_acc.append(evaluate(model, x_test[:n_test], y_test[:n_test]))
    print(f"epoch {epoch + 1}: last-100-step loss {np.mean(losses[-100:]):.4f}, "
          f"test accuracy {test_acc[-1]:.4f}  ({time.time() - start:.0f} s)")

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.2))
ax1.plot(losses, alpha=0.3)
ax1.plot(np.convolve(losses, np.ones(50) / 50, mode="valid"), label="moving average (50 steps)")
ax1.set_yscale("log")
ax1.set_xlabel("step")
ax1.set_title("training loss")
ax1.legend()
ax2.plot(range(1, epochs + 1), test_acc, "o-")
ax2.axhline(0.99, color="grey", ls="--", label="99 %")
ax2.set_xlabel("epoch")
ax2.set_title(f"test accuracy: {test_acc[-1]:.2%}")
ax2.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## What the network learned
#
# The 32 first-layer filters ($3\times3$), and the feature maps they produce on one test digit:

# %%
filters = model[0].weight.detach().numpy()[:, 0]
maps = model[1](model[0](mg.tensor(x_test[:1]))).detach().numpy()[0]
fig, axes = plt.subplots(4, 16, figsize=(12, 3.4))
for k in range(32):
    axes[k // 16 * 2, k % 16].imshow(filters[k], cmap="RdBu")
    axes[k // 16 * 2 + 1, k % 16].imshow(maps[k], cmap="gray")
for ax in axes.flat:
    ax.axis("off")
fig.suptitle("rows 1 and 3: filters; rows 2 and 4: their ReLU feature maps on a test digit", fontsize=9)
plt.show()

# %% [markdown]
# ## Exercises
#
# Fill in each function in the next cell (each raises `NotImplementedError` until you do), then run
# it: `check` applies the same assertions the test suite applies to the reference answers, and prints
# `ok`, `not yet` or `wrong` (with the values that differ) for every exercise.
#
# 1. `conv_output_size(h, k, stride=1, padding=0, dilation=1)`: $\lfloor (h + 2p - d(k-1) - 1)/s \rfloor + 1$.
# 2. `conv2d_direct(x, w, stride=1, padding=0)`: the direct-loop convolution with stride and padding (numpy in, numpy out); compare with `F.conv2d`.
# 3. `max_pool_2x2(x)`: 2×2 max pooling of an `(N, C, H, W)` numpy array with even `H, W`, using only `reshape` and `max`.
# 4. **Conv2d as your own `Function`.** `Conv2dIm2col(stride, padding)(x, w)`: `forward` builds the
#    columns with your own `im2col` (one strided slice per kernel tap, as in the picture above) and
#    multiplies by the reshaped weights; `backward` returns $\bar w = \sum_n \bar y_n\,\text{cols}_n^\top$
#    and $\bar x = \text{col2im}(W^\top \bar y)$, where your `col2im` *adds* each column entry back onto
#    the pixel it came from (overlapping patches share pixels). Gradients are returned as tensors
#    (`mg.tensor(array, dtype=x.dtype)`); the check compares with `F.conv2d` and runs `mg.gradcheck`.
#
# **Questions to think about.** How many times larger than the input is the column matrix of a
# $3\times3$, stride-1 convolution, and what does that cost on a $224\times224$ image with 64 channels?
# Why must `col2im` add rather than assign? What changes for stride 2?

# %%
from minigrad.autograd import Function
from practice import check


def conv_output_size(h, k, stride=1, padding=0, dilation=1):
    raise NotImplementedError("your code here")


def conv2d_direct(x, w, stride=1, padding=0):
    """x: (N, C, H, W), w: (O, C, KH, KW) -> (N, O, OH, OW)."""
    raise NotImplementedError("your code here")


def max_pool_2x2(x):
    """x: (N, C, H, W), H and W even -> (N, C, H // 2, W // 2)."""
    raise NotImplementedError("your code here")


def im2col(x, kh, kw, stride, padding):
    """x: (N, C, H, W) -> cols: (N, C*KH*KW, OH*OW), column p = the patch under output pixel p."""
    raise NotImplementedError("your code here")


def col2im(cols, x_shape, kh, kw, stride, padding):
    """cols: (N, C*KH*KW, OH*OW) -> (N, C, H, W): the adjoint of im2col (overlaps add up)."""
    raise NotImplementedError("your code here")


class Conv2dIm2col(Function):
    differentiable_backward = False  # backward computes on raw arrays

    def __init__(self, stride=1, padding=0):
        self.stride, self.padding = stride, padding

    def forward(self, x, w):
        """x: (N, C, H, W), w: (O, C, KH, KW) arrays -> (N, O, OH, OW)."""
        raise NotImplementedError("your code here")

    def backward(self, gy):
        """gy: Tensor (N, O, OH, OW) -> (gx, gw) as Tensors."""
        raise NotImplementedError("your code here")


check("07", conv_output_size=conv_output_size, conv2d_direct=conv2d_direct, max_pool_2x2=max_pool_2x2,
      Conv2dIm2col=Conv2dIm2col)
