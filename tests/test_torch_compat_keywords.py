"""Functional ops take torch's keyword names (input=, other=, exponent=, condition=, alpha=), and
`.grad` accepts only what torch accepts."""
import numpy as np
import pytest

import minigrad as mg

torch = pytest.importorskip("torch")

A = np.arange(6.0).reshape(2, 3) - 2.0
B = np.linspace(-1.0, 1.0, 6).reshape(2, 3)

CALLS = [
    ("add", lambda lib, a, b: lib.add(input=a, other=b, alpha=3)),
    ("sub", lambda lib, a, b: lib.sub(input=a, other=b, alpha=0.5)),
    ("mul", lambda lib, a, b: lib.mul(input=a, other=b)),
    ("div", lambda lib, a, b: lib.div(input=a, other=b + 2)),
    ("pow", lambda lib, a, b: lib.pow(input=b + 2, exponent=a)),
    ("maximum", lambda lib, a, b: lib.maximum(input=a, other=b)),
    ("minimum", lambda lib, a, b: lib.minimum(input=a, other=b)),
    ("where", lambda lib, a, b: lib.where(condition=a > 0, input=a, other=b)),
    ("matmul", lambda lib, a, b: lib.matmul(input=a, other=b.T)),
    ("exp", lambda lib, a, b: lib.exp(input=a)),
    ("clamp", lambda lib, a, b: lib.clamp(input=a, min=-1, max=1)),
    ("sum", lambda lib, a, b: lib.sum(input=a, dim=1, keepdim=True)),
    ("mean", lambda lib, a, b: lib.mean(input=a, dim=0)),
    ("softmax", lambda lib, a, b: lib.softmax(input=a, dim=-1)),
    ("reshape", lambda lib, a, b: lib.reshape(input=a, shape=(3, 2))),
    ("transpose", lambda lib, a, b: lib.transpose(input=a, dim0=0, dim1=1)),
    ("flatten", lambda lib, a, b: lib.flatten(input=a)),
    ("permute", lambda lib, a, b: lib.permute(input=a, dims=(1, 0))),
    ("method add alpha", lambda lib, a, b: a.add(b, alpha=2)),
]


@pytest.mark.parametrize("name,call", CALLS, ids=[c[0] for c in CALLS])
def test_keyword_names_match_torch(name, call):
    ours = call(mg, mg.tensor(A), mg.tensor(B))
    theirs = call(torch, torch.tensor(A), torch.tensor(B))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)


def test_out_with_keywords():
    out = mg.empty(2, 2, dtype=mg.float64)
    r = mg.matmul(input=mg.tensor(A), other=mg.tensor(B.T), out=out)
    assert r is out
    np.testing.assert_allclose(out.numpy(), A @ B.T)


@pytest.mark.parametrize("value,error", [(0.0, TypeError), ("x", TypeError), (np.zeros((2, 3)), TypeError)])
def test_grad_rejects_non_tensors_as_torch(value, error):
    for lib in (mg, torch):
        t = lib.zeros(2, 3, requires_grad=True)
        with pytest.raises(error):
            t.grad = value


def test_grad_rejects_another_shape_as_torch():
    for lib in (mg, torch):
        t = lib.zeros(2, 3, requires_grad=True)
        with pytest.raises(RuntimeError):
            t.grad = lib.zeros(3, 2)
        t.grad = lib.ones(2, 3)
        assert t.grad.sum().item() == 6
        t.grad = None
        assert t.grad is None
