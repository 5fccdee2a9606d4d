"""How fit / evaluate / predict read their data, as Keras does: arrays (or lists / Tensors) cut into
batches, an iterable of batches, per-sample weights from sample_weight or class_weight, and the
batch stream fit draws from (which BackupAndRestore saves and restores)."""
import numpy as np

from ..random import rng
from ..tensor import Tensor


def _numpy(x):
    if isinstance(x, Tensor):
        return x.numpy()
    if hasattr(x, "numpy") and not isinstance(x, np.ndarray):
        return np.asarray(x.numpy())
    return np.asarray(x)


def _prepare_x(x, n_inputs=1):
    """Model inputs as float32 numpy (a list of them for a multi-input model)."""
    if n_inputs > 1 and isinstance(x, (list, tuple)):
        return [_prepare_x(v) for v in x]
    arr = _numpy(x)
    if arr.dtype != np.float32:
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"fit: inputs must be numbers, got dtype {arr.dtype}")
        arr = arr.astype(np.float32)
    if arr.ndim == 1:  # like Keras, a 1-D input is a column of scalar samples: (N,) -> (N, 1)
        arr = arr[:, None]
    return arr


def _length(x):
    return len(x[0]) if isinstance(x, list) else len(x)


def _take(x, idx):
    if isinstance(x, list):
        return [v[idx] for v in x]
    return x[idx]


def _batches(n, batch_size, order):
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size] if order is not None else slice(start, start + batch_size)


def _is_batch_iterable(x):
    """A DataLoader / generator of (x, y) batches rather than an array."""
    return not isinstance(x, (np.ndarray, Tensor, list, tuple)) and hasattr(x, "__iter__") and \
        not hasattr(x, "__array__")


def _sample_weights(y, class_weight, sample_weight, fn):
    """Keras' per-sample weights: sample_weight as given, or class_weight[label of each sample]
    (labels: ids, or the argmax of one-hot rows); None when neither is given."""
    if class_weight is not None and sample_weight is not None:
        raise ValueError(f"{fn}: give class_weight or sample_weight, not both")
    if sample_weight is not None:
        sw = _numpy(sample_weight).astype(np.float32)
        if sw.ndim != 1 or len(sw) != len(y):
            raise ValueError(f"{fn}: sample_weight must have shape ({len(y)},), got {sw.shape}")
        return sw
    if class_weight is None:
        return None
    if not isinstance(class_weight, dict):
        raise TypeError(f"{fn}: class_weight must be a dict {{class id: weight}}, got {type(class_weight).__name__}")
    labels = np.asarray(y)
    if labels.ndim > 1:
        labels = labels.argmax(-1) if labels.shape[-1] != 1 else labels[..., 0]
    labels = np.round(labels).astype(np.int64).reshape(len(y), -1)[:, 0]
    return np.array([class_weight.get(int(c), 1.0) for c in labels], np.float32)


class _BatchStream:
    """Where fit's batches come from, as Keras: one pass over the (shuffled) data per epoch; with
    steps_per_epoch, `steps_per_epoch` batches per epoch taken from a stream that continues
    across epochs and starts a new (reshuffled) pass when the data runs out. An iterable of
    batches is not restarted: when it runs out, training stops (as Keras warns)."""

    def __init__(self, x, y, sw, batch_size, shuffle, iterable, steps_per_epoch):
        self.x, self.y, self.sw, self.batch_size, self.shuffle = x, y, sw, batch_size, shuffle
        self.iterable, self.steps_per_epoch = iterable, steps_per_epoch
        self.order, self.pos, self._it = None, 0, None  # the current pass: its order and next batch
        self.resume_step = 0  # BackupAndRestore: the first step of the first epoch run

    def get_state(self):
        return {"order": None if self.order is None else [int(i) for i in self.order], "pos": self.pos}

    def set_state(self, state, step):
        self.order = None if state["order"] is None else np.asarray(state["order"], np.int64)
        self.pos, self.resume_step = int(state["pos"]), int(step)

    def steps(self):
        if self.steps_per_epoch:
            return self.steps_per_epoch
        if self.iterable:
            return len(self.x) if hasattr(self.x, "__len__") else None
        return -(-_length(self.x) // self.batch_size)

    def _new_pass(self):
        n = _length(self.x)
        self.order = rng().permutation(n) if self.shuffle else np.arange(n)
        self.pos = 0

    def _next_array_batch(self):
        if self.order is None or self.pos >= len(self.order):
            self._new_pass()
        idx = self.order[self.pos:self.pos + self.batch_size]
        self.pos += self.batch_size
        return _take(self.x, idx), self.y[idx], None if self.sw is None else self.sw[idx]

    def epoch(self):
        start, self.resume_step = self.resume_step, 0
        if self.iterable:
            if self._it is None or not self.steps_per_epoch:
                self._it = iter(self.x)
            for step in range(self.steps_per_epoch or 2 ** 62):
                try:
                    b = next(self._it)
                except StopIteration:
                    if self.steps_per_epoch:
                        print("fit: the input ran out of data; stopping (give steps_per_epoch * epochs batches)")
                    return
                yield step, (b[0], b[1], b[2] if len(b) > 2 else None)
            return
        if not self.steps_per_epoch and not start:
            self.order = None
        for step in range(start, self.steps_per_epoch or -(-_length(self.x) // self.batch_size)):
            yield step, self._next_array_batch()
