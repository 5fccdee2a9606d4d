"""Chapter 06 exercises: L2 step, dropout mask, early stopping."""
import numpy as np


def l2_grad_step(w, g, lr, lam):
    """w - lr * (g + 2 lam w): gradient descent on J + lam * sum(w^2), g = dJ/dw."""
    return w - lr * (g + 2 * lam * w)


def dropout_mask(shape, p, rng):
    """Inverted dropout: each entry 0 with probability p, else 1 / (1 - p) (expected value 1)."""
    if p >= 1:
        return np.zeros(shape)
    keep = rng.random(shape) >= p
    return keep / (1.0 - p)


class EarlyStopping:
    """step(val_loss) -> True once `patience` epochs in a row did not improve on the best loss."""

    def __init__(self, patience=5, min_delta=0.0):
        self.patience, self.min_delta = patience, min_delta
        self.best, self.best_epoch, self.epoch, self.waited = np.inf, -1, -1, 0

    def step(self, val_loss):
        self.epoch += 1
        if val_loss < self.best - self.min_delta:
            self.best, self.best_epoch, self.waited = val_loss, self.epoch, 0
            return False
        self.waited += 1
        return self.waited >= self.patience


def soft_threshold(w, t):
    """The proximal step of t * |w|: shrink every weight towards 0 by t, and stop at exactly 0."""
    return np.sign(w) * np.maximum(np.abs(w) - t, 0.0)
