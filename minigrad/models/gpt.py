"""A GPT with the GPT-2 architecture, built from minigrad.nn.

    config = GPTConfig(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128)
    model = GPT(config)
    logits = model(idx)                     # idx: (B, T) int64 -> (B, T, vocab_size)
    out = model.generate(idx, 100, top_k=40)

Learned position embeddings, pre-norm blocks (x + attn(ln_1(x)), x + mlp(ln_2(x))), tanh GELU,
a final LayerNorm and an output layer tied to the token embedding. Module names are Hugging
Face's / nanoGPT's (`transformer.wte`, `transformer.h.0.attn.c_attn`, ..., `lm_head`), so
state_dict keys line up with theirs (Hugging Face stores the four Conv1D weights transposed:
see minigrad.models.hf).
"""
import math
from dataclasses import asdict, dataclass

import numpy as np

from .. import nn, ops
from ..grad_mode import no_grad
from ..random import rng as default_rng
from ..nn import functional as F
from ..factories import arange
from ..tensor import Tensor
from ..utils.checkpoint import checkpoint

__all__ = ["GPTConfig", "GPT", "Block", "CausalSelfAttention", "MLP"]


@dataclass
class GPTConfig:
    """The shape of a GPT; the defaults are GPT-2 small (124M parameters).

    gradient_checkpointing=True recomputes each block's forward in the backward pass
    (minigrad.utils.checkpoint): far less activation memory for one more forward.
    """
    vocab_size: int = 50257
    block_size: int = 1024
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True
    layer_norm_epsilon: float = 1e-5
    gradient_checkpointing: bool = False

    def __post_init__(self):
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"GPTConfig: {name} must be a positive int, got {value!r}")
        if self.n_embd % self.n_head != 0:
            raise ValueError(f"GPTConfig: n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        for name in ("dropout", "layer_norm_epsilon"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
                raise ValueError(f"GPTConfig: {name} must be a number, got {value!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"GPTConfig: dropout must be in [0, 1), got {self.dropout}")
        if not 0.0 < self.layer_norm_epsilon < 1.0:
            raise ValueError(f"GPTConfig: layer_norm_epsilon must be in (0, 1), got {self.layer_norm_epsilon}")

    def to_dict(self):
        return asdict(self)


class Linear(nn.Linear):
    """nn.Linear without torch's default init: GPT._init_weights sets every weight (drawing the
    default first would cost time and, for a 50k-vocabulary head, a float64 temporary of 300 MB)."""

    def reset_parameters(self):
        pass


class Embedding(nn.Embedding):
    """nn.Embedding without the default init, for the same reason."""

    def reset_parameters(self):
        pass


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention.  x: (B, T, C) -> (B, T, C).

    With `past=(k, v)` (each (B, n_head, T_past, C // n_head)) the new queries attend to the past
    keys too; the returned `present` is the cache extended by this step's keys and values.
    """

    def __init__(self, config):
        super().__init__()
        self.n_head, self.n_embd, self.dropout = config.n_head, config.n_embd, config.dropout
        self.c_attn = Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)

    def _heads(self, t, B, T):
        return t.reshape(B, T, self.n_head, self.n_embd // self.n_head).transpose(1, 2)

    def forward(self, x, past=None):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        q, k, v = self._heads(q, B, T), self._heads(k, B, T), self._heads(v, B, T)
        if past is not None:
            k, v = ops.cat([past[0], k], dim=2), ops.cat([past[1], v], dim=2)
        S = k.shape[2]
        mask = None
        if past is not None and T > 1:  # new query i sits at position S - T + i: it sees keys j <= that
            mask = np.tril(np.ones((T, S), dtype=bool), k=S - T)
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p,
                                           is_causal=past is None and T > 1)
        y = y.transpose(1, 2).reshape(B, T, C)
        return self.resid_dropout(self.c_proj(y)), (k, v)


class MLP(nn.Module):
    """x: (B, T, C) -> c_proj(gelu_tanh(c_fc(x))): (B, T, C), 4C wide inside."""

    def __init__(self, config):
        super().__init__()
        self.c_fc = Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU(approximate="tanh")
        self.c_proj = Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """A pre-norm transformer block.  x: (B, T, C) -> (B, T, C)."""

    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x, past=None):
        a, present = self.attn(self.ln_1(x), past)
        x = x + a
        return x + self.mlp(self.ln_2(x)), present

    def forward_train(self, x):
        return self.forward(x)[0]


class GPT(nn.Module):
    """GPT-2: idx (B, T) integer tokens -> logits (B, T, vocab_size).

    `model(idx, targets)` also returns the mean cross-entropy against targets (B, T) (positions
    holding -1 are ignored): `logits, loss`, as nanoGPT's model does.
    """

    def __init__(self, config):
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"GPT: config must be a GPTConfig, got {type(config).__name__}")
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=Embedding(config.vocab_size, config.n_embd),
            wpe=Embedding(config.block_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon, bias=config.bias),
        ))
        self.lm_head = Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied: one tensor, both roles
        self._init_weights()

    def _init_weights(self):
        """GPT-2's: normal(0, 0.02) weights and embeddings, zero biases, LayerNorm (1, 0), and the
        residual projections (attn.c_proj, mlp.c_proj) at 0.02 / sqrt(2 n_layer), so the residual
        stream's variance does not grow with depth."""
        rng = default_rng()
        for name, p in self.named_parameters():
            if p.ndim == 2:
                std = 0.02 / math.sqrt(2 * self.config.n_layer) if name.endswith("c_proj.weight") else 0.02
                if p.dtype in (np.float32, np.float64) and isinstance(p.array, np.ndarray):
                    rng.standard_normal(dtype=p.dtype, out=p.array)  # drawn in place: no temporary copy
                    p.array *= p.dtype.type(std)
                else:
                    nn.init.normal_(p, 0.0, std)
            elif name.endswith(".bias"):
                nn.init.zeros_(p)
            else:  # LayerNorm weights
                nn.init.ones_(p)

    @classmethod
    def from_pretrained(cls, directory, dtype=None, device=None, **overrides):
        """Load a Hugging Face GPT-2 checkpoint directory (config.json + model.safetensors); see models.hf."""
        from .hf import from_pretrained
        return from_pretrained(directory, dtype=dtype, device=device, **overrides)

    def save_pretrained(self, directory):
        """Write config.json + model.safetensors in transformers' GPT-2 layout; see models.hf."""
        from .hf import save_pretrained
        return save_pretrained(self, directory)

    def get_num_params(self, non_embedding=True):
        """Parameter count (the tied lm_head counted once); without the position embeddings by default."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.transformer.wpe.weight.numel() if non_embedding else n

    def _check_idx(self, idx, past_length=0):
        if not isinstance(idx, Tensor):
            raise TypeError(f"GPT: idx must be a Tensor of token ids, got {type(idx).__name__}")
        if idx.dtype.kind not in "iu":
            raise TypeError(f"GPT: idx must hold integer token ids, got dtype {idx.dtype}")
        if idx.ndim != 2:
            raise ValueError(f"GPT: idx must be (B, T), got shape {tuple(idx.shape)}")
        T = idx.shape[1]
        if T == 0:
            raise ValueError("GPT: idx has no tokens (shape (B, 0))")
        if past_length + T > self.config.block_size:
            raise ValueError(f"GPT: sequence of length {past_length + T} is longer than block_size "
                             f"{self.config.block_size}")
        a = idx.array
        if a.size and (int(a.min()) < 0 or int(a.max()) >= self.config.vocab_size):
            raise ValueError(f"GPT: token ids must be in [0, {self.config.vocab_size}), got range "
                             f"[{int(a.min())}, {int(a.max())}]")

    def forward(self, idx, targets=None, past=None, use_cache=False):
        """idx: (B, T); targets: (B, T) or None; past: the `present` of an earlier call (KV cache).

        Returns logits (B, T, vocab_size); with targets, (logits, loss); with use_cache=True or past
        given, (logits, present), where present is the list of (k, v) per layer, each
        (B, n_head, T_past + T, head_size), to pass as `past` with the next tokens.
        """
        use_cache = use_cache or past is not None
        past_length = 0 if past is None else past[0][0].shape[2]
        self._check_idx(idx, past_length)
        B, T = idx.shape
        pos = arange(past_length, past_length + T, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        presents = []
        use_ckpt = self.config.gradient_checkpointing and self.training and not use_cache
        for i, block in enumerate(self.transformer.h):
            if use_ckpt:
                x = checkpoint(block.forward_train, x)
            else:
                x, present = block(x, None if past is None else past[i])
                presents.append(present)
        logits = self.lm_head(self.transformer.ln_f(x))
        if use_cache:
            return logits, presents
        if targets is None:
            return logits
        loss = F.cross_entropy(logits.reshape(B * T, -1), targets.reshape(B * T), ignore_index=-1)
        return logits, loss

    def configure_optimizers(self, weight_decay, learning_rate, betas=(0.9, 0.95), device_type=None, eps=1e-8):
        """AdamW with two parameter groups: weight decay on the 2-D weights (matmuls, embeddings),
        none on biases and LayerNorm parameters (as nanoGPT does; device_type is accepted for its
        call signature and not needed)."""
        from ..optim import AdamW
        return AdamW(self.param_groups(weight_decay), lr=learning_rate, betas=betas, eps=eps)

    def param_groups(self, weight_decay):
        """[{params: 2-D weights, weight_decay}, {params: the rest, weight_decay: 0}]."""
        params = [p for p in self.parameters() if p.requires_grad]
        return [{"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
                {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]

    def _next_logits(self, idx, past, use_cache):
        """Logits (B, vocab) for the token after idx, and the updated cache."""
        T = idx.shape[1]
        bs = self.config.block_size
        if not use_cache:
            return self(idx[:, -bs:])[:, -1, :], None
        if past is not None and past[0][0].shape[2] + 1 > bs:
            past = None  # the window moves: positions are learned, so the cache is rebuilt on the crop
        if past is None:
            logits, past = self(idx[:, -bs:], use_cache=True)
        else:
            logits, past = self(idx[:, T - 1:], past=past)
        return logits[:, -1, :], past

    @no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, do_sample=True, use_cache=True,
                 generator=None):
        """Extend idx (B, T) by max_new_tokens tokens: (B, T + max_new_tokens).

        Each step samples from softmax(logits / temperature) restricted to the top_k most likely
        tokens (do_sample=False: the most likely token, greedy). With use_cache (the default) each
        step feeds only the newest token and reuses the earlier keys and values; once the text is
        longer than block_size the window is cropped to the last block_size tokens and the cache
        rebuilt from it (positions are learned, so cached keys cannot shift): past block_size every
        step is a full pass over the window, as without the cache.
        """
        self._check_idx(idx[:, -self.config.block_size:] if isinstance(idx, Tensor) and idx.ndim == 2 else idx)
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, (int, np.integer)) \
                or max_new_tokens < 0:
            raise ValueError(f"GPT.generate: max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
        if do_sample and not temperature > 0:
            raise ValueError(f"GPT.generate: temperature must be > 0 when sampling, got {temperature}")
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer))
                                  or top_k < 1):
            raise ValueError(f"GPT.generate: top_k must be a positive int or None, got {top_k!r}")
        was_training = self.training
        self.eval()
        try:
            past = None
            for _ in range(max_new_tokens):
                logits, past = self._next_logits(idx, past, use_cache)
                if do_sample:
                    idx_next = sample_next(logits, temperature, top_k, generator)
                else:
                    idx_next = ops.argmax(logits, dim=-1, keepdim=True)
                idx = ops.cat([idx, idx_next.to(idx.dtype)], dim=1)
        finally:
            self.train(was_training)
        return idx


def sample_next(logits, temperature=1.0, top_k=None, generator=None):
    """logits: (B, vocab) -> (B, 1) token ids drawn from softmax(logits / temperature), keeping
    only the top_k largest logits when top_k is given."""
    logits = logits / temperature
    if top_k is not None:
        v, _ = ops.topk(logits, min(top_k, logits.shape[-1]))
        logits = ops.where(logits < v[:, -1:], float("-inf"), logits)
    return ops.multinomial(F.softmax(logits, dim=-1), num_samples=1, generator=generator)
