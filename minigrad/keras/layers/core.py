"""Core Keras layers: Input, Dense, Activation, Flatten, Reshape, Dropout, Add, Concatenate."""
import numpy as np

from ... import ops
from ...nn import functional as F
from ...random import rng
from ...tensor import Tensor
from .base import KerasTensor, Layer, _ActivatedLayer, _ChannelsFirst


class InputLayer(Layer):
    """Declares the input shape (without batch dim); `keras.Input` makes one behind the scenes."""

    def __init__(self, input_shape=None, batch_size=None, dtype=None, name=None, shape=None, batch_shape=None,
                 **kwargs):
        if shape is not None:
            input_shape = shape
        if batch_shape is not None:
            input_shape = tuple(batch_shape)[1:]
        super().__init__(name=name, input_shape=input_shape, **kwargs)
        self.dtype = dtype or "float32"
        self.output_shape = (None,) + tuple(self._input_shape_arg or ())
        self.built = True


def Input(shape=None, batch_size=None, name=None, dtype=None, batch_shape=None, **kwargs):
    """A symbolic input, `keras.Input(shape=(28, 28, 1))`, for the functional API and Sequential."""
    if shape is None and batch_shape is None:
        raise ValueError("Input: pass shape=(...) (without the batch dimension)")
    layer = InputLayer(input_shape=shape, batch_shape=batch_shape, dtype=dtype, name=name, **kwargs)
    return KerasTensor((None,) + layer._input_shape_arg, dtype=layer.dtype, layer=layer, name=layer.name)


class Dense(_ActivatedLayer):
    """y = activation(x @ kernel + bias); x: (N, ..., in) -> (N, ..., units); kernel: (in, units)."""

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        if int(units) != units or units < 1:
            raise ValueError(f"Dense: units must be a positive int, got {units!r}")
        self.units = int(units)
        self._set_activation(activation)
        self._set_kernel_and_bias(use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer)

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units), self.kernel_initializer,
                                      self.kernel_regularizer)
        self.bias = self.add_weight("bias", (self.units,), self.bias_initializer, self.bias_regularizer) \
            if self.use_bias else None

    def call_linear(self, x, training=None):
        if x.shape[-1] != self.kernel.shape[0]:
            raise ValueError(f"Dense {self.name!r}: input of shape {tuple(x.shape)} has {x.shape[-1]} features, "
                             f"the layer was built for {self.kernel.shape[0]}")
        return F.linear(x, self.kernel.T, self.bias)  # Keras' kernel is (in, units): torch's weight transposed


class Activation(_ActivatedLayer):
    """Applies an activation: `Activation('softmax')`."""

    supports_channels_first = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self._set_activation(activation)

    def call_linear(self, x, training=None):
        return x


class ReLU(Activation):
    def __init__(self, **kwargs):
        super().__init__("relu", **kwargs)


class Softmax(Activation):
    def __init__(self, axis=-1, **kwargs):
        super().__init__("softmax", **kwargs)


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1 * d2 * ...), in channels-last order like Keras."""

    supports_channels_first = True

    def call(self, x, training=None):
        if isinstance(x, _ChannelsFirst):
            x = x.nhwc()
        return x.reshape(x.shape[0], -1)


class Reshape(Layer):
    """(N, ...) -> (N, *target_shape); one entry may be -1."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(target_shape)

    def call(self, x, training=None):
        return x.reshape((x.shape[0],) + self.target_shape)


class Dropout(Layer):
    """Zeroes a `rate` fraction of the inputs while training and scales the rest by 1/(1-rate)."""

    supports_channels_first = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"Dropout: rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def call(self, x, training=None):
        if not training or self.rate == 0:
            return x
        t = x.t if isinstance(x, _ChannelsFirst) else x
        g = self._rng or rng()
        mask = (g.random(t.shape, dtype=np.float32) >= self.rate).astype(np.float32) * (1.0 / (1.0 - self.rate))
        y = t * Tensor._make(mask, t.device)
        return _ChannelsFirst(y) if isinstance(x, _ChannelsFirst) else y


class Add(Layer):
    """Elementwise sum of a list of same-shaped inputs."""

    def call(self, xs, training=None):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Concatenate(Layer):
    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, xs, training=None):
        return ops.cat(list(xs), self.axis)
