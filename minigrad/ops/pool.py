"""2-D max and average pooling over NCHW windows; kernels come from the device's backend.

Max pooling remembers which element won each window (`indices`) and routes the
gradient there; average pooling spreads it evenly over the window.
"""
from ..autograd import Function
from ..backend import get_backend


class MaxPool2d(Function):
    saves_inputs = False
    differentiable_backward = False

    def __init__(self, kernel_size, stride, padding, dilation, return_indices=False):
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation
        self.return_indices = return_indices

    def forward(self, x):
        self.in_shape = x.shape
        y, self.indices = get_backend(self.device).max_pool2d_forward(
            x, self.kernel_size, self.stride, self.padding, self.dilation,
            indices=self.needs_grad or self.return_indices)
        return y

    def backward(self, gy):
        gx = get_backend(self.device).max_pool2d_backward(gy.array, self.indices, self.in_shape)
        return type(gy)._make(gx, gy.device)


class AvgPool2d(Function):
    saves_inputs = False
    differentiable_backward = False

    def __init__(self, kernel_size, stride, padding, count_include_pad=True):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.count_include_pad = count_include_pad

    def forward(self, x):
        self.in_shape = x.shape
        return get_backend(self.device).avg_pool2d_forward(
            x, self.kernel_size, self.stride, self.padding, self.count_include_pad)

    def backward(self, gy):
        gx = get_backend(self.device).avg_pool2d_backward(
            gy.array, self.in_shape, self.kernel_size, self.stride, self.padding, self.count_include_pad)
        return type(gy)._make(gx, gy.device)
