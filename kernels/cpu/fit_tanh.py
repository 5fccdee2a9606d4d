"""Fit the rational function behind fused.py's float32 tanh (GELU, the recurrent gates); print it.

    python kernels/cpu/fit_tanh.py

tanh is odd and saturates, so it is fitted as tanh(x) = x P(u) / Q(u) with u = (x / 9)^2 on
[0, 9] (beyond 9, tanh rounds to 1 in float32), P of degree 4 and Q of degree 4 with Q(0) = 1.
The fit is linear least squares on x P(u) - tanh(x) Q(u) = 0, reweighted over and over towards
the points where the error is largest, which approaches the minimax (equal-ripple) fit.
"""
import numpy as np

CLAMP = 9.0


def fit(p_terms=5, q_terms=4, rounds=60, points=200_000):
    """-> (p, q, max abs error in float64): p[0] + p[1] u + ..., q = [1, q1, ...]."""
    k = np.arange(points)
    x = CLAMP * (0.5 - 0.5 * np.cos(np.pi * (k + 0.5) / points))  # Chebyshev points: dense near both ends
    t = np.tanh(x)
    u = (x / CLAMP) ** 2
    basis = np.concatenate([x[:, None] * u[:, None] ** np.arange(p_terms),
                            -t[:, None] * u[:, None] ** np.arange(1, q_terms + 1)], axis=1)
    weight, q_values = np.ones_like(x), np.ones_like(x)
    for _ in range(rounds):
        scale = weight / q_values  # the residual divided by Q is the error of the fit itself
        coef, *_ = np.linalg.lstsq(basis * scale[:, None], t * scale, rcond=None)
        p, q = coef[:p_terms], np.concatenate([[1.0], coef[p_terms:]])
        q_values = np.polyval(q[::-1], u)
        error = np.abs(x * np.polyval(p[::-1], u) / q_values - t)
        weight *= 1 + 3 * error / error.max()
        weight /= weight.mean()
    return p, q, error.max()


def float32_error(p, q, n=2_000_000, seed=0):
    """Max abs error of the float32 evaluation (as rnn._tanh32 does it) against float64 tanh."""
    f4 = np.float32
    x = np.concatenate([np.random.default_rng(seed).standard_normal(n) * 4, np.geomspace(1e-30, 12, 100_000)])
    x = np.concatenate([x, -x]).astype(f4)
    v = np.clip(x, f4(-CLAMP), f4(CLAMP))
    u = (v * f4(1 / CLAMP)) ** 2
    num, den = np.zeros_like(u), np.zeros_like(u)
    for c in np.asarray(p[::-1], f4):
        num = num * u + c
    for c in np.asarray(q[::-1], f4):
        den = den * u + c
    y = np.clip(v * num / den, f4(-1), f4(1))
    return float(np.abs(y - np.tanh(x.astype(np.float64))).max())


if __name__ == "__main__":
    p, q, err = fit()
    print("P:", ", ".join(f"{c:.10g}" for c in p))
    print("Q:", ", ".join(f"{c:.10g}" for c in q))
    print(f"max abs error: {err:.2e} (float64 arithmetic), {float32_error(p, q):.2e} (float32, as the kernel runs it)")
