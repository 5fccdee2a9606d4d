"""Python scalars as operands (`x + 2`, `2.5 / x`, `mg.where(m, x, 0)`), checked against torch.

Every op in tests/op_registry.py with a `torch_fn` takes an int and a float scalar on either
side of a tensor of each dtype in its `scalar_dtypes`; the result's dtype and values must be
torch's (and where torch refuses a combination, minigrad must refuse it too).
"""
import numpy as np
import pytest

import minigrad as mg
from op_registry import NO_GRAD_OPS, REGISTRY

torch = pytest.importorskip("torch")

SCALAR_OPS = [op for op in REGISTRY + NO_GRAD_OPS if op.torch_fn is not None]
SCALARS = [2, 2.5]

# Values every op accepts: positive (log, pow, div), no ties with the scalars, none on a clamp bound.
_VALUES = {"f": [[0.5, 1.25], [3.0, 4.5]], "i": [[1, 3], [4, 6]], "b": [[True, False], [False, True]]}


def _tensors(dtype):
    arr = np.asarray(_VALUES[np.dtype(dtype).kind], dtype=dtype)
    return mg.tensor(arr), torch.from_numpy(arr.copy())


def _cases():
    for op in SCALAR_OPS:
        for dtype in op.scalar_dtypes:
            if op.arity == 1:  # the scalars are the op's own arguments (clamp's bounds)
                yield pytest.param(op, dtype, None, None, id=f"{op.name}-{dtype}")
                continue
            for scalar in SCALARS:
                for side in ("first", "second"):
                    yield pytest.param(op, dtype, scalar, side, id=f"{op.name}-{dtype}-{scalar!r}-{side}")


def _args(tensor, scalar, side):
    if side is None:
        return (tensor,)
    return (scalar, tensor) if side == "first" else (tensor, scalar)


def _torch_dtype_name(t):
    return str(t.dtype).removeprefix("torch.")


@pytest.mark.parametrize("op, dtype, scalar, side", list(_cases()))
def test_scalar_operand_follows_torch(op, dtype, scalar, side):
    ours, theirs = _tensors(dtype)
    try:
        want = op.torch_fn(*_args(theirs, scalar, side))
    except (RuntimeError, TypeError, NotImplementedError):  # torch refuses: so must we
        with pytest.raises((TypeError, ValueError, RuntimeError)):
            op.fn(*_args(ours, scalar, side))
        return
    got = op.fn(*_args(ours, scalar, side))
    assert str(got.dtype) == _torch_dtype_name(want), \
        f"{op.name}: {dtype} tensor with {scalar!r} ({side}) gives {got.dtype}, torch gives {want.dtype}"
    assert got.shape == tuple(want.shape)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, err_msg=op.name)


@pytest.mark.parametrize("op", [op for op in SCALAR_OPS if op.arity == 2 and op in REGISTRY], ids=lambda op: op.name)
@pytest.mark.parametrize("side", ["first", "second"])
def test_gradient_flows_past_a_scalar_operand(op, side):
    """The tensor operand's gradient is right when the other operand is a Python scalar."""
    x = mg.tensor(np.asarray(_VALUES["f"]), requires_grad=True)
    assert mg.gradcheck(lambda t: op.fn(*_args(t, 2.5, side)), [x])


def test_every_broadcasting_binary_op_is_tested_with_scalars():
    """A new binary op in the registry must also say how it meets Python scalars."""
    binary = [op.name for op in REGISTRY + NO_GRAD_OPS if op.arity == 2 and op.shapes == "broadcast"]
    missing = [name for name in binary if name not in {op.name for op in SCALAR_OPS}]
    assert not missing, f"binary ops without a torch_fn in tests/op_registry.py: {missing}"


@pytest.mark.parametrize("a, b", [(1.0, 2.0), (1, 2), (1, 2.5), (1.5, 2), (True, False), (True, 2)])
def test_where_with_two_scalars(a, b):
    mask = np.array([True, False, True])
    got = mg.where(mg.tensor(mask), a, b)
    want = torch.where(torch.from_numpy(mask), a, b)
    assert str(got.dtype) == _torch_dtype_name(want)
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_where_takes_a_plain_array_as_condition():
    got = mg.where(np.array([True, False]), mg.tensor([1.0, 2.0]), 0.0)
    np.testing.assert_array_equal(got.numpy(), [1.0, 0.0])


@pytest.mark.parametrize("expr", [lambda x: x @ 2, lambda x: 2 @ x, lambda x: mg.matmul(x, 2.5),
                                  lambda x: mg.matmul(2.5, x)], ids=["x@2", "2@x", "matmul(x,2.5)", "matmul(2.5,x)"])
def test_matmul_refuses_a_scalar(expr):
    with pytest.raises(ValueError, match="matmul: both operands need at least 1 dimension"):
        expr(mg.ones(2, 2))


@pytest.mark.parametrize("expr", [lambda x: x / 2, lambda x: x + 2.5, lambda x: x ** 0.5, lambda x: x.clamp(0.5),
                                  lambda x: mg.where(x > 2, 1.0, 2)],
                         ids=["int/int", "int+float", "int**float", "clamp(float)", "where(float,int)"])
def test_integers_become_the_default_float_dtype(expr):
    """int64 tensors meeting floats become the default dtype, whichever it is (torch's rule)."""
    x = np.array([1, 2, 3])
    previous = mg.get_default_dtype()
    try:
        for dtype, torch_dtype in ((mg.float64, torch.float64), (mg.float32, torch.float32)):
            mg.set_default_dtype(dtype)
            torch.set_default_dtype(torch_dtype)
            got, want = expr(mg.tensor(x)), expr(torch.from_numpy(x))
            assert str(got.dtype) == _torch_dtype_name(want)
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
    finally:
        mg.set_default_dtype(previous)
        torch.set_default_dtype(torch.float32)
