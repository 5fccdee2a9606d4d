"""Shared helpers for the nn / optim parity tests (minigrad vs torch, float64)."""
import numpy as np

import minigrad as mg


def to_np(t):
    if isinstance(t, mg.Tensor):
        return t.numpy()
    return t.detach().numpy()


def assert_close(a, b, atol=1e-8, rtol=1e-6, what=""):
    a, b = to_np(a), to_np(b)
    assert a.shape == b.shape, f"{what}: shape {a.shape} vs {b.shape}"
    np.testing.assert_allclose(a, b, atol=atol, rtol=rtol, err_msg=what)


def parity(mm, tm, *inputs, atol=1e-8, rtol=1e-6, seed=0, grad_inputs=True):
    """Copy tm's weights into mm, run both on `inputs` (numpy), compare outputs, input grads and param grads."""
    import torch
    assert list(mm.state_dict()) == list(tm.state_dict()), (list(mm.state_dict()), list(tm.state_dict()))
    mm.load_state_dict(tm.state_dict())
    mx = [mg.tensor(x, requires_grad=grad_inputs and x.dtype.kind == "f") for x in inputs]
    tx = [torch.tensor(x, requires_grad=grad_inputs and x.dtype.kind == "f") for x in inputs]
    y, ty = mm(*mx), tm(*tx)
    ys, tys = _flat(y), _flat(ty)
    rng = np.random.default_rng(seed)
    ml, tl = 0, 0
    for a, b in zip(ys, tys):
        assert_close(a, b, atol, rtol, "output")
        w = rng.standard_normal(b.shape)
        ml = ml + (a * mg.tensor(w)).sum()
        tl = tl + (b * torch.tensor(w)).sum()
    ml.backward()
    tl.backward()
    for a, b in zip(mx, tx):
        if b.requires_grad:
            assert_close(a.grad, b.grad, atol, rtol, "input grad")
    tparams = dict(tm.named_parameters())
    for name, p in mm.named_parameters():
        tg = tparams[name].grad
        if tg is None:
            assert p.grad is None or np.all(p.grad.numpy() == 0), name
        else:
            assert_close(p.grad, tg, atol, rtol, f"grad of {name}")
    return y, ty


def _flat(y):
    if isinstance(y, (tuple, list)):
        out = []
        for v in y:
            out.extend(_flat(v))
        return out
    return [y]
