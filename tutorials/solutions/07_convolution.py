"""Chapter 07 exercises: convolution and pooling with numpy."""
import numpy as np


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
