"""Anomaly mode: a NaN gradient is traced to the op that produced it and the forward line that made it."""
import warnings

import numpy as np
import pytest

import minigrad as mg
from minigrad import anomaly
from minigrad.autograd import Function


def _sqrt_at_zero():
    x = mg.tensor([0.0, 4.0], requires_grad=True)
    y = x.sqrt()  # MARK-FORWARD: d sqrt/dx at 0 is inf, times a zero gradient: NaN
    return x, (y * 0).sum()


def test_nan_gradient_names_op_and_forward_line():
    with pytest.warns(UserWarning, match="anomaly detection is on"), np.errstate(all="ignore"):
        with mg.autograd.detect_anomaly():
            x, loss = _sqrt_at_zero()
            with pytest.warns(UserWarning, match="Error detected in SqrtBackward0"):
                with pytest.raises(RuntimeError, match=r"Function 'SqrtBackward0' returned nan values in its 0th "
                                                       r"output") as err:
                    loss.backward()
    assert "MARK-FORWARD" in str(err.value) and "_sqrt_at_zero" in str(err.value)
    assert not mg.autograd.is_anomaly_enabled()


def test_torch_names_the_same_op():
    torch = pytest.importorskip("torch")
    x = torch.tensor([0.0, 4.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.autograd.detect_anomaly(), pytest.raises(RuntimeError, match="SqrtBackward0.*nan"):
            (x.sqrt() * 0).sum().backward()


def test_off_by_default_records_nothing_and_lets_nan_through(monkeypatch):
    assert not mg.autograd.is_anomaly_enabled()
    monkeypatch.setattr(anomaly, "record_creation", lambda node: pytest.fail("recorded while off"))
    import minigrad.autograd as ag
    monkeypatch.setattr(ag, "record_creation", lambda node: pytest.fail("recorded while off"))
    with np.errstate(all="ignore"):
        x, loss = _sqrt_at_zero()
        loss.backward()
    assert np.isnan(x.grad.numpy()[0]) and not hasattr(loss.grad_fn, "_creation_stack")


def test_inf_is_checked_only_when_asked():
    def run():
        x = mg.tensor([0.0, 1.0], requires_grad=True)
        x.sqrt().sum().backward()  # gradient 1/(2 sqrt(0)) = inf
        return x.grad

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        with mg.autograd.detect_anomaly():
            assert np.isinf(run().numpy()[0])
        with mg.autograd.detect_anomaly(check_inf=True), pytest.raises(RuntimeError, match="returned inf values"):
            run()
        with mg.autograd.detect_anomaly(check_nan=False):  # NaN then passes, as in torch
            _, loss = _sqrt_at_zero()
            loss.backward()


def test_set_detect_anomaly_as_call_and_as_context():
    try:
        mg.autograd.set_detect_anomaly(True)
        assert mg.autograd.is_anomaly_enabled() and mg.autograd.is_anomaly_check_nan_enabled()
        with mg.autograd.set_detect_anomaly(False):
            assert not mg.autograd.is_anomaly_enabled()
        assert mg.autograd.is_anomaly_enabled()
        y = mg.ones(2, requires_grad=True) * 2
        assert "test_reliability_anomaly.py" in "".join(str(f) for f in y.grad_fn._creation_stack)
    finally:
        mg.autograd.set_detect_anomaly(False)
    assert not mg.autograd.is_anomaly_enabled()
    with pytest.raises(TypeError, match="set_detect_anomaly: mode must be a bool, got str"):
        mg.autograd.set_detect_anomaly("yes")
    with pytest.raises(TypeError, match="detect_anomaly: check_nan"):
        mg.autograd.detect_anomaly(check_nan=1)


class _BadBackward(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 1

    @staticmethod
    def backward(ctx, gy):
        return gy * float("nan")


class _Raising(Function):
    def forward(self, a):
        return a

    def backward(self, gy):
        raise ValueError("boom in backward")


def test_torch_style_functions_and_errors_in_backward():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mg.autograd.detect_anomaly():
            x = mg.ones(3, requires_grad=True)
            y = _BadBackward.apply(x)  # MARK-APPLY
            with pytest.raises(RuntimeError, match="BadBackwardBackward.*nan") as err:
                y.sum().backward()
            assert "MARK-APPLY" in str(err.value)
    with pytest.warns(UserWarning, match="anomaly detection is on"), mg.autograd.detect_anomaly():
        z = _Raising()(mg.ones(2, requires_grad=True))  # MARK-RAISE
        with pytest.warns(UserWarning, match="(?s)Error detected in RaisingBackward0.*MARK-RAISE"):
            with pytest.raises(ValueError, match="boom"):
                z.sum().backward()


@mg.autograd.detect_anomaly()
def _decorated():
    assert mg.autograd.is_anomaly_enabled()
    return 1


def test_decorator_form():
    with pytest.warns(UserWarning):
        assert _decorated() == 1
    assert not mg.autograd.is_anomaly_enabled()


def test_clean_training_step_passes_under_anomaly_mode():
    import minigrad.nn as nn
    mg.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(2, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mg.autograd.detect_anomaly(check_inf=True):
            mg.nn.functional.cross_entropy(m(mg.randn(4, 1, 4, 4)), mg.tensor([0, 1, 2, 0])).backward()
    assert all(np.isfinite(p.grad.numpy()).all() for p in m.parameters())
