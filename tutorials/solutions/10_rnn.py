"""Chapter 10 exercises: LSTM and GRU steps in numpy (PyTorch's gate layout)."""
import numpy as np


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def lstm_step(x, h, c, w_ih, w_hh, b_ih, b_hh):
    """x (N, I), h and c (N, H); w_ih (4H, I), w_hh (4H, H). Returns (h', c')."""
    gates = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh
    i, f, g, o = np.split(gates, 4, axis=1)
    c2 = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
    return _sigmoid(o) * np.tanh(c2), c2


def gru_step(x, h, w_ih, w_hh, b_ih, b_hh):
    """x (N, I), h (N, H); w_ih (3H, I), w_hh (3H, H). Returns h'."""
    xr, xz, xn = np.split(x @ w_ih.T + b_ih, 3, axis=1)
    hr, hz, hn = np.split(h @ w_hh.T + b_hh, 3, axis=1)
    r = _sigmoid(xr + hr)
    z = _sigmoid(xz + hz)
    n = np.tanh(xn + r * hn)
    return (1 - z) * n + z * h


def rnn_param_count(cell, input_size, hidden):
    gates = {"RNN": 1, "LSTM": 4, "GRU": 3}[cell]
    return gates * hidden * (input_size + hidden + 2)


def clip_by_global_norm(grads, max_norm):
    """Scale all gradients by one factor so that their joint L2 norm is at most max_norm.

    Returns (clipped gradients, the norm before clipping), like nn.utils.clip_grad_norm_."""
    total = float(np.sqrt(sum((g ** 2).sum() for g in grads)))
    scale = min(1.0, max_norm / (total + 1e-6))
    return [g * scale for g in grads], total
