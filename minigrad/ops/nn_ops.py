"""Primitives for the neural-network layers: embedding lookup, binary cross-entropy.

Embedding:  y[..., :] = W[idx[...], :];  dW[k] = sum of gy over the positions where idx == k
            (zero for padding_idx, whose row is never trained).
BCE:        l = -w (t log x + (1 - t) log(1 - x)), each log clamped at -100 like torch;
            dl/dx = w (x - t) / max(x (1 - x), 1e-12),  dl/dt = w (log(1 - x) - log x).
"""
import numpy as np

from ..autograd import Function
from ..tensor import Tensor
from .convert import constant
from .loss import reduce_loss
from .shape import ScatterAdd

__all__ = ["embedding", "binary_cross_entropy"]


class Embedding(Function):
    """weight: (num_embeddings, dim), indices: integer array (*) -> (*, dim)."""

    backward_reads_inputs = False

    def __init__(self, indices, padding_idx=None):
        self.indices, self.padding_idx = indices, padding_idx

    def forward(self, weight):
        self.num = weight.shape[0]
        return weight[self.indices]

    def backward(self, gy):
        flat = self.indices.reshape(-1)
        g = gy.reshape(flat.shape[0], gy.shape[-1])
        gw = ScatterAdd(flat, (self.num, gy.shape[-1]), False)(g)
        if self.padding_idx is not None:
            keep = self.xp.ones((self.num, 1), dtype=gy.dtype)
            keep[self.padding_idx] = 0
            gw = gw * Tensor._make(keep, gy.device)
        return gw


def embedding(input, weight, padding_idx=None, max_norm=None):
    """input: integer indices (*), weight: (num_embeddings, dim) -> (*, dim)."""
    if max_norm is not None:
        raise NotImplementedError("embedding: max_norm is not supported")
    idx = input.array if isinstance(input, Tensor) else weight.xp.asarray(input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got {idx.dtype}")
    n = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):  # torch refuses negative indices too
        raise IndexError(f"embedding: index out of range for {n} embeddings (got range [{int(idx.min())}, "
                         f"{int(idx.max())}])")
    if padding_idx is not None and padding_idx < 0:
        padding_idx += n
    return Embedding(idx, padding_idx)(weight)


class BinaryCrossEntropy(Function):
    """Elementwise BCE of probabilities x against targets t (weight w folded in), unreduced."""

    differentiable_backward = False

    def __init__(self, weight=None):
        self.weight = weight

    def forward(self, x, t):
        xp = self.xp
        with np.errstate(divide="ignore"):
            log_x = xp.maximum(xp.log(x), -100.0)
            log_1mx = xp.maximum(xp.log1p(-x), -100.0)
        loss = -(t * log_x + (1 - t) * log_1mx)
        if self.weight is not None:
            loss = loss * self.weight
        self.log_x, self.log_1mx = log_x, log_1mx
        return loss.astype(x.dtype, copy=False)

    def backward(self, gy):
        x, t = self.inputs
        g = gy.array if self.weight is None else gy.array * self.weight
        gx = g * (x.array - t.array) / self.xp.maximum(x.array * (1 - x.array), 1e-12)
        gt = g * (self.log_1mx - self.log_x) if t.requires_grad else None
        return Tensor._make(gx.astype(x.dtype, copy=False), gy.device), (
            None if gt is None else Tensor._make(gt.astype(t.dtype, copy=False), gy.device))


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """input: probabilities in [0, 1], target: same shape; logs clamped at -100 like torch."""
    target = target if isinstance(target, Tensor) else constant(target, input)
    if input.shape != target.shape:
        raise ValueError(f"binary_cross_entropy: input shape {input.shape} and target shape {target.shape} differ")
    x = input.array
    if ((x < 0) | (x > 1)).any():
        raise ValueError("binary_cross_entropy: input values must lie in [0, 1]; pass logits to "
                         "binary_cross_entropy_with_logits instead")
    w = None if weight is None else (weight.array if isinstance(weight, Tensor) else input.xp.asarray(weight))
    return reduce_loss(BinaryCrossEntropy(w)(input, target), reduction, "binary_cross_entropy")
