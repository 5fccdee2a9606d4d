"""Gradient hooks: on tensors (leaf or not), after accumulation on leaves, and on graph nodes; each
behaviour is also run through torch where torch is installed, and the results compared."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import BackwardHookFunction

try:
    import torch
except ImportError:
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="needs torch")
LIBS = [mg] + ([torch] if torch is not None else [])


def _tensor(lib, values, requires_grad=False):
    return lib.tensor(values, requires_grad=requires_grad)


def _leaf_hook_sees_the_summed_gradient_once(lib):
    x = _tensor(lib, [1.0, 2.0], requires_grad=True)
    seen = []

    def double(g):
        seen.append(g.tolist())
        return g * 2

    x.register_hook(double)
    (x * 2 + x * 3).sum().backward()  # two uses of x: the hook sees their sum, once
    return seen, x.grad.tolist()


def _non_leaf_hook_changes_what_flows_further(lib):
    x = _tensor(lib, [1.0, 2.0], requires_grad=True)
    h = x * 3
    h.register_hook(lambda g: g * 10)
    h.retain_grad()  # keeps the hooked gradient, as torch's retain_grad runs after the tensor's hooks
    (h * h).sum().backward()
    return h.grad.tolist(), x.grad.tolist()


def _removed_hook_is_not_called(lib):
    x = _tensor(lib, [1.0], requires_grad=True)
    calls = []
    handle = x.register_hook(lambda g: calls.append(1))
    (x * 2).sum().backward()
    handle.remove()
    (x * 2).sum().backward()
    return calls


def _tied_weight_fires_once(lib):
    w = _tensor(lib, [1.0, 2.0], requires_grad=True)
    seen = []
    w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.tolist()))
    x = _tensor(lib, [3.0, 4.0])
    ((x * w) * w + w).sum().backward()  # w used three times: one call, with the finished .grad
    (w * 2).sum().backward()  # one call per backward pass
    return seen, w.grad.tolist()


def _node_hooks(lib):
    x = _tensor(lib, [1.0, 2.0], requires_grad=True)
    y = x * 2
    events = []
    y.register_hook(lambda g: events.append(("tensor", g.tolist())) or g * 3)
    y.grad_fn.register_prehook(lambda gouts: events.append(("pre", [g.tolist() for g in gouts])))
    y.grad_fn.register_hook(lambda gins, gouts: events.append(("post", [None if g is None else g.tolist()
                                                                        for g in gins])))
    y.sum().backward()
    return events, x.grad.tolist()


@pytest.mark.parametrize("case", [_leaf_hook_sees_the_summed_gradient_once, _non_leaf_hook_changes_what_flows_further,
                                  _removed_hook_is_not_called, _tied_weight_fires_once, _node_hooks])
@pytest.mark.parametrize("lib", LIBS, ids=lambda lib: lib.__name__)
def test_hook_behaviour_matches_torch(case, lib):
    want = {
        _leaf_hook_sees_the_summed_gradient_once: ([[5.0, 5.0]], [10.0, 10.0]),
        _non_leaf_hook_changes_what_flows_further: ([60.0, 120.0], [180.0, 360.0]),
        _removed_hook_is_not_called: [1],
        _tied_weight_fires_once: ([[7.0, 17.0], [9.0, 19.0]], [9.0, 19.0]),
        _node_hooks: ([("tensor", [1.0, 1.0]), ("pre", [[3.0, 3.0]]), ("post", [[6.0, 6.0], None])], [6.0, 6.0]),
    }[case]
    assert case(lib) == want


def test_post_accumulate_hooks_fire_in_backward_order_like_torch():
    """A leaf is finished right after its last use, so with a chain of layers the last layer's
    parameters are ready first (what data-parallel training overlaps with the rest of backward)."""
    def order(lib):
        rng = np.random.default_rng(0)
        fired, h = [], lib.tensor(rng.standard_normal((2, 4)))
        for i in range(3):
            w = lib.tensor(rng.standard_normal((4, 4)), requires_grad=True)
            b = lib.tensor(rng.standard_normal(4), requires_grad=True)
            w.register_post_accumulate_grad_hook(lambda p, i=i: fired.append(f"w{i}"))
            b.register_post_accumulate_grad_hook(lambda p, i=i: fired.append(f"b{i}"))
            h = (h @ w + b).tanh()
        h.sum().backward()
        return fired

    assert order(mg)[::2] == ["b2", "b1", "b0"] and sorted(order(mg)) == ["b0", "b1", "b2", "w0", "w1", "w2"]
    if torch is not None:
        assert order(mg) == order(torch)


def test_post_accumulate_hook_only_where_grad_accumulates():
    w = mg.tensor([1.0], requires_grad=True)
    calls = []
    w.register_post_accumulate_grad_hook(lambda t: calls.append(t.grad.item()))
    mg.grad((w * 2).sum(), w)  # grad() leaves .grad alone: no call
    (w * 2).sum().backward(inputs=[w])
    assert calls == [2.0]
    with pytest.raises(RuntimeError, match="only leaf tensors"):
        (w * 2).register_post_accumulate_grad_hook(lambda t: None)


def test_hook_errors_are_clear():
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.ones(2).register_hook(lambda g: g)
    with pytest.raises(TypeError, match="expected a callable"):
        mg.ones(2, requires_grad=True).register_hook("not a function")
    x = mg.ones(2, requires_grad=True)
    x.register_hook(lambda g: mg.ones(3))
    with pytest.raises(RuntimeError, match=r"shape \(3,\), expected \(2,\)"):
        (x * 2).sum().backward()


def test_grad_sees_tensor_hooks_like_torch():
    for lib in LIBS:
        x = _tensor(lib, [1.0, 2.0], requires_grad=True)
        h = x * 1
        h.register_hook(lambda g: g * 10)
        x.register_hook(lambda g: g + 1)
        (gh,) = lib.autograd.grad((h * h).sum(), [h])
        (gx,) = lib.autograd.grad((h * h).sum(), [x])
        assert (gh.tolist(), gx.tolist()) == ([20.0, 40.0], [21.0, 41.0]), lib.__name__


def test_hook_on_an_output_that_gets_no_gradient_sees_none_like_torch():
    seen = []
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    parts = BackwardHookFunction.apply(x * 1, x * 2)
    parts[1].register_hook(seen.append)
    parts[0].sum().backward()
    assert seen == [None]  # torch calls the hooks of every output of a node that runs, None if none came
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0])


def _module_style_backward_hook(lib, hook_identity):
    """What a module's full backward hook does: one identity node on the inputs and one on the
    outputs; the outputs' node sees grad_output, the inputs' node grad_input (and may replace it)."""
    a = _tensor(lib, [1.0, 2.0], requires_grad=True)
    b = _tensor(lib, [3.0, 4.0], requires_grad=True)
    seen = {}
    xa, xb = hook_identity(a * 1, b * 1)
    y1, y2 = hook_identity(xa * xb, xa + xb)  # the "module": two inputs, two outputs
    y1.grad_fn.register_prehook(lambda grad_output: seen.update(grad_output=[g.tolist() for g in grad_output]))

    def on_grad_input(grad_input):
        seen["grad_input"] = [g.tolist() for g in grad_input]
        return tuple(g * 0.5 for g in grad_input)  # a hook may replace grad_input

    xa.grad_fn.register_prehook(on_grad_input)
    (y1 * 2 + y2 * 3).sum().backward()
    return seen, a.grad.tolist(), b.grad.tolist()


def test_module_backward_hook_recipe():
    seen, ga, gb = _module_style_backward_hook(mg, lambda *ts: BackwardHookFunction.apply(*ts))
    assert seen == {"grad_output": [[2.0, 2.0], [3.0, 3.0]], "grad_input": [[9.0, 11.0], [5.0, 7.0]]}
    assert (ga, gb) == ([4.5, 5.5], [2.5, 3.5])


@needs_torch
def test_module_backward_hook_recipe_matches_torch():
    from torch.nn.modules._functions import BackwardHookFunction as TorchHookFunction

    assert (_module_style_backward_hook(mg, lambda *ts: BackwardHookFunction.apply(*ts))
            == _module_style_backward_hook(torch, lambda *ts: TorchHookFunction.apply(*ts)))
