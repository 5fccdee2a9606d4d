"""Module hooks, as torch.nn.Module has them: functions called around a module's forward and backward.

    handle = model.fc.register_forward_hook(lambda module, args, output: print(output.shape))
    handle.remove()

A module without hooks pays one dictionary lookup per call; everything here runs only once a
hook has been registered.
"""
from collections import OrderedDict

from ..grad_hooks import add_hook


class ModuleHooks:
    """The hooks of one module, each kind in registration order; `with_kwargs` holds the ids that take kwargs."""

    def __init__(self):
        self.forward_pre = OrderedDict()
        self.forward = OrderedDict()
        self.backward_pre = OrderedDict()
        self.backward = OrderedDict()
        self.with_kwargs = set()

    def add(self, kind, hook, prepend=False, with_kwargs=False):
        hooks = getattr(self, kind)
        handle = add_hook(hooks, hook, f"register_{kind}_hook")  # a RemovableHandle, as for tensor hooks
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

