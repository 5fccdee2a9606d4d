"""2-D convolution (cross-correlation, like every DL library), NCHW, with stride,
padding, dilation and groups. The kernels live in the device's backend.

x: (N, C, H, W), w: (O, C // groups, KH, KW), optional b: (O,) -> y: (N, O, OH, OW) with
OH = (H + 2 * pad - dil * (KH - 1) - 1) // stride + 1.
Backward: dx is the transposed convolution of gy with w; dw correlates x with gy; db sums gy
over N, OH, OW. The bias is part of the op so that a backend can write it while it writes y
(the Numba GEMM starts from the bias instead of from zeros: no extra pass over y).
"""
from ..autograd import Function
from ..backend import get_backend


class Conv2d(Function):
    differentiable_backward = False  # backward runs the backend's kernels on raw arrays

    def __init__(self, stride, padding, dilation, groups):
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    def forward(self, x, w, b=None):
        return get_backend(self.device).conv2d_forward(x, w, self.stride, self.padding, self.dilation, self.groups,
                                                       bias=b)

    def backward(self, gy):
        x, w = self.inputs[:2]
        kernels = get_backend(self.device)
        args = (self.stride, self.padding, self.dilation, self.groups)
        make = type(gy)._make
        gx = gw = gb = None
        if x.requires_grad:
            gx = make(kernels.conv2d_backward_input(gy.array, w.array, x.shape, *args), x.device)
        if w.requires_grad:
            gw = make(kernels.conv2d_backward_weight(gy.array, x.array, w.shape, *args), w.device)
        if len(self.inputs) == 2:
            return gx, gw
        if self.inputs[2].requires_grad:
            gb = make(kernels.conv2d_backward_bias(gy.array), gy.device)
        return gx, gw, gb
