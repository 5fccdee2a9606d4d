"""The op registry drives these: forward vs numpy, float64 gradcheck over hypothesis-drawn
shapes (broadcasting, size-1 and 0-d, non-contiguous layouts), second derivatives, and a
check that no differentiable Function exists that the registry leaves out."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from minigrad.autograd import Function
from conftest import cpu_backend
from op_registry import BY_NAME, COVERED_ELSEWHERE, NO_GRAD_OPS, REGISTRY

OP_NAMES = [op.name for op in REGISTRY]


def _draw_shapes(op, data):
    if op.shapes == "fixed":
        return list(op.fixed_shapes)
    if op.shapes == "broadcast":
        shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=op.arity, min_dims=0, max_dims=3,
                                                              max_side=4), label="shapes")
        return list(shapes.input_shapes)
    if op.shapes == "matmul":
        batch = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, max_side=3))
        m, k, n = (data.draw(st.integers(1, 4)) for _ in range(3))
        a, b = batch.input_shapes[0] + (m, k), batch.input_shapes[1] + (k, n)
        kind = data.draw(st.sampled_from(["mm", "vec_left", "vec_right"]))
        if kind == "vec_left":
            a = (k,)
        elif kind == "vec_right":
            b = (k,)
        return [a, b]
    shape = data.draw(hnp.array_shapes(min_dims=op.min_dims, max_dims=3, min_side=1, max_side=4), label="shape")
    return [shape] * op.arity


def _values(op, shapes, rng):
    sizes = [int(np.prod(s)) for s in shapes]
    if op.domain == "distinct":  # well-separated values: no ties, nothing near a kink
        pool = (rng.permutation(sum(sizes)) - sum(sizes) / 2) * 0.31 + 0.013
        for lo in op.extra.get("avoid", ()):
            pool = np.where(np.abs(pool - lo) < 0.05, pool + 0.11, pool)
        out, start = [], 0
        for s, n in zip(shapes, sizes):
            out.append(pool[start:start + n].reshape(s))
            start += n
        return out
    out = []
    for s in shapes:
        v = rng.standard_normal(s)
        if op.domain == "positive":
            v = np.abs(v) + 0.5
        elif op.domain == "probability":
            v = 0.1 + 0.8 / (1 + np.exp(-v))
        elif op.domain == "away_from_zero":
            v = np.sign(v) * (np.abs(v) + 0.2) + (v == 0)
        out.append(np.asarray(v))
    return out


def _layout(array, layout):
    """The same values in a C-contiguous, Fortran-ordered or strided (every other element) array."""
    if layout == "f":
        return np.asfortranarray(array)
    if layout == "strided" and array.ndim:
        big = np.zeros(array.shape[:-1] + (2 * array.shape[-1],), dtype=array.dtype)
        big[..., ::2] = array
        return big[..., ::2]
    return np.ascontiguousarray(array)


def _inputs(op, data, dtype=np.float64):
    shapes = _draw_shapes(op, data)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    layout = data.draw(st.sampled_from(["c", "f", "strided"]), label="layout")
    arrays = [_layout(v.astype(dtype), layout) for v in _values(op, shapes, rng)]
    return arrays, [mg.from_numpy(a).requires_grad_() for a in arrays]


@pytest.mark.parametrize("name", OP_NAMES)
@given(data=st.data())
def test_forward_matches_numpy(name, data):
    op = BY_NAME[name]
    arrays, tensors = _inputs(op, data)
    expected = op.ref(*[a.copy() for a in arrays])
    got = op.fn(*tensors)
    assert got.shape == np.shape(expected), f"{name}: shape {got.shape} vs numpy {np.shape(expected)}"
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-7, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("name", OP_NAMES)
@given(data=st.data())
def test_forward_float32(name, data):
    op = BY_NAME[name]
    arrays, tensors = _inputs(op, data, np.float32)
    got = op.fn(*tensors)
    assert got.dtype == np.float32, f"{name} turned float32 inputs into {got.dtype}"
    expected = op.ref(*[a.astype(np.float64) for a in arrays])
    np.testing.assert_allclose(got.numpy(), expected, rtol=2e-5, atol=2e-5, err_msg=name)


@pytest.mark.parametrize("name", OP_NAMES)
@given(data=st.data())
def test_gradcheck(name, data):
    op = BY_NAME[name]
    _, tensors = _inputs(op, data)
    assert mg.gradcheck(op.fn, tensors, atol=op.atol)


@pytest.mark.parametrize("name", [op.name for op in REGISTRY if op.gradgrad])
@given(data=st.data())
def test_gradgradcheck(name, data):
    op = BY_NAME[name]
    _, tensors = _inputs(op, data)
    assert mg.gradgradcheck(op.fn, tensors, atol=op.atol)


@pytest.mark.parametrize("name", [op.name for op in NO_GRAD_OPS])
@given(data=st.data())
def test_comparisons_and_logic_match_numpy(name, data):
    op = BY_NAME[name]
    shapes = _draw_shapes(op, data)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    kinds = ["int64", "bool"] if name.startswith("bitwise") else ["float64", "int64"]
    dtype = data.draw(st.sampled_from(kinds), label="dtype")
    arrays = [rng.integers(-2, 3, s).astype(dtype) for s in shapes]  # few values: plenty of ties
    got = op.fn(*[mg.from_numpy(a) for a in arrays])
    expected = op.ref(*arrays)
    assert got.dtype == expected.dtype and got.shape == expected.shape and not got.requires_grad
    np.testing.assert_array_equal(got.numpy(), expected, err_msg=name)


def _forward_backward(op, arrays, backend):
    """Output and input gradients of op (summed against a fixed weighting) on one CPU backend."""
    with cpu_backend(backend):
        tensors = [mg.from_numpy(a.copy()).requires_grad_() for a in arrays]
        y = op.fn(*tensors)
        if y.dtype.kind != "f":
            return y.numpy(), []
        weight = np.linspace(-1, 1, int(np.prod(y.shape))).reshape(y.shape).astype(y.dtype)
        (y * mg.from_numpy(weight)).sum().backward()
        return y.numpy(), [t.grad.numpy() if t.grad is not None else None for t in tensors]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", OP_NAMES)
def test_cpu_backends_agree(name, dtype):
    """Every op, forward and backward, on the Numba kernels and on the numpy reference backend."""
    op = BY_NAME[name]
    shapes = list(op.fixed_shapes) if op.shapes == "fixed" else (
        [(3, 5), (5, 4)] if op.shapes == "matmul" else [(2, 3, 4)] * op.arity)
    arrays = [a.astype(dtype) for a in _values(op, shapes, np.random.default_rng(3))]
    y_ref, g_ref = _forward_backward(op, arrays, "numpy")
    y, g = _forward_backward(op, arrays, "numba")
    tol = dict(rtol=1e-9, atol=1e-10) if dtype == np.float64 else dict(rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(y, y_ref, err_msg=name, **tol)
    for got, want in zip(g, g_ref):
        assert (got is None) == (want is None)
        if want is not None:
            np.testing.assert_allclose(got, want, err_msg=name, **tol)


@pytest.mark.parametrize("name", OP_NAMES)
def test_op_leaves_its_inputs_alone(name):
    op = BY_NAME[name]
    shapes = list(op.fixed_shapes) if op.shapes == "fixed" else (
        [(2, 3), (3, 2)] if op.shapes == "matmul" else [(2, 3)] * op.arity)
    arrays = _values(op, shapes, np.random.default_rng(0))
    tensors = [mg.tensor(a, requires_grad=True) for a in arrays]
    out = op.fn(*tensors)
    out.backward(mg.ones_like(out))
    for a, t in zip(arrays, tensors):
        np.testing.assert_array_equal(t.numpy(), a, err_msg=f"{name} modified its input")


def _graph_functions(t):
    seen, stack = set(), [t.grad_fn] if t.grad_fn is not None else []
    while stack:
        fn = stack.pop()
        if fn in seen:
            continue
        seen.add(fn)
        stack.extend(x.grad_fn for x in fn.inputs or () if x.grad_fn is not None)
    return {type(f).__name__ for f in seen}


def _import_every_op_module():
    import importlib
    import pkgutil

    import minigrad.nn
    import minigrad.ops
    for info in pkgutil.iter_modules(minigrad.ops.__path__):
        importlib.import_module(f"minigrad.ops.{info.name}")
    return minigrad.nn


def _all_functions(cls=Function):
    out = set()
    for sub in cls.__subclasses__():
        if sub.__module__.startswith("minigrad"):
            out.add(sub.__name__)
        out |= _all_functions(sub)
    return out


def test_registry_covers_every_differentiable_op():
    _import_every_op_module()
    covered = set()
    for op in REGISTRY:
        shapes = list(op.fixed_shapes) if op.shapes == "fixed" else (
            [(2, 3, 3), (3, 2)] if op.shapes == "matmul" else
            ([(1, 3)] + [(2, 3)] * (op.arity - 1) if op.shapes == "broadcast" else [(2, 3)] * op.arity))
        if op.shapes == "any" and op.arity == 1:
            shapes = [(2, 3, 4)]
        tensors = [mg.tensor(a, requires_grad=True) for a in _values(op, shapes, np.random.default_rng(0))]
        out = op.fn(*tensors)
        covered |= _graph_functions(out)
        if op.gradgrad:
            grads = mg.grad((out * out).sum(), tensors, create_graph=True)
            for g in grads:
                if g is not None:
                    covered |= _graph_functions(g)
    missing = _all_functions() - covered - set(COVERED_ELSEWHERE)
    assert not missing, f"differentiable ops missing from tests/op_registry.py: {sorted(missing)}"
