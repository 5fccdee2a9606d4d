"""Capture: run a function once, eagerly, and write down its steps (graph.py) on the way.

While a capture runs, a few entry points of the engine are swapped for recording versions
(and put back afterwards, whatever happens):

    Function.__call__            every op at the top level becomes an Op step
    autograd_engine.run_backward the backward pass becomes one Backward step (run by that step,
                                 so capture and replay take the same path)
    Optimizer.step / zero_grad,  Call steps, replayed as they are (also a subclass's own step)
    LRScheduler.step
    Module.__call__              notes which modules ran: their train/eval flags guard the graph
    nn.functional.dropout(2d)    the mask is drawn inside an op (so that replay draws a new one)
    Cast.__call__                a cast to integers makes its output outside the engine: an Op too

and what a fixed list of steps cannot replay is detected and ends the capture with a reason
(the call itself still finishes eagerly, with eager's result):

    item(), __bool__, numpy(), tolist(), float(), int() on a tensor   Python reading a value:
                                 control flow that may go another way next time
    in-place changes (x.add_(), x[i] = v) outside an op; random draws outside an op;
    a tensor made outside the recorded ops that has a grad_fn; backward with hooks,
    retain_grad, create_graph, inputs=... or grad(); module hooks; ReduceLROnPlateau.step

What it cannot see: a tensor computed with numpy from a traced tensor's array outside an op
(Tensor._make(x.array * 2)) looks like a constant and would be replayed as one. minigrad's own
ops never do that; the arrays they keep from their inputs (cross-entropy's targets, an embedding's
indices) are found by identity and refreshed (Rebind).
"""
import threading

import numpy as np

from .. import autograd_engine, random as mg_random
from ..autograd import AccumulateGrad, Function
from ..tensor import Tensor
from .graph import Alias, Backward, Call, Graph, Op, Rebind


class GraphBreak(Exception):
    """Raised (fullgraph=True) or noted (otherwise) when a capture meets something it cannot replay."""


class _Output:
    """The function's return value with holders for its tensors; build() makes this call's result."""

    def __init__(self, value, holder_of):
        self.template = self._map(value, holder_of)

    def _map(self, v, holder_of):
        if isinstance(v, Tensor):
            return ("t", holder_of(v))
        if isinstance(v, (tuple, list)):
            return (type(v), [self._map(x, holder_of) for x in v])
        if isinstance(v, dict):
            return (dict, {k: self._map(x, holder_of) for k, x in v.items()})
        return ("c", v)

    def build(self, node=None):
        kind, v = node if node is not None else self.template
        if kind == "t":
            return Tensor._make(v.array, v.device)  # a new Tensor: the caller never holds a holder
        if kind == "c":
            return v
        if kind is dict:
            return {k: self.build(x) for k, x in v.items()}
        return kind(self.build(x) for x in v)


class Tracer:
    """The state of one capture: the steps so far and the tensors they know."""

    active = None  # the Tracer of the capture under way (captures do not nest)

    def __init__(self, args, fullgraph):
        self.steps, self.fullgraph, self.reason = [], fullgraph, None
        self._depth = 0  # > 0 inside a recorded op, a backward or a Call: nothing in there is recorded
        self.thread = threading.get_ident()  # other threads' ops are theirs: never recorded
        self.known = {}  # id(tensor) -> tensor: the values the steps produce (and the arguments)
        self.arrays = {}  # id(array) -> the known tensor that holds it
        self.args = list(args)
        self.modules = {}  # id -> module that ran (its training flag guards the graph)
        self.nodes = set()  # ids of the Functions recorded as Op steps
        for a in self.args:
            self._know(a)

    @property
    def depth(self):
        """How deep inside recorded work the running code is; other threads count as inside."""
        return self._depth if threading.get_ident() == self.thread else 1

    @depth.setter
    def depth(self, value):
        self._depth = value

    # ------------------------------------------------------------ bookkeeping
    def _know(self, t):
        self.known[id(t)] = t
        if t.array is not None:
            self.arrays[id(t.array)] = t

    def graph_break(self, reason):
        if self.reason is None:
            self.reason = reason
        if self.fullgraph:
            raise GraphBreak(reason)

    def _source_of(self, array):
        """The known tensor holding `array` itself, None if none; GraphBreak-worthy if a view of one."""
        t = self.arrays.get(id(array))
        if t is not None and t.array is array:
            return t
        base = getattr(array, "base", None)
        while base is not None:
            if id(base) in self.arrays and self.arrays[id(base)].array is base:
                return False  # a view of a known value, made with numpy outside an op
            base = getattr(base, "base", None)
        return None

    # ------------------------------------------------------------ ops
    def op(self, call, fn, inputs):
        if self.reason is not None or self.depth:
            return call(fn, *inputs)
        if getattr(fn, "_torch_style", False):
            self.graph_break(f"{type(fn).__name__} is a torch-style autograd.Function")
            return call(fn, *inputs)
        ins = [self._input(fn, x) for x in inputs]
        for attr, value in list(vars(fn).items()):
            self._attribute(fn, attr, value, inputs)
        before = dict(vars(fn))
        self.depth += 1
        try:
            out = call(fn, *inputs)
        finally:
            self.depth -= 1
        if self.reason is None and all(x is not None for x in ins):
            outs = out if type(out) is tuple else (out,)
            for t in outs:
                self._know(t)
            step = Op(fn, ins, outs)
            # arrays forward kept for backward (a mask, argmax indices): dropped after each replay
            step.scratch = tuple(k for k, v in vars(fn).items() if type(v) is np.ndarray and before.get(k) is not v)
            self.steps.append(step)
            self.nodes.add(id(fn))
        return out

    def op_outside_graph(self, call, fn, x):
        """An op that makes its output without the engine (a cast to integers): recorded all the same."""
        out = call(fn, x)
        if self.reason is None and not self.depth and out.grad_fn is None:
            source = self._input(fn, x)
            if source is not None:
                self._know(out)
                self.steps.append(Op(fn, [source], [out]))
        return out

    def _input(self, fn, x):
        if id(x) in self.known:
            return x
        source = self._source_of(x.array)
        if source is False or (source is None and x.grad_fn is not None):
            self.graph_break(f"{fn.name}: an input of shape {tuple(x.shape)} was made outside the recorded ops")
            return None
        if source is not None:  # detach() or .data of a known value: the same array under another Tensor
            self.steps.append(Alias(x, source))
            self._know(x)
        return x  # otherwise a live tensor (a parameter, a buffer, a constant): read as it is at replay

    def _attribute(self, fn, attr, value, inputs):
        if type(value) is np.ndarray:
            source = self._source_of(value)
            if source is False:
                self.graph_break(f"{fn.name}: keeps an array computed outside an op from a traced tensor ({attr})")
            elif source is not None:
                self.steps.append(Rebind(fn, attr, source, _index_range(fn, attr, value, inputs)))
        elif isinstance(value, (tuple, list)) and any(type(v) is np.ndarray and self._source_of(v) is not None
                                                      for v in value):
            self.graph_break(f"{fn.name}: keeps arrays of traced tensors in {attr}")

    # ------------------------------------------------------------ backward
    def backward(self, run_backward, roots, root_grads, retain_graph=False, create_graph=False, inputs=None,
                 accumulate=True):
        if self.reason is not None or self.depth:
            return run_backward(roots, root_grads, retain_graph, create_graph, inputs, accumulate)
        why = ("create_graph=True" if create_graph else "grad() or backward(inputs=...)" if inputs is not None
               else None)
        plan = None if why else self._plan(roots, root_grads)
        if type(plan) is str:
            why = plan
        if why:
            self.graph_break(f"backward: {why} is not captured")
            return run_backward(roots, root_grads, retain_graph, create_graph, inputs, accumulate)
        self.steps.append(plan)
        self.depth += 1
        try:
            plan.run(_CaptureLeaves)
        finally:
            self.depth -= 1
        return None

    def _plan(self, roots, root_grads):
        """The Backward step for these roots, or a string saying why there is none."""
        for t in roots:
            if id(t) not in self.known:
                return "a root made outside the recorded ops"
        grads = []
        for g in root_grads:
            if id(g) in self.known:
                grads.append(g)
            elif g.grad_fn is not None or self._source_of(g.array) is not None:
                return "a starting gradient made outside the recorded ops"
            else:
                grads.append(g)  # ones for a scalar loss, or a live tensor
        order, edges, _ = autograd_engine._topological_order(
            [autograd_engine._edge(t)[0] for t in roots])
        index = {node: i for i, node in enumerate(order)}
        leaves = []
        for node in order:
            if type(node) is AccumulateGrad:
                leaf = node.variable
                if leaf._retains_grad:
                    return "retain_grad"
                leaves.append(next((i for i, a in enumerate(self.args) if a is leaf), leaf))
                if node._hooks is not None and (node._hooks.pre or node._hooks.post):
                    return "a hook on a leaf"
                continue
            leaves.append(None)
            if id(node) not in self.nodes:
                return f"{node.name} was not recorded"
            if node._hooks is not None:
                return f"a hook on {node.name}"
            for k in range(node.n_outputs):
                out = node._live_output(k)
                if out is not None and out._retains_grad:
                    return "retain_grad"
        plan_edges = [[None if e is None else (index[e[0]], e[1]) for e in edges[node]] for node in order]
        plan_roots = [(index[autograd_engine._edge(t)[0]], autograd_engine._edge(t)[1]) for t in roots]
        return Backward(order, plan_edges, leaves, plan_roots, grads)

    # ------------------------------------------------------------ Python calls and reads
    def call(self, method, args, kwargs):
        if threading.get_ident() != self.thread:
            return method(*args, **kwargs)
        if self.reason is None and not self.depth:
            if kwargs.get("closure") is not None or any(callable(a) for a in args):
                self.graph_break(f"{type(method.__self__).__name__}.{method.__name__} with a closure")
            else:
                self.steps.append(Call(method, args, kwargs))
        self.depth += 1
        try:
            return method(*args, **kwargs)
        finally:
            self.depth -= 1

    def read(self, what, t):
        if not self.depth and self.reason is None:
            self.graph_break(f"{what} on a tensor of shape {tuple(t.shape)}: Python reads a value, so the "
                             "steps may differ on the next call")

    def finish(self, result):
        """The Graph, once the function has returned `result` (None where the capture broke)."""
        if self.reason is not None:
            return None
        backward_nodes = {id(n) for s in self.steps if type(s) is Backward for n in s.nodes}

        def holder_of(t):
            if id(t) not in self.known:
                return t  # a live tensor returned as it is
            if t.grad_fn is not None and id(t.grad_fn) not in backward_nodes:
                self.graph_break("it returns a tensor that needs a gradient, and backward would run outside the "
                                 "compiled function: compile the whole training step (forward, loss.backward(), "
                                 "optimizer.step())")
            return t

        _Output(result, holder_of)  # (only the checks)
        if self.reason is not None:
            return None
        arg_holders = []
        stand_in = {}
        for a in self.args:  # the caller's argument tensors are swapped for holders the graph owns
            h = Tensor._make(a.array, a.device)
            h._requires_grad = a._requires_grad
            stand_in[id(a)] = h
            arg_holders.append(h)
        for step in self.steps:
            if type(step) is Op:
                step.ins = [stand_in.get(id(x), x) for x in step.ins]
                if step.fn.inputs is not None:
                    step.fn.inputs = tuple(stand_in.get(id(x), x) for x in step.fn.inputs)
            elif type(step) in (Rebind, Alias):
                attr = "holder" if type(step) is Rebind else "source"
                setattr(step, attr, stand_in.get(id(getattr(step, attr)), getattr(step, attr)))
        output = _Output(result, lambda t: stand_in.get(id(t), t))
        temporaries = list(arg_holders) + [h for s in self.steps if type(s) is Op for h in s.outs]
        temporaries += [s.alias for s in self.steps if type(s) is Alias]
        graph = Graph(arg_holders, self.steps, output, temporaries)
        self.result = output.build()  # the caller gets new Tensors; the holders are the graph's
        graph.release()  # what the capture computed was returned; the graph holds no activations
        return graph


def _index_range(fn, attr, value, inputs):
    """(limit, ignored value, what) for an array of class or row indices that a replay must check as the
    eager function did before the op (a kernel would read out of bounds); None for other arrays."""
    if value.dtype.kind not in "iu":
        return None
    kind = type(fn).__name__
    if kind == "CrossEntropy" and attr == "target":
        return inputs[0].shape[1], fn.ignore_index, "cross_entropy: target {} is out of range for {} classes"
    if kind == "Embedding" and attr == "indices":
        return inputs[0].shape[0], None, "embedding: index {} is out of range for {} embeddings"
    return None


class _CaptureLeaves:
    """At capture, the Backward step accumulates into the real leaves (the arguments are themselves)."""

    @staticmethod
    def leaf(leaf):
        return Tracer.active.args[leaf] if type(leaf) is int else leaf


# ---------------------------------------------------------------------- the swapped entry points
def _patches(tracer):
    """(owner, name, recording version) for every entry point a capture swaps."""
    from ..nn import functional as F
    from ..nn.module import Module
    from ..optim.lr_scheduler import LRScheduler, ReduceLROnPlateau
    from ..optim.optimizer import Optimizer
    from ..ops.convert import Cast
    from .ops import dropout, dropout2d

    call, run_backward = Function.__call__, autograd_engine.run_backward
    module_call = Module.__call__
    patches = [
        (Function, "__call__", lambda fn, *inputs: tracer.op(call, fn, inputs)),
        (autograd_engine, "run_backward", lambda *a, **k: tracer.backward(run_backward, *a, **k)),
        (F, "dropout", dropout),
        (F, "dropout2d", dropout2d),
    ]

    def modules(self, *args, **kwargs):
        tracer.modules[id(self)] = self
        if self.__dict__.get("_hooks") is not None and not tracer.depth:
            tracer.graph_break(f"{type(self).__name__} has hooks (Python that a replay would not run)")
        return module_call(self, *args, **kwargs)
    patches.append((Module, "__call__", modules))

    for base, names in ((Optimizer, ("step", "zero_grad")), (LRScheduler, ("step",))):
        for cls in _with_subclasses(base):  # (a subclass may define its own step)
            for name in names:
                if name in cls.__dict__:
                    def replayed(self, *args, __original=cls.__dict__[name], **kwargs):
                        return tracer.call(__original.__get__(self), args, kwargs)
                    patches.append((cls, name, replayed))

    def plateau_step(self, *args, **kwargs):
        if not tracer.depth:
            tracer.graph_break("ReduceLROnPlateau.step reads a metric's value: call it outside the compiled function")
        return plateau(self, *args, **kwargs)
    plateau = ReduceLROnPlateau.step
    patches.append((ReduceLROnPlateau, "step", plateau_step))

    for name in ("item", "__bool__", "numpy", "tolist", "__float__", "__int__", "__index__", "__array__"):
        def read(self, *args, __original=getattr(Tensor, name), __name=name, **kwargs):
            tracer.read(__name.strip("_") + "()", self)
            return __original(self, *args, **kwargs)
        patches.append((Tensor, name, read))

    def inplace(self, *args, __original=Tensor._inplace, **kwargs):
        if not tracer.depth:
            tracer.graph_break(f"an in-place change to a tensor of shape {tuple(self.shape)} outside an op")
        return __original(self, *args, **kwargs)

    def setitem(self, *args, __original=Tensor.__setitem__):
        if not tracer.depth:
            tracer.graph_break(f"x[...] = value on a tensor of shape {tuple(self.shape)}")
        return __original(self, *args)
    patches += [(Tensor, "_inplace", inplace), (Tensor, "__setitem__", setitem)]
    patches.append((mg_random.default_generator, "numpy", _WatchedRNG(mg_random.default_generator.numpy, tracer)))
    cast_call = Cast.__call__
    patches.append((Cast, "__call__", lambda fn, x: tracer.op_outside_graph(cast_call, fn, x)))
    return patches


def _with_subclasses(cls):
    found, stack = [], [cls]
    while stack:
        c = stack.pop()
        found.append(c)
        stack.extend(c.__subclasses__())
    return found


class _WatchedRNG:
    """The default numpy Generator, watched: a draw outside an op would be frozen into the graph."""

    def __init__(self, generator, tracer):
        self._generator, self._tracer = generator, tracer

    def __getattr__(self, name):
        if not self._tracer.depth:
            self._tracer.graph_break(f"random numbers drawn outside an op ({name}); draw them inside the compiled "
                                     "function's ops or pass them in as an argument")
        return getattr(self._generator, name)


def capture(fn, args, tensor_args, fullgraph):
    """Run fn(*args) eagerly while recording. Returns (its result, the Graph or None, the reason if None)."""
    if Tracer.active is not None:
        raise RuntimeError("minigrad.compile: a compiled function called while another one is being captured")
    tracer = Tracer(tensor_args, fullgraph)
    patches = _patches(tracer)
    saved = [(owner, name, owner.__dict__.get(name, _MISSING) if isinstance(owner, type) else
              getattr(owner, name)) for owner, name, _ in patches]
    Tracer.active = tracer
    try:
        for owner, name, new in patches:
            setattr(owner, name, new)
        result = fn(*args)
    finally:
        for owner, name, old in reversed(saved):
            if old is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, old)
        Tracer.active = None
    graph = tracer.finish(result)
    if graph is not None:
        result = tracer.result
    return result, graph, tracer.reason, list(tracer.modules.values())


_MISSING = object()
