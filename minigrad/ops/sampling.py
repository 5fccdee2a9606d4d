"""Ops for picking tokens: topk (values carry a gradient, indices do not) and multinomial (draws, no gradient)."""
from collections import namedtuple

import numpy as np

from ..autograd import Function
from ..random import rng
from ..tensor import Tensor
from .shape import normalize_axis

__all__ = ["topk", "multinomial"]

TopK = namedtuple("TopK", ["values", "indices"])


class TopKValues(Function):
    """The k largest (or smallest) entries along `axis`; the gradient goes back to where they came from."""

    backward_reads_inputs = False

    def __init__(self, k, axis, largest, sorted_):
        self.k, self.axis, self.largest, self.sorted = k, axis, largest, sorted_

    def forward(self, x):
        xp = self.xp
        key = -x if self.largest else x
        # a stable argsort keeps the first of equal values first, a fixed order for ties
        order = xp.argsort(key, axis=self.axis, kind="stable")
        self.indices = xp.take(order, xp.arange(self.k), axis=self.axis)
        self.in_shape = x.shape
        return xp.take_along_axis(x, self.indices, axis=self.axis)

    def backward(self, gy):
        return _ScatterInto(self.indices, self.in_shape, self.axis)(gy)


class _ScatterInto(Function):
    """Place gy (the topk output's shape) at `indices` along `axis` of a zero tensor of `shape`."""

    backward_reads_inputs = False

    def __init__(self, indices, shape, axis):
        self.indices, self.shape, self.axis = indices, shape, axis

    def forward(self, gy):
        g = self.xp.zeros(self.shape, dtype=gy.dtype)
        self.xp.put_along_axis(g, self.indices, gy, axis=self.axis)
        return g

    def backward(self, gg):
        return Tensor._make(self.xp.take_along_axis(gg.array, self.indices, axis=self.axis), gg.device)


def topk(input, k, dim=-1, largest=True, sorted=True):
    """The k largest elements along dim (the k smallest with largest=False), in order, and their
    indices: a (values, indices) pair, like torch.topk.  input: (..., n, ...) -> (..., k, ...)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"topk: input must be a Tensor, got {type(input).__name__}")
    (axis,) = normalize_axis(dim, max(input.ndim, 1), "topk")
    n = input.shape[axis] if input.ndim else 1
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= n:
        raise ValueError(f"topk: k must be an int in [0, {n}] for dim {dim} of a tensor of shape "
                         f"{tuple(input.shape)}, got {k!r}")
    x = input if input.ndim else input.reshape(1)
    fn = TopKValues(int(k), axis, bool(largest), sorted)
    values = fn(x)
    indices = Tensor._make(fn.indices.astype(np.int64), input.device)
    if input.ndim == 0:
        values, indices = values.reshape(()), indices.reshape(())
    return TopK(values, indices)


def multinomial(input, num_samples, replacement=False, generator=None):
    """Draw num_samples category indices per row from the (unnormalised, non-negative) weights
    `input`: (n,) -> (num_samples,) or (B, n) -> (B, num_samples), int64, no gradient."""
    if not isinstance(input, Tensor):
        raise TypeError(f"multinomial: input must be a Tensor, got {type(input).__name__}")
    if input.ndim not in (1, 2):
        raise ValueError(f"multinomial: input must be 1-D or 2-D, got shape {tuple(input.shape)}")
    if input.dtype.kind != "f":
        raise TypeError(f"multinomial: input must be a floating tensor, got {input.dtype}")
    w = np.asarray(input.xp.asnumpy(input.array) if hasattr(input.xp, "asnumpy") else input.array,
                   dtype=np.float64)
    rows = w.reshape(-1, w.shape[-1])
    n = rows.shape[1]
    if not np.isfinite(rows).all() or (rows < 0).any():
        raise ValueError("multinomial: probabilities must be finite and non-negative")
    if (rows.sum(axis=1) <= 0).any():
        raise ValueError("multinomial: each row of probabilities must have a positive sum")
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
        raise ValueError(f"multinomial: num_samples must be a positive int, got {num_samples!r}")
    if not replacement and num_samples > (rows > 0).sum(axis=1).min():
        raise ValueError(f"multinomial: cannot draw {num_samples} samples without replacement from a row with "
                         f"{int((rows > 0).sum(axis=1).min())} non-zero probabilities (of {n})")
    g = rng(generator)
    out = np.empty((rows.shape[0], num_samples), dtype=np.int64)
    for r, p in enumerate(rows):
        p = p / p.sum()
        if num_samples == 1 or replacement:
            # inverse CDF on uniform draws: one uniform per sample, the same stream torch-style code expects
            cdf = np.cumsum(p)
            u = g.random(num_samples) * cdf[-1]
            out[r] = np.minimum(np.searchsorted(cdf, u, side="right"), n - 1)
        else:
            out[r] = g.choice(n, size=num_samples, replace=False, p=p)
    out = out.reshape(w.shape[:-1] + (num_samples,))
    return Tensor._make(input.xp.asarray(out), input.device)
