"""2-D convolution (cross-correlation, like every DL library), NCHW, with stride,
padding, dilation and groups. The kernels live in the device's backend.

x: (N, C, H, W), w: (O, C // groups, KH, KW), optional b: (O,) -> y: (N, O, OH, OW) with
OH = (H + 2 * pad - dil * (KH - 1) - 1) // stride + 1.
Backward: dx is the transposed convolution of gy with w; dw correlates x with gy; db sums gy
over N, OH, OW. The bias is part of the op so that a backend can write it while it writes y
(the Numba GEMM starts from the bias instead of from zeros: no extra pass over y).
"""
import numpy as np

from ..autograd import Function
from ..checks import check_int, check_int_tuple
from ..tensor import Tensor
from .shape import pad, squeeze, unsqueeze

__all__ = ["conv2d", "conv1d"]


def int_tuple(value, n, op, name, min=None):
    """An int or a sequence of n ints (each >= min) as a tuple of n ints: 3 -> (3, 3) when n is 2."""
    return check_int_tuple(op, name, value, n, min)


def batched(x, op, dims=4):
    """(x with a batch dim, whether one was added): layers take one sample without its batch dim too."""
    if x.ndim == dims - 1:
        return unsqueeze(x, 0), True
    if x.ndim != dims:
        raise ValueError(f"{op}: expected a {dims}-D (batched) or {dims - 1}-D input, got shape {x.shape}")
    return x, False


class Conv2d(Function):
    differentiable_backward = False  # backward runs the backend's kernels on raw arrays

    def __init__(self, stride, padding, dilation, groups):
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    def forward(self, x, w, b=None):
        return self.backend.conv2d_forward(x, w, self.stride, self.padding, self.dilation, self.groups, bias=b)

    def backward(self, gy):
        x, w = self.inputs[:2]
        kernels = self.backend
        args = (self.stride, self.padding, self.dilation, self.groups)
        gx = gw = gb = None
        if x.requires_grad:
            gx = Tensor._make(kernels.conv2d_backward_input(gy.array, w.array, x.shape, *args), x.device)
        if w.requires_grad:
            gw = Tensor._make(kernels.conv2d_backward_weight(gy.array, x.array, w.shape, *args), w.device)
        if len(self.inputs) == 2:
            return gx, gw
        if self.inputs[2].requires_grad:
            gb = Tensor._make(kernels.conv2d_backward_bias(gy.array), gy.device)
        return gx, gw, gb


def _same_padding(x, kernel, dilation, stride):
    """padding='same': (x, padding) where an odd total pads x itself, the extra row/column after (torch)."""
    if stride != (1, 1):
        raise ValueError("conv2d: padding='same' needs stride 1")
    total = (dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1))
    if total[0] % 2 or total[1] % 2:
        x = pad(x, (total[1] // 2, total[1] - total[1] // 2, total[0] // 2, total[0] - total[0] // 2))
        return x, (0, 0)
    return x, (total[0] // 2, total[1] // 2)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """input: (N, C, H, W) or (C, H, W), weight: (O, C // groups, KH, KW), bias: (O,) -> (N, O, OH, OW).

    padding: an int, a pair, 'valid' (none) or 'same' (the output keeps H and W; stride 1 only)."""
    x, unbatched = batched(input, "conv2d")
    if weight.ndim != 4:
        raise ValueError(f"conv2d: weight must be 4-D (out, in/groups, kh, kw), got shape {weight.shape}")
    stride, dilation = int_tuple(stride, 2, "conv2d", "stride", 1), int_tuple(dilation, 2, "conv2d", "dilation", 1)
    groups = check_int("conv2d", "groups", groups, min=1)
    o, cg, kh, kw = weight.shape
    if x.shape[1] != cg * groups or o % groups:
        raise ValueError(f"conv2d: input of shape {x.shape} has {x.shape[1]} channels but weight of shape "
                         f"{weight.shape} with groups={groups} expects {cg * groups} (and out channels divisible "
                         f"by groups)")
    if padding == "valid":
        padding = 0
    elif padding == "same":
        x, padding = _same_padding(x, (kh, kw), dilation, stride)
    elif isinstance(padding, str):
        raise ValueError(f"conv2d: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
    padding = int_tuple(padding, 2, "conv2d", "padding", 0)
    for i, (n, k) in enumerate(((x.shape[2], kh), (x.shape[3], kw))):
        if n + 2 * padding[i] < dilation[i] * (k - 1) + 1:
            raise ValueError(f"conv2d: kernel {weight.shape[2:]} (dilation {dilation}) is larger than the padded "
                             f"input {x.shape[2:]} (padding {padding})")
    if x.dtype != weight.dtype:
        raise TypeError(f"conv2d: input is {x.dtype} but weight is {weight.dtype}")
    op = Conv2d(stride, padding, dilation, groups)
    if bias is None:
        y = op(x, weight)
    else:
        if bias.shape != (o,) or bias.dtype != weight.dtype:
            raise ValueError(f"conv2d: bias must be ({o},) {weight.dtype} to match weight {weight.shape}, got "
                             f"{bias.shape} {bias.dtype}")
        y = op(x, weight, bias)
    return squeeze(y, 0) if unbatched else y


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """input: (N, C, L) or (C, L), weight: (O, C // groups, K) -> (N, O, OL); a conv2d over a height of 1."""
    x, unbatched = batched(input, "conv1d", dims=3)
    if not isinstance(padding, str):
        padding = (0, int_tuple(padding, 1, "conv1d", "padding", 0)[0])
    stride = (1, int_tuple(stride, 1, "conv1d", "stride", 1)[0])
    dilation = (1, int_tuple(dilation, 1, "conv1d", "dilation", 1)[0])
    y = squeeze(conv2d(unsqueeze(x, 2), unsqueeze(weight, 2), bias, stride, padding, dilation, groups), 2)
    return squeeze(y, 0) if unbatched else y
