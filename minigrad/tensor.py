"""Tensor: an n-dimensional array (numpy on the CPU, cupy on a GPU) that remembers how it
was made, so that `backward()` can send gradients back through that history.
"""
from collections import namedtuple

import numpy as np

from . import autograd
from .backend import CPU, Device

float16, float32, float64 = np.dtype("float16"), np.dtype("float32"), np.dtype("float64")
int8, int16, int32, int64 = np.dtype("int8"), np.dtype("int16"), np.dtype("int32"), np.dtype("int64")
uint8, bool_ = np.dtype("uint8"), np.dtype("bool")

_default = {"dtype": float32}

MinMax = namedtuple("MinMax", ["values", "indices"])


def get_default_dtype():
    return _default["dtype"]


def set_default_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype: only floating-point dtypes are allowed, got {dtype}")
    _default["dtype"] = dtype


def _device(device):
    if device is None:
        return CPU
    if isinstance(device, Device):
        return device
    d = Device(device)
    return CPU if d.type == "cpu" else d


def _to_array(data, dtype, device):
    """Python data, numpy/cupy arrays or Tensors -> an array of `dtype` on `device`."""
    if isinstance(data, Tensor):
        data = data.array
    xp = np if device.type == "cpu" else device.xp
    if dtype is not None:
        dtype = np.dtype(dtype)
    if device.type == "cpu" and type(data) is not np.ndarray and hasattr(data, "get"):
        data = data.get()  # cupy -> host
    if isinstance(data, (np.ndarray, np.generic)) or hasattr(data, "__cuda_array_interface__"):
        arr = xp.asarray(data, dtype=dtype)
    else:
        arr = np.asarray(data)
        if dtype is None:  # python data: floats become the default float dtype, like torch
            dtype = _default["dtype"] if arr.dtype.kind == "f" else (int64 if arr.dtype.kind in "iu" else None)
        if arr.dtype == object:
            raise TypeError(f"tensor: cannot make a tensor from {type(data).__name__} data")
        arr = xp.asarray(arr, dtype=dtype)
    return arr


class Tensor:
    """array: the raw numpy/cupy array; grad: the gradient after backward(); grad_fn: the Function that
    made it. `data` is torch's: a Tensor sharing the storage, cut from the graph."""

    __slots__ = ("array", "grad", "_requires_grad", "grad_fn", "device", "_version", "_retains_grad",
                 "_grad_accumulator", "__weakref__")
    __array_priority__ = 1000  # numpy defers `array * tensor` to Tensor.__rmul__

    def __init__(self, data, dtype=None, device=None, requires_grad=False):
        device = _device(device if device is not None or not isinstance(data, Tensor) else data.device)
        self.array = _to_array(data, dtype, device)
        self.device = device
        self.grad = None
        self.grad_fn = None
        self._version = [0]
        self._retains_grad = False
        self._requires_grad = False
        if requires_grad:
            self.requires_grad = True

    @classmethod
    def _make(cls, data, device):
        """Wrap an array without copying or checks (the ops' fast path)."""
        t = object.__new__(cls)
        t.array = data
        t.device = device
        t.grad = None
        t.grad_fn = None
        t._requires_grad = False
        t._version = [0]
        t._retains_grad = False
        return t

    # ------------------------------------------------------------ attributes
    @property
    def data(self):
        """This tensor's storage as a new Tensor outside the graph, with its own version counter
        (torch's `.data`: in-place changes through it are not seen by autograd)."""
        return Tensor._make(self.array, self.device)

    @data.setter
    def data(self, value):
        if not isinstance(value, Tensor):
            raise TypeError(f"data: expected a Tensor, got {type(value).__name__}")
        self.array, self.device = value.array, value.device

    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        if flag and self.array.dtype.kind not in "fc":
            raise RuntimeError(f"only floating-point tensors can require gradients, got dtype {self.array.dtype}")
        if not flag and self.grad_fn is not None:
            raise RuntimeError("requires_grad: you can only change it on leaf tensors; use detach() instead")
        self._requires_grad = bool(flag)

    def requires_grad_(self, flag=True):
        self.requires_grad = flag
        return self

    @property
    def shape(self):
        return self.array.shape

    @property
    def ndim(self):
        return self.array.ndim

    @property
    def dtype(self):
        return self.array.dtype

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def xp(self):
        """The array module of this tensor's data: numpy or cupy."""
        return np if self.device.type == "cpu" else self.device.xp

    @property
    def is_cuda(self):
        return self.device.type == "cuda"

    @property
    def T(self):
        return self.permute(tuple(range(self.ndim - 1, -1, -1)))

    @property
    def mT(self):
        return _ops.transpose(self, -2, -1)

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def dim(self):
        return self.ndim

    def numel(self):
        return int(self.array.size)

    def element_size(self):
        return self.array.itemsize

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    # ------------------------------------------------------------ autograd
    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Compute d(self)/d(leaf) for every leaf that requires grad and add it to leaf.grad
        (only for `inputs`, when given). gradient: d(loss)/d(self), needed unless self has one element."""
        autograd.backward(self, gradient, retain_graph, create_graph, inputs)

    def _initial_grad(self, gradient):
        """The gradient backward starts from: `gradient` as a Tensor like self, or ones for one element."""
        if gradient is None:
            if self.array.size != 1:
                raise RuntimeError(f"backward: grad can be implicitly created only for scalar outputs, got shape "
                                   f"{self.shape}; pass gradient= with that shape")
            return Tensor._make(self.xp.ones(self.shape, dtype=self.dtype), self.device)
        g = gradient if isinstance(gradient, Tensor) else Tensor(gradient, dtype=self.dtype, device=self.device)
        if g.shape != self.shape:
            raise RuntimeError(f"backward: gradient has shape {g.shape} but the tensor has shape {self.shape}")
        return g

    def retain_grad(self):
        """Keep .grad on this non-leaf tensor too (leaves always keep it)."""
        if not self._requires_grad:
            raise RuntimeError(f"retain_grad: this tensor (shape {self.shape}) does not require grad")
        if self.grad_fn is not None and not self._retains_grad:
            self._retains_grad = True
            self.grad_fn._hooks_to_change().retain.add(self.grad_fn._output_index(self))

    @property
    def retains_grad(self):
        return self._retains_grad

    def register_hook(self, hook):
        """hook(grad) -> new grad or None, called with this tensor's gradient once backward has summed
        all of it, before it flows further back (leaves: before it is added to .grad).
        Returns a handle: handle.remove() takes the hook out."""
        if not self._requires_grad:
            raise RuntimeError(f"register_hook: this tensor (shape {self.shape}) does not require grad, so no "
                               "gradient will reach it")
        if self.grad_fn is None:
            return autograd.add_hook(autograd.grad_accumulator(self)._hooks_to_change().tensor[0], hook,
                                     "register_hook")
        k = self.grad_fn._output_index(self)
        return autograd.add_hook(self.grad_fn._hooks_to_change().tensor[k], hook, "register_hook")

    def register_post_accumulate_grad_hook(self, hook):
        """hook(tensor), called on a leaf once per backward pass, after every contribution to its
        gradient has been added to .grad (a weight used twice still fires once). Returns a handle."""
        if self.grad_fn is not None:
            raise RuntimeError("register_post_accumulate_grad_hook: only leaf tensors accumulate a gradient; "
                               f"this one (shape {self.shape}) was made by {self.grad_fn.name()}")
        if not self._requires_grad:
            raise RuntimeError(f"register_post_accumulate_grad_hook: this tensor (shape {self.shape}) does not "
                               "require grad")
        return autograd.add_hook(autograd.grad_accumulator(self)._hooks_to_change().post_accumulate, hook,
                                 "register_post_accumulate_grad_hook")

    def detach(self):
        """The same data, cut from the graph (shares memory and the version counter)."""
        t = Tensor._make(self.array, self.device)
        t._version = self._version
        return t

    def detach_(self):
        """Cut this tensor itself from the graph: it becomes a leaf that does not require grad."""
        self.grad_fn = None
        self._requires_grad = False
        return self

    def zero_grad_(self):
        self.grad = None

    # ------------------------------------------------------------ conversion
    def numpy(self):
        return self.array if self.device.type == "cpu" else self.array.get()

    def item(self):
        if self.array.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted to Python scalars, got shape {self.shape}")
        return self.array.reshape(()).item() if self.device.type == "cpu" else self.array.reshape(()).get().item()

    def tolist(self):
        return self.numpy().tolist()

    def __array__(self, dtype=None, copy=None):
        arr = self.numpy()
        return arr if dtype is None else arr.astype(dtype, copy=False)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.array.size != 1:
            raise RuntimeError(f"bool: the truth value of a tensor with {self.array.size} elements is ambiguous")
        return bool(self.item())

    def __index__(self):
        if self.dtype.kind not in "iu" or self.array.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def to(self, *args, dtype=None, device=None, copy=False):
        """to(device), to(dtype), to(device, dtype), to(other_tensor); differentiable."""
        for a in args:
            if isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            elif isinstance(a, (str, Device)):
                device = a
            else:
                dtype = a
        out = self
        if device is not None and _device(device) != self.device:
            out = _ToDevice(_device(device))(out)
        if dtype is not None and np.dtype(dtype) != out.dtype:
            out = _Cast(np.dtype(dtype))(out)
        if copy and out is self:
            out = self.clone()
        return out

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to(Device("cuda", device) if isinstance(device, int) else (device or "cuda"))

    def type(self, dtype=None):
        return str(self.dtype) if dtype is None else self.to(dtype)

    def float(self):
        return self.to(float32)

    def double(self):
        return self.to(float64)

    def half(self):
        return self.to(float16)

    def long(self):
        return self.to(int64)

    def int(self):
        return self.to(int32)

    def bool(self):
        return self.to(bool_)

    def clone(self):
        return _Clone()(self)

    def contiguous(self):
        return self

    def is_floating_point(self):
        return self.dtype.kind == "f"

    # ------------------------------------------------------------ in place (bump the version counter)
    def _inplace(self, values):
        if self._requires_grad and self.grad_fn is None and autograd.GradMode.enabled:
            raise RuntimeError(f"a leaf tensor of shape {self.shape} that requires grad is being used in an in-place "
                               "operation; wrap it in `with minigrad.no_grad():`")
        v = values.array if isinstance(values, Tensor) else values
        self.array[...] = v
        self._version[0] += 1
        return self

    def zero_(self):
        return self._inplace(0)

    def fill_(self, value):
        return self._inplace(value)

    def copy_(self, src):
        return self._inplace(src.array if isinstance(src, Tensor) else src)

    def add_(self, other, alpha=1):
        o = other.array if isinstance(other, Tensor) else other
        return self._inplace(self.array + (o if alpha == 1 else alpha * o))

    def sub_(self, other, alpha=1):
        o = other.array if isinstance(other, Tensor) else other
        return self._inplace(self.array - (o if alpha == 1 else alpha * o))

    def mul_(self, other):
        return self._inplace(self.array * (other.array if isinstance(other, Tensor) else other))

    def div_(self, other):
        return self._inplace(self.array / (other.array if isinstance(other, Tensor) else other))

    def clamp_(self, min=None, max=None):
        return self._inplace(self.xp.clip(self.array, min, max))

    def uniform_(self, a=0.0, b=1.0):
        from .random import rng
        return self._inplace(rng().uniform(a, b, self.shape))

    def normal_(self, mean=0.0, std=1.0):
        from .random import rng
        return self._inplace(rng().normal(mean, std, self.shape))

    def _augmented(self, o, op, inplace):
        """`t += o` and friends: in place like torch, except on a tensor that is part of a graph."""
        if self._requires_grad and autograd.GradMode.enabled:
            if self.grad_fn is None:
                raise RuntimeError(f"a leaf tensor of shape {self.shape} that requires grad is being used in an "
                                   "in-place operation; wrap it in `with minigrad.no_grad():`")
            return op(self, o)  # out of place keeps the recorded graph correct
        return inplace(o)

    def __iadd__(self, o):
        return self._augmented(o, _ops.add, self.add_)

    def __isub__(self, o):
        return self._augmented(o, _ops.sub, self.sub_)

    def __imul__(self, o):
        return self._augmented(o, _ops.mul, self.mul_)

    def __itruediv__(self, o):
        return self._augmented(o, _ops.div, self.div_)

    def __setitem__(self, index, value):
        if self._requires_grad and self.grad_fn is None and autograd.GradMode.enabled:
            raise RuntimeError(f"setitem: a leaf tensor of shape {self.shape} that requires grad can't be changed "
                               "in place outside no_grad()")
        self.array[_ops._index_arg(index, self.xp)] = value.array if isinstance(value, Tensor) else value
        self._version[0] += 1

    # ------------------------------------------------------------ operators
    def __add__(self, o):
        return _ops.add(self, o)

    def __radd__(self, o):
        return _ops.add(o, self)

    def __sub__(self, o):
        return _ops.sub(self, o)

    def __rsub__(self, o):
        return _ops.sub(o, self)

    def __mul__(self, o):
        return _ops.mul(self, o)

    def __rmul__(self, o):
        return _ops.mul(o, self)

    def __truediv__(self, o):
        return _ops.div(self, o)

    def __rtruediv__(self, o):
        return _ops.div(o, self)

    def __pow__(self, o):
        return _ops.pow(self, o)

    def __rpow__(self, o):
        return _ops.pow(o, self)

    def __matmul__(self, o):
        return _ops.matmul(self, o)

    def __rmatmul__(self, o):
        return _ops.matmul(o, self)

    def __neg__(self):
        return _ops.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops.abs(self)

    def __getitem__(self, index):
        return _ops.getitem(self, index)

    def _compare(self, o, op):
        o = o.array if isinstance(o, Tensor) else o
        return Tensor._make(op(self.array, o), self.device)

    def __eq__(self, o):
        return self._compare(o, np.equal)

    def __ne__(self, o):
        return self._compare(o, np.not_equal)

    def __lt__(self, o):
        return self._compare(o, np.less)

    def __le__(self, o):
        return self._compare(o, np.less_equal)

    def __gt__(self, o):
        return self._compare(o, np.greater)

    def __ge__(self, o):
        return self._compare(o, np.greater_equal)

    def __invert__(self):
        return Tensor._make(~self.array, self.device)

    def __and__(self, o):
        return self._compare(o, np.logical_and if self.dtype == bool_ else np.bitwise_and)

    def __or__(self, o):
        return self._compare(o, np.logical_or if self.dtype == bool_ else np.bitwise_or)

    __hash__ = object.__hash__

    def eq(self, o):
        return self == o

    def ne(self, o):
        return self != o

    def lt(self, o):
        return self < o

    def le(self, o):
        return self <= o

    def gt(self, o):
        return self > o

    def ge(self, o):
        return self >= o

    def all(self):
        return Tensor._make(self.xp.asarray(self.array.all()), self.device)

    def any(self):
        return Tensor._make(self.xp.asarray(self.array.any()), self.device)

    def __repr__(self):
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(", precision=4,
                               threshold=200, edgeitems=3)
        extras = [f"dtype={self.dtype}", f"device='{self.device}'"]
        if self.grad_fn is not None:
            extras.append(f"grad_fn={self.grad_fn!r}")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        return f"tensor({body}, {', '.join(extras)})"

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    # ------------------------------------------------------------ ops as methods
    def add(self, o):
        return _ops.add(self, o)

    def sub(self, o):
        return _ops.sub(self, o)

    def mul(self, o):
        return _ops.mul(self, o)

    def div(self, o):
        return _ops.div(self, o)

    def pow(self, o):
        return _ops.pow(self, o)

    def matmul(self, o):
        return _ops.matmul(self, o)

    def neg(self):
        return _ops.neg(self)

    def abs(self):
        return _ops.abs(self)

    def exp(self):
        return _ops.exp(self)

    def log(self):
        return _ops.log(self)

    def sqrt(self):
        return _ops.sqrt(self)

    def sin(self):
        return _ops.sin(self)

    def cos(self):
        return _ops.cos(self)

    def tanh(self):
        return _ops.tanh(self)

    def sigmoid(self):
        return _ops.sigmoid(self)

    def relu(self):
        return _ops.relu(self)

    def softplus(self, beta=1.0, threshold=20.0):
        return _ops.softplus(self, beta, threshold)

    def clamp(self, min=None, max=None):
        return _ops.clamp(self, min, max)

    clip = clamp

    def maximum(self, o):
        return _ops.maximum(self, o)

    def minimum(self, o):
        return _ops.minimum(self, o)

    def sum(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return _ops.sum(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def mean(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return _ops.mean(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def var(self, dim=None, keepdim=False, *, correction=1, unbiased=None, axis=None, keepdims=None):
        return _ops.var(self, dim, keepdim, correction=correction, unbiased=unbiased, axis=axis, keepdims=keepdims)

    def std(self, dim=None, keepdim=False, *, correction=1, unbiased=None, axis=None, keepdims=None):
        return _ops.std(self, dim, keepdim, correction=correction, unbiased=unbiased, axis=axis, keepdims=keepdims)

    def max(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return _ops.max(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def min(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return _ops.min(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def amax(self, dim=None, keepdim=False):
        return _ops.amax(self, dim, keepdim)

    def amin(self, dim=None, keepdim=False):
        return _ops.amin(self, dim, keepdim)

    def logsumexp(self, dim=None, keepdim=False):
        return _ops.logsumexp(self, dim, keepdim)

    def argmax(self, dim=None, keepdim=False):
        return _ops.argmax(self, dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        return _ops.argmin(self, dim, keepdim)

    def softmax(self, dim=-1):
        return _ops.softmax(self, dim)

    def log_softmax(self, dim=-1):
        return _ops.log_softmax(self, dim)

    def reshape(self, *shape):
        return _ops.reshape(self, *shape)

    view = reshape

    def view_as(self, other):
        return _ops.reshape(self, other.shape)

    def permute(self, *axes):
        return _ops.permute(self, *axes)

    def transpose(self, dim0=-2, dim1=-1):
        return _ops.transpose(self, dim0, dim1)

    def t(self):
        return _ops.transpose(self, 0, 1) if self.ndim == 2 else self

    def flatten(self, start_dim=0, end_dim=-1):
        return _ops.flatten(self, start_dim, end_dim)

    def squeeze(self, dim=None):
        return _ops.squeeze(self, dim)

    def unsqueeze(self, dim):
        return _ops.unsqueeze(self, dim)

    def expand(self, *shape):
        return _ops.expand(self, *shape)

    def expand_as(self, other):
        return _ops.expand(self, other.shape)

    def split(self, split_size, dim=0):
        return _ops.split(self, split_size, dim)

    def chunk(self, chunks, dim=0):
        return _ops.chunk(self, chunks, dim)


# ---------------------------------------------------------------- conversions as Functions
class _Cast(autograd.Function):
    saves_inputs = False

    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        self.in_dtype = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy):
        return gy.to(self.in_dtype) if self.in_dtype.kind in "fc" else None

    def __call__(self, x):
        if self.dtype.kind not in "fc":  # integer results carry no gradient
            return Tensor._make(x.array.astype(self.dtype), x.device)
        return super().__call__(x)


class _ToDevice(autograd.Function):
    saves_inputs = False

    def __init__(self, target):
        self.target = target

    def forward(self, x):
        self.source = self.device
        if self.target.type == "cpu":
            return x.get() if hasattr(x, "get") and type(x) is not np.ndarray else x
        xp = self.target.xp
        with xp.cuda.Device(self.target.index):
            return xp.asarray(x)

    def backward(self, gy):
        return gy.to(self.source)

    def __call__(self, x):
        out = super().__call__(x)
        out.device = self.target
        return out


class _Clone(autograd.Function):
    saves_inputs = False

    def forward(self, x):
        return x.copy()

    def backward(self, gy):
        return gy


def as_operand(value, like):
    """A scalar or array as a constant Tensor that can meet `like` in a binary op."""
    if isinstance(value, Tensor):
        return value
    dtype = like.dtype
    if isinstance(value, (bool, np.bool_)):
        dtype = dtype if dtype.kind != "b" else bool_
    elif isinstance(value, (int, np.integer)):
        dtype = dtype if dtype.kind != "b" else int64
    elif isinstance(value, (float, np.floating)):
        dtype = dtype if dtype.kind in "fc" else _default["dtype"]
    else:
        arr = _to_array(value, None, like.device)
        return Tensor._make(arr, like.device)
    return Tensor._make(like.xp.asarray(value, dtype=dtype), like.device)


from . import ops as _ops  # noqa: E402  (ops import Tensor from this module)
