"""Embedding and the recurrent layers (SimpleRNN, LSTM, GRU) in Keras' weight layout, stepping
with minigrad.nn's recurrent step."""
import numpy as np

from ... import ops
from ...nn import functional as F
from ...nn.layers.rnn import _rnn_step
from ...tensor import Tensor
from .. import activations, initializers
from .base import Layer


class Embedding(Layer):
    """Integer ids (N, T) -> vectors (N, T, output_dim); embeddings: (input_dim, output_dim)."""

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 mask_zero=False, input_length=None, **kwargs):
        super().__init__(**kwargs)
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        self.embeddings_initializer = embeddings_initializer
        self.embeddings_regularizer = embeddings_regularizer
        self.mask_zero = mask_zero  # accepted; masking is not implemented (padding ids get a vector too)

    def build(self, input_shape):
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self.embeddings_initializer, self.embeddings_regularizer)

    def call(self, x, training=None):
        ids = np.asarray(x.numpy() if isinstance(x, Tensor) else x).astype(np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.input_dim):
            raise IndexError(f"Embedding {self.name!r}: ids must be in [0, {self.input_dim}), got "
                             f"[{ids.min()}, {ids.max()}]")
        return F.embedding(ids, self.embeddings)


class _RNN(Layer):
    """Base of SimpleRNN, LSTM, GRU: x (N, T, F) -> (N, units) or, with return_sequences, (N, T, units).

    Weights in Keras' layout: kernel (F, G*units), recurrent_kernel (units, G*units), bias; G gates.
    """

    gates = 1

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 return_sequences=False, return_state=False, go_backwards=False, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = use_bias
        self._inits = (kernel_initializer, recurrent_initializer, bias_initializer)
        self._regs = (kernel_regularizer, recurrent_regularizer, bias_regularizer)
        self.return_sequences, self.return_state, self.go_backwards = return_sequences, return_state, go_backwards

    def _bias_shape(self):
        return (self.gates * self.units,)

    def _bias_init(self):
        return self._inits[2]

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"{type(self).__name__} {self.name!r}: expected input (batch, timesteps, features), "
                             f"got shape {tuple(input_shape)}")
        g = self.gates * self.units
        self.kernel = self.add_weight("kernel", (input_shape[-1], g), self._inits[0], self._regs[0])
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, g), self._inits[1], self._regs[1])
        self.bias = self.add_weight("bias", self._bias_shape(), self._bias_init(), self._regs[2]) \
            if self.use_bias else None

    def _zeros(self, n, like):
        return Tensor._make(like.xp.zeros((n, self.units), dtype=like.dtype), like.device)

    def call(self, x, training=None, initial_state=None):
        """x: (N, T, F). The input projection of every step is one matmul; nn's recurrent step does the rest."""
        n, steps = x.shape[0], x.shape[1]
        state = list(initial_state) if initial_state is not None else self._initial_state(n, x)
        kernel, recurrent, b_in, b_rec = self._torch_layout()
        xw = x @ kernel
        if b_in is not None:
            xw = xw + b_in
        mode = self._mode()
        h, c = state[0], (state[1] if len(state) > 1 else None)
        outputs = []
        for t in (range(steps - 1, -1, -1) if self.go_backwards else range(steps)):
            if mode is not None:
                h, c = _rnn_step(mode, xw[:, t], h, c, recurrent.T, b_rec)
            else:
                h, c = self._custom_step(xw[:, t], h, c, recurrent, b_rec)
            outputs.append(h)
        state = [h] if c is None else [h, c]
        out = ops.stack(outputs, 1) if self.return_sequences else outputs[-1]
        return [out] + state if self.return_state else out

    def _torch_layout(self):
        """(kernel (F, G*u), recurrent kernel (u, G*u), input bias, recurrent bias), gates in torch's order."""
        return self.kernel, self.recurrent_kernel, self.bias, None

    def _mode(self):
        """nn's step name when the activations are the standard ones, else None (a custom step)."""
        return None

    def _initial_state(self, n, x):
        return [self._zeros(n, x)]


def _is(fn, name):
    return fn is activations.get(name)


class SimpleRNN(_RNN):
    """h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)."""

    def _mode(self):
        return "RNN_TANH" if _is(self.activation, "tanh") else "RNN_RELU" if _is(self.activation, "relu") else None

    def _custom_step(self, xw, h, c, recurrent, b_rec):
        return self.activation(xw + h @ recurrent), None


class LSTM(_RNN):
    """Keras' LSTM, gates in the order i, f, c, o (torch's i, f, g, o); the forget-gate bias starts
    at 1 (unit_forget_bias)."""

    gates = 4

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = unit_forget_bias

    def _bias_init(self):
        if not self.unit_forget_bias:
            return self._inits[2]
        base, u = initializers.get(self._inits[2]), self.units

        def init(shape, dtype=np.float32):
            b = np.asarray(base((u,)), dtype), np.ones(u, dtype), np.asarray(base((2 * u,)), dtype)
            return np.concatenate(b)
        return init

    def _initial_state(self, n, x):
        return [self._zeros(n, x), self._zeros(n, x)]

    def _mode(self):
        return "LSTM" if _is(self.activation, "tanh") and _is(self.recurrent_activation, "sigmoid") else None

    def _custom_step(self, xw, h, c, recurrent, b_rec):
        i, f, g, o = ops.chunk(xw + h @ recurrent, 4, 1)
        act, gate = self.activation, self.recurrent_activation
        c = gate(f) * c + gate(i) * act(g)
        return gate(o) * act(c), c


class GRU(_RNN):
    """Keras' GRU with reset_after=True (its default): gates z, r, h; bias (2, 3*units) = input and
    recurrent biases. h_t = z * h_{t-1} + (1 - z) * tanh(x W_h + b_h + r * (h_{t-1} U_h + b'_h)),
    which is torch's GRU with the z and r blocks swapped."""

    gates = 3

    def _bias_shape(self):
        return (2, 3 * self.units)

    def _torch_layout(self):
        u = self.units

        def swap(w):  # Keras' [z, r, h] blocks -> torch's [r, z, n]
            return ops.cat([w[..., u:2 * u], w[..., :u], w[..., 2 * u:]], -1)
        b = self.bias
        return (swap(self.kernel), swap(self.recurrent_kernel), None if b is None else swap(b[0]),
                None if b is None else swap(b[1]))

    def _mode(self):
        return "GRU" if _is(self.activation, "tanh") and _is(self.recurrent_activation, "sigmoid") else None

    def _custom_step(self, xw, h, c, recurrent, b_rec):
        hw = h @ recurrent
        if b_rec is not None:
            hw = hw + b_rec
        xr, xz, xn = ops.chunk(xw, 3, 1)
        hr, hz, hn = ops.chunk(hw, 3, 1)
        r = self.recurrent_activation(xr + hr)
        z = self.recurrent_activation(xz + hz)
        n = self.activation(xn + r * hn)
        return z * h + (1.0 - z) * n, None
