"""Every op, layer, optimiser, scheduler and loader refuses invalid arguments with a clear error.

The cases come from tests/op_invalid.py (one table entry per op of tests/op_registry.py, plus the
hyper-parameters of layers, optimisers, schedulers and loaders); hypothesis draws the invalid values.
A clear error is a ValueError or TypeError (IndexError for dims and indices, as torch) whose message
names the function and the argument, never a ZeroDivisionError, a numpy message from deep inside,
an AttributeError, a hang or a crash.
"""
import signal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from op_invalid import INVALID, INVALID_CONFIG
from op_registry import NO_GRAD_OPS, REGISTRY

LEAKED = ("could not broadcast", "could not be broadcast together with shapes", "division by zero",
          "has no attribute", "not supported between instances", "invalid literal", "cannot be interpreted",
          "negative dimensions are not allowed", "list index out of range", "object is not iterable",
          "object is not subscriptable", "unhashable type", "The DType")

CASES = [(f"{key}[{i}]", case) for table in (INVALID, INVALID_CONFIG) for key, cases in table.items()
         for i, case in enumerate(cases)]


def test_every_registry_op_has_invalid_cases():
    missing = [op.name for op in REGISTRY + NO_GRAD_OPS if not INVALID.get(op.name)]
    assert not missing, f"add invalid-argument cases to tests/op_invalid.py for {missing}"


def _alarm(signum, frame):
    raise TimeoutError("the call hung")


@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[name for name, _ in CASES])
@given(data=st.data())
def test_invalid_argument_gets_a_clear_error(case, data):
    value = data.draw(case.values, label=case.arg or "value")
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(10)
    try:
        with np.errstate(all="ignore"):
            with pytest.raises((ValueError, TypeError, IndexError)) as err:
                case.call(value)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    message = str(err.value)
    assert case.fn in message, f"the error does not name {case.fn!r}: {type(err.value).__name__}: {message}"
    if case.arg is not None:
        assert case.arg.split("[")[0] in message, f"the error does not name {case.arg!r}: {message}"
    leaked = [text for text in LEAKED if text in message]
    assert not leaked, f"{type(err.value).__name__}: {message}"
