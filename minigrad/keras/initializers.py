"""Weight initialisers with Keras' names and defaults; every one draws from
minigrad's seeded generator (`minigrad.manual_seed`) and returns a float32 numpy array.

Fans follow Keras: a Dense kernel (in, out) has fan_in=in, fan_out=out; a Conv2D
kernel (kh, kw, in, out) has fan_in = kh*kw*in and fan_out = kh*kw*out.
"""
import math

import numpy as np

from ..random import rng


def _fans(shape):
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    def __call__(self, shape, dtype=np.float32):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


class Zeros(Initializer):
    def __call__(self, shape, dtype=np.float32):
        return np.zeros(shape, dtype)


class Ones(Initializer):
    def __call__(self, shape, dtype=np.float32):
        return np.ones(shape, dtype)


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype=np.float32):
        return np.full(shape, self.value, dtype)


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def __call__(self, shape, dtype=np.float32):
        g = np.random.default_rng(self.seed) if self.seed is not None else rng()
        return g.uniform(self.minval, self.maxval, shape).astype(dtype)


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, dtype=np.float32):
        g = np.random.default_rng(self.seed) if self.seed is not None else rng()
        return g.normal(self.mean, self.stddev, shape).astype(dtype)


def _truncated_normal(g, stddev, shape):
    """Normal(0, stddev) redrawn outside two standard deviations."""
    out = g.normal(0.0, 1.0, shape)
    bad = np.abs(out) > 2
    while bad.any():
        out[bad] = g.normal(0.0, 1.0, int(bad.sum()))
        bad = np.abs(out) > 2
    return out * stddev


class TruncatedNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, dtype=np.float32):
        g = np.random.default_rng(self.seed) if self.seed is not None else rng()
        return (self.mean + _truncated_normal(g, self.stddev, shape)).astype(dtype)


class VarianceScaling(Initializer):
    """scale / fan (fan_in, fan_out or their mean) as the variance of a (truncated) normal or uniform."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def __call__(self, shape, dtype=np.float32):
        fan_in, fan_out = _fans(tuple(shape))
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        var = self.scale / max(1.0, fan)
        g = np.random.default_rng(self.seed) if self.seed is not None else rng()
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * var)
            return g.uniform(-limit, limit, shape).astype(dtype)
        if self.distribution == "untruncated_normal":
            return g.normal(0.0, math.sqrt(var), shape).astype(dtype)
        # .87962566103423978 is the stddev of a unit normal truncated to (-2, 2)
        return _truncated_normal(g, math.sqrt(var) / .87962566103423978, shape).astype(dtype)

    def __repr__(self):
        return f"{type(self).__name__}(scale={self.scale}, mode={self.mode!r}, distribution={self.distribution!r})"


class GlorotUniform(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_avg", "uniform", seed)


class GlorotNormal(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_avg", "truncated_normal", seed)


class HeUniform(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(2.0, "fan_in", "uniform", seed)


class HeNormal(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(2.0, "fan_in", "truncated_normal", seed)


class LecunUniform(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_in", "uniform", seed)


class LecunNormal(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_in", "truncated_normal", seed)


class Orthogonal(Initializer):
    """A (rows, cols) matrix with orthonormal rows or columns (Keras' recurrent-kernel default)."""

    def __init__(self, gain=1.0, seed=None):
        self.gain, self.seed = gain, seed

    def __call__(self, shape, dtype=np.float32):
        g = np.random.default_rng(self.seed) if self.seed is not None else rng()
        rows, cols = int(np.prod(shape[:-1])), shape[-1]
        a = g.normal(0.0, 1.0, (max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q[:rows, :cols]).reshape(shape).astype(dtype)


_BY_NAME = {
    "zeros": Zeros, "ones": Ones, "constant": Constant, "random_uniform": RandomUniform,
    "random_normal": RandomNormal, "truncated_normal": TruncatedNormal, "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal, "he_uniform": HeUniform, "he_normal": HeNormal,
    "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal, "orthogonal": Orthogonal,
    "uniform": RandomUniform, "normal": RandomNormal, "xavier_uniform": GlorotUniform,
}


def get(identifier):
    """'glorot_uniform' | an Initializer | a callable(shape, dtype) -> an initializer."""
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in _BY_NAME:
            raise ValueError(f"Unknown initializer {identifier!r}; choose one of {sorted(_BY_NAME)}")
        return _BY_NAME[key]()
    if callable(identifier):
        return identifier
    raise ValueError(f"Unknown initializer {identifier!r}")
