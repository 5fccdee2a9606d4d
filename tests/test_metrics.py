"""minigrad.metrics against scikit-learn, plus input handling and error messages."""
import numpy as np
import pytest

from minigrad import metrics as M

skm = pytest.importorskip("sklearn.metrics")


def _random_cases(n_cases=12, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(n_cases):
        k = int(rng.integers(2, 7))
        n = int(rng.integers(1, 60))
        yield rng.integers(0, k, n), rng.integers(0, k, n), k


def _numbers(report):
    """A report's tokens, numbers as floats (sklearn 1.9 may print supports as '4.0')."""
    def tok(w):
        try:
            return float(w)
        except ValueError:
            return w
    return [[tok(w) for w in line.split()] for line in report.splitlines()]


@pytest.mark.parametrize("average", ["macro", "micro", "weighted", None])
@pytest.mark.parametrize("zero_division", [0, 1])
def test_precision_recall_f1_match_sklearn(average, zero_division):
    pairs = [(M.precision, skm.precision_score), (M.recall, skm.recall_score), (M.f1_score, skm.f1_score)]
    for t, p, _ in _random_cases():
        for ours, theirs in pairs:
            got = ours(t, p, average=average, zero_division=zero_division)
            want = theirs(t, p, average=average, zero_division=zero_division)
            np.testing.assert_allclose(got, want, err_msg=f"{ours.__name__} average={average}")


def test_restricted_labels_match_sklearn():
    for t, p, k in _random_cases(8, seed=1):
        labels = list(range(k))[:2] + [k + 3]  # one label never seen
        for avg in ("macro", "micro", "weighted", None):
            np.testing.assert_allclose(M.f1_score(t, p, average=avg, labels=labels),
                                       skm.f1_score(t, p, average=avg, labels=labels, zero_division=0))


def test_binary_and_pos_label():
    rng = np.random.default_rng(2)
    t, p = rng.integers(0, 2, 50), rng.integers(0, 2, 50)
    for pos in (0, 1):
        assert M.precision(t, p, pos_label=pos) == pytest.approx(skm.precision_score(t, p, pos_label=pos))
        assert M.recall(t, p, pos_label=pos) == pytest.approx(skm.recall_score(t, p, pos_label=pos))
        assert M.f1_score(t, p, pos_label=pos) == pytest.approx(skm.f1_score(t, p, pos_label=pos))
    with pytest.raises(ValueError, match="multiclass"):
        M.precision([0, 1, 2], [0, 1, 2])
    with pytest.raises(ValueError, match="pos_label"):
        M.f1_score([3, 4, 3], [4, 4, 3])
    assert M.f1_score([3, 4, 3], [4, 4, 3], pos_label=4) == pytest.approx(2 / 3)


def test_zero_division_values():
    t, p = [0, 0, 1], [0, 0, 0]  # class 1 never predicted
    assert M.precision(t, p, average=None, zero_division=0)[1] == 0.0
    assert M.precision(t, p, average=None, zero_division=1)[1] == 1.0
    with pytest.warns(UserWarning):
        M.precision(t, p, average=None, zero_division="warn")


def test_accuracy_and_input_kinds():
    rng = np.random.default_rng(3)
    t = rng.integers(0, 4, 30)
    scores = rng.normal(size=(30, 4))
    pred = scores.argmax(1)
    assert M.accuracy(t, pred) == pytest.approx(skm.accuracy_score(t, pred))
    assert M.accuracy(list(t), scores) == pytest.approx(skm.accuracy_score(t, pred))  # 2-D -> argmax
    assert M.accuracy(t, pred, normalize=False) == int((t == pred).sum())
    onehot = np.eye(4)[t]
    assert M.accuracy(onehot, pred) == M.accuracy(t, pred)
    assert M.accuracy([1, 0, 1], np.array([[0.9], [0.2], [0.4]])) == pytest.approx(2 / 3)  # (N, 1) probs

    class FakeTensor:  # anything with .numpy()
        def __init__(self, a):
            self.a = a

        def numpy(self):
            return self.a

    assert M.accuracy(FakeTensor(t), FakeTensor(scores)) == M.accuracy(t, pred)


def test_accepts_minigrad_tensors():
    mg = pytest.importorskip("minigrad")
    if not hasattr(mg, "tensor"):
        pytest.skip("minigrad core not available yet")
    t = np.array([0, 1, 2, 2])
    scores = np.eye(3)[[0, 2, 2, 2]].astype(np.float32)
    assert M.accuracy(mg.tensor(t), mg.tensor(scores)) == 0.75
    assert M.confusion_matrix(mg.tensor(t), mg.tensor(scores))[1, 2] == 1


def test_length_mismatch_names_function_and_shapes():
    for fn in (M.accuracy, M.precision, M.recall, M.f1_score, M.confusion_matrix, M.classification_report):
        with pytest.raises(ValueError) as e:
            fn([0, 1, 1], [0, 1])
        msg = str(e.value)
        assert fn.__name__ in msg and "(3,)" in msg and "(2,)" in msg
    with pytest.raises(ValueError, match=r"top_k_accuracy.*\(3,\).*\(2, 4\)"):
        M.top_k_accuracy([0, 1, 2], np.zeros((2, 4)), k=2)


def test_confusion_matrix():
    for t, p, k in _random_cases(20, seed=4):
        np.testing.assert_array_equal(M.confusion_matrix(t, p, num_classes=k),
                                      skm.confusion_matrix(t, p, labels=list(range(k))))
    cm = M.confusion_matrix([0, 1], [1, 1], num_classes=4)
    assert cm.shape == (4, 4) and cm.dtype == np.int64 and cm[0, 1] == 1 and cm.sum() == 2
    assert M.confusion_matrix([0, 2], [2, 2]).shape == (3, 3)  # 0..max label
    with pytest.raises(ValueError, match="out of range"):
        M.confusion_matrix([0, 5], [0, 1], num_classes=3)
    t, p = ["cat", "dog", "cat", "bird"], ["cat", "cat", "dog", "bird"]
    np.testing.assert_array_equal(M.confusion_matrix(t, p), skm.confusion_matrix(t, p))
    np.testing.assert_array_equal(M.confusion_matrix(t, p, labels=["dog", "cat"]),
                                  skm.confusion_matrix(t, p, labels=["dog", "cat"]))


def test_top_k_accuracy():
    rng = np.random.default_rng(5)
    for _ in range(10):
        c = int(rng.integers(3, 8))
        t = rng.integers(0, c, 40)
        s = rng.normal(size=(40, c))
        for k in range(1, c):
            assert M.top_k_accuracy(t, s, k) == pytest.approx(
                skm.top_k_accuracy_score(t, s, k=k, labels=list(range(c))))
    assert M.top_k_accuracy([0, 1], np.array([[0.1, 0.9], [0.2, 0.8]]), k=1) == 0.5
    assert M.top_k_accuracy([0, 1], np.array([[0.1, 0.9], [0.2, 0.8]]), k=1, normalize=False) == 1
    with pytest.raises(ValueError, match="2-D"):
        M.top_k_accuracy([0, 1], [0.3, 0.4], k=1)


def test_classification_report_matches_sklearn():
    for t, p, _ in _random_cases(6, seed=6):
        assert _numbers(M.classification_report(t, p, digits=3)) == _numbers(
            skm.classification_report(t, p, digits=3, zero_division=0))
        assert _numbers(M.classification_report(t, p, labels=[0, 1])) == _numbers(
            skm.classification_report(t, p, labels=[0, 1], zero_division=0))  # "micro avg" row
    names = ["zero", "one", "two"]
    t, p = [0, 1, 2, 2, 0], [0, 2, 2, 1, 0]
    assert _numbers(M.classification_report(t, p, target_names=names)) == _numbers(
        skm.classification_report(t, p, target_names=names, zero_division=0))
    ours = M.classification_report(t, p, output_dict=True)
    theirs = skm.classification_report(t, p, output_dict=True, zero_division=0)
    assert ours.keys() == theirs.keys()
    assert ours["accuracy"] == pytest.approx(theirs["accuracy"])
    assert ours["macro avg"]["f1-score"] == pytest.approx(theirs["macro avg"]["f1-score"])


def test_classification_report_layout():
    expected = (
        "              precision    recall  f1-score   support\n"
        "\n"
        "           0       1.00      1.00      1.00         1\n"
        "           1       0.50      1.00      0.67         1\n"
        "           2       1.00      0.50      0.67         2\n"
        "\n"
        "    accuracy                           0.75         4\n"
        "   macro avg       0.83      0.83      0.78         4\n"
        "weighted avg       0.88      0.75      0.75         4\n"
    )
    assert M.classification_report([0, 1, 2, 2], [0, 1, 2, 1]) == expected
