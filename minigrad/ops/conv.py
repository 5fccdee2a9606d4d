"""2-D convolution (cross-correlation, like every DL library), NCHW, with stride,
padding, dilation and groups. The kernels live in the device's backend.

x: (N, C, H, W), w: (O, C // groups, KH, KW) -> y: (N, O, OH, OW) with
OH = (H + 2 * pad - dil * (KH - 1) - 1) // stride + 1.
Backward: dx is the transposed convolution of gy with w; dw correlates x with gy.
"""
from ..autograd import Function
from ..backend import get_backend


class Conv2d(Function):
    differentiable_backward = False  # backward runs the backend's kernels on raw arrays

    def __init__(self, stride, padding, dilation, groups):
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    def forward(self, x, w):
        return get_backend(self.device).conv2d_forward(x, w, self.stride, self.padding, self.dilation, self.groups)

    def backward(self, gy):
        x, w = self.inputs
        kernels = get_backend(self.device)
        args = (self.stride, self.padding, self.dilation, self.groups)
        make = type(gy)._make
        gx = gw = None
        if x.requires_grad:
            gx = make(kernels.conv2d_backward_input(gy.data, w.data, x.shape, *args), x.device)
        if w.requires_grad:
            gw = make(kernels.conv2d_backward_weight(gy.data, x.data, w.shape, *args), w.device)
        return gx, gw
