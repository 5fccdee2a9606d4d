"""keras.utils: to_categorical, normalize, set_random_seed, and the plotting helpers."""
import numpy as np


def to_categorical(y, num_classes=None, dtype="float32"):
    """Class ids (any shape) -> one-hot rows: (N,) -> (N, num_classes); a trailing 1 is dropped."""
    y = np.asarray(y.numpy() if hasattr(y, "numpy") and not isinstance(y, np.ndarray) else y)
    if y.dtype.kind == "f":
        if not np.all(y == np.round(y)):
            raise ValueError("to_categorical: labels must be integers")
    y = y.astype(np.int64)
    shape = y.shape
    if shape and shape[-1] == 1 and len(shape) > 1:
        shape = shape[:-1]
    y = y.reshape(-1)
    if y.size and y.min() < 0:
        raise ValueError(f"to_categorical: labels must be >= 0, got {y.min()}")
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    elif y.size and y.max() >= num_classes:
        raise ValueError(f"to_categorical: label {y.max()} is out of range for num_classes={num_classes}")
    out = np.zeros((y.size, num_classes), dtype=dtype)
    out[np.arange(y.size), y] = 1
    return out.reshape(shape + (num_classes,))


def normalize(x, axis=-1, order=2):
    """Scale x to unit L`order` norm along `axis`."""
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, ord=order, axis=axis, keepdims=True)
    return x / np.where(norm == 0, 1, norm)


def set_random_seed(seed):
    """Seed minigrad (weights, dropout, shuffling) and numpy's global generator."""
    from ..random import manual_seed
    manual_seed(int(seed))


def show_images(*args, **kwargs):
    from ..viz_plots import show_images as f
    return f(*args, **kwargs)


def plot_confusion_matrix(*args, **kwargs):
    from ..viz_plots import plot_confusion_matrix as f
    return f(*args, **kwargs)
