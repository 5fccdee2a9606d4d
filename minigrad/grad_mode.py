"""Grad mode: whether ops record the graph. `no_grad()` turns recording off for a block
(inference, optimiser steps); the backward pass turns it on only for create_graph=True."""
import functools


class GradMode:
    enabled = True


def is_grad_enabled():
    return GradMode.enabled


class _GradModeSwitch:
    """Context manager and decorator that sets graph recording to `mode` for a block."""

    def __init__(self, mode):
        self.mode = mode

    def __enter__(self):
        self.prev = GradMode.enabled
        GradMode.enabled = self.mode
        return self

    def __exit__(self, *exc):
        GradMode.enabled = self.prev

    def __call__(self, func):
        mode = self.mode

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with _GradModeSwitch(mode):
                return func(*args, **kwargs)
        return wrapper


class no_grad(_GradModeSwitch):
    """`with no_grad():` runs ops without recording a graph (inference, optimiser steps)."""

    def __init__(self):
        super().__init__(False)


class enable_grad(_GradModeSwitch):
    """Turn recording back on inside a `no_grad` block."""

    def __init__(self):
        super().__init__(True)


class set_grad_enabled(_GradModeSwitch):
    """Like torch: switches at once when called, restores at the end of a `with` block."""

    def __init__(self, mode=True):
        super().__init__(bool(mode))
        self.prev = GradMode.enabled
        GradMode.enabled = self.mode

    def __enter__(self):
        return self

    def __call__(self, func):
        GradMode.enabled = self.prev  # used as a decorator: undo the switch made by __init__
        return super().__call__(func)
