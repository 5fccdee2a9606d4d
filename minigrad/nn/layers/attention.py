"""MultiheadAttention, with torch.nn.MultiheadAttention's parameters, arguments and mask conventions."""
import numpy as np

from ... import ops
from ...ops.attention import scaled_dot_product_attention
from ...tensor import Tensor
from .. import functional as F
from .. import init
from ..module import Module
from ._util import new_parameter
from .linear import Linear


def _float_mask(mask, name, dtype):
    """A bool mask (True = masked out, nn.MultiheadAttention's convention) -> additive 0 / -inf;
    a float mask is kept (cast to dtype)."""
    if mask is None:
        return None
    if not isinstance(mask, Tensor):
        mask = Tensor(np.asarray(mask))
    if mask.dtype == np.bool_:
        return Tensor(np.where(mask.numpy(), -np.inf, 0.0).astype(dtype), device=mask.device)
    if mask.dtype.kind != "f":
        raise TypeError(f"MultiheadAttention: {name} must be a bool or float tensor, got dtype {mask.dtype}")
    return mask if mask.dtype == dtype else mask.to(dtype)


class MultiheadAttention(Module):
    """Attention over num_heads heads of embed_dim // num_heads features each.

    query: (L, N, E) ((N, L, E) with batch_first, (L, E) unbatched), key: (S, N, kdim), value: (S, N, vdim)
    -> (out (L, N, E), weights (N, L, S), or (N, num_heads, L, S) when average_attn_weights=False, or None
    when need_weights=False). Masks: key_padding_mask (N, S), attn_mask (L, S) or (N * num_heads, L, S);
    a bool mask marks the positions to leave out (True = masked, the opposite of
    F.scaled_dot_product_attention's), a float mask is added to the scores.

    Parameters as torch names them: in_proj_weight (3E, E) and in_proj_bias (3E,), or q_proj_weight,
    k_proj_weight, v_proj_weight when kdim or vdim differ from embed_dim; out_proj (a Linear).
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=False, device=None, dtype=None):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be a positive multiple of "
                             f"num_heads ({num_heads})")
        if add_bias_kv or add_zero_attn:
            raise NotImplementedError("MultiheadAttention: add_bias_kv and add_zero_attn are not supported")
        self.embed_dim, self.num_heads, self.dropout, self.batch_first = embed_dim, num_heads, dropout, batch_first
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self.head_dim = embed_dim // num_heads
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = new_parameter((3 * embed_dim, embed_dim), dtype, device)
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.register_parameter("in_proj_weight", None)
            self.q_proj_weight = new_parameter((embed_dim, embed_dim), dtype, device)
            self.k_proj_weight = new_parameter((embed_dim, self.kdim), dtype, device)
            self.v_proj_weight = new_parameter((embed_dim, self.vdim), dtype, device)
        if bias:
            self.in_proj_bias = new_parameter((3 * embed_dim,), dtype, device)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, device=device, dtype=dtype)
        self._reset_parameters()

    def _reset_parameters(self):
        """As torch: Xavier-uniform projections, zero biases (out_proj's weight keeps Linear's init)."""
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def _projections(self, query, key, value):
        E = self.embed_dim
        b = self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else (b[:E], b[E:2 * E], b[2 * E:])
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            wq, wk, wv = w[:E], w[E:2 * E], w[2 * E:]
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        return F.linear(query, wq, bq), F.linear(key, wk, bk), F.linear(value, wv, bv)

    def _check(self, query, key, value, key_padding_mask, attn_mask):
        name = "MultiheadAttention"
        batched = query.ndim == 3
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(f"{name}: query, key and value must all be 3-D (batched) or 2-D (unbatched), got "
                             f"shapes {tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
        if query.shape[-1] != self.embed_dim or key.shape[-1] != self.kdim or value.shape[-1] != self.vdim:
            raise ValueError(f"{name}: expected feature sizes (embed_dim={self.embed_dim}, kdim={self.kdim}, "
                             f"vdim={self.vdim}), got query {tuple(query.shape)}, key {tuple(key.shape)}, "
                             f"value {tuple(value.shape)}")
        if key.shape[:-1] != value.shape[:-1]:
            raise ValueError(f"{name}: key {tuple(key.shape)} and value {tuple(value.shape)} must have the same "
                             "sequence length and batch size")
        if batched:
            bdim = 0 if self.batch_first else 1
            if query.shape[bdim] != key.shape[bdim]:
                raise ValueError(f"{name}: query {tuple(query.shape)} and key {tuple(key.shape)} differ in batch "
                                 f"size (batch_first={self.batch_first})")
        n = (query.shape[0 if self.batch_first else 1],) if batched else ()
        L = query.shape[1 if batched and self.batch_first else 0]
        S = key.shape[1 if batched and self.batch_first else 0]
        if key_padding_mask is not None and tuple(key_padding_mask.shape) != n + (S,):
            raise ValueError(f"{name}: key_padding_mask must have shape {n + (S,)}, got "
                             f"{tuple(key_padding_mask.shape)}")
        if attn_mask is not None and tuple(attn_mask.shape) not in ((L, S), ((n[0] if n else 1) * self.num_heads,
                                                                              L, S)):
            raise ValueError(f"{name}: attn_mask must have shape {(L, S)} or "
                             f"{((n[0] if n else 1) * self.num_heads, L, S)}, got {tuple(attn_mask.shape)}")
        return batched

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        batched = self._check(query, key, value, key_padding_mask, attn_mask)
        if is_causal and attn_mask is None:
            raise RuntimeError("MultiheadAttention: is_causal is a hint that attn_mask is the causal mask; give "
                               "attn_mask too (nn.Transformer.generate_square_subsequent_mask makes it)")
        if not batched:  # one sequence: a batch of one
            query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0) if isinstance(key_padding_mask, Tensor) \
                    else np.asarray(key_padding_mask)[None]
        if not batched or not self.batch_first:  # work in (N, L, E)
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        (N, L, _), S, H, hd = query.shape, key.shape[1], self.num_heads, self.head_dim
        q, k, v = self._projections(query, key, value)
        q, k, v = (t.reshape(N, -1, H, hd).transpose(1, 2) for t in (q, k, v))  # (N, H, len, hd)

        causal = is_causal and key_padding_mask is None and not need_weights  # the mask is then not needed
        mask = None
        if not causal:
            am = _float_mask(attn_mask, "attn_mask", q.dtype)
            kpm = _float_mask(key_padding_mask, "key_padding_mask", q.dtype)
            if am is not None:
                mask = am if am.ndim == 2 else am.reshape(N, H, L, S)
            if kpm is not None:
                kpm = kpm.reshape(N, 1, 1, S)
                mask = kpm if mask is None else mask + kpm
        dropout_p = self.dropout if self.training else 0.0
        if not need_weights:
            out = scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p, is_causal=causal)
            weights = None
        else:  # the weights are wanted: the plain computation, which holds them
            scores = ops.matmul(q, k.transpose(-2, -1)) * (1.0 / float(np.sqrt(hd)))
            if mask is not None:
                scores = scores + mask
            weights = ops.softmax(scores, dim=-1)
            if dropout_p > 0.0:
                weights = F.dropout(weights, dropout_p)
            out = ops.matmul(weights, v)
            if average_attn_weights:
                weights = weights.mean(1)
            if not batched:
                weights = weights[0]
        out = self.out_proj(out.transpose(1, 2).reshape(N, L, self.embed_dim))
        if not batched:
            out = out[0]
        elif not self.batch_first:
            out = out.transpose(0, 1)
        return out, weights

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, batch_first={self.batch_first}"
