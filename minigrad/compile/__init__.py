"""Capture and replay: `minigrad.compile(fn_or_module)` traces a function once per input
signature and replays what it recorded.

    step = mg.compile(train_step)      # train_step(x, y): forward, loss.backward(), opt.step()
    loss = step(x, y)                  # 1st call with these shapes: runs eagerly, recording (capture.py)
    loss = step(x, y)                  # later calls: the recorded steps, replayed (graph.py)

A signature is what the recorded steps depend on: each tensor argument's shape, dtype, device
and requires_grad, the other arguments' values, grad mode, and the train/eval flag of every
module that ran. A new signature is captured anew (up to `cache_size_limit` of them). Where a
capture meets what a fixed list of steps cannot replay (Python reading a tensor's value:
item(), if tensor:, numpy(); in-place changes outside an op; ...), that signature runs eagerly
and one warning says why (with fullgraph=True: an error). Passes (passes.py) rewrite a graph
before it is first replayed: fused kernels for inference and training, and (asked for) depth-first
batch tiling. To see what was recorded, print a graph:

    >>> print(step.graphs()[0])
    Graph(
      Call(Adam.zero_grad)
      ConvReluPoolTrain(k=2)               conv2d + relu + max_pool2d, fused (passes.py)
      ...
      Rebind(crossentropy.target)          this call's targets into the cross-entropy op
      Op(crossentropy -> ())
      Backward(13 nodes)                   the backward pass, planned once
      Call(Adam.step)                      replayed as it is: it reads the lr and step count itself
    )
"""
import warnings

from ..grad_mode import GradMode
from ..tensor import Tensor
from .capture import GraphBreak, capture

__all__ = ["compile", "CompiledFunction", "GraphBreak"]

cache_size_limit = 8  # signatures captured per compiled function before the rest run eagerly


class _Entry:
    """What one signature runs: a Graph (with its guards), or eager (graph None) with the reason."""

    def __init__(self, graph, reason, modules, live):
        self.graph, self.reason = graph, reason
        # every module that ran: its train/eval flag, and which tensors its parameters and buffers are
        self.modules = [(m, m.training, _tensor_ids(m)) for m in modules]
        self.live = [(t, t.array.shape, t.array.dtype, t._requires_grad) for t in live]

    def guards_hold(self):
        for m, training, ids in self.modules:
            if m.training is not training or _tensor_ids(m) != ids:
                return False
        for t, shape, dtype, requires_grad in self.live:
            if t._requires_grad is not requires_grad or t.array.shape != shape or t.array.dtype != dtype:
                return False
        return True


class CompiledFunction:
    """fn wrapped: captured per input signature, replayed after (see the module's docstring).

    `graphs()` lists the captured graphs (print one to read its steps); `eager_reasons()` says
    why signatures run eagerly."""

    def __init__(self, fn, fullgraph=False, passes=True, module=None, batch_tile=0):
        self.fn, self.fullgraph, self.passes, self.module = fn, fullgraph, passes, module
        self.batch_tile = batch_tile
        self._entries = {}
        self._warned = set()
        self.__wrapped__ = fn
        self.__doc__ = getattr(fn, "__doc__", None)

    def __call__(self, *args, **kwargs):
        from .capture import Tracer
        if Tracer.active is not None:  # called while another function is being captured: part of its steps
            return self.fn(*args, **kwargs)
        key, tensors = _signature(args, kwargs)
        if key is None:
            return self._eager(args, kwargs, tensors)
        entries = self._entries.setdefault(key, [])
        for entry in entries:  # (one per set of module flags and parameter guards seen with this key)
            if entry.guards_hold():
                return self.fn(*args, **kwargs) if entry.graph is None else entry.graph.replay(tensors)
        if sum(map(len, self._entries.values())) >= cache_size_limit:
            self._warn(f"more than {cache_size_limit} input signatures (minigrad.compile.cache_size_limit)")
            return self.fn(*args, **kwargs)
        result, graph, reason, modules = capture(lambda *a: self.fn(*a, **kwargs), args, tensors,
                                                 self.fullgraph)
        live = [] if graph is None else _live_inputs(graph)  # (before the passes replace Op steps)
        if graph is not None and self.passes:
            from .passes import optimize
            graph = optimize(graph, self.batch_tile)
        entries.append(_Entry(graph, reason, modules, live))
        if reason is not None:
            self._warn(reason)
        return result

    def _eager(self, args, kwargs, reason):
        self._warn(reason)
        return self.fn(*args, **kwargs)

    def _warn(self, reason):
        if reason not in self._warned:
            self._warned.add(reason)
            name = getattr(self.fn, "__qualname__", type(self.fn).__name__)
            warnings.warn(f"minigrad.compile: {name} runs eagerly: {reason}", stacklevel=3)

    def graphs(self):
        return [e.graph for es in self._entries.values() for e in es if e.graph is not None]

    def eager_reasons(self):
        return [e.reason for es in self._entries.values() for e in es if e.graph is None]

    def __getattr__(self, name):  # a compiled module still answers .parameters(), .train(), ...
        module = self.__dict__.get("module")
        if module is None:
            raise AttributeError(name)
        return getattr(module, name)


def _signature(args, kwargs):
    """(key, tensor arguments) for a call; key None (and a reason instead of the tensors) when an
    argument cannot be guarded."""
    parts, tensors = [GradMode.enabled], []
    for k, a in list(enumerate(args)) + sorted(kwargs.items()):
        if isinstance(a, Tensor):
            parts.append((k, a.array.shape, a.array.dtype, str(a.device), a._requires_grad))
            tensors.append(a)
            continue
        if isinstance(a, (list, tuple, dict)) and any(isinstance(v, Tensor) for v in
                                                      (a.values() if isinstance(a, dict) else a)):
            return None, f"argument {k} holds tensors inside a {type(a).__name__}: pass them one by one"
        try:
            hash(a)
        except TypeError:
            return None, f"argument {k} of type {type(a).__name__} cannot be guarded (it is not hashable)"
        parts.append((k, type(a), a))
    if kwargs:
        tensors = [a for a in args if isinstance(a, Tensor)] + [kwargs[k] for k in sorted(kwargs)
                                                                 if isinstance(kwargs[k], Tensor)]
    return tuple(parts), tensors


def _tensor_ids(module):
    """ids of a module's own parameters and buffers: a graph reads those tensors, so a new one (an
    assigned nn.Parameter, a loaded buffer object) needs a new capture."""
    d = module.__dict__
    return tuple(id(t) for key in ("_parameters", "_buffers") for t in d.get(key, {}).values())


def _live_inputs(graph):
    """The tensors the graph reads as they are at replay (parameters, buffers): their guards."""
    from .graph import Op
    made = {id(h) for h in graph.temporaries}
    seen = {}
    for step in graph.steps:
        if type(step) is Op:
            for t in step.ins:
                if id(t) not in made and t.array is not None:
                    seen[id(t)] = t
    return list(seen.values())


def compile(model=None, *, fullgraph=False, dynamic=None, backend=None, mode=None, options=None, disable=False,
            passes=True):
    """Capture `model` (a function or a Module) per input signature and replay it (torch.compile's shape).

    fullgraph: raise GraphBreak instead of running eagerly where a capture cannot go on.
    passes: rewrite captured graphs with the fusion passes (passes.py).
    options: {"batch_tile": n} runs an inference graph's leading per-sample layers depth first, n samples
    at a time (passes.tile_batch); other keys are refused. dynamic, backend and mode are accepted for
    torch's signature and ignored. Used as `@mg.compile` or `@mg.compile(fullgraph=True)` too.
    """
    if model is None:
        return lambda m: compile(m, fullgraph=fullgraph, dynamic=dynamic, backend=backend, mode=mode,
                                 options=options, disable=disable, passes=passes)
    if not callable(model):
        raise TypeError(f"compile: expected a function or a Module, got {type(model).__name__}")
    if disable:
        return model
    options = dict(options or {})
    batch_tile = options.pop("batch_tile", 0)
    if options:
        raise ValueError(f"compile: unknown options {sorted(options)}; minigrad knows 'batch_tile'")
    if not isinstance(batch_tile, int) or isinstance(batch_tile, bool) or batch_tile < 0:
        raise ValueError(f"compile: options['batch_tile'] must be an int >= 0, got {batch_tile!r}")
    from ..nn.module import Module
    if isinstance(model, Module):
        def call(*args, **kwargs):  # (looked up at each call: a capture watches Module.__call__)
            return model(*args, **kwargs)
        call.__qualname__ = type(model).__name__
        return CompiledFunction(call, fullgraph, passes, module=model, batch_tile=batch_tile)
    return CompiledFunction(model, fullgraph, passes, batch_tile=batch_tile)
