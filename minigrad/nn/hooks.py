"""Module hooks, as torch.nn.Module has them: functions called around a module's forward and backward.

    handle = model.fc.register_forward_hook(lambda module, args, output: print(output.shape))
    handle.remove()

A module without hooks pays one dictionary lookup per call; everything here runs only once a
hook has been registered.
"""
from collections import OrderedDict
from itertools import count

from ..tensor import Tensor

_ids = count()


class RemovableHandle:
    """What register_*_hook returns: `handle.remove()` unregisters the hook (also as a context manager)."""

    def __init__(self, hooks):
        self._hooks = hooks
        self.id = next(_ids)

    def remove(self):
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


class ModuleHooks:
    """The hooks of one module, each kind in registration order; `with_kwargs` holds the ids that take kwargs."""

    def __init__(self):
        self.forward_pre = OrderedDict()
        self.forward = OrderedDict()
        self.backward_pre = OrderedDict()
        self.backward = OrderedDict()
        self.with_kwargs = set()

    def add(self, kind, hook, prepend=False, with_kwargs=False):
        if not callable(hook):
            raise TypeError(f"register_{kind}_hook: expected a callable, got {type(hook).__name__}")
        hooks = getattr(self, kind)
        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        if with_kwargs:
            self.with_kwargs.add(handle.id)
        return handle


def call_with_hooks(module, hooks, args, kwargs):
    """module(*args, **kwargs) with its hooks: pre-hooks, backward wiring, forward, forward hooks."""
    for hid, hook in list(hooks.forward_pre.items()):
        if hid in hooks.with_kwargs:
            result = hook(module, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError("forward pre-hook with kwargs must return None or a tuple (args, kwargs)")
                args, kwargs = result
        else:
            result = hook(module, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
    state = None
    if hooks.backward or hooks.backward_pre:
        from .backward_hooks import BackwardHookState
        state = BackwardHookState(module, hooks)
        args = state.wrap_inputs(args)
    output = module.forward(*args, **kwargs)
    for hid, hook in list(hooks.forward.items()):
        result = hook(module, args, kwargs, output) if hid in hooks.with_kwargs else hook(module, args, output)
        if result is not None:
            output = result
    if state is not None:
        output = state.wrap_outputs(output)
    return output


def tensors_in(value):
    """The Tensors in a forward's output: a Tensor, or a (nested) tuple/list of them."""
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in tensors_in(v)]
    return []
