"""The Tensor-level API of PyTorch, checked against torch itself: out=, the new_* family, norms and
minigrad.linalg, Size, item/tolist/numpy/to, and how tensors print."""
import math
import warnings

import numpy as np
import pytest

import minigrad as mg

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)


def _both(array):
    return mg.tensor(array), torch.tensor(array)


def _close(ours, theirs, **kw):
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), **kw)


# ---------------------------------------------------------------- out=
A, B = RNG.random((2, 3)) + 0.5, RNG.random((2, 3)) + 0.5
OUT_CASES = {  # name -> (call for the library `L`, with a and b its tensors)
    **{n: (lambda n: lambda L, a, b: (getattr(L, n)(a, b),))(n)
       for n in ("add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge")},
    **{n: (lambda n: lambda L, a, b: (getattr(L, n)(a),))(n)
       for n in ("neg", "abs", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "amax", "amin",
                 "argmax", "argmin", "mean", "norm")},
    "sum_dim": lambda L, a, b: (L.sum(a, 1),),
    "mean_dim": lambda L, a, b: (L.mean(a, 0, True),),
    "var": lambda L, a, b: (L.var(a, 1),),
    "std": lambda L, a, b: (L.std(a, 0),),
    "logsumexp": lambda L, a, b: (L.logsumexp(a, 1),),
    "softmax": lambda L, a, b: (L.softmax(a, 1),),
    "log_softmax": lambda L, a, b: (L.log_softmax(a, 1),),
    "clamp": lambda L, a, b: (L.clamp(a, 0.7, 1.2),),
    "clip": lambda L, a, b: (L.clip(a, max=1.0),),
    "where": lambda L, a, b: (L.where(a > b, a, b),),
    "matmul": lambda L, a, b: (L.matmul(a, b.T),),
    "cat": lambda L, a, b: (L.cat([a, b], 1),),
    "stack": lambda L, a, b: (L.stack([a, b]),),
    "all": lambda L, a, b: (L.all(a > 0.6),),
    "any": lambda L, a, b: (L.any(a > 1.4),),
    "bitwise_not": lambda L, a, b: (L.bitwise_not(a > 1),),
}


@pytest.mark.parametrize("name", sorted(OUT_CASES))
def test_out_writes_into_the_given_tensor_like_torch(name):
    call = OUT_CASES[name]
    (expected,) = call(torch, torch.tensor(A), torch.tensor(B))
    for L in (mg, torch):
        (plain,) = call(L, L.tensor(A), L.tensor(B))
        out = L.empty(0, dtype=plain.dtype)  # an empty out is resized, silently, in both
        (result,) = call(_with_out(L, out), L.tensor(A), L.tensor(B))
        assert result is out and tuple(out.shape) == tuple(expected.shape), L.__name__
        np.testing.assert_allclose(np.asarray(out.tolist(), dtype=np.float64),
                                   np.asarray(expected.tolist(), dtype=np.float64), rtol=1e-6)


class _with_out:
    """The library `L`, whose every function gets `out=` added."""

    def __init__(self, lib, out):
        self.lib, self.out = lib, out

    def __getattr__(self, name):
        if name == "tensor":
            return self.lib.tensor
        fn = getattr(self.lib, name)
        return lambda *args, **kw: fn(*args, out=self.out, **kw)


def test_out_bumps_the_version_keeps_its_dtype_and_returns_out():
    for L in (mg, torch):
        a = L.ones(2)
        out = L.zeros(2, dtype=L.float64)
        version = (lambda t: t._version[0]) if L is mg else (lambda t: t._version)
        v = version(out)
        assert L.mul(a, 3, out=out) is out
        assert version(out) == v + 1 and out.dtype == L.float64 and out.tolist() == [3.0, 3.0]
        mg_or_torch_out = L.add(a, a, out=a)  # out may be an input
        assert mg_or_torch_out is a and a.tolist() == [2.0, 2.0]


def test_out_with_values_and_indices():
    x = RNG.standard_normal((3, 4))
    for L in (mg, torch):
        values, indices = L.empty(0, dtype=L.float64), L.empty(0, dtype=L.int64)
        res = L.max(L.tensor(x), 1, out=(values, indices))
        assert res[0] is values and res[1] is indices
        np.testing.assert_allclose(values.tolist(), x.max(1))
        assert indices.tolist() == x.argmax(1).tolist()


def test_out_refused_where_torch_refuses_it():
    a = mg.ones(2, requires_grad=True)
    msg = "add\\(\\): functions with out=... arguments don't support automatic differentiation"
    with pytest.raises(RuntimeError, match=msg):
        mg.add(a, a, out=mg.empty(2))
    with pytest.raises(RuntimeError, match=msg):  # an out that requires grad, too
        mg.add(mg.ones(2), 1, out=mg.empty(2, requires_grad=True))
    with mg.no_grad():  # without grad mode it is fine, as in torch
        out = mg.empty(2, requires_grad=True)
        mg.add(a, a, out=out)
        assert out.tolist() == [2.0, 2.0]
    with pytest.raises(RuntimeError, match="result type float32 can't be cast to the desired output type int64"):
        mg.add(mg.ones(2), 1, out=mg.empty(2, dtype=mg.int64))
    # torch resizes a non-empty out of the wrong shape with a deprecation warning; minigrad refuses it
    with pytest.raises(RuntimeError, match=r"add: out has shape \(3,\) but the result has shape \(2,\)"):
        mg.add(mg.ones(2), 1, out=mg.empty(3))
    with pytest.raises(TypeError, match="exp: out must be a Tensor"):
        mg.exp(mg.ones(2), out=np.empty(2))


def test_methods_take_no_out_like_torch():
    for L in (mg, torch):
        with pytest.raises(TypeError):
            L.ones(2).add(L.ones(2), out=L.empty(2))


# ---------------------------------------------------------------- new_*
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_new_family_like_torch(dtype):
    ours, theirs = mg.ones(2, dtype=getattr(mg, dtype)), torch.ones(2, dtype=getattr(torch, dtype))
    calls = [lambda x: x.new_zeros(2, 3), lambda x: x.new_zeros((2, 3)), lambda x: x.new_ones([4]),
             lambda x: x.new_full((2,), 3.5), lambda x: x.new_tensor([[1.5, 2], [3, 4]]),
             lambda x: x.new_empty(0), lambda x: x.new_empty((2, 2)),
             lambda x: x.new_ones(3, dtype=mg.float64 if isinstance(x, mg.Tensor) else torch.float64),
             lambda x: x.new_tensor(7)]
    for call in calls:
        o, t = call(ours), call(theirs)
        assert tuple(o.shape) == tuple(t.shape) and str(o.dtype) == str(t.dtype).replace("torch.", "")
        if "empty" not in str(call.__code__.co_names):
            assert o.tolist() == t.tolist()
    z = mg.ones(1).new_zeros(2, requires_grad=True)
    assert z.requires_grad and z.is_leaf and z.device == mg.ones(1).device
    with pytest.raises(TypeError, match="new_zeros: size must be ints"):
        mg.ones(1).new_zeros(2.5)


# ---------------------------------------------------------------- norms
X = RNG.standard_normal((3, 4, 5))


@pytest.mark.parametrize("ord", [2, 1, 3, 0.5, 0, math.inf, -math.inf, -1])
@pytest.mark.parametrize("dim", [None, 1, (0, 2), -1])
def test_vector_norm_like_torch(ord, dim):
    o = mg.linalg.vector_norm(mg.tensor(X), ord, dim)
    t = torch.linalg.vector_norm(torch.tensor(X), ord, dim)
    _close(o, t, rtol=1e-10)
    keep = mg.linalg.vector_norm(mg.tensor(X), ord, dim, keepdim=True)
    assert tuple(keep.shape) == tuple(torch.linalg.vector_norm(torch.tensor(X), ord, dim, keepdim=True).shape)


@pytest.mark.parametrize("ord", ["fro", 1, -1, math.inf, -math.inf, 2, -2, "nuc"])
@pytest.mark.parametrize("keepdim", [False, True])
def test_matrix_norm_like_torch(ord, keepdim):
    for dim in ((-2, -1), (0, 2)):
        o = mg.linalg.matrix_norm(mg.tensor(X), ord, dim, keepdim)
        t = torch.linalg.matrix_norm(torch.tensor(X), ord, dim, keepdim)
        assert tuple(o.shape) == tuple(t.shape)
        _close(o, t, rtol=1e-10)


@pytest.mark.parametrize("ord, dim", [(None, None), (None, 1), (None, (0, 1)), (2, None), ("fro", None),
                                      (1, None), (math.inf, 0), ("nuc", None), (3, 1)])
def test_linalg_norm_like_torch(ord, dim):
    m = X[0]
    _close(mg.linalg.norm(mg.tensor(m), ord, dim), torch.linalg.norm(torch.tensor(m), ord, dim), rtol=1e-10)
    if ord is None:
        _close(mg.linalg.norm(mg.tensor(X), ord, dim), torch.linalg.norm(torch.tensor(X), ord, dim), rtol=1e-10)


@pytest.mark.parametrize("p, dim", [("fro", None), (2, None), (1, 1), (math.inf, None), (3, (0, 1)), ("fro", (1, 2)),
                                    (0, -1)])
def test_torch_norm_and_method_like_torch(p, dim):
    _close(mg.norm(mg.tensor(X), p, dim), torch.norm(torch.tensor(X), p, dim), rtol=1e-10)
    _close(mg.tensor(X).norm(p, dim, keepdim=True), torch.tensor(X).norm(p, dim, keepdim=True), rtol=1e-10)
    x32 = X.astype(np.float32)
    _close(mg.tensor(x32).norm(p, dim, dtype=mg.float64), torch.tensor(x32).norm(p, dim, dtype=torch.float64))
    with pytest.raises(RuntimeError, match="vector_norm: the dtype of the input"):
        mg.tensor(X).norm(p, dim, dtype=mg.float32)  # like torch: no narrowing


@pytest.mark.parametrize("fn", [lambda L, x: x.norm(), lambda L, x: x.norm(1, dim=1), lambda L, x: x.norm(3),
                                lambda L, x: x.norm(math.inf, dim=0), lambda L, x: L.linalg.vector_norm(x, -2),
                                lambda L, x: L.linalg.matrix_norm(x, math.inf), lambda L, x: L.linalg.matrix_norm(x, -1),
                                lambda L, x: L.linalg.norm(x)])
def test_norm_gradients_like_torch(fn):
    x = RNG.standard_normal((4, 3))
    o, t = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    fn(mg, o).sum().backward()
    fn(torch, t).sum().backward()
    _close(o.grad, t.grad, rtol=1e-10)


def test_the_2_norm_has_gradient_0_at_0_like_torch():
    for call in (lambda L, x: x.norm(), lambda L, x: L.linalg.vector_norm(x, dim=1), lambda L, x: x.norm(3)):
        o, t = mg.zeros(2, 3, dtype=mg.float64, requires_grad=True), torch.zeros(2, 3, dtype=torch.float64,
                                                                                  requires_grad=True)
        call(mg, o).sum().backward()
        call(torch, t).sum().backward()
        assert o.grad.tolist() == t.grad.tolist() == [[0.0] * 3] * 2


def test_norms_refuse_clearly():
    with pytest.raises(TypeError, match="vector_norm: expected a floating-point tensor, got dtype int64"):
        mg.linalg.vector_norm(mg.tensor([1, 2]))
    with pytest.raises(NotImplementedError, match="matrix_norm: this norm comes from singular values"):
        mg.linalg.matrix_norm(mg.ones(2, 2, requires_grad=True), 2)
    with mg.no_grad():
        assert mg.linalg.matrix_norm(mg.eye(2, requires_grad=True), "nuc").item() == 2.0
    with pytest.raises(ValueError, match="matrix_norm: needs a tensor with at least 2 dimensions"):
        mg.linalg.matrix_norm(mg.ones(3))
    with pytest.raises(ValueError, match="matrix_norm: ord must be"):
        mg.linalg.matrix_norm(mg.ones(2, 2), 3)
    with pytest.raises(ValueError, match="linalg.norm: with ord=2 and dim=None, A must be 1-D or 2-D"):
        mg.linalg.norm(mg.ones(2, 2, 2), 2)
    with pytest.raises(ValueError, match="norm: p must be"):
        mg.ones(2).norm("max")


# ---------------------------------------------------------------- Size
def test_size_like_torch():
    x, t = mg.ones(2, 3), torch.ones(2, 3)
    for s, ts in ((x.shape, t.shape), (x.size(), t.size())):
        assert isinstance(s, mg.Size) and isinstance(s, tuple)
        assert s == (2, 3) == ts and s.numel() == ts.numel() == 6
        assert repr(s) == repr(ts).replace("torch.", "") == "Size([2, 3])"
        assert str(s) == f"{s}" == "(2, 3)"  # a difference: torch prints torch.Size([2, 3]) here too
        assert isinstance(s[1:], mg.Size) and s[1:] == (3,) and isinstance(s[0], int)
        assert isinstance(s + (4,), mg.Size) and s + (4,) == (2, 3, 4)
    assert x.size(1) == 3 and x.size(-2) == 2 and isinstance(x.size(1), int)
    assert mg.ones(()).shape == () and mg.ones(()).shape.numel() == torch.Size([]).numel() == 1
    assert mg.Size([4, 5]).numel() == 20 and mg.ones(2, 3).reshape(x.shape[::-1]).shape == (3, 2)
    with pytest.raises(IndexError, match="size: dim 2 is out of range for a tensor of shape \\(2, 3\\)"):
        x.size(2)
    with pytest.raises(IndexError):
        t.size(2)


# ---------------------------------------------------------------- item, tolist, numpy, to
def test_item_tolist_numpy_like_torch():
    for data in ([[1.5, -2.0]], [[1, 2], [3, 4]], [True, False], 3.25):
        o, t = mg.tensor(data), torch.tensor(data)
        assert o.tolist() == t.tolist() and type(o.tolist()) is type(t.tolist())
        assert o.numpy().dtype == t.numpy().dtype and np.array_equal(o.numpy(), t.numpy())
    assert mg.tensor([7]).item() == torch.tensor([7]).item() == 7 and type(mg.tensor([7]).item()) is int
    assert type(mg.tensor(2.5).item()) is float and type(mg.tensor(True).item()) is bool


def test_numpy_on_a_tensor_that_requires_grad():
    """A known difference: torch refuses x.numpy() when x requires grad ("Can't call numpy() on Tensor that
    requires grad. Use tensor.detach().numpy() instead."); minigrad allows it, as ~250 of its own calls
    (tests, the Keras face, examples) rely on it. The torch spellings work in both."""
    for L in (mg, torch):
        x = L.ones(2, requires_grad=True)
        assert x.detach().numpy().tolist() == [1.0, 1.0] and x.numpy(force=True).tolist() == [1.0, 1.0]
        assert x.tolist() == [1.0, 1.0] and (x * 2).sum().item() == 4.0
    assert mg.ones(2, requires_grad=True).numpy().tolist() == [1.0, 1.0]
    arr = mg.ones(2).numpy()
    arr[0] = 5  # numpy() shares memory on the CPU, like torch; force=True copies
    x = mg.from_numpy(arr)
    assert x.numpy() is arr and x.numpy(force=True) is not arr


def test_to_like_torch():
    x, t = mg.tensor([1.7, -2.2]), torch.tensor([1.7, -2.2])
    for args in [("float64",), ("int64",), ("cpu",), ("cpu", "float64"), ("int32",)]:
        o = x.to(*(getattr(mg, a) if a != "cpu" else a for a in args))
        r = t.to(*(getattr(torch, a) if a != "cpu" else a for a in args))
        assert str(o.dtype) == str(r.dtype).replace("torch.", "") and o.tolist() == r.tolist()
    assert x.to(dtype=mg.float64).dtype == mg.float64 and x.to(device="cpu") is x
    assert x.to(mg.ones(1, dtype=mg.float16)).dtype == mg.float16  # to(other): other's dtype and device
    assert x.to(mg.float32) is x and x.to(mg.float32, copy=True) is not x  # no copy unless asked, like torch
    assert t.to(torch.float32) is t
    y = mg.tensor([1.0, 2.0], requires_grad=True)
    y.to(mg.float64).sum().backward()
    assert y.grad.dtype == mg.float32 and y.grad.tolist() == [1.0, 1.0]


# ---------------------------------------------------------------- printing
REPR_CASES = {
    "floats": lambda L: L.tensor([[1.25, -2.5], [3.0, 4.0]]),
    "integer-valued floats": lambda L: L.tensor([[1.0, 2.0], [3.0, 4.0]]),
    "ints": lambda L: L.tensor([[1, -20], [300, 4]]),
    "int32": lambda L: L.tensor([1, 2], dtype=L.int32),
    "bools": lambda L: L.tensor([True, False]),
    "0-d float": lambda L: L.tensor(1.5),
    "0-d int": lambda L: L.tensor(3),
    "0-d bool": lambda L: L.tensor(True),
    "small: scientific": lambda L: L.tensor([1e-5, 1.0]),
    "large: scientific": lambda L: L.tensor([1e10, 1.0]),
    "wide range": lambda L: L.tensor([123456.7, 0.5]),
    "nan and inf": lambda L: L.tensor([float("nan"), float("inf"), -1.0]),
    "zeros": lambda L: L.zeros(3),
    "float16": lambda L: L.tensor([-1.0, 2.5], dtype=L.float16),
    "empty": lambda L: L.zeros(0),
    "empty 2-d": lambda L: L.zeros(2, 0),
    "empty int": lambda L: L.zeros(0, dtype=L.int64),
    "long line wraps": lambda L: L.tensor(np.linspace(-1, 1, 25).astype(np.float32)),
    "summarised 1-d": lambda L: L.arange(2000.0),
    "summarised 2-d": lambda L: L.tensor(np.random.default_rng(1).standard_normal((100, 100)).astype(np.float32)),
    "summarised 3-d": lambda L: L.tensor(np.random.default_rng(1).standard_normal((10, 20, 30)).astype(np.float32)),
    "3-d": lambda L: L.tensor(np.random.default_rng(2).standard_normal((2, 3, 4)).astype(np.float32)),
    "requires_grad": lambda L: L.ones(3, requires_grad=True),
    "grad_fn": lambda L: L.ones(3, requires_grad=True) * 2,
    "grad_fn, wrapped": lambda L: L.tensor(np.linspace(0, 1, 25).astype(np.float32), requires_grad=True) + 1,
}


@pytest.mark.parametrize("case", sorted(REPR_CASES))
def test_repr_like_torch(case):
    """The same text as torch, but for the dtype's name (`dtype=float64`: minigrad's dtypes are numpy's,
    torch writes `dtype=torch.float64`). Remaining differences, not tested here: a suffix that fits on the
    last line with `float64` but not with `torch.float64` stays on that line in minigrad; torch's
    set_printoptions (precision, sci_mode, linewidth) has no counterpart; complex tensors."""
    ours, theirs = repr(REPR_CASES[case](mg)), repr(REPR_CASES[case](torch)).replace("torch.", "")
    assert ours == theirs
    assert str(REPR_CASES[case](mg)) == ours


def test_repr_dtype_device_and_parameter():
    assert repr(mg.tensor([1.0, 2.0], dtype=mg.float64)) == "tensor([1., 2.], dtype=float64)"
    mg.set_default_dtype(mg.float64)
    try:  # the default dtype is the one left out
        assert repr(mg.tensor([1.0])) == "tensor([1.])" and repr(mg.ones(1, dtype=mg.float32)).endswith(
            "dtype=float32)")
    finally:
        mg.set_default_dtype(mg.float32)
    p = mg.nn.Parameter(mg.zeros(2))
    assert repr(p) == repr(torch.nn.Parameter(torch.zeros(2))) == "Parameter containing:\ntensor([0., 0.], requires_grad=True)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        print(mg.randn(3, 4))  # print works, as repr
