"""Keras activation functions by name: `activation='relu'` on a layer resolves through `get`.

Every function maps a Tensor to a Tensor of the same shape; softmax works over the last
axis (the features axis in Keras' channels-last layout).
"""
from .. import ops


def linear(x):
    return x


def relu(x):
    return ops.relu(x)


def sigmoid(x):
    return ops.sigmoid(x)


def tanh(x):
    return ops.tanh(x)


def softmax(x, axis=-1):
    return ops.softmax(x, axis)


def log_softmax(x, axis=-1):
    return ops.log_softmax(x, axis)


def softplus(x):
    return ops.softplus(x)


def elu(x, alpha=1.0):
    return ops.where(x.array > 0, x, (ops.exp(ops.minimum(x, 0.0)) - 1.0) * alpha)


def selu(x):
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return elu(x, alpha) * scale


def leaky_relu(x, negative_slope=0.2):  # Keras' default slope is 0.2 (torch's is 0.01)
    return ops.leaky_relu(x, negative_slope)


def gelu(x):
    return ops.gelu(x)


def swish(x):
    return x * ops.sigmoid(x)


silu = swish

_BY_NAME = {f.__name__: f for f in (linear, relu, sigmoid, tanh, softmax, log_softmax, softplus, elu, selu,
                                     leaky_relu, gelu, swish)}
_BY_NAME["silu"] = swish


def get(identifier):
    """None | 'relu' | 'softmax' | ... | a callable -> a callable Tensor -> Tensor."""
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]
    raise ValueError(f"Unknown activation {identifier!r}; choose one of {sorted(_BY_NAME)} or pass a callable")


def serialize(fn):
    return getattr(fn, "__name__", repr(fn))
