"""Module hooks behave as torch.nn.Module's: order, return values, removal, kwargs, backward hooks."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn

torch = pytest.importorskip("torch")


def _pair(seed=0):
    """The same Linear(3, 2) in both libraries."""
    m = nn.Linear(3, 2)
    t = torch.nn.Linear(3, 2).double()
    m.double()
    rng = np.random.default_rng(seed)
    w, b = rng.normal(size=(2, 3)), rng.normal(size=2)
    m.load_state_dict({"weight": w, "bias": b})
    t.load_state_dict({"weight": torch.tensor(w), "bias": torch.tensor(b)})
    return m, t


def _run_forward_hooks(lib, module, x):
    calls = []
    h1 = module.register_forward_pre_hook(lambda mod, args: calls.append(("pre", args[0].shape[0])))
    h2 = module.register_forward_pre_hook(lambda mod, args: (args[0] * 2,))  # replaces the input
    h3 = module.register_forward_hook(lambda mod, args, out: calls.append(("post", float(out.detach().sum()))))
    h4 = module.register_forward_hook(lambda mod, args, out: out + 1)  # replaces the output
    h5 = module.register_forward_hook(lambda mod, args, out: calls.append(("first", 0)), prepend=True)
    y = module(x)
    for h in (h1, h2, h3, h4, h5):
        h.remove()
    y_plain = module(x)
    return calls, y, y_plain


def test_forward_hooks_match_torch():
    m, t = _pair()
    x = np.random.default_rng(1).normal(size=(4, 3))
    calls_m, y_m, plain_m = _run_forward_hooks("mg", m, mg.tensor(x))
    calls_t, y_t, plain_t = _run_forward_hooks("torch", t, torch.tensor(x))
    assert [c[0] for c in calls_m] == [c[0] for c in calls_t] == ["pre", "first", "post"]
    np.testing.assert_allclose([c[1] for c in calls_m], [c[1] for c in calls_t], rtol=1e-12)
    np.testing.assert_allclose(y_m.numpy(), y_t.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(plain_m.numpy(), plain_t.detach().numpy(), rtol=1e-12)


def test_forward_hooks_with_kwargs():
    class Scale(nn.Module):
        def forward(self, x, factor=1.0):
            return x * factor

    m = Scale()
    seen = []
    m.register_forward_pre_hook(lambda mod, args, kwargs: (args, {"factor": kwargs.get("factor", 1.0) * 10}),
                                with_kwargs=True)
    m.register_forward_hook(lambda mod, args, kwargs, out: seen.append(kwargs["factor"]), with_kwargs=True)
    y = m(mg.ones(2), factor=3.0)
    assert seen == [30.0] and y.tolist() == [30.0, 30.0]


def test_handle_as_context_manager_and_bad_hook():
    m = nn.Linear(2, 2)
    seen = []
    with m.register_forward_hook(lambda mod, args, out: seen.append(1)):
        m(mg.ones(1, 2))
    m(mg.ones(1, 2))
    assert seen == [1]
    with pytest.raises(TypeError, match="callable"):
        m.register_forward_hook(42)


class _Mix:
    """A two-input module in either library: (a * b).sum(-1), a + b."""

    @staticmethod
    def build(lib):
        class Mix(lib.nn.Module):
            def forward(self, a, b):
                return (a * b).sum(-1), a + b

        return Mix()


def _lists(grads):
    return [None if g is None else g.tolist() for g in grads]


def _backward_hooks(lib, replace):
    m = _Mix.build(lib)
    seen = []
    m.register_full_backward_pre_hook(lambda mod, gout: seen.append(("pre", _lists(gout))))

    def hook(mod, gin, gout):
        seen.append(("hook", _lists(gin), _lists(gout)))
        if replace:
            return tuple(None if g is None else g * 0.5 for g in gin)

    m.register_full_backward_hook(hook)
    a = lib.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=lib.float64, requires_grad=True)
    b = lib.tensor([[0.5, -1.0], [2.0, 1.0]], dtype=lib.float64)  # needs no gradient: None in grad_input
    s, t = m(a * 1, b)
    (s * 2).sum().backward(retain_graph=True)
    g1 = a.grad.tolist()
    (t * 3).sum().backward()
    return seen, g1, a.grad.tolist()


@pytest.mark.parametrize("replace", [False, True])
def test_full_backward_hooks_match_torch(replace):
    assert _backward_hooks(mg, replace) == _backward_hooks(torch, replace)


def test_backward_hook_when_no_input_needs_grad():
    def run(lib):
        lin = lib.nn.Linear(2, 1)
        got = []
        lin.register_full_backward_hook(lambda mod, gin, gout: got.append((gin, len(gout))))
        lin(lib.ones(3, 2)).sum().backward()
        return got

    (gin_m, n_m), = run(mg)
    (gin_t, n_t), = run(torch)
    assert gin_m == gin_t == (None,) and n_m == n_t == 1
