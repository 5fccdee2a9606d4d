"""The Tensor API: factories, dtypes, conversion, repr, indexing results, comparisons."""
import numpy as np
import pytest

import minigrad as mg


def test_default_dtypes_follow_torch():
    assert mg.tensor([1.0, 2.0]).dtype == mg.float32
    assert mg.tensor([1, 2]).dtype == mg.int64
    assert mg.tensor([True]).dtype == mg.bool
    assert mg.tensor(np.zeros(2)).dtype == mg.float64  # numpy arrays keep their dtype
    assert mg.zeros(2, 3).dtype == mg.float32 and mg.zeros(2, 3).shape == (2, 3)
    assert mg.arange(5).dtype == mg.int64 and mg.arange(0.0, 1.0, 0.25).dtype == mg.float32


def test_factories():
    assert mg.ones((2, 2)).numpy().sum() == 4
    assert mg.full((2,), 7.0).tolist() == [7.0, 7.0]
    np.testing.assert_allclose(mg.linspace(0, 1, 5).numpy(), np.linspace(0, 1, 5))
    np.testing.assert_array_equal(mg.eye(3).numpy(), np.eye(3))
    x = mg.randn(4, 5)
    assert mg.zeros_like(x).shape == (4, 5) and mg.ones_like(x).dtype == mg.float32
    assert mg.empty(3).shape == (3,)
    assert 0 <= mg.rand(100).numpy().min() and mg.rand(100).numpy().max() < 1
    r = mg.randint(0, 10, (50,))
    assert r.dtype == mg.int64 and r.numpy().max() < 10


def test_manual_seed_makes_draws_repeatable():
    mg.manual_seed(3)
    a = mg.randn(5).numpy()
    mg.manual_seed(3)
    np.testing.assert_array_equal(a, mg.randn(5).numpy())


def test_from_numpy_shares_memory_and_tensor_copies():
    a = np.zeros(3, dtype=np.float32)
    shared, copied = mg.from_numpy(a), mg.tensor(a)
    a[0] = 5
    assert shared[0].item() == 5 and copied[0].item() == 0


def test_conversions():
    x = mg.tensor([[1.5, 2.5]])
    assert x.double().dtype == mg.float64 and x.long().tolist() == [[1, 2]]
    assert x.to(mg.float64).dtype == mg.float64 and x.to("cpu") is x
    assert np.asarray(x).shape == (1, 2)
    assert mg.tensor(3.5).item() == 3.5 and float(mg.tensor([2.0])) == 2.0
    with pytest.raises(ValueError, match="item: only one-element"):
        x.item()


def test_repr_shows_data_dtype_and_grad_fn():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    assert repr(x) == "tensor([1., 2.], requires_grad=True)"  # float32 and the CPU are the defaults
    assert repr(x * 2) == "tensor([2., 4.], grad_fn=<MulBackward0>)"
    assert repr(x.double().detach()) == "tensor([1., 2.], dtype=float64)"


def test_attributes():
    x = mg.randn(2, 3, 4)
    assert x.shape == (2, 3, 4) and x.ndim == 3 and x.size() == (2, 3, 4) and x.size(1) == 3
    assert x.numel() == 24 and x.is_leaf and str(x.device) == "cpu" and x.device == "cpu"
    assert x.T.shape == (4, 3, 2) and x.mT.shape == (2, 4, 3)


def test_comparisons_return_boolean_tensors_without_grad():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    m = x > 1.5
    assert m.dtype == mg.bool and m.tolist() == [False, True, True] and not m.requires_grad
    assert (x == 2.0).tolist() == [False, True, False]
    assert ((x > 1.5) & (x < 2.5)).tolist() == [False, True, False]


def test_max_with_dim_returns_values_and_indices_like_torch():
    x = mg.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    values, indices = x.max(1)
    assert values.tolist() == [5.0, 7.0] and indices.tolist() == [1, 0]
    _, predicted = mg.max(x, 1)  # the MNIST tutorials' idiom
    assert predicted.tolist() == [1, 0]
    assert x.argmax().item() == 3 and x.argmin(0).tolist() == [0, 1, 0]


def test_setitem_and_boolean_index():
    x = mg.zeros(3, 3)
    x[0, 1] = 5.0
    x[x > 1] = 2.0
    assert x.sum().item() == 2.0


def test_split_chunk_stack_cat_shapes():
    x = mg.arange(10).float().reshape(2, 5)
    assert [p.shape for p in x.split([2, 3], 1)] == [(2, 2), (2, 3)]
    assert [p.shape for p in x.chunk(2, 1)] == [(2, 3), (2, 2)]
    assert mg.stack([x, x], 1).shape == (2, 2, 5)
    assert mg.cat([x, x]).shape == (4, 5)


def test_integer_division_is_true_division():
    assert (mg.tensor([1, 2]) / 2).dtype.kind == "f"


def test_scalar_ops_keep_float32():
    x = mg.ones(2)
    for y in (x + 1, 2 * x, x / 3.0, x ** 2, 1 - x, np.float64(2.0) * x):
        assert y.dtype == mg.float32, y


def test_augmented_assignment_updates_in_place_under_no_grad():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    same = w
    with mg.no_grad():
        w -= 0.5 * w.grad  # the tutorials' gradient-descent step, as in torch
    assert w is same and w.requires_grad
    np.testing.assert_allclose(w.numpy(), [0.0, 0.0])
    with pytest.raises(RuntimeError, match="in-place"):
        w += 1


def test_float_meets_integer_tensor_keeps_the_float_dtype():
    assert (mg.ones(2) + mg.tensor([1, 2])).dtype == mg.float32
    assert (mg.tensor([1, 2]) * mg.ones(2, dtype=mg.float64)).dtype == mg.float64


def test_methods_come_from_the_one_table_as_plain_functions():
    """Each operator and op method is the table's function itself, set on the class: no wrapper
    layer per call, and nothing in tensor.py that the table would silently replace."""
    import ast
    import importlib
    import inspect
    import types

    from minigrad.ops.methods import TENSOR_METHODS

    for name, fn in TENSOR_METHODS.items():
        assert type(fn) is types.FunctionType, name
        assert mg.Tensor.__dict__[name] is fn, name
    tree = ast.parse(inspect.getsource(importlib.import_module("minigrad.tensor")))  # mg.tensor: the factory
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Tensor"]
    defined = {n.name for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    defined |= {t.id for n in cls.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    assert not defined & set(TENSOR_METHODS), "defined in tensor.py and in ops/methods.py"


def test_methods_and_functions_are_the_same_op():
    x = mg.tensor([[1.0, -2.0], [3.0, 0.5]])
    pairs = [(x.exp(), mg.exp(x)), (x.sum(0), mg.sum(x, 0)), (x.clamp(0.0), mg.clamp(x, 0.0)),
             (x.reshape(4), mg.reshape(x, 4)), (x.transpose(0, 1), mg.transpose(x, 0, 1)), (x.t(), x.T),
             (x.view_as(mg.zeros(4)), x.reshape(4)), (x.expand_as(mg.zeros(3, 2, 2)), x.expand(3, 2, 2)),
             (x.mT, x.transpose(-2, -1)), (x.clip(max=1.0), x.clamp(max=1.0)), (2 - x, mg.sub(2, x)),
             (2 / x, mg.div(2, x)), (2 ** x, mg.pow(2, x)), (x.eq(x), mg.eq(x, x)), (x.to(mg.float64), x.double())]
    for got, want in pairs:
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_dim_or_axis_alias():
    x = mg.arange(6).float().reshape(2, 3)
    assert mg.cat([x, x], axis=1).shape == (2, 6) and mg.stack([x, x], axis=2).shape == (2, 3, 2)
    np.testing.assert_allclose(x.softmax(axis=0).numpy().sum(0), [1.0, 1.0, 1.0], rtol=1e-6)
    assert x.sum(axis=1, keepdims=True).shape == (2, 1) and x.max(axis=0).values.tolist() == [3.0, 4.0, 5.0]


def test_comparisons_and_logic_with_scalars_on_either_side():
    x = mg.tensor([1, 2, 3])
    assert (2 < x).tolist() == [False, False, True] and (x <= 2).tolist() == [True, True, False]
    assert (2 == x).tolist() == [False, True, False] and (x != 2).tolist() == [True, False, True]
    assert (x & 1).tolist() == [1, 0, 1] and (1 | x).tolist() == [1, 3, 3] and (~(x > 1)).tolist() == [True, False, False]
    assert (x > 0).all().item() and not (x > 2).all().item() and (x > 2).any().item()
    assert (mg.tensor(1.0) == 1.0).shape == ()  # a 0-d result stays a tensor of an array
    with pytest.raises(TypeError, match="bitwise_and: needs boolean or integer operands, got float32"):
        mg.ones(2) & 1
