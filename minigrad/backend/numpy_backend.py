"""The numpy reference backend: the required kernels of the contract, written to be read.

Every backend (numpy, the Numba CPU kernels, the CUDA kernels) offers this same flat API of
plain-array functions (see contract.py); this one is the teaching version and the test oracle.
It has no fused kernels of its own: the contract's references serve it. Arguments are already
validated by the ops: kernels trust their inputs.

Shapes: x (N, C, H, W), w (O, C // groups, KH, KW); stride, padding and dilation are
pairs (rows, cols).
"""
import numpy as np

xp = np
name = "numpy"


def matmul(a, b):
    """a: (..., M, K), b: (..., K, N) -> (..., M, N), batch dimensions broadcast."""
    return np.matmul(a, b)


def conv_output_size(size, kernel, stride, padding, dilation):
    """Output length of a convolution or pooling window along one axis (every backend uses this one)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _window_slices(kh, kw, oh, ow, stride, dilation):
    """Yield (i, j, rows, cols): the input slice that kernel tap (i, j) sees for every output pixel."""
    sh, sw = stride
    dh, dw = dilation
    for i in range(kh):
        for j in range(kw):
            r0, c0 = i * dh, j * dw
            yield i, j, slice(r0, r0 + sh * (oh - 1) + 1, sh), slice(c0, c0 + sw * (ow - 1) + 1, sw)


def _pad(x, padding, value=0.0):
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def im2col(x, kh, kw, stride, padding, dilation):
    """x: (N, C, H, W) -> cols: (N, C, KH, KW, OH, OW), the input patch under every output pixel."""
    n, c, h, w = x.shape
    oh = conv_output_size(h, kh, stride[0], padding[0], dilation[0])
    ow = conv_output_size(w, kw, stride[1], padding[1], dilation[1])
    xp_ = _pad(x, padding)
    cols = np.empty((n, c, kh, kw, oh, ow), dtype=x.dtype)
    for i, j, rows, cs in _window_slices(kh, kw, oh, ow, stride, dilation):
        cols[:, :, i, j] = xp_[:, :, rows, cs]
    return cols


def col2im(cols, x_shape, stride, padding, dilation):
    """The adjoint of im2col: scatter-add every patch back onto the (N, C, H, W) input."""
    n, c, h, w = x_shape
    _, _, kh, kw, oh, ow = cols.shape
    ph, pw = padding
    gx = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for i, j, rows, cs in _window_slices(kh, kw, oh, ow, stride, dilation):
        gx[:, :, rows, cs] += cols[:, :, i, j]
    return gx[:, :, ph:ph + h, pw:pw + w]


def conv2d_forward(x, w, stride, padding, dilation, groups, bias=None):
    """y[n, o] = bias[o] + sum over c, i, j of w[o, c, i, j] * x_padded[n, c, oh*s + i*d, ow*s + j*d]."""
    n = x.shape[0]
    o, cg, kh, kw = w.shape
    cols = im2col(x, kh, kw, stride, padding, dilation)
    oh, ow = cols.shape[-2:]
    cols = cols.reshape(n, groups, cg * kh * kw, oh * ow)
    wg = w.reshape(1, groups, o // groups, cg * kh * kw)
    y = np.matmul(wg, cols).reshape(n, o, oh, ow)  # (N, G, O/G, OH*OW) -> (N, O, OH, OW)
    if bias is not None:
        y += bias.reshape(o, 1, 1)
    return y


def conv2d_backward_bias(gy):
    """gy: (N, O, OH, OW) -> (O,): each output channel's gradient summed over batch and pixels."""
    return gy.sum(axis=(0, 2, 3))


def conv2d_backward_input(gy, w, x_shape, stride, padding, dilation, groups):
    """gy: (N, O, OH, OW) -> gx: x_shape. The transposed convolution of gy with w."""
    n, o, oh, ow = gy.shape
    _, cg, kh, kw = w.shape
    wg = w.reshape(1, groups, o // groups, cg * kh * kw)
    gyg = gy.reshape(n, groups, o // groups, oh * ow)
    dcols = np.matmul(wg.transpose(0, 1, 3, 2), gyg)  # (N, G, Cg*KH*KW, OH*OW)
    dcols = dcols.reshape(n, groups * cg, kh, kw, oh, ow)
    return col2im(dcols, x_shape, stride, padding, dilation)


def conv2d_backward_weight(gy, x, w_shape, stride, padding, dilation, groups):
    """gy: (N, O, OH, OW), x: (N, C, H, W) -> gw: w_shape."""
    n, o, oh, ow = gy.shape
    _, cg, kh, kw = w_shape
    cols = im2col(x, kh, kw, stride, padding, dilation).reshape(n, groups, cg * kh * kw, oh * ow)
    gyg = gy.reshape(n, groups, o // groups, oh * ow)
    gw = np.matmul(gyg, cols.transpose(0, 1, 3, 2)).sum(axis=0)  # (G, O/G, Cg*KH*KW)
    return gw.reshape(w_shape)


def max_pool2d_forward(x, kernel_size, stride, padding, dilation, indices=True):
    """-> (y, indices): y (N, C, OH, OW); indices hold each maximum's flat position in its H*W plane."""
    n, c, h, w = x.shape
    kh, kw = kernel_size
    cols = im2col(_pad(x, padding, -np.inf), kh, kw, stride, (0, 0), dilation)
    oh, ow = cols.shape[-2:]
    cols = cols.reshape(n, c, kh * kw, oh, ow)
    k = cols.argmax(axis=2)  # which tap of the window won
    y = np.take_along_axis(cols, k[:, :, None], axis=2)[:, :, 0]
    rows = np.arange(oh)[:, None] * stride[0] + (k // kw) * dilation[0] - padding[0]
    cs = np.arange(ow)[None, :] * stride[1] + (k % kw) * dilation[1] - padding[1]
    return y, (rows * w + cs).astype(np.int64)


def max_pool2d_backward(gy, indices, x_shape):
    """Route each output gradient back to the input element that won its window."""
    n, c, h, w = x_shape
    plane = np.arange(n * c, dtype=np.int64).reshape(n, c, 1, 1) * (h * w)
    gx = np.bincount((plane + indices).ravel(), weights=gy.ravel(), minlength=n * c * h * w)
    return gx.astype(gy.dtype, copy=False).reshape(x_shape)


def _avg_divisor(x_shape, kernel_size, stride, padding, count_include_pad, oh, ow, dtype):
    kh, kw = kernel_size
    if count_include_pad:
        return dtype.type(kh * kw)
    ones = np.ones((1, 1) + tuple(x_shape[2:]), dtype=dtype)
    return im2col(ones, kh, kw, stride, padding, (1, 1)).reshape(kh * kw, oh, ow).sum(axis=0)


def avg_pool2d_forward(x, kernel_size, stride, padding, count_include_pad=True):
    """x: (N, C, H, W) -> (N, C, OH, OW): the mean of every window."""
    n, c, h, w = x.shape
    kh, kw = kernel_size
    cols = im2col(x, kh, kw, stride, padding, (1, 1))
    oh, ow = cols.shape[-2:]
    total = cols.reshape(n, c, kh * kw, oh, ow).sum(axis=2)
    return total / _avg_divisor(x.shape, kernel_size, stride, padding, count_include_pad, oh, ow, x.dtype)


def avg_pool2d_backward(gy, x_shape, kernel_size, stride, padding, count_include_pad=True):
    """gy: (N, C, OH, OW) -> gx: x_shape, each output's gradient shared evenly by its window."""
    n, c, oh, ow = gy.shape
    kh, kw = kernel_size
    g = gy / _avg_divisor(x_shape, kernel_size, stride, padding, count_include_pad, oh, ow, gy.dtype)
    cols = np.broadcast_to(g[:, :, None, None], (n, c, kh, kw, oh, ow))
    return col2im(cols, x_shape, stride, padding, (1, 1))

