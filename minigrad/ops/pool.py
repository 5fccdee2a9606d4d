"""2-D max and average pooling over NCHW windows; kernels come from the device's backend.

Max pooling remembers which element won each window (`indices`) and routes the
gradient there; average pooling spreads it evenly over the window.
"""
from ..autograd import Function
from ..tensor import Tensor
from .conv import batched, int_tuple
from .shape import squeeze

__all__ = ["max_pool2d", "avg_pool2d"]


def _window(op, kernel_size, stride, padding, ceil_mode):
    """(kernel, stride, padding) as pairs; the stride defaults to the kernel size."""
    if ceil_mode:
        raise NotImplementedError(f"{op}: ceil_mode=True is not supported")
    k = int_tuple(kernel_size, 2, op, "kernel_size", 1)
    s = k if stride is None or stride == [] else int_tuple(stride, 2, op, "stride", 1)
    p = int_tuple(padding, 2, op, "padding", 0)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"{op}: padding {p} must be at most half the kernel size {k}")
    return k, s, p


class MaxPool2d(Function):
    backward_reads_inputs = False
    differentiable_backward = False

    def __init__(self, kernel_size, stride, padding, dilation, return_indices=False):
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation
        self.return_indices = return_indices

    def forward(self, x):
        self.in_shape = x.shape
        y, self.indices = self.backend.max_pool2d_forward(x, self.kernel_size, self.stride, self.padding,
                                                          self.dilation, indices=self.needs_grad or self.return_indices)
        return y

    def backward(self, gy):
        gx = self.backend.max_pool2d_backward(gy.array, self.indices, self.in_shape)
        return Tensor._make(gx, gy.device)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """input: (N, C, H, W) or (C, H, W) -> (N, C, OH, OW), the largest value of every window
    (and, with return_indices, where it was: flat indices into each H * W plane)."""
    x, unbatched = batched(input, "max_pool2d")
    k, s, p = _window("max_pool2d", kernel_size, stride, padding, ceil_mode)
    d = int_tuple(dilation, 2, "max_pool2d", "dilation", 1)
    if x.shape[2] + 2 * p[0] < d[0] * (k[0] - 1) + 1 or x.shape[3] + 2 * p[1] < d[1] * (k[1] - 1) + 1:
        raise ValueError(f"max_pool2d: window {k} is larger than the input {x.shape[2:]} (padding {p})")
    fn = MaxPool2d(k, s, p, d, return_indices)
    y = fn(x)
    if unbatched:
        y = squeeze(y, 0)
    if return_indices:
        return y, Tensor._make(fn.indices[0] if unbatched else fn.indices, y.device)
    return y


class AvgPool2d(Function):
    backward_reads_inputs = False
    differentiable_backward = False

    def __init__(self, kernel_size, stride, padding, count_include_pad=True):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.count_include_pad = count_include_pad

    def forward(self, x):
        self.in_shape = x.shape
        return self.backend.avg_pool2d_forward(x, self.kernel_size, self.stride, self.padding, self.count_include_pad)

    def backward(self, gy):
        gx = self.backend.avg_pool2d_backward(gy.array, self.in_shape, self.kernel_size, self.stride, self.padding,
                                              self.count_include_pad)
        return Tensor._make(gx, gy.device)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """input: (N, C, H, W) or (C, H, W) -> (N, C, OH, OW), the mean of every window."""
    if divisor_override is not None:
        raise NotImplementedError("avg_pool2d: divisor_override is not supported")
    x, unbatched = batched(input, "avg_pool2d")
    k, s, p = _window("avg_pool2d", kernel_size, stride, padding, ceil_mode)
    if x.shape[2] + 2 * p[0] < k[0] or x.shape[3] + 2 * p[1] < k[1]:
        raise ValueError(f"avg_pool2d: window {k} is larger than the input {x.shape[2:]} (padding {p})")
    y = AvgPool2d(k, s, p, count_include_pad)(x)
    return squeeze(y, 0) if unbatched else y
