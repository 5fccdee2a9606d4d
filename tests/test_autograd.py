"""The engine: graph order, accumulation, freeing, grad modes, second derivatives, and the
known traps (in-place changes, double backward, overflow at +-1e4)."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F


def test_chain_of_10000_ops_needs_no_recursion():
    x = mg.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert np.isclose(x.grad.item(), 1.0001 ** 10_000, rtol=1e-3)


def test_reused_tensor_gets_the_sum_of_its_gradients():
    x = mg.tensor([1.0, -2.0, 3.0], requires_grad=True)
    (x * x + x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy() + 1)


def test_diamond_graph():
    x = mg.tensor(2.0, requires_grad=True)
    a, b = x * 3, x.exp()
    (a * b).backward()  # d/dx 3x e^x = 3 e^x + 3x e^x
    assert np.isclose(x.grad.item(), 3 * np.exp(2) + 6 * np.exp(2), rtol=1e-6)


def test_leaf_grad_accumulates_across_backward_calls():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [5.0, 5.0])


def test_second_backward_without_retain_graph_raises_and_with_it_accumulates():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * x.numpy())
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_intermediate_grads_are_not_kept_unless_asked():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    k = x * 3
    k.retain_grad()
    (h * k).sum().backward()
    assert h.grad is None
    np.testing.assert_allclose(k.grad.numpy(), h.numpy())


def test_no_grad_enable_grad_and_decorator():
    x = mg.tensor(1.0, requires_grad=True)
    with mg.no_grad():
        y = x * 2
        with mg.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad

    @mg.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad
    assert mg.is_grad_enabled()
    with mg.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert mg.is_grad_enabled()


def test_create_graph_gives_second_derivatives():
    x = mg.tensor([0.5, -1.5], dtype=mg.float64, requires_grad=True)
    (g,) = mg.grad((x ** 3).sum(), [x], create_graph=True)
    np.testing.assert_allclose(g.numpy(), 3 * x.numpy() ** 2)
    g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.numpy())


def test_create_graph_through_a_raw_kernel_op_raises_clearly():
    x = mg.randn(1, 1, 4, 4, dtype=mg.float64, requires_grad=True)
    w = mg.randn(1, 1, 3, 3, dtype=mg.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="conv2d.*create_graph"):
        mg.grad(F.conv2d(x, w).sum(), [x], create_graph=True)


def test_extremes_do_not_overflow():
    big = mg.tensor([1e4, -1e4, 0.0], requires_grad=True)
    for f in (mg.sigmoid, mg.softplus, lambda t: t.log_softmax(-1), lambda t: t.softmax(-1), lambda t: t.logsumexp()):
        big.grad = None
        y = f(big)
        y.sum().backward()
        assert np.isfinite(y.numpy()).all(), y
        assert np.isfinite(big.grad.numpy()).all()
    loss = F.cross_entropy(mg.tensor([[1e4, -1e4, 0.0]], requires_grad=True), mg.tensor([1]))
    assert np.isfinite(loss.item())


def test_in_place_change_of_a_saved_tensor_is_caught():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1
    y = (h * h).sum()  # mul saves h
    h.add_(1)
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_in_place_change_of_a_saved_output_is_caught():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    z = y.sum()
    y.mul_(2)
    with pytest.raises(RuntimeError, match="modified in place"):
        z.backward()


def test_in_place_change_through_a_view_is_caught():
    x = mg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    h = x * 1
    y = (h * h).sum()
    h.reshape(-1)[0] = 5.0  # a view shares h's version counter
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_in_place_change_of_an_unsaved_input_is_fine():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1
    y = (h + 1).sum()  # add keeps nothing
    h.add_(1)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0])


def test_in_place_on_a_leaf_that_requires_grad_needs_no_grad():
    w = mg.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        w.add_(1)
    with mg.no_grad():
        w.add_(1)
    assert w.item() == 2.0


def test_cast_backward():
    x = mg.tensor([1.0, 2.0], requires_grad=True)  # float32
    y = x.double() * mg.tensor([3.0, 4.0], dtype=mg.float64)
    assert y.dtype == mg.float64
    y.sum().backward()
    assert x.grad.dtype == mg.float32
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 4.0])
    assert not x.long().requires_grad


def test_detach_shares_data_but_not_history():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad and d.grad_fn is None


def test_grad_returns_without_touching_dot_grad():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    (g,) = mg.grad((x * x).sum(), [x])
    np.testing.assert_allclose(g.numpy(), [2.0, 4.0])
    assert x.grad is None


def test_backward_with_explicit_gradient():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).backward(mg.tensor([1.0, 10.0]))
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 30.0])


def test_gradients_of_aliased_leaves_are_independent():
    a = mg.tensor([1.0], requires_grad=True)
    b = mg.tensor([1.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad.mul_(5)
    assert b.grad.item() == 1.0


def test_backward_frees_intermediates_without_garbage_collection():
    import gc
    import weakref
    gc.disable()
    try:
        x = mg.randn(100, 100, requires_grad=True)
        h = x.tanh() * 2
        probe = weakref.ref(h)
        loss = (h * h).sum()
        del h
        assert probe() is not None  # the graph still needs it
        loss.backward()
        assert probe() is None  # freed by reference counting alone: no cycles, no leak
    finally:
        gc.enable()


def test_slice_gradients_add_up_in_one_buffer():
    """x[t] for many t (a sequence model's read pattern): the engine sums the slices in place; the
    result must equal the dense sum, for leaves, intermediates, and repeated slices of one tensor."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 3))
    x = mg.tensor(a, requires_grad=True)
    h = x * 1.0                      # an intermediate read slice by slice
    h.retain_grad()
    total = (h[0] + h[0]).sum() + sum((h[t] * (t + 1)).sum() for t in range(1, 5)) + (h * 2).sum() + x[2:4].sum()
    total.backward()
    want = np.full((5, 3), 2.0)
    want[0] += 2
    for t in range(1, 5):
        want[t] += t + 1
    np.testing.assert_allclose(h.grad.numpy(), want)
    want_x = want.copy()
    want_x[2:4] += 1
    np.testing.assert_allclose(x.grad.numpy(), want_x)
    (g,) = mg.autograd.grad((x[1] * x[1]).sum() + x[1:3].sum(), [x])
    want_g = np.zeros((5, 3))
    want_g[1] = 2 * a[1] + 1
    want_g[2] = 1
    np.testing.assert_allclose(g.numpy(), want_g)


# ---------------------------------------------------------------- against PyTorch
try:
    import torch
except ImportError:
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="needs torch")
LIBS = [mg] + ([torch] if torch is not None else [])


def _structure(fn):
    """A grad_fn graph as nested tuples: (name, ((child, output index), ...)); leaves by their values."""
    if fn is None:
        return None
    if type(fn).__name__ == "AccumulateGrad":
        return ("AccumulateGrad", fn.variable.tolist())
    return fn.name(), tuple((_structure(f), k) for f, k in fn.next_functions)


def _small_graph(lib):
    a = lib.tensor([1.0, 2.0], requires_grad=True)
    b = lib.tensor([3.0, 4.0], requires_grad=True)
    c = lib.tensor([5.0, 6.0])  # no grad: an input edge of None
    return ((a * b + a).exp() * c - b * 2).sum(), (a, b)


@pytest.mark.parametrize("lib", LIBS, ids=lambda lib: lib.__name__)
def test_next_functions_structure_and_names(lib):
    leaf_a, leaf_b = ("AccumulateGrad", [1.0, 2.0]), ("AccumulateGrad", [3.0, 4.0])
    mul_ab = ("MulBackward0", ((leaf_a, 0), (leaf_b, 0)))
    exp = ("ExpBackward0", ((("AddBackward0", ((mul_ab, 0), (leaf_a, 0))), 0),))
    want = ("SumBackward0", ((("SubBackward0", ((("MulBackward0", ((exp, 0), (None, 0))), 0),
                                                (("MulBackward0", ((leaf_b, 0), (None, 0))), 0))), 0),))
    y, leaves = _small_graph(lib)
    assert _structure(y.grad_fn) == want
    assert repr(y.grad_fn).startswith("<SumBackward0")
    node_a = y.grad_fn.next_functions[0][0].next_functions[1][0].next_functions[0][0]
    assert node_a is y.grad_fn.next_functions[0][0].next_functions[1][0].next_functions[0][0]  # one per leaf
    y.backward()
    assert _structure(y.grad_fn) == want  # the structure outlives the freed saved values


def test_grad_fn_names_keep_the_short_op_name_for_messages():
    y = mg.tensor([1.0], requires_grad=True) * 2
    assert y.grad_fn.name == "mul" and y.grad_fn.name() == "MulBackward0" and type(y.grad_fn).__name__ == "Mul"
    m = mg.tensor([1.0, 3.0], requires_grad=True).min()
    assert m.grad_fn.name == "min" and m.grad_fn.name() == "MaxBackward0"  # an op that names itself


def _data_semantics(lib):
    p = lib.tensor([1.0, 2.0], requires_grad=True)
    y = (p * p).sum()  # mul saves p
    d = p.data
    facts = [d.requires_grad, d.grad_fn is None]
    d[0] = 10.0  # shares storage, but autograd does not see this change
    facts.append(p.tolist())
    y.backward()  # no "modified in place" error: the version counter is d's own
    facts.append(p.grad.tolist())  # computed with the changed value
    p.data.sub_(0.5 * p.grad.data)  # the classic manual SGD step, outside the graph
    facts.append(p.tolist())
    p.data = lib.tensor([7.0, 8.0, 9.0])  # swaps the storage (even the shape)
    facts += [p.tolist(), p.requires_grad, p.is_leaf]
    return facts


def test_data_semantics():
    assert _data_semantics(mg) == [False, True, [10.0, 2.0], [20.0, 4.0], [0.0, 0.0], [7.0, 8.0, 9.0], True, True]


@needs_torch
def test_data_semantics_match_torch():
    assert _data_semantics(mg) == _data_semantics(torch)


def _grad_of_several_outputs(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    w = lib.tensor([3.0, -1.0], requires_grad=True)
    y1, y2 = x * w, (x * x).sum()
    g = lib.autograd.grad([y1, y2], [x, w], grad_outputs=[lib.tensor([1.0, 10.0]), None], retain_graph=True)
    unused = lib.tensor([0.0], requires_grad=True)
    g_unused = lib.autograd.grad([y2], [x, unused], allow_unused=True, retain_graph=True)
    g_zero = lib.autograd.grad([y2], [unused], materialize_grads=True)
    return [t.tolist() for t in g], g_unused[1], g_zero[0].tolist()


def test_grad_with_several_outputs():
    assert _grad_of_several_outputs(mg) == ([[5.0, -6.0], [1.0, 20.0]], None, [0.0])


@needs_torch
def test_grad_with_several_outputs_matches_torch():
    assert _grad_of_several_outputs(mg) == _grad_of_several_outputs(torch)


def test_grad_of_an_unused_input_raises_unless_allowed():
    x, z = mg.tensor([1.0], requires_grad=True), mg.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="input 1.*not used.*allow_unused"):
        mg.grad((x * 2).sum(), [x, z])


def test_grad_stops_at_the_inputs_asked_for():
    """grad w.r.t. an intermediate does not run the graph below it: a freed or non-differentiable
    part there (conv2d under create_graph) is never reached."""
    x = mg.randn(1, 1, 4, 4, dtype=mg.float64, requires_grad=True)
    w = mg.randn(1, 1, 3, 3, dtype=mg.float64, requires_grad=True)
    h = F.conv2d(x, w)
    (gh,) = mg.grad((h * h).sum(), h, create_graph=True)
    np.testing.assert_allclose(gh.numpy(), 2 * h.numpy())
    h.sum().backward()  # frees conv2d's saved values
    (gh,) = mg.grad((h ** 3).sum(), h)
    np.testing.assert_allclose(gh.numpy(), 3 * h.numpy() ** 2)


def test_backward_inputs_accumulates_only_there_even_on_a_non_leaf():
    a, b = mg.tensor([1.0], requires_grad=True), mg.tensor([2.0], requires_grad=True)
    h = a * b
    (h * h).sum().backward(inputs=[h, b])
    assert a.grad is None and b.grad.tolist() == [4.0] and h.grad.tolist() == [4.0]


def test_backward_of_several_tensors_at_once():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    mg.autograd.backward([(x * 2).sum(), x * x], [None, mg.tensor([1.0, 10.0])])
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 42.0])
    with pytest.raises(RuntimeError, match="tensor 0.*does not require grad"):
        mg.autograd.backward(mg.ones(1))


def test_engine_tells_backward_whether_a_graph_is_recorded():
    seen = []

    class Twice(mg.autograd.Function):
        backward_reads_inputs = False

        def forward(self, x):
            return x * 2

        def backward(self, gy):
            seen.append(self.create_graph)
            return gy * 2

    x = mg.tensor([1.0], requires_grad=True)
    Twice()(x).sum().backward()
    mg.grad(Twice()(x).sum(), x, create_graph=True)
    assert seen == [False, True]
