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
    assert "requires_grad=True" in repr(x) and "dtype=float32" in repr(x) and "device='cpu'" in repr(x)
    r = repr(x * 2)
    assert "tensor([2., 4.]" in r and "grad_fn=<MulBackward0>" in r


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
