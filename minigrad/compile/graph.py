"""A captured graph: the steps one call of a function took, replayed without the eager bookkeeping.

A capture (capture.py) runs the function once, eagerly, and writes down what happened as a
list of steps. Values live in *holders*: the Tensors the capture saw (a step's inputs and
outputs). Replaying a step puts fresh arrays into the same holders, so a Function's
`self.inputs` (which point at holders) see this call's values when its backward runs.

    Op(fn, ins, outs)        outs = fn.forward(*ins)          an op (a Function) of the forward,
                                                              the loss, the gradient sums, ...
    Backward(plan)           the backward pass: the node order and where each gradient goes,
                             worked out once at capture (no topological sort, no hooks)
    Call(method, args)       a Python call replayed as it is: optimizer.step() reads the lr and
                             its step count from its own state at every replay
    Rebind(fn, attr, holder) an array kept by a Function (cross_entropy's targets, an embedding's
                             indices) refreshed from the holder it came from

What changes between calls is an input of the graph, never a constant baked into it: the batch
(the argument holders), the parameters (read live: they are the model's own tensors), the learning
rate and Adam's step count (the optimizer's state, read by Call), the dropout masks (drawn inside
their op's forward, which replay runs again).
"""
import numpy as np

from ..autograd import AccumulateGrad
from ..grad_buffers import dense, sum_grads
from ..grad_mode import set_grad_enabled


class Op:
    """One Function call: outs = fn.forward(*(h.array for h in ins))."""

    __slots__ = ("fn", "ins", "outs", "keep_y", "out_shapes", "scratch")

    def __init__(self, fn, ins, outs):
        self.fn, self.ins, self.outs = fn, list(ins), list(outs)
        self.scratch = ()  # names of the arrays forward keeps on fn for backward
        self.out_shapes = [tuple(h.array.shape) for h in self.outs]  # (for reading and for the passes)
        self.keep_y = fn.saves_output and fn.inputs is not None  # Function.__call__ keeps forward's result

    def run(self, graph):
        ys = self.fn.forward(*[h.array for h in self.ins])
        if self.keep_y:
            self.fn._y = ys
        if type(ys) is not tuple:
            ys = (ys,)
        for h, y in zip(self.outs, ys):
            h.array = np.asarray(y) if isinstance(y, np.generic) else y

    def __repr__(self):
        return f"Op({self.fn.name} -> {', '.join(map(str, self.out_shapes))})"


class Rebind:
    """fn.<attr> = holder.array: a Function kept an input's array (not a Tensor) when it was made.
    check: None, or (limit, ignored, message) for class/row indices, checked as the eager function does."""

    __slots__ = ("fn", "attr", "holder", "check")

    def __init__(self, fn, attr, holder, check=None):
        self.fn, self.attr, self.holder, self.check = fn, attr, holder, check

    def run(self, graph):
        a = self.holder.array
        if self.check is not None:
            limit, ignored, message = self.check
            bad = (a >= limit) | (a < (-limit if "embedding" in message else 0))
            if ignored is not None:
                bad &= a != ignored
            if bad.any():
                raise IndexError(message.format(int(a[bad].reshape(-1)[0]), limit))
        setattr(self.fn, self.attr, a)

    def __repr__(self):
        return f"Rebind({self.fn.name}.{self.attr})"


class Alias:
    """alias.array = source.array: a Tensor sharing a holder's array made outside an op (detach())."""

    __slots__ = ("alias", "source")

    def __init__(self, alias, source):
        self.alias, self.source = alias, source

    def run(self, graph):
        self.alias.array = self.source.array

    def __repr__(self):
        return "Alias()"


class Call:
    """A Python call replayed as it is (optimizer.step(), zero_grad(), scheduler.step())."""

    __slots__ = ("method", "args", "kwargs")

    def __init__(self, method, args, kwargs):
        self.method, self.args, self.kwargs = method, args, kwargs

    def run(self, graph):
        self.method(*self.args, **self.kwargs)

    def __repr__(self):
        return f"Call({type(self.method.__self__).__name__}.{self.method.__name__})"


class Backward:
    """The backward pass, planned once.

    nodes:  the graph nodes in the order the eager engine runs them (each Function after every
            node that sends it a gradient), leaves' AccumulateGrad nodes among them
    edges:  per node, one (node index, output index) or None per input
    leaves: per node, None for a Function; for a leaf, where its gradient goes: the argument's
            position (an int) or the tensor itself (a parameter)
    roots:  one (node index, output index) per root tensor, and `root_grads` the holders (or
            constants) of their starting gradients
    """

    __slots__ = ("nodes", "edges", "leaves", "roots", "root_grads")

    def __init__(self, nodes, edges, leaves, roots, root_grads):
        self.nodes, self.edges, self.leaves, self.roots, self.root_grads = nodes, edges, leaves, roots, root_grads

    def run(self, graph):
        """The eager engine's loop, less what a fixed graph does not need: the same order, the same
        gradient sums (so the same rounding), each leaf's gradient added to its .grad."""
        received = [None] * len(self.nodes)
        with set_grad_enabled(False):
            for (i, k), g in zip(self.roots, self.root_grads):
                _send(received, self.nodes, i, k, g)
            for i, node in enumerate(self.nodes):
                got = received[i]
                if got is None:
                    continue
                received[i] = None
                gys = [dense(g) for g in got]
                leaf = self.leaves[i]
                if leaf is not None:
                    _accumulate(graph.leaf(leaf), gys[0])
                    continue
                gxs = node._call_backward(gys)
                for e, gx in zip(self.edges[i], gxs):
                    if e is not None and gx is not None:
                        _send(received, self.nodes, e[0], e[1], gx)

    def __repr__(self):
        return f"Backward({len(self.nodes)} nodes)"


def _send(received, nodes, i, k, g):
    got = received[i]
    if got is None:
        got = received[i] = [None] * nodes[i].n_outputs
        got[k] = g
    else:
        got[k] = sum_grads(got[k], g, False)


def _accumulate(leaf, g):
    """AccumulateGrad.accumulate without create_graph: own the first gradient, add later ones."""
    if leaf.grad is None:
        leaf.grad = type(leaf)._make(g.array.copy(), leaf.device)
    else:
        leaf.grad = leaf.grad + g
    node = getattr(leaf, "_grad_accumulator", None)
    if type(node) is AccumulateGrad and node._hooks is not None:
        node._hooks.run_post_accumulate(leaf)


class Graph:
    """The captured steps of one input signature, and how to replay them.

    arg_holders: one holder per tensor argument (the capture's own stand-ins, never the caller's tensors)
    steps:       Op / Rebind / Alias / Call / Backward, in the order they happened
    output:      the returned structure, with holders where tensors were (see capture.unflatten)
    temporaries: holders whose arrays are dropped after a replay (so a graph holds no activations)
    """

    def __init__(self, arg_holders, steps, output, temporaries):
        self.arg_holders, self.steps, self.output, self.temporaries = arg_holders, steps, output, temporaries
        self._args = ()
        self._scratch = None  # (Function, attribute) pairs: arrays forward kept for backward

    def leaf(self, leaf):
        """The tensor a gradient accumulates into: an argument (by position) or a live tensor (a parameter)."""
        return self._args[leaf] if type(leaf) is int else leaf

    def replay(self, args):
        """args: this call's tensor arguments, in the order of arg_holders. Returns the output structure."""
        self._args = args
        for h, a in zip(self.arg_holders, args):
            h.array = a.array
        try:
            for step in self.steps:
                step.run(self)
            return self.output.build()
        finally:
            self._args = ()
            self.release()

    def release(self):
        """Drop what a replay computed (between replays a graph holds no activations)."""
        for h in self.temporaries:
            h.array = None
        if self._scratch is None:  # (the Op steps as captured: the passes only take some away)
            self._scratch = [(s.fn, a) for s in self.steps if type(s) is Op for a in s.scratch + ("_y",) * s.keep_y]
        for fn, attr in self._scratch:
            setattr(fn, attr, None)

    def __repr__(self):
        return "Graph(\n  " + "\n  ".join(map(repr, self.steps)) + "\n)"
