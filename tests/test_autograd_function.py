"""Custom Functions: PyTorch's protocol (static forward(ctx, ...) / backward(ctx, ...), .apply) and
minigrad's own op style with several outputs. Checked by gradcheck and against torch itself."""
import gc
import weakref

import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import Function, once_differentiable

try:
    import torch
except ImportError:
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="needs torch")


def _scaled_product_and_sum(base):
    """The same two-output Function written for minigrad's and torch's Function base class:
    (a * b * k, a + b) with a non-tensor argument k."""

    class ScaledProductAndSum(base):
        @staticmethod
        def forward(ctx, a, b, k):
            ctx.save_for_backward(a, b)
            ctx.k = k
            return a * b * k, a + b

        @staticmethod
        def backward(ctx, g_prod, g_sum):
            a, b = ctx.saved_tensors
            return g_prod * b * ctx.k + g_sum, g_prod * a * ctx.k + g_sum, None

    return ScaledProductAndSum


ScaledProductAndSum = _scaled_product_and_sum(Function)


def _pair(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((2, 3)), rng.standard_normal((2, 3))


def test_two_outputs_gradcheck_and_gradgradcheck():
    a, b = (mg.tensor(v, dtype=mg.float64, requires_grad=True) for v in _pair())
    assert mg.gradcheck(lambda a, b: ScaledProductAndSum.apply(a, b, 1.5), (a, b))
    assert mg.gradgradcheck(lambda a, b: ScaledProductAndSum.apply(a, b, 1.5), (a, b))
    assert mg.gradcheck(ScaledProductAndSum.apply, (a, b, -2.0))  # non-tensor arguments are passed through


@needs_torch
def test_two_outputs_match_the_same_function_in_torch():
    va, vb = _pair(1)
    a, b = (mg.tensor(v, requires_grad=True) for v in (va, vb))
    ta, tb = (torch.tensor(v, dtype=torch.float32, requires_grad=True) for v in (va, vb))
    p, s = ScaledProductAndSum.apply(a, b, 3.0)
    tp, ts = _scaled_product_and_sum(torch.autograd.Function).apply(ta, tb, 3.0)
    np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-6)
    (p * s).sum().backward()
    (tp * ts).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-5)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-5)
    assert p.grad_fn is s.grad_fn
    assert p.grad_fn.name() == tp.grad_fn.name() == "ScaledProductAndSumBackward"
    assert len(p.grad_fn.next_functions) == len(tp.grad_fn.next_functions) == 2  # tensor arguments only


def test_setup_context_style():
    class Cube(Function):
        @staticmethod
        def forward(x):
            return x ** 3

        @staticmethod
        def setup_context(ctx, inputs, output):
            (x,) = inputs
            ctx.save_for_backward(x)

        @staticmethod
        def backward(ctx, gy):
            (x,) = ctx.saved_tensors
            return gy * 3 * x * x

    x = mg.tensor([0.5, -2.0], dtype=mg.float64, requires_grad=True)
    assert mg.gradcheck(Cube.apply, (x,))


def _save_then_modify(lib, base):
    class Square(base):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, gy):
            (x,) = ctx.saved_tensors
            return 2 * x * gy

    x = lib.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1
    y = Square.apply(h).sum()
    with lib.no_grad():
        h.add_(1)
    y.backward()


def test_saved_tensor_changed_in_place_raises():
    with pytest.raises(RuntimeError, match="modified in place"):
        _save_then_modify(mg, Function)


@needs_torch
def test_saved_tensor_changed_in_place_raises_in_torch_too():
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        _save_then_modify(torch, torch.autograd.Function)


def _needs_input_grad(lib, base):
    seen = {}

    class Affine(base):
        @staticmethod
        def forward(ctx, x, w, scale):
            seen["forward"] = ctx.needs_input_grad
            return x * w * scale

        @staticmethod
        def backward(ctx, gy):
            seen["backward"] = ctx.needs_input_grad
            return None, gy, None

    x = lib.tensor([1.0, 2.0])
    w = lib.tensor([3.0, 4.0], requires_grad=True)
    Affine.apply(x, w, 2.0).sum().backward()
    return seen


def test_needs_input_grad():
    assert _needs_input_grad(mg, Function) == {"forward": (False, True, False), "backward": (False, True, False)}


@needs_torch
def test_needs_input_grad_matches_torch():
    assert _needs_input_grad(mg, Function) == _needs_input_grad(torch, torch.autograd.Function)


def _argmax_and_double(lib, base):
    received = []

    class DoubleWithArgmax(base):
        @staticmethod
        def forward(ctx, x):
            idx = x.argmax()
            ctx.mark_non_differentiable(idx)
            return x * 2, idx

        @staticmethod
        def backward(ctx, g, g_idx):
            received.append(np.asarray(g_idx.numpy()).tolist())
            return g * 2

    x = lib.tensor([1.0, 5.0, 2.0], requires_grad=True)
    y, idx = DoubleWithArgmax.apply(x)
    y.sum().backward()
    return idx.requires_grad, idx.grad_fn is None, received, x.grad.numpy().tolist()


def test_mark_non_differentiable():
    assert _argmax_and_double(mg, Function) == (False, True, [0], [2.0, 2.0, 2.0])


@needs_torch
def test_mark_non_differentiable_matches_torch():
    assert _argmax_and_double(mg, Function) == _argmax_and_double(torch, torch.autograd.Function)


def test_set_materialize_grads_false_passes_none():
    received = []

    class TwoCopies(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, g1, g2):
            received.append((g1 is None, g2 is None))
            return g1 * 2

    x = mg.tensor([1.0], requires_grad=True)
    first, _ = TwoCopies.apply(x)
    first.sum().backward()
    assert received == [(False, True)]


def test_backward_that_returns_the_wrong_gradients_is_named():
    def make(grads):
        class Bad(Function):
            @staticmethod
            def forward(ctx, x, k):
                return x * k

            @staticmethod
            def backward(ctx, gy):
                return grads(gy)
        return Bad

    x = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="BadBackward.*position 1.*not a Tensor"):
        make(lambda g: (g, g)).apply(x, 2.0).sum().backward()
    with pytest.raises(RuntimeError, match="BadBackward.*returned 1 gradients, expected 2"):
        make(lambda g: g).apply(x, 2.0).sum().backward()
    with pytest.raises(RuntimeError, match=r"BadBackward.*shape \(3,\).*shape \(2,\)"):
        make(lambda g: (mg.ones(3), None)).apply(x, 2.0).sum().backward()
    make(lambda g: (g, None, None)).apply(x, 2.0).sum().backward()  # extra Nones are fine, as in torch
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0])


def test_forward_runs_without_recording_and_backward_sees_create_graph():
    seen = {}

    class Probe(Function):
        @staticmethod
        def forward(ctx, x):
            y = x * 2
            seen["forward"] = (mg.is_grad_enabled(), y.grad_fn)
            return y

        @staticmethod
        def backward(ctx, gy):
            seen.setdefault("create_graph", []).append(ctx.create_graph)
            return gy * 2

    x = mg.tensor([1.0], requires_grad=True)
    Probe.apply(x).sum().backward()
    mg.grad(Probe.apply(x).sum(), x, create_graph=True)
    assert seen == {"forward": (False, None), "create_graph": [False, True]}


def test_returning_an_input_gives_an_output_of_its_own():
    class Identity(Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, gy):
            return gy * 3

    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = Identity.apply(x)
    assert y is not x and x.grad_fn is None and y.grad_fn is not None
    with mg.no_grad():
        y.add_(1)  # same memory, same version counter
    assert x.tolist() == [2.0, 3.0]
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])


def test_saved_tensors_are_freed_after_backward():
    class Square(Function):
        @staticmethod
        def forward(ctx, x):
            y = x * x
            ctx.save_for_backward(x, y)  # saving the output must not make a reference cycle
            return y

        @staticmethod
        def backward(ctx, gy):
            x, y = ctx.saved_tensors
            return 2 * x * gy

    gc.disable()
    try:
        x = mg.tensor([1.0, 2.0], requires_grad=True)
        y = Square.apply(x)
        node = weakref.ref(y.grad_fn)
        loss = y.sum()
        loss.backward(retain_graph=True)
        del y
        loss.backward()  # the output was dropped: backward rebuilds it from the saved array
        np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0])
        with pytest.raises(RuntimeError, match="saved tensors are gone"):
            loss.grad_fn.next_functions[0][0].saved_tensors
        del loss
        assert node() is None  # freed by reference counting alone
    finally:
        gc.enable()


def test_once_differentiable():
    class Square(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @once_differentiable
        def backward(ctx, gy):
            (x,) = ctx.saved_tensors
            assert not mg.is_grad_enabled()
            return 2 * x * gy

    x = mg.tensor([1.0, 3.0], dtype=mg.float64, requires_grad=True)
    assert mg.gradcheck(Square.apply, (x,))
    (g,) = mg.grad(Square.apply(x).sum(), x, create_graph=True)  # a first derivative is fine
    np.testing.assert_allclose(g.numpy(), [2.0, 6.0])
    (g,) = mg.grad((Square.apply(x) ** 2).sum(), x, create_graph=True)  # Square's gy carries a graph here
    with pytest.raises(RuntimeError, match="once_differentiable"):
        g.sum().backward()


def test_apply_and_call_tell_the_styles_apart():
    from minigrad.ops.elementwise import Exp

    x = mg.tensor([0.0, 1.0], requires_grad=True)
    np.testing.assert_allclose(Exp.apply(x).numpy(), np.exp([0.0, 1.0]), rtol=1e-6)  # minigrad style: Exp()(x)
    with pytest.raises(TypeError, match=r"ScaledProductAndSum.apply"):
        ScaledProductAndSum()(x, x, 1.0)


# ---------------------------------------------------------------- minigrad's style, several outputs
class SinCos(Function):
    """(sin x, cos x) from one forward: backward receives both gradients (zeros for an unused one)."""

    def forward(self, x):
        xp = self.xp
        return xp.sin(x), xp.cos(x)

    def backward(self, g_sin, g_cos):
        (x,) = self.inputs
        return g_sin * x.cos() - g_cos * x.sin()


class SplitHalves(Function):
    """The two halves of a vector, as views; saves its outputs to show they are rebuilt when dropped."""

    backward_reads_inputs, saves_output, is_view = False, True, True

    def forward(self, x):
        n = x.shape[0] // 2
        return x[:n], x[n:]

    def backward(self, g_left, g_right):
        left, right = self.outputs  # read only to show that dropped outputs come back
        assert left.shape == g_left.shape and right.shape == g_right.shape
        return mg.cat([g_left, g_right])


def test_minigrad_style_op_with_two_outputs():
    x = mg.tensor([0.3, -1.2, 2.0], dtype=mg.float64, requires_grad=True)
    assert mg.gradcheck(lambda t: SinCos()(t), (x,))
    assert mg.gradgradcheck(lambda t: SinCos()(t), (x,))
    s, c = SinCos()(x)
    assert s.grad_fn is c.grad_fn and s.grad_fn.name() == "SinCosBackward0"
    s.sum().backward()  # cos unused: its gradient arrives as zeros
    np.testing.assert_allclose(x.grad.numpy(), np.cos(x.numpy()))


def test_minigrad_style_outputs_are_rebuilt_and_version_checked():
    x = mg.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    left, right = SplitHalves()(x * 1)
    loss = left.sum()  # sum keeps no input: the check below is SplitHalves' own
    del right
    loss.backward(retain_graph=True)
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0, 0.0, 0.0])
    with mg.no_grad():
        left.mul_(2)
    with pytest.raises(RuntimeError, match="splithalves.*modified in place"):
        loss.backward()
