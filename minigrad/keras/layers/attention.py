"""Keras' MultiHeadAttention over minigrad.nn.functional.scaled_dot_product_attention.

Keras' MultiHeadAttention has its own key_dim (independent of the embedding width) and
per-head projection kernels, so it is written here over F.scaled_dot_product_attention rather
than wrapping nn.MultiheadAttention.
"""
import numpy as np

from ...nn import functional as F
from ...ops.convert import constant
from ...tensor import Tensor
from .base import Layer

# Keras masks with a large negative number, not -inf: a row with nothing to attend to gets
# uniform weights (torch's SDPA would give NaN there)
_MASKED = -1e9


class MultiHeadAttention(Layer):
    """Keras' multi-head attention.

    call(query (B, T, Eq), value (B, S, Ev), key=None (B, S, Ek; default value),
         attention_mask=None (B, T, S) or (T, S), 1/True = attend, return_attention_scores=False,
         training=None, use_causal_mask=False) -> (B, T, output_shape or Eq)
         [, scores (B, num_heads, T, S) when return_attention_scores].

    Weights, in Keras' order and shapes: query/kernel (Eq, H, key_dim), query/bias (H, key_dim),
    key/kernel (Ek, H, key_dim), key/bias, value/kernel (Ev, H, value_dim), value/bias,
    attention_output/kernel (H, value_dim, out), attention_output/bias (out,).
    """

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True, output_shape=None,
                 attention_axes=None, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if int(num_heads) < 1 or int(key_dim) < 1:
            raise ValueError(f"MultiHeadAttention: num_heads and key_dim must be positive, got {num_heads}, {key_dim}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"MultiHeadAttention: dropout must be in [0, 1), got {dropout}")
        if attention_axes not in (None, 1, (1,), [1]):
            raise NotImplementedError("MultiHeadAttention: only attention over the sequence axis "
                                      "(attention_axes=None) is supported")
        self.num_heads, self.key_dim = int(num_heads), int(key_dim)
        self.value_dim = int(value_dim) if value_dim is not None else self.key_dim
        self.dropout, self.output_shape_arg = float(dropout), output_shape
        self._set_kernel_and_bias(use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer)
        self._weights_built = False

    def _dense(self, name, fan_in, heads_shape):
        kernel = self.add_weight(f"{name}/kernel", (fan_in,) + heads_shape, self.kernel_initializer,
                                 self.kernel_regularizer)
        bias = self.add_weight(f"{name}/bias", heads_shape, self.bias_initializer, self.bias_regularizer) \
            if self.use_bias else None
        return kernel, bias

    def _build_weights(self, q_dim, k_dim, v_dim):
        h = self.num_heads
        out = self.output_shape_arg
        out = q_dim if out is None else (out if isinstance(out, int) else int(tuple(out)[-1]))
        self.query_dense = self._dense("query", q_dim, (h, self.key_dim))
        self.key_dense = self._dense("key", k_dim, (h, self.key_dim))
        self.value_dense = self._dense("value", v_dim, (h, self.value_dim))
        kernel = self.add_weight("attention_output/kernel", (h, self.value_dim, out), self.kernel_initializer,
                                 self.kernel_regularizer)
        bias = self.add_weight("attention_output/bias", (out,), self.bias_initializer, self.bias_regularizer) \
            if self.use_bias else None
        self.output_dense = (kernel, bias)
        self._weights_built = True

    def build(self, input_shape):
        pass  # the weights need the value's width too: made on the first call

    @staticmethod
    def _project(x, dense):
        """x (B, T, E) -> (B, H, T, d) with kernel (E, H, d) and bias (H, d)."""
        kernel, bias = dense
        e, h, d = kernel.shape
        y = (x @ kernel.reshape(e, h * d)).reshape(x.shape[0], x.shape[1], h, d)
        if bias is not None:
            y = y + bias
        return y.permute(0, 2, 1, 3)

    @staticmethod
    def _with_padding_masks(attention_mask, query_mask, value_mask, key_mask, shape):
        """Keras' rule: query_mask (B, T) and value/key masks (B, S) combine into (B, T, S), AND-ed with
        attention_mask."""
        def arr(m):
            return np.asarray(m.numpy() if isinstance(m, Tensor) else m, bool)
        mask = None
        for m, expand in ((query_mask, -1), (value_mask, 1), (key_mask, 1)):
            if m is not None:
                m = np.expand_dims(arr(m), expand)
                mask = m if mask is None else mask & m
        if mask is None:
            return attention_mask
        mask = np.broadcast_to(mask, shape)
        return mask if attention_mask is None else arr(attention_mask) & mask

    def _mask(self, attention_mask, use_causal_mask, t, s):
        """The additive (B or 1, 1, T, S) mask: 0 where attending, -1e9 elsewhere; None when nothing is masked."""
        keep = None
        if attention_mask is not None:
            m = attention_mask.numpy() if isinstance(attention_mask, Tensor) else np.asarray(attention_mask)
            m = m.astype(bool)
            if m.ndim == 2:
                m = m[None]
            if m.ndim != 3 or m.shape[-2:] != (t, s):
                raise ValueError(f"MultiHeadAttention {self.name!r}: attention_mask must be (B, {t}, {s}) or ({t}, {s}) "
                                 f"for query length {t} and value length {s}, got shape {m.shape}")
            keep = m[:, None]
        if use_causal_mask:
            causal = np.tril(np.ones((t, s), dtype=bool))[None, None]  # aligned top-left, as Keras
            keep = causal if keep is None else keep & causal
        if keep is None:
            return None
        return np.where(keep, 0.0, _MASKED).astype(np.float32)

    def call(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None, attention_mask=None,
             return_attention_scores=False, training=None, use_causal_mask=False):
        key = value if key is None else key
        for name, t in (("query", query), ("value", value), ("key", key)):
            if t.ndim != 3:
                raise ValueError(f"MultiHeadAttention {self.name!r}: {name} must be (batch, length, features), "
                                 f"got shape {tuple(t.shape)}")
        if key.shape[1] != value.shape[1] or query.shape[0] != value.shape[0]:
            raise ValueError(f"MultiHeadAttention {self.name!r}: query {tuple(query.shape)}, value "
                             f"{tuple(value.shape)} and key {tuple(key.shape)} do not fit")
        if not self._weights_built:
            self._build_weights(query.shape[-1], key.shape[-1], value.shape[-1])
        q = self._project(query, self.query_dense)
        k = self._project(key, self.key_dense)
        v = self._project(value, self.value_dense)
        attention_mask = self._with_padding_masks(attention_mask, query_mask, value_mask, key_mask,
                                                  (query.shape[0], query.shape[1], value.shape[1]))
        mask = self._mask(attention_mask, use_causal_mask, query.shape[1], value.shape[1])
        mask = None if mask is None else constant(mask, q)
        rate = self.dropout if training else 0.0
        if return_attention_scores:
            scores = (q * (1.0 / np.sqrt(self.key_dim))) @ k.transpose(-2, -1)
            if mask is not None:
                scores = scores + mask
            weights = F.softmax(scores, dim=-1)
            out = F.dropout(weights, rate, training=rate > 0) @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=rate)
        b, h, t, dv = out.shape
        kernel, bias = self.output_dense
        y = out.permute(0, 2, 1, 3).reshape(b, t, h * dv) @ kernel.reshape(h * dv, kernel.shape[-1])
        if bias is not None:
            y = y + bias
        return (y, weights) if return_attention_scores else y
