"""A few of keras.ops (Keras 3's backend-neutral functions) over minigrad's ops: enough for the
custom layers of Keras' examples. Each takes Tensors, numpy arrays or numbers."""
import numpy as np

from .. import ops as _ops
from ..nn import functional as _F
from ..tensor import Tensor


def _t(x):
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x))


def shape(x):
    """The shape as a tuple of ints."""
    return tuple(x.shape)


def arange(start, stop=None, step=1, dtype=None):
    """Evenly spaced values in [start, stop): int32 for int arguments, as Keras, else float32."""
    if stop is None:
        start, stop = 0, start
    if dtype is None:
        dtype = "int32" if all(isinstance(v, (int, np.integer)) for v in (start, stop, step)) else "float32"
    return Tensor(np.arange(start, stop, step, dtype=dtype))


def convert_to_tensor(x, dtype=None):
    arr = x.numpy() if isinstance(x, Tensor) else np.asarray(x)
    return Tensor(arr.astype(dtype) if dtype is not None else arr)


def cast(x, dtype):
    """A copy of x as `dtype` (a constant: use it on data, not on values that need gradients)."""
    x = _t(x)
    if x.requires_grad and np.dtype(dtype) != x.numpy().dtype:
        raise TypeError(f"keras.ops.cast: cannot cast a tensor that requires grad to {dtype}")
    return x if np.dtype(dtype) == x.numpy().dtype else convert_to_tensor(x, dtype)


def reshape(x, newshape):
    return _t(x).reshape(tuple(newshape))


def transpose(x, axes=None):
    x = _t(x)
    return x.permute(*(axes if axes is not None else range(x.ndim - 1, -1, -1)))


def expand_dims(x, axis):
    return _t(x).unsqueeze(axis)


def matmul(a, b):
    return _t(a) @ _t(b)


def concatenate(xs, axis=0):
    return _ops.cat([_t(x) for x in xs], axis)


def stack(xs, axis=0):
    return _ops.stack([_t(x) for x in xs], axis)


def mean(x, axis=None, keepdims=False):
    return _t(x).mean(axis, keepdim=keepdims) if axis is not None else _t(x).mean()


def sum(x, axis=None, keepdims=False):  # noqa: A001 -- Keras' name
    return _t(x).sum(axis, keepdim=keepdims) if axis is not None else _t(x).sum()


def softmax(x, axis=-1):
    return _F.softmax(_t(x), dim=axis)


def relu(x):
    return _F.relu(_t(x))


def sqrt(x):
    return _t(x) ** 0.5


def exp(x):
    return _t(x).exp()


__all__ = ["shape", "arange", "convert_to_tensor", "cast", "reshape", "transpose", "expand_dims", "matmul",
           "concatenate", "stack", "mean", "sum", "softmax", "relu", "sqrt", "exp"]
