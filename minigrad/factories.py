"""Ways to make tensors, named and shaped like torch's: tensor, zeros, ones, arange, rand, ...

The device decides where the memory comes from: arrays are made with its array module
(`device.xp`) on its index (`device.backend.on_device`), or made on the host, as random draws
and ranges are, and moved there (`device.backend.from_host`). Without a `device`, a factory uses the default
device (`set_default_device`, cpu unless changed); the *_like ones keep their input's device.
"""
import numpy as np

from .random import rng
from .tensor import Tensor, _device, get_default_dtype

_default = {"device": None}  # None: the cpu


def set_default_device(device):
    """The device that factories and new layers' parameters use when given none; None resets it to cpu.

    set_default_device("cuda") makes mg.zeros(3), mg.tensor([1.0]) and nn.Linear(2, 3) land on the GPU.
    """
    _default["device"] = None if device is None else _device(device)


def get_default_device():
    """The device that factories use when given none (a Device; cpu unless set_default_device changed it)."""
    return _device(_default["device"])


def default_device(device=None):
    """`device` as a Device, or the default device when it is None."""
    return _device(_default["device"] if device is None else device)


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor holding a copy of `data` (lists, scalars, numpy arrays, tensors)."""
    t = Tensor(data, dtype=dtype, device=default_device(device), requires_grad=False)
    if isinstance(data, (np.ndarray, Tensor)) and t.array is (data.array if isinstance(data, Tensor) else data):
        t.array = t.array.copy()
    if requires_grad:
        t.requires_grad = True
    return t


def from_numpy(array):
    """A tensor sharing memory with a numpy array."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor._make(array, _device("cpu"))


def _shape(size, op="size"):
    """Varargs sizes or one tuple/list/Size -> a tuple of ints: zeros(2, 3) and zeros((2, 3)) agree."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    if not all(isinstance(n, (int, np.integer)) for n in size):
        raise TypeError(f"{op}: size must be ints or one tuple of ints, got {size!r}")
    if any(n < 0 for n in size):
        raise ValueError(f"{op}: sizes must be non-negative, got {tuple(int(n) for n in size)}")
    return tuple(int(n) for n in size)


def _new(make, size, dtype, device, requires_grad, op="size"):
    """A tensor whose array make(xp, shape, dtype) allocates straight on the device."""
    dev = default_device(device)
    dtype = np.dtype(dtype) if dtype is not None else get_default_dtype()
    with dev.backend.on_device(dev.index):
        array = make(dev.xp, _shape(size, op), dtype)
    t = Tensor._make(array, dev)
    if requires_grad:
        t.requires_grad = True
    return t


def zeros(*size, dtype=None, device=None, requires_grad=False):
    return _new(lambda xp, s, d: xp.zeros(s, dtype=d), size, dtype, device, requires_grad, "zeros")


def ones(*size, dtype=None, device=None, requires_grad=False):
    return _new(lambda xp, s, d: xp.ones(s, dtype=d), size, dtype, device, requires_grad, "ones")


def empty(*size, dtype=None, device=None, requires_grad=False):
    return _new(lambda xp, s, d: xp.empty(s, dtype=d), size, dtype, device, requires_grad, "empty")


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    if dtype is None and isinstance(fill_value, (bool, int)) and not isinstance(fill_value, float):
        dtype = np.bool_ if isinstance(fill_value, bool) else np.int64
    return _new(lambda xp, s, d: xp.full(s, fill_value, dtype=d), (size,) if isinstance(size, int) else size,
                dtype, device, requires_grad, "full")


def _from_host(array, dtype, device, requires_grad):
    """A tensor holding a numpy array made on the host, moved to the device (no copy on the CPU)."""
    dev = default_device(device)
    t = Tensor._make(dev.backend.from_host(array.astype(dtype, copy=False), dev.index), dev)
    if requires_grad:
        t.requires_grad = True
    return t


def rand(*size, dtype=None, device=None, requires_grad=False, generator=None):
    """Uniform samples in [0, 1) of shape `size`."""
    draws = rng(generator).random(_shape(size, "rand"))
    return _from_host(draws, np.dtype(dtype or get_default_dtype()), device, requires_grad)


def randn(*size, dtype=None, device=None, requires_grad=False, generator=None):
    """Standard normal samples of shape `size`."""
    draws = rng(generator).standard_normal(_shape(size, "randn"))
    return _from_host(draws, np.dtype(dtype or get_default_dtype()), device, requires_grad)


def randint(low, high=None, size=None, dtype=None, device=None, requires_grad=False, generator=None):
    """Integers in [low, high) of shape `size`: randint(low, high, size) or randint(high, size)."""
    if size is None and isinstance(high, (tuple, list)):
        low, high, size = 0, low, high  # randint(high, size)
    if high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint: missing the argument size (a tuple of ints)")
    draws = rng(generator).integers(low, high, size=_shape((size,) if isinstance(size, int) else tuple(size)))
    return _from_host(draws, np.dtype(dtype or np.int64), device, requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    is_int = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
    dtype = np.dtype(dtype) if dtype is not None else (np.dtype(np.int64) if is_int else get_default_dtype())
    if step == 0:
        raise ValueError(f"arange: step must be nonzero, got {step!r}")
    if (end - start) * step < 0:
        raise ValueError(f"arange: upper bound and lower bound inconsistent with step sign "
                         f"(start={start!r}, end={end!r}, step={step!r})")
    return _from_host(np.arange(start, end, step), dtype, device, requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"linspace: steps must be a non-negative int, got {steps!r}")
    return _from_host(np.linspace(start, end, steps), np.dtype(dtype or get_default_dtype()), device, requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    for name, v in (("n", n), ("m", m)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0):
            raise ValueError(f"eye: {name} must be a non-negative int, got {v!r}")
    return _from_host(np.eye(n, m), np.dtype(dtype or get_default_dtype()), device, requires_grad)


def _like(fn):
    def like(x, dtype=None, device=None, requires_grad=False):
        return fn(*x.shape, dtype=dtype or x.dtype, device=device or x.device, requires_grad=requires_grad)
    like.__name__ = fn.__name__ + "_like"
    like.__doc__ = f"{fn.__name__} with the shape, dtype and device of `x`."
    return like


zeros_like, ones_like, empty_like, rand_like, randn_like = map(_like, (zeros, ones, empty, rand, randn))


def full_like(x, fill_value, dtype=None, device=None, requires_grad=False):
    return full(x.shape, fill_value, dtype=dtype or x.dtype, device=device or x.device, requires_grad=requires_grad)
