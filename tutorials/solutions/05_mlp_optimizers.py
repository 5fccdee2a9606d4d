"""Chapter 05 exercises: optimiser update rules in numpy (same conventions as minigrad.optim / PyTorch)."""
import numpy as np


def momentum_step(p, g, buf, lr, mu):
    """buf = mu buf + g (buf = g on the first step); p -= lr buf."""
    buf = g.copy() if buf is None else mu * buf + g
    return p - lr * buf, buf


def rmsprop_step(p, g, s, lr, rho=0.99, eps=1e-8):
    """s = rho s + (1 - rho) g^2; p -= lr g / (sqrt(s) + eps)."""
    s = rho * s + (1 - rho) * g * g
    return p - lr * g / (np.sqrt(s) + eps), s


def adam_step(p, g, m, v, t, lr, b1=0.9, b2=0.999, eps=1e-8):
    """Adam with bias correction; t is the step number, starting at 1."""
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    m_hat = m / (1 - b1 ** t)
    v_hat = v / (1 - b2 ** t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps), m, v
