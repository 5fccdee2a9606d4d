"""Convolution and pooling, channels-last like Keras (see base's docstring for the NCHW hand-off)."""
import numpy as np

from ... import ops
from ...nn import functional as F
from ...tensor import Tensor
from .base import Layer, _ActivatedLayer, _ChannelsFirst, _nchw, _pair


def _same_padding(size, k, s, d=1):
    """Keras/TF 'same' padding: (before, after) with the odd pixel after."""
    k = d * (k - 1) + 1
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


class Conv2D(_ActivatedLayer):
    """2-D convolution, channels-last: x (N, H, W, C) -> (N, OH, OW, filters).

    kernel: (kh, kw, C // groups, filters) like Keras; bias: (filters,).
    padding: 'valid' (none) or 'same' (output size ceil(H / stride), TF's split).
    """

    supports_channels_first = True

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None, dilation_rate=(1, 1),
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise NotImplementedError("Conv2D: only data_format='channels_last' is supported")
        if padding not in ("valid", "same"):
            raise ValueError(f"Conv2D: padding must be 'valid' or 'same', got {padding!r}")
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size, "Conv2D kernel_size")
        self.strides = _pair(strides, "Conv2D strides")
        self.dilation_rate = _pair(dilation_rate, "Conv2D dilation_rate")
        self.padding, self.groups = padding, int(groups)
        self._set_activation(activation)
        self._set_kernel_and_bias(use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"Conv2D {self.name!r}: expected input (batch, height, width, channels), got shape "
                             f"{tuple(input_shape)}")
        c = input_shape[-1]
        if c % self.groups or self.filters % self.groups:
            raise ValueError(f"Conv2D: channels {c} and filters {self.filters} must divide by groups={self.groups}")
        self.kernel = self.add_weight("kernel", self.kernel_size + (c // self.groups, self.filters),
                                      self.kernel_initializer, self.kernel_regularizer)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer, self.bias_regularizer) \
            if self.use_bias else None

    def call_linear(self, x, training=None):
        x = _nchw(x)  # the one transpose (skipped when the previous layer left the data channels-first)
        w = self.kernel.permute(3, 2, 0, 1)  # (kh, kw, in, out) -> (out, in, kh, kw)
        padding = (0, 0)
        if self.padding == "same":
            (ht, hb), (wl, wr) = (_same_padding(x.shape[2], self.kernel_size[0], self.strides[0], self.dilation_rate[0]),
                                  _same_padding(x.shape[3], self.kernel_size[1], self.strides[1], self.dilation_rate[1]))
            if ht == hb and wl == wr:
                padding = (ht, wl)
            else:
                x = ops.pad(x, (wl, wr, ht, hb))
        y = F.conv2d(x, w, None, self.strides, padding, self.dilation_rate, self.groups)
        if self.bias is not None:
            y = y + self.bias.reshape(1, -1, 1, 1)
        return _ChannelsFirst(y)


Convolution2D = Conv2D


class _Pooling2D(Layer):
    supports_channels_first = True

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise NotImplementedError(f"{type(self).__name__}: only data_format='channels_last' is supported")
        if padding not in ("valid", "same"):
            raise ValueError(f"{type(self).__name__}: padding must be 'valid' or 'same', got {padding!r}")
        self.pool_size = _pair(pool_size, "pool_size")
        self.strides = _pair(strides if strides is not None else self.pool_size, "strides")
        self.padding = padding

    def _pads(self, x):
        return (_same_padding(x.shape[2], self.pool_size[0], self.strides[0]),
                _same_padding(x.shape[3], self.pool_size[1], self.strides[1]))


class MaxPooling2D(_Pooling2D):
    """The maximum of every pool_size window: (N, H, W, C) -> (N, OH, OW, C)."""

    def call(self, x, training=None):
        x = _nchw(x)
        padding = (0, 0)
        if self.padding == "same":
            (ht, hb), (wl, wr) = self._pads(x)
            if ht == hb and wl == wr and ht <= self.pool_size[0] // 2 and wl <= self.pool_size[1] // 2:
                padding = (ht, wl)
            elif ht or hb or wl or wr:
                x = ops.pad(x, (wl, wr, ht, hb), value=-np.inf)
        return _ChannelsFirst(F.max_pool2d(x, self.pool_size, self.strides, padding))


class AveragePooling2D(_Pooling2D):
    """The mean of every window; with padding='same' the padding is left out of the mean, like Keras."""

    def call(self, x, training=None):
        x = _nchw(x)
        if self.padding == "same":
            (ht, hb), (wl, wr) = self._pads(x)
            if ht or hb or wl or wr:
                mask = np.pad(np.ones((1, 1) + tuple(x.shape[2:]), np.float32), ((0, 0), (0, 0), (ht, hb), (wl, wr)))
                x = ops.pad(x, (wl, wr, ht, hb))
                y = F.avg_pool2d(x, self.pool_size, self.strides)
                frac = F.avg_pool2d(Tensor(mask), self.pool_size, self.strides).array  # share of real pixels
                return _ChannelsFirst(y * Tensor._make(1.0 / frac, y.device))
        return _ChannelsFirst(F.avg_pool2d(x, self.pool_size, self.strides))


MaxPool2D, AvgPool2D = MaxPooling2D, AveragePooling2D


class GlobalAveragePooling2D(Layer):
    """(N, H, W, C) -> (N, C), the mean over each channel's map."""

    supports_channels_first = True

    def call(self, x, training=None):
        return x.t.mean((2, 3)) if isinstance(x, _ChannelsFirst) else x.mean((1, 2))


class GlobalMaxPooling2D(Layer):
    supports_channels_first = True

    def call(self, x, training=None):
        return x.t.amax((2, 3)) if isinstance(x, _ChannelsFirst) else x.amax((1, 2))


class GlobalAveragePooling1D(Layer):
    """(N, T, C) -> (N, C), the mean over time (keepdims=True: (N, 1, C))."""

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError(f"GlobalAveragePooling1D: unknown data_format {data_format!r}")
        self.data_format, self.keepdims = data_format, keepdims

    def call(self, x, training=None, mask=None):
        if x.ndim != 3:
            raise ValueError(f"GlobalAveragePooling1D {self.name!r}: expected (batch, steps, features), got shape "
                             f"{tuple(x.shape)}")
        axis = 2 if self.data_format == "channels_first" else 1
        return x.mean(axis, keepdim=self.keepdims)


class GlobalMaxPooling1D(GlobalAveragePooling1D):
    """(N, T, C) -> (N, C), the maximum over time."""

    def call(self, x, training=None, mask=None):
        axis = 2 if self.data_format == "channels_first" else 1
        return x.amax(axis, keepdim=self.keepdims)
