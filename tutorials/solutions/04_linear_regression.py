"""Chapter 04 exercises: least squares and gradient descent for y = m x + b."""
import numpy as np

import minigrad as mg


def closed_form(x, y):
    """Least-squares slope and intercept."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    dx = x - x.mean()
    m = float((dx * (y - y.mean())).sum() / (dx * dx).sum())
    return m, float(y.mean() - m * x.mean())


def gd_step(m, b, x, y, lr):
    """One step of gradient descent on MSE = mean((y - (m x + b))^2)."""
    err = np.asarray(y) - (m * np.asarray(x) + b)
    dm = -2 * np.mean(x * err)
    db = -2 * np.mean(err)
    return m - lr * dm, b - lr * db


def fit(x, y, lr=0.1, steps=200):
    """(m, b) fitted with autograd and optim.SGD, starting from zero."""
    X, Y = mg.tensor(np.asarray(x, np.float32)), mg.tensor(np.asarray(y, np.float32))
    m = mg.zeros((), requires_grad=True)
    b = mg.zeros((), requires_grad=True)
    opt = mg.optim.SGD([m, b], lr=lr)
    for _ in range(steps):
        loss = ((Y - (m * X + b)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return m.item(), b.item()
