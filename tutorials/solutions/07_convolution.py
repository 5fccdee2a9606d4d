"""Chapter 07 exercises: convolution and pooling with numpy."""
import numpy as np

import minigrad as mg
from minigrad.autograd import Function


def conv_output_size(h, k, stride=1, padding=0, dilation=1):
    return (h + 2 * padding - dilation * (k - 1) - 1) // stride + 1


def conv2d_direct(x, w, stride=1, padding=0):
    """x (N, C, H, W), w (O, C, KH, KW) -> (N, O, OH, OW), cross-correlation as in every DL library."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh, ow = conv_output_size(h, kh, stride, padding), conv_output_size(wd, kw, stride, padding)
    out = np.zeros((n, o, oh, ow), dtype=np.result_type(x, w))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3]))
    return out


def max_pool_2x2(x):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def im2col(x, kh, kw, stride, padding):
    """x (N, C, H, W) -> cols (N, C*KH*KW, OH*OW): column p holds the patch under output pixel p."""
    n, c, h, w = x.shape
    oh, ow = conv_output_size(h, kh, stride, padding), conv_output_size(w, kw, stride, padding)
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cols = np.empty((n, c, kh, kw, oh, ow), dtype=x.dtype)
    for m in range(kh):          # one strided slice per kernel tap (m, n)
        for q in range(kw):
            cols[:, :, m, q] = xp[:, :, m:m + stride * oh:stride, q:q + stride * ow:stride]
    return cols.reshape(n, c * kh * kw, oh * ow)


def col2im(cols, x_shape, kh, kw, stride, padding):
    """The adjoint of im2col: add every column entry back onto the pixel it was copied from."""
    n, c, h, w = x_shape
    oh, ow = conv_output_size(h, kh, stride, padding), conv_output_size(w, kw, stride, padding)
    cols = cols.reshape(n, c, kh, kw, oh, ow)
    xp = np.zeros((n, c, h + 2 * padding, w + 2 * padding), dtype=cols.dtype)
    for m in range(kh):
        for q in range(kw):
            xp[:, :, m:m + stride * oh:stride, q:q + stride * ow:stride] += cols[:, :, m, q]
    return xp[:, :, padding:padding + h, padding:padding + w]


class Conv2dIm2col(Function):
    """y = conv2d(x, w): forward as one matrix product on im2col's columns, backward through col2im."""
    differentiable_backward = False  # backward computes on raw arrays

    def __init__(self, stride=1, padding=0):
        self.stride, self.padding = stride, padding

    def forward(self, x, w):
        o, c, kh, kw = w.shape
        n, _, h, wd = x.shape
        self.cols = im2col(x, kh, kw, self.stride, self.padding)             # (N, C*KH*KW, P)
        y = w.reshape(o, -1) @ self.cols                                     # (N, O, P)
        oh, ow = conv_output_size(h, kh, self.stride, self.padding), conv_output_size(wd, kw, self.stride, self.padding)
        return y.reshape(n, o, oh, ow)

    def backward(self, gy):
        x, w = self.inputs
        o, c, kh, kw = w.shape
        g = gy.numpy().reshape(gy.shape[0], o, -1)                           # (N, O, P)
        gw = np.einsum("nop,nkp->ok", g, self.cols).reshape(w.shape)         # sum over images of g cols^T
        gcols = w.numpy().reshape(o, -1).T @ g                               # (N, C*KH*KW, P)
        gx = col2im(gcols, x.shape, kh, kw, self.stride, self.padding)
        return mg.tensor(gx, dtype=x.dtype), mg.tensor(gw, dtype=w.dtype)
