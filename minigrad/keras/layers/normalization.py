"""BatchNormalization and LayerNormalization: Keras' defaults passed to nn.functional's norms."""
import numpy as np

from ...nn import functional as F
from .base import Layer, _ChannelsFirst


class BatchNormalization(Layer):
    """Normalises each feature (the last axis, channels for images) with batch statistics while
    training and with moving averages at inference; y = gamma * (x - mean) / sqrt(var + eps) + beta.

    Keras' defaults: momentum=0.99, epsilon=1e-3; moving stats use the biased batch variance.
    A frozen (trainable=False) BatchNormalization runs in inference mode, like Keras.
    """

    supports_channels_first = True

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        if axis not in (-1, 3) and not isinstance(axis, int):
            raise NotImplementedError("BatchNormalization: only a single feature axis is supported")
        self.axis, self.momentum, self.epsilon = axis, float(momentum), float(epsilon)
        self.center, self.scale = center, scale
        self._inits = (gamma_initializer, beta_initializer, moving_mean_initializer, moving_variance_initializer)
        self._regs = (gamma_regularizer, beta_regularizer)

    def build(self, input_shape):
        c = input_shape[self.axis]
        self.gamma = self.add_weight("gamma", (c,), self._inits[0], self._regs[0]) if self.scale else None
        self.beta = self.add_weight("beta", (c,), self._inits[1], self._regs[1]) if self.center else None
        self.moving_mean = self.add_weight("moving_mean", (c,), self._inits[2], trainable=False)
        self.moving_variance = self.add_weight("moving_variance", (c,), self._inits[3], trainable=False)

    def call(self, x, training=None):
        cf = isinstance(x, _ChannelsFirst)
        t = x.t if cf else x
        axis = 1 if cf else self.axis % t.ndim
        perm = [0, axis] + [a for a in range(1, t.ndim) if a != axis]
        if axis != 1:  # nn.functional.batch_norm wants the features on axis 1
            t = t.permute(*perm)
        y = F.batch_norm(t, self.moving_mean, self.moving_variance, self.gamma, self.beta,
                         training=bool(training and self.trainable), momentum=1.0 - self.momentum, eps=self.epsilon,
                         unbiased_running_var=False)
        if axis != 1:
            y = y.permute(*np.argsort(perm).tolist())
        return _ChannelsFirst(y) if cf else y


class LayerNormalization(Layer):
    """Normalises each sample over its last axis: gamma * (x - mean) / sqrt(var + epsilon) + beta.
    Keras' defaults: epsilon=1e-3; weights gamma (C,), beta (C,), in that order."""

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, rms_scaling=False, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        if rms_scaling:
            raise NotImplementedError("LayerNormalization: rms_scaling=True is not supported")
        self.axis, self.epsilon, self.center, self.scale = axis, float(epsilon), center, scale
        self._inits = (gamma_initializer, beta_initializer)
        self._regs = (gamma_regularizer, beta_regularizer)

    def build(self, input_shape):
        axes = [self.axis] if isinstance(self.axis, int) else list(self.axis)
        if sorted(a % len(input_shape) for a in axes) != list(range(len(input_shape) - len(axes), len(input_shape))):
            raise NotImplementedError(f"LayerNormalization: only the trailing axes can be normalised, got axis="
                                      f"{self.axis} for inputs of rank {len(input_shape)}")
        self._shape = tuple(input_shape[len(input_shape) - len(axes):])
        self.gamma = self.add_weight("gamma", self._shape, self._inits[0], self._regs[0]) if self.scale else None
        self.beta = self.add_weight("beta", self._shape, self._inits[1], self._regs[1]) if self.center else None

    def call(self, x, training=None):
        return F.layer_norm(x, self._shape, self.gamma, self.beta, self.epsilon)
