"""Matplotlib helpers for the examples and notebooks: an image grid and a confusion matrix.

    from minigrad.viz_plots import show_images, plot_confusion_matrix
    show_images(x_test[:16], labels=y_test[:16], predictions=pred[:16])
    plot_confusion_matrix(minigrad.metrics.confusion_matrix(y_true, y_pred))

matplotlib is optional for minigrad; these functions raise an ImportError that says how to
install it when it is missing. Both return the Figure; `path=` also saves it as an image.
"""
import os

import numpy as np

from .metrics import _to_numpy


def _pyplot():
    try:
        import matplotlib
        if not os.environ.get("DISPLAY") and not os.environ.get("MPLBACKEND"):
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError("minigrad.viz_plots needs matplotlib: pip install matplotlib (or 'minigrad[plot]')") from e
    return plt


def _finish(fig, title, path, show):
    """Title, tight layout, optionally save to `path` and show; returns the Figure."""
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=100)
    if show:
        _pyplot().show()
    return fig


def _np(x):
    return None if x is None else _to_numpy(x)


def _as_hwc(images):
    """(N, H, W), (N, H, W, C) or (N, C, H, W) with C in {1, 3} -> (N, H, W) or (N, H, W, 3)."""
    x = _np(images)
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 4 and x.shape[1] in (1, 3) and x.shape[-1] not in (1, 3):
        x = x.transpose(0, 2, 3, 1)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim not in (3, 4):
        raise ValueError(f"show_images: expected images shaped (N, H, W[, C]) or (N, C, H, W), got {x.shape}")
    return x


def _name(v, class_names):
    v = int(v)
    return class_names[v] if class_names is not None else str(v)


def show_images(images, labels=None, predictions=None, ncols=8, class_names=None, path=None, show=False,
                cmap="gray", title=None):
    """A grid of images titled with their labels; predictions (class ids, or scores (N, C)
    reduced by argmax) are added and drawn red where they differ from the label."""
    plt = _pyplot()
    x = _as_hwc(images)
    n = len(x)
    labels, predictions = _np(labels), _np(predictions)
    if labels is not None and labels.ndim == 2:
        labels = labels.argmax(-1)
    if predictions is not None and predictions.ndim == 2:
        predictions = predictions.argmax(-1)
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.6 * ncols, 1.8 * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(x[i], cmap=cmap if x[i].ndim == 2 else None)
        parts, color = [], "black"
        if labels is not None:
            parts.append(_name(labels[i], class_names))
        if predictions is not None:
            parts.append(f"pred {_name(predictions[i], class_names)}")
            if labels is not None and int(predictions[i]) != int(labels[i]):
                color = "red"
        if parts:
            ax.set_title(" | ".join(parts), fontsize=8, color=color)
    return _finish(fig, title, path, show)


def plot_confusion_matrix(cm, class_names=None, normalize=False, path=None, show=False, title="Confusion matrix",
                          cmap="Blues"):
    """Draw a (C, C) confusion matrix (rows: true class, columns: predicted) with counts in the cells;
    normalize=True shows each row as fractions of that class."""
    plt = _pyplot()
    cm = _np(cm).astype(np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"plot_confusion_matrix: expected a square matrix, got shape {cm.shape}")
    if normalize:
        cm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    c = cm.shape[0]
    names = class_names if class_names is not None else [str(i) for i in range(c)]
    fig, ax = plt.subplots(figsize=(0.6 * c + 2.5, 0.6 * c + 2))
    im = ax.imshow(cm, cmap=cmap)
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_xticks(range(c), names, rotation=45 if max(len(s) for s in names) > 2 else 0)
    ax.set_yticks(range(c), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    threshold = cm.max() / 2 if cm.size else 0
    for i in range(c):
        for j in range(c):
            text = f"{cm[i, j]:.2f}" if normalize else f"{int(cm[i, j])}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > threshold else "black")
    return _finish(fig, None, path, show)
