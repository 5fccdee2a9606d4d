"""Anomaly mode: find the op whose backward produced NaN, and where the forward called it.

    with mg.autograd.detect_anomaly():          # or mg.autograd.set_detect_anomaly(True)
        loss = model(x).sum()
        loss.backward()                          # RuntimeError: Function 'DivBackward0' returned nan ...

While it is on, every recorded Function keeps the stack of the forward call that created it, and
the engine checks each gradient a node's backward returns (NaN always with check_nan, inf too
with check_inf). When a check fails, or a backward raises, the forward traceback is shown
(a warning, as torch does) and included in the RuntimeError. Off (the default), the forward
costs one class-attribute test per recorded op and backward one per node.
"""
import os
import traceback
import warnings


_ENGINE_FILES = {"anomaly.py", "autograd.py", "autograd_function.py"}
_MAX_FRAMES = 30


class AnomalyMode:
    enabled = False
    check_nan = True
    check_inf = False


def is_anomaly_enabled():
    return AnomalyMode.enabled


def is_anomaly_check_nan_enabled():
    return AnomalyMode.enabled and AnomalyMode.check_nan


def _check_flags(fn, **flags):
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise TypeError(f"{fn}: {name} must be a bool, got {type(value).__name__} {value!r}")


class set_detect_anomaly:
    """Turn anomaly mode on or off: as a call (`set_detect_anomaly(True)`) or around a block
    (`with set_detect_anomaly(False): ...`, which restores the previous setting on exit).

    mode: bool; check_nan: raise on NaN gradients; check_inf: also on +-inf (a minigrad extension).
    """

    def __init__(self, mode, check_nan=True, check_inf=False):
        _check_flags("set_detect_anomaly", mode=mode, check_nan=check_nan, check_inf=check_inf)
        self._previous = (AnomalyMode.enabled, AnomalyMode.check_nan, AnomalyMode.check_inf)
        AnomalyMode.enabled, AnomalyMode.check_nan, AnomalyMode.check_inf = mode, check_nan, check_inf

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        AnomalyMode.enabled, AnomalyMode.check_nan, AnomalyMode.check_inf = self._previous
        return False


class detect_anomaly(set_detect_anomaly):
    """Context manager (or decorator) turning anomaly mode on inside its block; see the module doc."""

    def __init__(self, check_nan=True, check_inf=False):
        _check_flags("detect_anomaly", check_nan=check_nan, check_inf=check_inf)
        self._args = (check_nan, check_inf)

    def __enter__(self):
        warnings.warn("anomaly detection is on: every op records its forward stack and every gradient is checked, "
                      "which slows training down; use it only to debug", stacklevel=2)
        super().__init__(True, *self._args)
        return self

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)(*self._args):
                return fn(*args, **kwargs)
        return wrapper


def record_creation(node):
    """Keep the stack of the forward call that created `node` (called only when anomaly mode is on)."""
    stack = traceback.extract_stack()
    while stack and os.path.basename(stack[-1].filename) in _ENGINE_FILES:  # start at the caller of the op
        stack.pop()
    node._creation_stack = stack[-_MAX_FRAMES:]


def _where(node):
    stack = getattr(node, "_creation_stack", None)
    if stack is None:
        return ("No forward traceback was recorded for it: it was created before anomaly mode was turned on, "
                "or by a backward pass.")
    return "Traceback of the forward call that created it (most recent call last):\n" + "".join(
        traceback.format_list(stack)).rstrip()


def checked_backward(node, run):
    """run() -> the node's input gradients; check them, and report the forward stack when anything fails."""
    try:
        gxs = run()
    except Exception:
        warnings.warn(f"Error detected in {node.name()}. {_where(node)}", stacklevel=3)
        raise
    for i, g in enumerate(gxs):
        arr = getattr(g, "array", None)
        if arr is None or arr.dtype.kind not in "fc":
            continue
        xp = g.xp
        bad = ("nan" if AnomalyMode.check_nan and bool(xp.isnan(arr).any()) else
               "inf" if AnomalyMode.check_inf and bool(xp.isinf(arr).any()) else None)
        if bad:
            where = _where(node)
            warnings.warn(f"Error detected in {node.name()}. {where}", stacklevel=3)
            raise RuntimeError(f"Function '{node.name()}' returned {bad} values in its {i}th output "
                               f"(the gradient for input {i}, shape {tuple(g.shape)}).\n{where}")
    return gxs
