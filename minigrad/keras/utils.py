"""keras.utils: to_categorical, normalize, pad_sequences, set_random_seed, and the plotting helpers."""
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


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """A list of N sequences (lists or arrays, lengths may differ) -> an (N, maxlen) array, as Keras:
    shorter ones padded with `value` and longer ones cut, both at the start by default ("pre") or at
    the end ("post"). maxlen defaults to the longest sequence. Sequences of vectors give (N, maxlen, ...)."""
    for name, v in (("padding", padding), ("truncating", truncating)):
        if v not in ("pre", "post"):
            raise ValueError(f"pad_sequences: {name} must be 'pre' or 'post', got {v!r}")
    try:
        seqs = [np.asarray(s) for s in sequences]
    except TypeError:
        raise TypeError("pad_sequences: sequences must be an iterable of sequences") from None
    if maxlen is None:
        maxlen = max((len(s) for s in seqs), default=0)
    elif int(maxlen) < 0:
        raise ValueError(f"pad_sequences: maxlen must be >= 0, got {maxlen}")
    maxlen = int(maxlen)
    sample_shape = next((s.shape[1:] for s in seqs if len(s)), ())
    out = np.full((len(seqs), maxlen) + sample_shape, value, dtype=dtype)
    for i, s in enumerate(seqs):
        if not len(s) or not maxlen:
            continue
        if s.shape[1:] != sample_shape:
            raise ValueError(f"pad_sequences: sequence {i} has items of shape {s.shape[1:]}, the first had "
                             f"{sample_shape}")
        s = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        if padding == "pre":
            out[i, maxlen - len(s):] = s
        else:
            out[i, :len(s)] = s
    return out
