"""Grad mode: whether ops record the graph. `no_grad()` turns recording off for a block
(inference, optimiser steps); the backward pass turns it on only for create_graph=True.

Every switch here is, as in torch, both a context manager and a decorator:

    with mg.no_grad(): ...          @mg.no_grad()          @mg.no_grad
    with mg.inference_mode(): ...   @mg.inference_mode()   @mg.inference_mode
    with mg.set_grad_enabled(False): ...                   @mg.set_grad_enabled(False)

A decorated generator function runs each of its steps in the mode, not only its creation.
"""
import functools
import inspect


class GradMode:
    enabled = True     # ops record the graph
    inference = False  # inside inference_mode (recording is then off too)


def is_grad_enabled():
    return GradMode.enabled


def is_inference_mode_enabled():
    return GradMode.inference


class _GradModeSwitch:
    """Context manager and decorator that sets graph recording to `mode` for a block.

    Subclasses without arguments may also be used as a bare decorator (`@no_grad`): torch allows it.
    """

    bare_decorator = True

    def __new__(cls, *args, **kwargs):
        if cls.bare_decorator and len(args) == 1 and not kwargs and callable(args[0]):
            return cls()(args[0])  # @no_grad without parentheses: decorate at once
        return super().__new__(cls)

    def __init__(self, mode):
        self.mode = bool(mode)

    def _state(self):
        """(grad enabled, inference) inside the block."""
        return self.mode, GradMode.inference

    def __enter__(self):
        self.prev = GradMode.enabled, GradMode.inference
        GradMode.enabled, GradMode.inference = self._state()

    def __exit__(self, *exc):
        GradMode.enabled, GradMode.inference = self.prev

    def _fresh(self):
        """A new switch of the same settings (each call of a decorated function needs its own `prev`)."""
        switch = object.__new__(type(self))
        switch.__dict__.update(self.__dict__)
        return switch

    def clone(self):
        return self._fresh()

    def __call__(self, func):
        if inspect.isclass(func):
            raise TypeError(f"{type(self).__name__}: can decorate functions, not the class {func.__name__}")
        if inspect.isgeneratorfunction(func):
            @functools.wraps(func)
            def generator(*args, **kwargs):
                gen = func(*args, **kwargs)
                sent, error = None, None
                while True:
                    with self._fresh():  # each step of the generator runs in the mode; the caller's code does not
                        try:
                            value = gen.send(sent) if error is None else gen.throw(error)
                        except StopIteration as stop:
                            return stop.value
                    sent, error = None, None
                    try:
                        sent = yield value
                    except GeneratorExit:
                        gen.close()
                        raise
                    except BaseException as exc:
                        error = exc
            return generator

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with self._fresh():
                return func(*args, **kwargs)
        return wrapper


class no_grad(_GradModeSwitch):
    """`with no_grad():` runs ops without recording a graph (inference, optimiser steps)."""

    def __init__(self, orig_func=None):
        super().__init__(False)


class enable_grad(_GradModeSwitch):
    """Turn recording back on inside a `no_grad` block."""

    def __init__(self, orig_func=None):
        super().__init__(True)


class inference_mode(_GradModeSwitch):
    """no_grad for pure inference; `is_inference_mode_enabled()` is True inside.

    inference_mode(False) leaves inference mode and turns recording back on, as in torch.
    """

    def __new__(cls, mode=True):
        if not isinstance(mode, bool) and callable(mode):
            return cls()(mode)  # @inference_mode without parentheses
        return object.__new__(cls)

    def __init__(self, mode=True):
        super().__init__(not mode)
        self.inference = bool(mode)

    def _state(self):
        return not self.inference, self.inference


class set_grad_enabled(_GradModeSwitch):
    """Like torch: switches at once when called, restores at the end of a `with` block."""

    bare_decorator = False

    def __init__(self, mode=True):
        super().__init__(mode)
        self.prev = GradMode.enabled, GradMode.inference
        GradMode.enabled = self.mode

    def __enter__(self):
        pass

    def __call__(self, func):
        GradMode.enabled, GradMode.inference = self.prev  # used as a decorator: undo the switch made by __init__
        return super().__call__(func)

    def _fresh(self):
        return _GradModeSwitch(self.mode)
