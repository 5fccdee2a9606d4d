"""Keras metrics: stateful averages over an epoch, computed with numpy on the predictions.

`metrics=['accuracy']` picks binary, sparse-categorical or categorical accuracy from the
shapes of the labels and predictions (and the loss), like Keras. Each metric object has
`update_state(y_true, y_pred)`, `result()` and `reset_state()`.
"""
import numpy as np


def _np(y):
    if hasattr(y, "numpy") and not isinstance(y, np.ndarray):
        y = y.numpy()
    return np.asarray(y)


# ---------------------------------------------------------------- per-sample functions
def sparse_categorical_accuracy(y_true, y_pred):
    """y_true ids (N,) or (N, 1), y_pred scores (N, C) -> (N,) of 0/1."""
    y_true, y_pred = _np(y_true), _np(y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    return (y_pred.argmax(-1) == y_true.astype(np.int64)).astype(np.float32)


def categorical_accuracy(y_true, y_pred):
    """y_true one-hot (N, C), y_pred (N, C) -> (N,)."""
    return (_np(y_pred).argmax(-1) == _np(y_true).argmax(-1)).astype(np.float32)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Mean over the last axis of (y_pred > threshold) == y_true."""
    y_true, y_pred = _np(y_true), _np(y_pred)
    if y_true.ndim == y_pred.ndim - 1:
        y_true = y_true[..., None]
    return ((y_pred > threshold).astype(np.float32) == y_true.astype(np.float32)).mean(-1).astype(np.float32)


def accuracy(y_true, y_pred):
    """Exact equality (Keras' `Accuracy` metric)."""
    y_true, y_pred = _np(y_true), _np(y_pred)
    return (y_true.reshape(y_pred.shape) == y_pred).astype(np.float32).reshape(len(y_pred), -1).mean(-1)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    return sparse_top_k_categorical_accuracy(_np(y_true).argmax(-1), y_pred, k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    y_true, y_pred = _np(y_true).reshape(-1).astype(np.int64), _np(y_pred)
    top = np.argpartition(-y_pred, min(k, y_pred.shape[-1]) - 1, axis=-1)[:, :k]
    return (top == y_true[:, None]).any(-1).astype(np.float32)


def _align(y_true, y_pred):
    y_true, y_pred = _np(y_true).astype(np.float32), _np(y_pred)
    if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
        y_true = y_true[..., None]
    return y_true, y_pred


def mean_squared_error(y_true, y_pred):
    y_true, y_pred = _align(y_true, y_pred)
    return ((y_pred - y_true) ** 2).mean(-1)


def mean_absolute_error(y_true, y_pred):
    y_true, y_pred = _align(y_true, y_pred)
    return np.abs(y_pred - y_true).mean(-1)


mse, mae = mean_squared_error, mean_absolute_error


# ---------------------------------------------------------------- stateful metric objects
class Metric:
    def __init__(self, name=None):
        self.name = name or type(self).__name__.lower()
        self.reset_state()

    def reset_state(self):
        self.total, self.count = 0.0, 0

    def get_config(self):
        return {"name": self.name}

    reset_states = reset_state

    def update_state(self, y_true, y_pred, sample_weight=None):
        raise NotImplementedError

    def result(self):
        return self.total / self.count if self.count else 0.0

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class Mean(Metric):
    """The running mean of the values given to update_state."""

    def update_state(self, values, sample_weight=None):
        v = _np(values).astype(np.float64)
        self.total += float(v.sum())
        self.count += int(v.size)


class MeanMetricWrapper(Metric):
    """The running mean of fn(y_true, y_pred) over every sample seen."""

    def __init__(self, fn, name=None, **fn_kwargs):
        self.fn, self.fn_kwargs = fn, fn_kwargs
        super().__init__(name or fn.__name__)

    def get_config(self):
        if type(self) is not MeanMetricWrapper:
            return {"name": self.name}
        return {"fn": self.fn, "name": self.name, **self.fn_kwargs}

    def update_state(self, y_true, y_pred, sample_weight=None):
        v = np.asarray(self.fn(y_true, y_pred, **self.fn_kwargs), dtype=np.float64)
        self.total += float(v.sum())
        self.count += int(v.size)


class Accuracy(MeanMetricWrapper):
    def __init__(self, name="accuracy"):
        super().__init__(accuracy, name)


class BinaryAccuracy(MeanMetricWrapper):
    def __init__(self, name="binary_accuracy", threshold=0.5):
        super().__init__(binary_accuracy, name, threshold=threshold)


class CategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="categorical_accuracy"):
        super().__init__(categorical_accuracy, name)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="sparse_categorical_accuracy"):
        super().__init__(sparse_categorical_accuracy, name)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, k=5, name="top_k_categorical_accuracy"):
        super().__init__(top_k_categorical_accuracy, name, k=k)


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy"):
        super().__init__(sparse_top_k_categorical_accuracy, name, k=k)


class MeanSquaredError(MeanMetricWrapper):
    def __init__(self, name="mean_squared_error"):
        super().__init__(mean_squared_error, name)


class MeanAbsoluteError(MeanMetricWrapper):
    def __init__(self, name="mean_absolute_error"):
        super().__init__(mean_absolute_error, name)


_BY_NAME = {
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy, "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
}


def get(identifier, y_true=None, y_pred=None, loss=None):
    """A metric object from a name, a Metric or a function fn(y_true, y_pred) -> per-sample values.

    'accuracy' / 'acc' needs the first batch's labels and predictions to choose its kind:
    binary when the prediction has one column (or the loss is binary cross-entropy),
    sparse when the labels have no class axis, else categorical. It keeps the given name.
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in ("accuracy", "acc"):
            y_true, y_pred = _np(y_true), _np(y_pred)
            loss_name = getattr(loss, "name", "") or ""
            if "binary" in loss_name or y_pred.shape[-1] == 1:
                fn = binary_accuracy
            elif "sparse" in loss_name or y_true.ndim < y_pred.ndim or y_true.shape[-1] == 1:
                fn = sparse_categorical_accuracy
            else:
                fn = categorical_accuracy
            return MeanMetricWrapper(fn, identifier)
        if key in _BY_NAME:
            m = _BY_NAME[key]()
            m.name = identifier
            return m
        raise ValueError(f"Unknown metric {identifier!r}; choose 'accuracy' or one of {sorted(_BY_NAME)}")
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier, getattr(identifier, "__name__", "metric"))
    raise ValueError(f"Unknown metric {identifier!r}")
