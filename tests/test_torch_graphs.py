"""Random expression graphs, built the same way in minigrad and torch: values and gradients agree."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg

torch = pytest.importorskip("torch")

UNARY = {
    "tanh": (lambda t: t.tanh(), lambda t: t.tanh()),
    "sigmoid": (lambda t: t.sigmoid(), lambda t: t.sigmoid()),
    "exp_small": (lambda t: (t * 0.1).exp(), lambda t: (t * 0.1).exp()),
    "square": (lambda t: t * t, lambda t: t * t),
    "softmax": (lambda t: t.softmax(-1), lambda t: t.softmax(-1)),
    "log_softmax": (lambda t: t.log_softmax(0), lambda t: t.log_softmax(0)),
    "transpose": (lambda t: t.T, lambda t: t.T),
    "sum_keep": (lambda t: t.sum(1, keepdim=True), lambda t: t.sum(1, keepdim=True)),
    "mean0": (lambda t: t.mean(0, keepdim=True), lambda t: t.mean(0, keepdim=True)),
    "relu": (lambda t: t.relu(), lambda t: t.relu()),
    "softplus": (lambda t: mg.softplus(t), lambda t: torch.nn.functional.softplus(t)),
    "abs1": (lambda t: (t.abs() + 1).log(), lambda t: (t.abs() + 1).log()),
    "slice": (lambda t: t[:, :1] * t, lambda t: t[:, :1] * t),
    "max": (lambda t: t.amax(1, keepdim=True) + t, lambda t: t.amax(1, keepdim=True) + t),
    "var": (lambda t: t.var(1, keepdim=True) + t, lambda t: t.var(1, keepdim=True) + t),
}
BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "div": (lambda a, b: a / (b * b + 1), lambda a, b: a / (b * b + 1)),
    "matmul": (lambda a, b: a @ b.T, lambda a, b: a @ b.T),
    "maximum": (lambda a, b: mg.maximum(a, b), lambda a, b: torch.maximum(a, b)),
    "cat": (lambda a, b: mg.cat([a, b], 1)[:, ::2], lambda a, b: torch.cat([a, b], 1)[:, ::2]),
}


@given(steps=st.lists(st.tuples(st.sampled_from(sorted(UNARY) + sorted(BINARY)), st.integers(0, 10)),
                      min_size=1, max_size=8),
       seed=st.integers(0, 1000))
def test_random_graph_matches_torch(steps, seed):
    rng = np.random.default_rng(seed)
    leaves = [rng.standard_normal((3, 3)) for _ in range(3)]
    ours = [mg.tensor(a, requires_grad=True) for a in leaves]
    theirs = [torch.tensor(a, requires_grad=True) for a in leaves]
    pool_m, pool_t = list(ours), list(theirs)
    for name, pick in steps:
        i = pick % len(pool_m)
        if name in UNARY:
            f_m, f_t = UNARY[name]
            a_m, a_t = f_m(pool_m[i]), f_t(pool_t[i])
        else:
            j = (pick * 7 + 1) % len(pool_m)
            f_m, f_t = BINARY[name]
            a_m, a_t = f_m(pool_m[i], pool_m[j]), f_t(pool_t[i], pool_t[j])
        if a_m.shape != (3, 3):
            a_m, a_t = a_m.expand(3, 3) * 1, a_t.expand(3, 3) * 1
        pool_m.append(a_m)
        pool_t.append(a_t)
    out_m = sum((t * (k + 1)).sum() for k, t in enumerate(pool_m[3:]))
    out_t = sum((t * (k + 1)).sum() for k, t in enumerate(pool_t[3:]))
    np.testing.assert_allclose(out_m.item(), out_t.item(), rtol=1e-9, atol=1e-9)
    out_m.backward()
    out_t.backward()
    for m, t in zip(ours, theirs):
        got = np.zeros((3, 3)) if m.grad is None else m.grad.numpy()
        want = np.zeros((3, 3)) if t.grad is None else t.grad.numpy()
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-10)
