"""Classification metrics, computed with numpy and shaped like scikit-learn's.

Every function accepts numpy arrays, Python lists, or anything with a `.numpy()` method
(minigrad Tensors). Labels are 1-D, shape (N,). Where predictions are 2-D scores or
probabilities, shape (N, C), the predicted label is their argmax over C (a single
column, shape (N, 1), is read as the probability of class 1 and thresholded at 0.5).
A 2-D one-hot `y_true` is likewise turned into labels by argmax.
"""
import warnings

import numpy as np

__all__ = [
    "accuracy", "precision", "recall", "f1_score", "precision_recall_fscore_support",
    "confusion_matrix", "top_k_accuracy", "classification_report",
]

_AVERAGES = ("binary", "macro", "micro", "weighted", None)


def _to_numpy(x):
    if hasattr(x, "numpy") and not isinstance(x, np.ndarray):
        x = x.numpy()
    return np.asarray(x)


def _as_labels(y):
    """(N,) labels from labels (N,), scores (N, C) by argmax, or probabilities (N, 1) by > 0.5."""
    y = _to_numpy(y)
    if y.ndim == 2:
        if y.shape[1] == 1:
            return (y[:, 0] > 0.5).astype(np.int64)
        return y.argmax(axis=1)
    return y.reshape(-1) if y.ndim == 0 else y


def _check_pair(fn, y_true, y_pred):
    """Both inputs as 1-D label arrays of equal length, or a ValueError naming `fn` and both shapes."""
    t_raw, p_raw = _to_numpy(y_true), _to_numpy(y_pred)
    t, p = _as_labels(t_raw), _as_labels(p_raw)
    if t.ndim != 1 or p.ndim != 1:
        raise ValueError(f"{fn}: expected 1-D labels or 2-D scores, got y_true shape {t_raw.shape} "
                         f"and y_pred shape {p_raw.shape}")
    if len(t) != len(p):
        raise ValueError(f"{fn}: y_true and y_pred have different lengths: y_true shape {t_raw.shape}, "
                         f"y_pred shape {p_raw.shape}")
    return t, p


def accuracy(y_true, y_pred, normalize=True):
    """Fraction (or, with normalize=False, count) of samples whose predicted label is the true one."""
    t, p = _check_pair("accuracy", y_true, y_pred)
    correct = int((t == p).sum())
    if not normalize:
        return correct
    return correct / len(t) if len(t) else 0.0


def confusion_matrix(y_true, y_pred, num_classes=None, labels=None):
    """(K, K) int64 counts: row = true class, column = predicted class.

    With integer labels and no `labels`, classes are 0..K-1, K = num_classes or max label + 1.
    With `labels` (or non-integer labels) the classes are those labels, in that order
    (sorted unique values of both inputs by default), as scikit-learn does; samples
    whose labels are not among them are ignored.
    """
    t, p = _check_pair("confusion_matrix", y_true, y_pred)
    integer = np.issubdtype(t.dtype, np.integer) and np.issubdtype(p.dtype, np.integer)
    if labels is None and (integer or len(t) == 0):
        t, p = t.astype(np.int64), p.astype(np.int64)
        if len(t) and min(t.min(), p.min()) < 0:
            raise ValueError("confusion_matrix: labels must be non-negative integers "
                             f"(got minimum {min(t.min(), p.min())}); pass labels=... for others")
        seen = int(max(t.max(), p.max())) + 1 if len(t) else 0
        k = seen if num_classes is None else int(num_classes)
        if seen > k:
            raise ValueError(f"confusion_matrix: label {seen - 1} is out of range for num_classes={k}")
        return np.bincount(t * k + p, minlength=k * k).reshape(k, k).astype(np.int64)
    classes = np.unique(np.concatenate([t, p])) if labels is None else _to_numpy(labels).reshape(-1)
    k = len(classes)
    ti, pi = _index_of(classes, t), _index_of(classes, p)
    keep = (ti >= 0) & (pi >= 0)
    return np.bincount(ti[keep] * k + pi[keep], minlength=k * k).reshape(k, k).astype(np.int64)


def _index_of(classes, y):
    """Position of each y in `classes`, -1 where absent."""
    order = np.argsort(classes, kind="stable")
    sorted_classes = classes[order]
    pos = np.clip(np.searchsorted(sorted_classes, y), 0, max(len(classes) - 1, 0))
    if len(classes) == 0:
        return np.full(len(y), -1)
    found = sorted_classes[pos] == y
    return np.where(found, order[pos], -1)


def _divide(num, den, zero_division, what):
    """num / den elementwise, with `zero_division` where den == 0."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    zero = den == 0
    if isinstance(zero_division, str):
        if zero_division != "warn":
            raise ValueError(f"zero_division must be 0, 1, np.nan or 'warn', got {zero_division!r}")
        if zero.any():
            warnings.warn(f"{what} is ill-defined and set to 0.0 for classes with no "
                          f"{'predicted' if what == 'Precision' else 'true'} samples", stacklevel=4)
        zero_division = 0.0
    return np.where(zero, float(zero_division), num / np.where(zero, 1.0, den))


def precision_recall_fscore_support(y_true, y_pred, average=None, labels=None, pos_label=1,
                                    zero_division=0, beta=1.0, _fn="precision_recall_fscore_support"):
    """-> (precision, recall, f-beta, support): per class (arrays of shape (K,)) when average is
    None, else three floats and support None, as scikit-learn's function of the same name."""
    if average not in _AVERAGES:
        raise ValueError(f"{_fn}: average must be one of {_AVERAGES}, got {average!r}")
    t, p = _check_pair(_fn, y_true, y_pred)
    present = np.unique(np.concatenate([t, p]))
    if average == "binary":
        if len(present) > 2:
            raise ValueError(f"{_fn}: target is multiclass ({len(present)} labels) but average='binary'; "
                             "choose average='macro', 'micro', 'weighted' or None")
        if len(present) == 2 and pos_label not in present:
            raise ValueError(f"{_fn}: pos_label={pos_label!r} is not a valid label; labels are {present.tolist()}")
        classes = np.asarray([pos_label])
    else:
        classes = present if labels is None else _to_numpy(labels).reshape(-1)
    ti, pi = _index_of(classes, t), _index_of(classes, p)
    k = len(classes)
    tp = np.bincount(ti[(ti == pi) & (ti >= 0)], minlength=k).astype(np.float64)
    pred_count = np.bincount(pi[pi >= 0], minlength=k).astype(np.float64)
    support = np.bincount(ti[ti >= 0], minlength=k).astype(np.int64)
    fp, fn = pred_count - tp, support - tp
    if average == "micro":
        tp, fp, fn = tp.sum(keepdims=True), fp.sum(keepdims=True), fn.sum(keepdims=True)
    prec = _divide(tp, tp + fp, zero_division, "Precision")
    rec = _divide(tp, tp + fn, zero_division, "Recall")
    b2 = beta * beta
    fscore = _divide((1 + b2) * tp, (1 + b2) * tp + b2 * fn + fp, zero_division, "F-score")
    if average is None:
        return prec, rec, fscore, support
    if average == "weighted":
        if support.sum() == 0:
            zd = 0.0 if isinstance(zero_division, str) else float(zero_division)
            return zd, zd, zd, None
        return tuple(float(np.average(m, weights=support)) for m in (prec, rec, fscore)) + (None,)
    return tuple(_mean_ignoring_nan(m) for m in (prec, rec, fscore)) + (None,)


def _mean_ignoring_nan(m):
    """Mean over classes, leaving out nan scores (zero_division=np.nan), as scikit-learn does."""
    if len(m) == 0:
        return 0.0
    return float("nan") if np.all(np.isnan(m)) else float(np.nanmean(m))


def precision(y_true, y_pred, average="binary", labels=None, pos_label=1, zero_division=0):
    """tp / (tp + fp): per class (average=None) or averaged ('binary', 'macro', 'micro', 'weighted')."""
    return precision_recall_fscore_support(y_true, y_pred, average, labels, pos_label, zero_division,
                                           _fn="precision")[0]


def recall(y_true, y_pred, average="binary", labels=None, pos_label=1, zero_division=0):
    """tp / (tp + fn): per class (average=None) or averaged ('binary', 'macro', 'micro', 'weighted')."""
    return precision_recall_fscore_support(y_true, y_pred, average, labels, pos_label, zero_division,
                                           _fn="recall")[1]


def f1_score(y_true, y_pred, average="binary", labels=None, pos_label=1, zero_division=0):
    """2 tp / (2 tp + fp + fn): per class (average=None) or averaged like `precision`."""
    return precision_recall_fscore_support(y_true, y_pred, average, labels, pos_label, zero_division,
                                           _fn="f1_score")[2]


def top_k_accuracy(y_true, scores, k=5, normalize=True):
    """Fraction of samples whose true class is among the k highest of its scores.

    y_true: (N,) integer class indices into the columns of scores: (N, C). A true class
    tied with others counts as a hit when fewer than k classes score strictly higher.
    """
    t = _to_numpy(y_true).reshape(-1)
    s_raw = _to_numpy(scores)
    if s_raw.ndim != 2:
        raise ValueError(f"top_k_accuracy: scores must be 2-D (N, C), got shape {s_raw.shape}")
    if len(t) != len(s_raw):
        raise ValueError(f"top_k_accuracy: y_true and scores have different lengths: y_true shape "
                         f"{_to_numpy(y_true).shape}, scores shape {s_raw.shape}")
    if k < 1:
        raise ValueError(f"top_k_accuracy: k must be >= 1, got {k}")
    t = t.astype(np.int64)
    if len(t) and (t.min() < 0 or t.max() >= s_raw.shape[1]):
        raise ValueError(f"top_k_accuracy: labels must lie in [0, {s_raw.shape[1]}) to index scores "
                         f"of shape {s_raw.shape}")
    true_score = s_raw[np.arange(len(t)), t]
    hits = (s_raw > true_score[:, None]).sum(axis=1) < k
    if not normalize:
        return int(hits.sum())
    return float(hits.mean()) if len(t) else 0.0


def classification_report(y_true, y_pred, labels=None, target_names=None, digits=2,
                          output_dict=False, zero_division=0):
    """A text table of per-class precision, recall, f1-score and support, laid out like
    scikit-learn's, followed by accuracy (or micro avg), macro avg and weighted avg rows.
    With output_dict=True, the same numbers as a dict."""
    t, p = _check_pair("classification_report", y_true, y_pred)
    present = np.unique(np.concatenate([t, p]))
    classes = present if labels is None else _to_numpy(labels).reshape(-1)
    names = [str(c) for c in classes] if target_names is None else [str(n) for n in target_names]
    if len(names) != len(classes):
        raise ValueError(f"classification_report: {len(classes)} labels but {len(names)} target_names")
    prec, rec, f1, support = precision_recall_fscore_support(t, p, None, classes, zero_division=zero_division,
                                                             _fn="classification_report")
    micro_is_accuracy = set(present.tolist()) <= set(classes.tolist())
    total = int(support.sum())
    rows = {name: (prec[i], rec[i], f1[i], int(support[i])) for i, name in enumerate(names)}
    avgs = {}
    for avg in ("micro", "macro", "weighted"):
        scores = precision_recall_fscore_support(t, p, avg, classes, zero_division=zero_division,
                                                 _fn="classification_report")[:3]
        avgs["accuracy" if avg == "micro" and micro_is_accuracy else f"{avg} avg"] = scores
    if output_dict:
        out = {n: dict(zip(("precision", "recall", "f1-score", "support"), r)) for n, r in rows.items()}
        for head, sc in avgs.items():
            out[head] = sc[0] if head == "accuracy" else dict(
                zip(("precision", "recall", "f1-score", "support"), (*sc, total)))
        return out
    width = max([len(n) for n in names] + [len("weighted avg"), digits])
    headers = ("precision", "recall", "f1-score", "support")
    report = f"{'':>{width}} " + "".join(f" {h:>9}" for h in headers) + "\n\n"
    for name, (pr, re, f, s) in rows.items():
        report += f"{name:>{width}} " + "".join(f" {v:>9.{digits}f}" for v in (pr, re, f)) + f" {s:>9}\n"
    report += "\n"
    for head, (pr, re, f) in avgs.items():
        if head == "accuracy":
            report += f"{head:>{width}} " + f" {'':>9}" * 2 + f" {f:>9.{digits}f} {total:>9}\n"
        else:
            report += f"{head:>{width}} " + "".join(f" {v:>9.{digits}f}" for v in (pr, re, f)) + f" {total:>9}\n"
    return report
