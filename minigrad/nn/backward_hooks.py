"""A module's backward hooks: identity nodes around its forward that see its gradients.

    inputs -> [identity node A] -> module.forward -> [identity node B] -> outputs

In backward, node B receives the gradients of all outputs at once (grad_output): the backward
pre-hooks run there. Node A receives the gradients of all tensor inputs at once (grad_input):
the backward hooks run there and may replace them before they flow on into the graph.
"""
from ..autograd import BackwardHookFunction
from ..tensor import Tensor


def _identity(tensors):
    out = BackwardHookFunction.apply(*tensors)
    return (out,) if isinstance(out, Tensor) else tuple(out)


def _replace(old, new, who):
    if new is None:
        return old
    new = tuple(new) if isinstance(new, (tuple, list)) else (new,)
    if len(new) != len(old):
        raise RuntimeError(f"{who} returned {len(new)} gradients, expected {len(old)}")
    return new


class BackwardHookState:
    """One forward call's wiring: which arguments were tensors, and the grad_output seen in backward."""

    def __init__(self, module, hooks):
        self.module, self.hooks = module, hooks
        self.n_args = 0
        self.wrapped = []  # positions of the tensor arguments that went through node A
        self.grad_output = None

    def wrap_inputs(self, args):
        self.n_args = len(args)
        tensors = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        if not any(args[i].requires_grad for i in tensors):
            return args
        self.wrapped = tensors
        self.like = [(args[i].shape, args[i].dtype, args[i].device) for i in tensors]  # for missing gradients
        outs = _identity([args[i] for i in self.wrapped])
        outs[0].grad_fn.register_prehook(self._on_grad_input)
        args = list(args)
        for i, t in zip(self.wrapped, outs):
            args[i] = t
        return tuple(args)

    def wrap_outputs(self, output):
        single = isinstance(output, Tensor)
        items = (output,) if single else tuple(output) if isinstance(output, (tuple, list)) else None
        if items is None or not all(isinstance(t, Tensor) for t in items):
            raise TypeError(f"{type(self.module).__name__}: backward hooks need a forward that returns a Tensor "
                            f"or a tuple of Tensors, got {type(output).__name__}")
        if not any(t.requires_grad for t in items):
            return output
        outs = _identity(items)
        node = next(t.grad_fn for t in outs if t.grad_fn is not None)
        node.register_prehook(self._on_grad_output)
        return outs[0] if single else (list(outs) if isinstance(output, list) else outs)

    def _on_grad_output(self, grad_output):
        grad_output = tuple(grad_output)
        for hook in list(self.hooks.backward_pre.values()):
            grad_output = _replace(grad_output, hook(self.module, grad_output), "backward pre-hook")
        self.grad_output = grad_output
        if not self.wrapped:  # no input needs a gradient: the hooks are told now, with None for each
            for hook in list(self.hooks.backward.values()):
                result = hook(self.module, (None,) * max(self.n_args, 1), grad_output)
                if result is not None and any(g is not None for g in result):
                    raise RuntimeError("a backward hook of a module whose inputs need no gradient must return None")
        return grad_output

    def _on_grad_input(self, grads):
        grad_input = [None] * self.n_args
        for i, g, (shape, dtype, device) in zip(self.wrapped, grads, self.like):
            grad_input[i] = g if g is not None else Tensor._make(device.xp.zeros(shape, dtype), device)  # as torch
        grad_input = tuple(grad_input)
        for hook in list(self.hooks.backward.values()):
            grad_input = _replace(grad_input, hook(self.module, grad_input, self.grad_output), "backward hook")
        return tuple(grad_input[i] for i in self.wrapped)
