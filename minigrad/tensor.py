"""Tensor: an n-dimensional array (numpy on the CPU, cupy on a GPU) that remembers how it
was made, so that `backward()` can send gradients back through that history.

Its operators and op methods (`x + y`, `x @ w`, `x.sum()`, `x.reshape(...)`, `x.to(...)`)
come from one table, minigrad/ops/methods.py, which minigrad.ops installs on the class.
"""
import math

import numpy as np

from . import autograd
from .backend import CPU, Device

float16, float32, float64 = np.dtype("float16"), np.dtype("float32"), np.dtype("float64")
int8, int16, int32, int64 = np.dtype("int8"), np.dtype("int16"), np.dtype("int32"), np.dtype("int64")
uint8, bool_ = np.dtype("uint8"), np.dtype("bool")

_default = {"dtype": float32}


def get_default_dtype():
    return _default["dtype"]


def set_default_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype: only floating-point dtypes are allowed, got {dtype}")
    _default["dtype"] = dtype


class Size(tuple):
    """A tensor's shape (torch.Size): a tuple of ints that also knows its number of elements.

        x.shape == (2, 3);  x.shape.numel() == 6;  repr: Size([2, 3]);  str: (2, 3)
    """

    __slots__ = ()

    def numel(self):
        return math.prod(self)

    def __getitem__(self, index):
        item = tuple.__getitem__(self, index)
        return Size(item) if isinstance(index, slice) else item

    def __add__(self, other):
        return Size(tuple.__add__(self, other))

    def __repr__(self):
        return f"Size({list(self)})"

    __str__ = tuple.__repr__  # print(x.shape) and f"{x.shape}" (error messages) read (2, 3)


def _device(device):
    if device is None:
        return CPU
    if isinstance(device, Device):
        return device
    d = Device(device)
    return CPU if d.type == "cpu" else d


def _to_array(data, dtype, device):
    """Python data, an array or a Tensor -> an array of `dtype` on `device` (its backend moves it there)."""
    dtype = None if dtype is None else np.dtype(dtype)
    if isinstance(data, Tensor):
        if data.device == device:
            data = data.array
            return data if dtype is None else data.astype(dtype, copy=False)
        data = data.device.backend.to_host(data.array)
    elif not isinstance(data, (np.ndarray, np.generic)) and hasattr(data, "__cuda_array_interface__"):
        if device.type != "cpu":  # a GPU array handed in as it is
            return device.xp.asarray(data, dtype=dtype)
        data = data.get()  # cupy's copy to the host
    if not isinstance(data, (np.ndarray, np.generic)):  # Python data: floats take the default dtype, like torch
        data = np.asarray(data)
        if data.dtype == object:
            raise TypeError("tensor: cannot make a tensor from ragged or non-numeric data")
        if dtype is None:
            dtype = _default["dtype"] if data.dtype.kind == "f" else (int64 if data.dtype.kind in "iu" else None)
    arr = np.asarray(data, dtype=dtype)
    return arr if device.type == "cpu" else device.backend.from_host(arr, device.index)


class Tensor:
    """array: the raw numpy/cupy array; grad: the gradient after backward(); grad_fn: the Function that
    made it. `data` is torch's: a Tensor sharing the storage, cut from the graph."""

    __slots__ = ("array", "_grad", "_requires_grad", "grad_fn", "device", "_version", "_retains_grad",
                 "_grad_accumulator", "__weakref__")
    __array_priority__ = 1000  # numpy defers `array * tensor` to Tensor.__rmul__

    def __init__(self, data, dtype=None, device=None, requires_grad=False):
        device = _device(device if device is not None or not isinstance(data, Tensor) else data.device)
        self.array = _to_array(data, dtype, device)
        self.device = device
        self._grad = None
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
        t._grad = None
        t.grad_fn = None
        t._requires_grad = False
        t._version = [0]
        t._retains_grad = False
        return t

    # ------------------------------------------------------------ attributes
    @property
    def grad(self):
        """The gradient that backward() accumulated here (None until then)."""
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"grad: assigned grad expected to be a Tensor or None but got {type(value).__name__}")
            if value.array.shape != self.array.shape:
                raise RuntimeError(f"grad: assigned grad has shape {tuple(value.shape)}, the tensor has shape "
                                   f"{tuple(self.shape)}")
            if value.device != self.device:
                raise RuntimeError(f"grad: assigned grad is on {value.device}, the tensor on {self.device}")
        self._grad = value

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
        """The sizes of the dimensions, a Size (minigrad's own code reads `self.array.shape`)."""
        return Size(self.array.shape)

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
        return self.transpose(-2, -1)

    def size(self, dim=None):
        """The shape (a Size), or the size of dimension `dim` (an int)."""
        if dim is None:
            return Size(self.array.shape)
        if not -self.ndim <= dim < self.ndim:
            raise IndexError(f"size: dim {dim} is out of range for a tensor of shape {tuple(self.array.shape)}")
        return self.array.shape[dim]

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

    # ------------------------------------------------------------ new tensors like this one
    # dtype and device are self's unless given; size is varargs or one tuple: x.new_zeros(2, 3), x.new_zeros((2, 3))
    def new_tensor(self, data, *, dtype=None, device=None, requires_grad=False):
        """A new tensor holding a copy of `data`, in self's dtype and on self's device unless given."""
        from .factories import tensor
        return tensor(data, dtype=self.dtype if dtype is None else dtype,
                      device=self.device if device is None else device, requires_grad=requires_grad)

    def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
        """A new tensor of shape `size` filled with `fill_value`, in self's dtype and on self's device."""
        from .factories import full
        return full(size, fill_value, dtype=self.dtype if dtype is None else dtype,
                    device=self.device if device is None else device, requires_grad=requires_grad)

    def _new_like(self, make, size, dtype, device, requires_grad):
        """make(shape, ...) (zeros, ones, empty) in self's dtype and on self's device unless given."""
        from . import factories
        shape = factories._shape(size, f"new_{make}")
        return getattr(factories, make)(shape, dtype=self.dtype if dtype is None else dtype,
                                        device=self.device if device is None else device, requires_grad=requires_grad)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        return self._new_like("zeros", size, dtype, device, requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        return self._new_like("ones", size, dtype, device, requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
        return self._new_like("empty", size, dtype, device, requires_grad)

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
            return Tensor._make(self.xp.ones(self.array.shape, dtype=self.dtype), self.device)
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
    def _host(self):
        """The data as a numpy array (the array itself on the CPU, a copy from a GPU)."""
        return self.array if self.device.type == "cpu" else self.device.backend.to_host(self.array)

    def numpy(self, *, force=False):
        """The data as a numpy array, sharing memory on the CPU (force=True: a copy). Unlike torch, also on
        a tensor that requires grad (torch asks for x.detach().numpy() there; minigrad's code and tests use it)."""
        if force and self.device.type == "cpu":
            return self.array.copy()
        return self._host()

    def item(self):
        if self.array.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted to Python scalars, got shape {self.shape}")
        return self._host().reshape(()).item()

    def tolist(self):
        return self._host().tolist()

    def __array__(self, dtype=None, copy=None):
        arr = self._host()
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

    # x.to(...) and x.clone() are ops (minigrad/ops/convert.py); these are shorthands for x.to
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
            return op(o)  # out of place keeps the recorded graph correct
        return inplace(o)

    def __iadd__(self, o):
        return self._augmented(o, self.add, self.add_)

    def __isub__(self, o):
        return self._augmented(o, self.sub, self.sub_)

    def __imul__(self, o):
        return self._augmented(o, self.mul, self.mul_)

    def __itruediv__(self, o):
        return self._augmented(o, self.div, self.div_)

    def __setitem__(self, index, value):
        if self._requires_grad and self.grad_fn is None and autograd.GradMode.enabled:
            raise RuntimeError(f"setitem: a leaf tensor of shape {self.shape} that requires grad can't be changed "
                               "in place outside no_grad()")
        self.array[raw_index(index, self.xp)] = value.array if isinstance(value, Tensor) else value
        self._version[0] += 1

    # ------------------------------------------------------------ Python protocol
    def __pos__(self):
        return self

    __hash__ = object.__hash__  # tensors compare elementwise (==), yet stay usable as dict keys

    def __repr__(self):
        """torch's layout: `tensor([1., 2.], dtype=float64, requires_grad=True)` (see minigrad/printing.py)."""
        from .printing import tensor_repr
        return tensor_repr(self, _default["dtype"])

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))


def raw_index(index, xp):
    """An index for the raw array: Tensors inside it become their arrays, lists become arrays."""
    if isinstance(index, Tensor):
        return index.array
    if isinstance(index, tuple):
        return tuple(i.array if isinstance(i, Tensor) else i for i in index)
    if isinstance(index, list):
        return xp.asarray(index)
    return index
