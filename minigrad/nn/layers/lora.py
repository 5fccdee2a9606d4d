"""LoRA: a frozen Linear plus a trainable low-rank update (Hu et al., 2021).

    y = x W^T + b + dropout(x) A^T B^T * (lora_alpha / r)

W (out, in) and b stay frozen; only A (r, in) and B (out, r) learn. B starts at zero, so a freshly
adapted model computes exactly what the base model did, and training moves it away from there.
"""
import math

import numpy as np

from ... import ops
from ...autograd import no_grad
from .. import functional as F
from .. import init
from ..module import Module
from ._util import new_parameter
from .linear import Linear


def _is_number(x):
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def check_lora_args(who, r, lora_alpha, lora_dropout):
    """ValueError naming `who` unless r is a positive int, lora_alpha > 0 and 0 <= lora_dropout < 1."""
    if not isinstance(r, (int, np.integer)) or isinstance(r, bool) or r <= 0:
        raise ValueError(f"{who}: r must be a positive int, got {r!r}")
    if not _is_number(lora_alpha) or not lora_alpha > 0:
        raise ValueError(f"{who}: lora_alpha must be a positive number, got {lora_alpha!r}")
    if not _is_number(lora_dropout) or not 0.0 <= lora_dropout < 1.0:
        raise ValueError(f"{who}: lora_dropout must be a number in [0, 1), got {lora_dropout!r}")


class LoRALinear(Module):
    """Wrap `base_linear` (a Linear) with a rank-r update; x: (*, in_features) -> (*, out_features).

    Parameters: `weight` and `bias` are the base layer's own (frozen, and under the same names, so a
    pretrained state_dict still loads), `lora_A` (r, in_features) Kaiming-uniform, `lora_B`
    (out_features, r) zeros. scaling = lora_alpha / r.
    """

    def __init__(self, base_linear, r, lora_alpha=1, lora_dropout=0.0):
        super().__init__()
        if not isinstance(base_linear, Linear):
            raise TypeError(f"LoRALinear: base_linear must be an nn.Linear, got {type(base_linear).__name__}")
        check_lora_args("LoRALinear", r, lora_alpha, lora_dropout)
        self.in_features, self.out_features = base_linear.in_features, base_linear.out_features
        self.r, self.lora_alpha, self.lora_dropout = int(r), lora_alpha, float(lora_dropout)
        self.scaling = lora_alpha / r
        self.weight = base_linear.weight.requires_grad_(False)
        if base_linear.bias is not None:
            self.bias = base_linear.bias.requires_grad_(False)
        else:
            self.register_parameter("bias", None)
        weight = base_linear.weight
        self.lora_A = new_parameter((r, self.in_features), weight.dtype, weight.device)
        self.lora_B = new_parameter((self.out_features, r), weight.dtype, weight.device)
        self.merged = False
        self.reset_lora_parameters()

    def reset_lora_parameters(self):
        init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        init.zeros_(self.lora_B)

    def delta_weight(self):
        """The update B A * scaling, shape (out_features, in_features)."""
        return (self.lora_B @ self.lora_A) * self.scaling

    def forward(self, x):
        y = F.linear(x, self.weight, self.bias)
        if self.merged:
            return y
        h = F.dropout(x, self.lora_dropout, self.training)
        return y + ops.matmul(ops.matmul(h, self.lora_A.T), self.lora_B.T) * self.scaling

    def merge(self):
        """Fold B A * scaling into the base weight: one matmul per call afterwards, same outputs."""
        if self.merged:
            raise RuntimeError("LoRALinear.merge: the adapter is already merged")
        with no_grad():
            self.weight.array[...] += self.delta_weight().array.astype(self.weight.dtype, copy=False)
        self.weight._version[0] += 1
        self.merged = True

    def unmerge(self):
        """Take the update back out of the base weight (equal to before merge() up to rounding)."""
        if not self.merged:
            raise RuntimeError("LoRALinear.unmerge: the adapter is not merged")
        with no_grad():
            self.weight.array[...] -= self.delta_weight().array.astype(self.weight.dtype, copy=False)
        self.weight._version[0] += 1
        self.merged = False

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, r={self.r}, "
                f"lora_alpha={self.lora_alpha}, lora_dropout={self.lora_dropout}, merged={self.merged}")
