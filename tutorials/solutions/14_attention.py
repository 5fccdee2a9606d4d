"""Chapter 14 exercises: attention in numpy, masks, positions, the online softmax."""
import numpy as np


def causal_mask(T):
    """(T, T) bool: True where query i may attend to key j, i.e. j <= i."""
    return np.tril(np.ones((T, T), dtype=bool))


def attention_np(q, k, v, mask=None):
    """q: (..., L, d), k: (..., S, d), v: (..., S, dv), mask: bool broadcasting to (..., L, S), True = keep.
    -> (out (..., L, dv), weights (..., L, S)); a row with no key allowed gets zero weights and output."""
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    top = scores.max(-1, keepdims=True)
    dead = np.isneginf(top)  # nothing to attend to: subtract 0 instead of -inf, and the row stays 0
    e = np.exp(scores - np.where(dead, 0.0, top))
    total = e.sum(-1, keepdims=True)
    weights = e / np.where(total == 0, 1.0, total)
    return weights @ v, weights


def sinusoidal_positions(T, d):
    """(T, d): PE[t, 2i] = sin(t / 10000^(2i/d)), PE[t, 2i+1] = cos(t / 10000^(2i/d)); d even."""
    if d % 2:
        raise ValueError(f"sinusoidal_positions: d must be even, got {d}")
    angle = np.arange(T)[:, None] / 10000 ** (np.arange(0, d, 2) / d)
    pe = np.empty((T, d))
    pe[:, 0::2], pe[:, 1::2] = np.sin(angle), np.cos(angle)
    return pe


def online_softmax(x, block):
    """softmax of the 1-D array x, reading it `block` entries at a time for the maximum and the sum."""
    m, total = -np.inf, 0.0
    for i in range(0, len(x), block):
        chunk = x[i:i + block]
        m_new = max(m, chunk.max())
        total = total * np.exp(m - m_new) + np.exp(chunk - m_new).sum()
        m = m_new
    return np.exp(x - m) / total
