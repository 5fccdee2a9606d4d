"""Keras losses: `loss='sparse_categorical_crossentropy'` or `losses.SparseCategoricalCrossentropy()`.

A loss object maps (y_true, y_pred) -> a scalar Tensor, the mean over the batch (Keras'
"sum_over_batch_size"). y_true may be numpy or a Tensor; y_pred is the model's output.

Probabilities and logits. Keras models usually end in softmax (or sigmoid) and the loss
gets probabilities (`from_logits=False`); the log of a probability that rounded to 0 is
-inf, so Keras clips probabilities to [1e-7, 1 - 1e-7] first, and so does this module.
When `fit` trains a model whose last layer applies softmax (sigmoid), it hands the loss
that layer's pre-activation as well (`logits=`), and the loss uses the fused, exact and
faster log-softmax (log-sigmoid) form instead; the values agree wherever clipping does
not bite (Keras does the same through its `_keras_logits` shortcut).
"""
import numpy as np

from .. import ops
from ..nn import functional as F
from ..tensor import Tensor

EPSILON = 1e-7


def _np(y):
    if isinstance(y, Tensor):
        return y.numpy()
    return np.asarray(y)


def _align(y_true, y_pred):
    """y_true as a float32 array shaped like y_pred ((N,) becomes (N, 1) for a (N, 1) output)."""
    y = _np(y_true).astype(np.float32, copy=False)
    if y.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
        y = y[..., None]
    if y.shape != tuple(y_pred.shape):
        hint = ""
        if y.shape == tuple(y_pred.shape[:-1]) and y_pred.shape[-1] > 1:
            hint = ("; these look like integer class ids: use loss='sparse_categorical_crossentropy', or one-hot "
                    "encode them with keras.utils.to_categorical")
        raise ValueError(f"loss: y_true of shape {y.shape} does not match y_pred of shape {tuple(y_pred.shape)}{hint}")
    return Tensor._make(y, y_pred.device)


def _sparse_labels(y_true, y_pred):
    """Integer class ids shaped like y_pred without its last axis."""
    y = _np(y_true)
    if y.ndim == y_pred.ndim and y.shape[-1] == 1:
        y = y[..., 0]
    if y.shape == tuple(y_pred.shape) and y.ndim > 1:
        raise ValueError(f"sparse_categorical_crossentropy: labels of shape {y.shape} look one-hot (shaped like the "
                         "predictions): use loss='categorical_crossentropy', or pass the class ids (y.argmax(-1))")
    if y.shape != tuple(y_pred.shape[:-1]):
        raise ValueError(f"sparse_categorical_crossentropy: labels of shape {y.shape} do not match predictions of "
                         f"shape {tuple(y_pred.shape)} (expected labels of shape {tuple(y_pred.shape[:-1])})")
    if y.dtype.kind == "f":
        if not np.all(y == np.round(y)):
            raise ValueError("sparse_categorical_crossentropy: labels must be integer class ids; for one-hot labels "
                             "use 'categorical_crossentropy'")
    y = y.astype(np.int64)
    c = y_pred.shape[-1]
    if y.size and (y.min() < 0 or y.max() >= c):
        raise ValueError(f"sparse_categorical_crossentropy: labels must be in [0, {c}), got [{y.min()}, {y.max()}]")
    return y


def _clipped_log(p):
    return ops.log(ops.clamp(p, EPSILON, 1.0 - EPSILON))


# ---------------------------------------------------------------- per-sample functions (Keras' lowercase API)
def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, logits=None):
    """y_true one-hot (N, C), y_pred (N, C) -> (N,)."""
    y = _align(y_true, y_pred)
    if label_smoothing:
        y = y * (1.0 - label_smoothing) + label_smoothing / y_pred.shape[-1]
    if from_logits or logits is not None:
        logp = ops.log_softmax(logits if logits is not None else y_pred, -1)
    else:
        p = y_pred / y_pred.sum(-1, keepdim=True)  # Keras renormalises, then clips
        logp = _clipped_log(p)
    return -(y * logp).sum(-1)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, logits=None):
    """y_true class ids (N,) or (N, 1), y_pred (N, C) -> (N,)."""
    labels = _sparse_labels(y_true, y_pred)
    c = y_pred.shape[-1]
    if from_logits or logits is not None:
        z = logits if logits is not None else y_pred
        flat = F.cross_entropy(z.reshape(-1, c), Tensor._make(labels.reshape(-1), z.device), reduction="none")
        return flat.reshape(labels.shape)
    onehot = np.zeros(tuple(y_pred.shape), dtype=np.float32)
    np.put_along_axis(onehot, labels[..., None], 1.0, axis=-1)
    p = y_pred / y_pred.sum(-1, keepdim=True)
    return -(Tensor._make(onehot, y_pred.device) * _clipped_log(p)).sum(-1)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, logits=None):
    """y_true 0/1 (N, K), y_pred probabilities (N, K) -> (N,), the mean over K."""
    y = _align(y_true, y_pred)
    if label_smoothing:
        y = y * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits or logits is not None:
        z = logits if logits is not None else y_pred
        per = ops.softplus(z) - z * y  # = -y log sigmoid(z) - (1 - y) log(1 - sigmoid(z)), stable
    else:
        per = -(y * _clipped_log(y_pred) + (1.0 - y) * ops.log(ops.clamp(1.0 - y_pred, EPSILON, 1.0 - EPSILON)))
    return per.mean(-1)


def mean_squared_error(y_true, y_pred):
    d = y_pred - _align(y_true, y_pred)
    return (d * d).mean(-1)


def mean_absolute_error(y_true, y_pred):
    return ops.abs(y_pred - _align(y_true, y_pred)).mean(-1)


def huber(y_true, y_pred, delta=1.0):
    d = ops.abs(y_pred - _align(y_true, y_pred))
    quad = ops.clamp(d, max=delta)
    return (quad * quad * 0.5 + (d - quad) * delta).mean(-1)


mse, mae = mean_squared_error, mean_absolute_error


# ---------------------------------------------------------------- loss objects
class Loss:
    """Base: `loss(y_true, y_pred)` -> scalar Tensor (mean over the batch).

    `fuses`: the final activation whose pre-activation this loss can take instead
    (see the module docstring); None when it takes only y_pred.
    """

    fuses = None

    def __init__(self, name=None, reduction="sum_over_batch_size"):
        if reduction not in ("sum_over_batch_size", "auto", "sum", "none", None):
            raise ValueError(f"loss: unknown reduction {reduction!r}")
        self.name = name or type(self).__name__
        self.reduction = reduction

    def per_sample(self, y_true, y_pred, logits=None):
        raise NotImplementedError

    def __call__(self, y_true, y_pred, sample_weight=None, logits=None):
        if not isinstance(y_pred, Tensor):
            y_pred = Tensor(np.asarray(y_pred, dtype=np.float32))
        per = self.per_sample(y_true, y_pred, logits=logits)
        if sample_weight is not None:
            w = _np(sample_weight).astype(np.float32).reshape(per.shape[:1] + (1,) * (per.ndim - 1))
            per = per * Tensor._make(w, per.device)
        if self.reduction in ("none", None):
            return per
        if self.reduction == "sum":
            return per.sum()
        return per.mean()

    def get_config(self):
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def can_fuse(self, activation_name):
        return self.fuses is not None and not getattr(self, "from_logits", False) and activation_name == self.fuses

    def __repr__(self):
        return f"{type(self).__name__}()"


class SparseCategoricalCrossentropy(Loss):
    fuses = "softmax"

    def __init__(self, from_logits=False, name="sparse_categorical_crossentropy", **kwargs):
        super().__init__(name, **kwargs)
        self.from_logits = from_logits

    def per_sample(self, y_true, y_pred, logits=None):
        return sparse_categorical_crossentropy(y_true, y_pred, self.from_logits, logits)


class CategoricalCrossentropy(Loss):
    fuses = "softmax"

    def __init__(self, from_logits=False, label_smoothing=0.0, name="categorical_crossentropy", **kwargs):
        super().__init__(name, **kwargs)
        self.from_logits, self.label_smoothing = from_logits, float(label_smoothing)

    def per_sample(self, y_true, y_pred, logits=None):
        return categorical_crossentropy(y_true, y_pred, self.from_logits, self.label_smoothing, logits)


class BinaryCrossentropy(Loss):
    fuses = "sigmoid"

    def __init__(self, from_logits=False, label_smoothing=0.0, name="binary_crossentropy", **kwargs):
        super().__init__(name, **kwargs)
        self.from_logits, self.label_smoothing = from_logits, float(label_smoothing)

    def per_sample(self, y_true, y_pred, logits=None):
        return binary_crossentropy(y_true, y_pred, self.from_logits, self.label_smoothing, logits)


class MeanSquaredError(Loss):
    def __init__(self, name="mean_squared_error", **kwargs):
        super().__init__(name, **kwargs)

    def per_sample(self, y_true, y_pred, logits=None):
        return mean_squared_error(y_true, y_pred)


class MeanAbsoluteError(Loss):
    def __init__(self, name="mean_absolute_error", **kwargs):
        super().__init__(name, **kwargs)

    def per_sample(self, y_true, y_pred, logits=None):
        return mean_absolute_error(y_true, y_pred)


class Huber(Loss):
    def __init__(self, delta=1.0, name="huber_loss", **kwargs):
        super().__init__(name, **kwargs)
        self.delta = delta

    def per_sample(self, y_true, y_pred, logits=None):
        return huber(y_true, y_pred, self.delta)


class LossFunctionWrapper(Loss):
    """A plain function fn(y_true, y_pred) -> per-sample (or scalar) Tensor, used as a loss."""

    def __init__(self, fn, name=None):
        super().__init__(name or getattr(fn, "__name__", "loss"))
        self.fn = fn

    def per_sample(self, y_true, y_pred, logits=None):
        if not isinstance(y_true, Tensor):
            y_true = Tensor(np.asarray(y_true, dtype=np.float32))
        return self.fn(y_true, y_pred)


_BY_NAME = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "huber": Huber, "huber_loss": Huber,
}


def get(identifier):
    """'mse' | a Loss | a function (y_true, y_pred) -> Tensor -> a Loss object."""
    if identifier is None:
        return None
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in _BY_NAME:
            raise ValueError(f"Unknown loss {identifier!r}; choose one of {sorted(_BY_NAME)}")
        return _BY_NAME[key]()
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        for name, fn in (("sparse_categorical_crossentropy", sparse_categorical_crossentropy),
                         ("categorical_crossentropy", categorical_crossentropy),
                         ("binary_crossentropy", binary_crossentropy), ("mse", mean_squared_error),
                         ("mae", mean_absolute_error)):
            if identifier is fn:
                return _BY_NAME[name]()
        return LossFunctionWrapper(identifier)
    raise ValueError(f"Unknown loss {identifier!r}")
