"""Reverse-mode automatic differentiation, define-by-run.

Every differentiable op is a `Function`. minigrad's own ops are written like this:

    class Mul(Function):
        def forward(self, a, b):      # raw arrays in (numpy or cupy), a raw array out
            return a * b

        def backward(self, gy):       # a Tensor in, one gradient per input out
            a, b = self.inputs
            return gy * b, gy * a

Calling `Mul()(x, y)` runs forward and, when a gradient will be needed, records the Function
as the output's `grad_fn`, together with its `inputs`. Those records are the graph, and
`backward()` walks it from the output back to the leaves (`run_backward`). Because backward
is written with Tensor ops, running it while recording gives gradients of gradients
(create_graph=True). PyTorch-style Functions (static forward(ctx, ...), `.apply`) work too:
see autograd_function.py. Hooks: grad_hooks.py; the slice-gradient fast path: grad_buffers.py.
"""
import inspect
import weakref

import numpy as np

from .autograd_function import FunctionCtx, adopt_torch_style, apply_torch_style, once_differentiable
from .grad_buffers import SliceGrad, dense, sum_grads
from .grad_hooks import NodeHooks, RemovableHandle, add_hook
from .grad_mode import GradMode, enable_grad, is_grad_enabled, no_grad, set_grad_enabled

__all__ = ["Function", "FunctionCtx", "once_differentiable", "Node", "AccumulateGrad", "BackwardHookFunction",
           "DelayedError", "SliceGrad", "RemovableHandle", "GradMode", "no_grad", "enable_grad", "set_grad_enabled",
           "is_grad_enabled", "backward", "grad", "run_backward", "grad_accumulator"]

_ndarray, _generic, _asarray = np.ndarray, np.generic, np.asarray


class _NodeName(str):
    """A node's name. As a string, the op's short name that error messages use ("mul"); called,
    the name PyTorch shows for the graph node (`y.grad_fn.name()` -> "MulBackward0")."""

    def __new__(cls, short, node_name):
        name = super().__new__(cls, short)
        name.node_name = node_name
        return name

    def __call__(self):
        return self.node_name


class Node:
    """A vertex of the backward graph: the Function that made a tensor, or a leaf's AccumulateGrad.

    The engine reads `inputs` (the tensors this node sends gradients to; None once freed),
    `n_outputs` (how many gradients it receives) and `_hooks`.
    """

    inputs = None
    n_outputs = 1
    _hooks = None
    _freed_edges = ()  # the edges, kept when backward frees `inputs`
    name = _NodeName("node", "Node")

    def _hooks_to_change(self):
        if self._hooks is None:
            self._hooks = NodeHooks(self.n_outputs)
        return self._hooks

    @property
    def next_functions(self):
        """Where this node sends gradients, as PyTorch shows it: one (node, output index) pair per input
        tensor: the input's grad_fn, the AccumulateGrad of a leaf that requires grad, or None."""
        edges = self._freed_edges if self.inputs is None else [_edge(x) if x._requires_grad else None
                                                               for x in self.inputs]
        return tuple((None, 0) if e is None else e for e in edges)

    def __repr__(self):
        return f"<{self.name()}>"


class Function(Node, FunctionCtx):
    """One op, and the graph node it leaves behind.

    minigrad's style, used by every op in minigrad/ops:
      forward(self, *arrays) -> array     on the inputs' raw arrays; or a tuple of arrays (several outputs)
      backward(self, *grads) -> grad(s)   one Tensor per output in; one Tensor (or None) per input out
    Options (axis, stride, ...) go to `__init__`, and each call makes an instance: `Mul()(a, b)`.
    Values that backward needs are kept on `self` in forward. `self.inputs` are the input Tensors,
    `self.output` the output (`self.outputs` with several), `self.create_graph` says whether the
    engine records the gradient's own graph. With several outputs, backward receives zeros for
    an output that got no gradient (set `materialize_grads = False` on the class to get None).

    PyTorch's style (static forward(ctx, ...) and backward(ctx, ...), `Cls.apply(...)`) is told apart
    by its static forward: see autograd_function.py.
    """

    differentiable_backward = True  # False: backward uses raw kernels, no create_graph
    backward_reads_inputs = True  # backward reads input values: guard them against in-place changes
    saves_output = False  # backward reads the output's value: guard it too
    is_view = False  # the output shares memory (and so the version counter) with input 0
    create_graph = False  # set by the engine before backward: is the gradient's graph being recorded?
    _torch_style = False

    _out = None  # weak reference to the output (one output); _outs: a list of them (several)
    _y = None  # the output's array, kept when saves_output (the output Tensor itself may be dropped)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "saves_inputs" in vars(cls):  # the attribute's former name, until every op is renamed
            cls.backward_reads_inputs = cls.saves_inputs
        torch_style = isinstance(inspect.getattr_static(cls, "forward"), staticmethod)
        node_name = cls.__name__.lstrip("_") + ("Backward" if torch_style else "Backward0")  # as PyTorch names them
        own = vars(cls).get("name")
        if own is None or isinstance(own, str):
            cls.name = _NodeName(own or cls.__name__.lower(), node_name)
        elif isinstance(own, property):  # an op that names itself per instance ("min" or "max")
            cls.name = property(lambda self, short=own.fget: _NodeName(short(self), node_name))
        if torch_style:
            adopt_torch_style(cls)

    @classmethod
    def apply(cls, *args, **kwargs):
        """Torch-style Functions: run forward, record the node. minigrad-style ones: `cls()(*args)`."""
        if cls._torch_style:
            return apply_torch_style(cls, args, kwargs)
        return cls()(*args, **kwargs)

    def __call__(self, *inputs):
        x0 = inputs[0]
        device = x0.device
        requires_grad = x0._requires_grad  # the slots, not the checked properties: this is the hot path
        for x in inputs[1:]:
            if x.device is not device and x.device != device:
                raise RuntimeError(f"{self.name}: expected all tensors on the same device, got {device} and {x.device}")
            requires_grad = requires_grad or x._requires_grad
        self.device = device
        self.needs_grad = record = requires_grad and GradMode.enabled  # forward may skip what only backward uses
        try:
            y = self.forward(*[x.array for x in inputs]) if len(inputs) > 1 else self.forward(x0.array)
        except (ValueError, IndexError, TypeError) as e:
            if str(e).startswith(self.name + ":"):
                raise
            shapes = ", ".join(f"{tuple(x.shape)} {x.dtype}" for x in inputs)
            raise type(e)(f"{self.name}: {e} (inputs: {shapes})") from None
        if type(y) is not _ndarray:
            if type(y) is tuple:
                return self._several_outputs(inputs, y, record)
            if isinstance(y, _generic):
                y = _asarray(y)  # numpy hands back scalars for 0-d results
        out = type(x0)._make(y, device)
        if self.is_view:
            out._version = x0._version
        if record:
            out._requires_grad = True  # float inputs needing grad give a float output: no dtype check needed
            out.grad_fn = self
            self.inputs = inputs
            self._versions = [x._version[0] for x in inputs] if self.backward_reads_inputs else None
            self._out = weakref.ref(out)
            self._out_version = out._version[0]
            if self.saves_output:
                self._y = y  # the array, so backward can rebuild the output if its Tensor is gone
        return out

    def _several_outputs(self, inputs, ys, record):
        """__call__ for a forward that returned a tuple of arrays: one output Tensor per array."""
        make, device = type(inputs[0])._make, self.device
        outs = tuple(make(_asarray(y) if isinstance(y, _generic) else y, device) for y in ys)
        if self.is_view:
            for out in outs:
                out._version = inputs[0]._version
        if record:
            self._record_outputs(inputs, outs, [o.dtype.kind in "fc" for o in outs])
            if self.saves_output:
                self._y = ys
        return outs

    def _record_outputs(self, inputs, outs, differentiable):
        """Become the grad_fn of the differentiable ones among several outputs (or a torch-style
        Function's outputs, where some may not be Tensors at all)."""
        self.inputs = tuple(inputs)
        self._versions = [x._version[0] for x in inputs] if self.backward_reads_inputs else None
        self.n_outputs = len(outs)
        is_tensor = [hasattr(out, "_version") for out in outs]  # torch style: any value may come out
        refs = [weakref.ref(out) if t else None for out, t in zip(outs, is_tensor)]
        versions = [out._version[0] if t else None for out, t in zip(outs, is_tensor)]
        self._out_meta = [(out.shape, out.dtype) if t else None for out, t in zip(outs, is_tensor)]  # for zeros
        if len(outs) == 1:
            self._out, self._out_version = refs[0], versions[0]
        else:
            self._outs, self._out_version = refs, versions
        for out, diff in zip(outs, differentiable):
            if diff:
                out._requires_grad = True
                out.grad_fn = self

    @property
    def backend(self):
        """The backend that runs this op's kernels (the inputs' device's)."""
        return self.device.backend

    @property
    def xp(self):
        """The array module of this op's inputs: numpy or cupy."""
        return self.device.xp

    @property
    def output(self):
        """The output Tensor (rebuilt around the saved array when no one holds it any more)."""
        return self._output_tensor(0)

    @property
    def outputs(self):
        """All output Tensors, in forward's order (None where forward returned a non-Tensor)."""
        return tuple(self._output_tensor(k) for k in range(self.n_outputs))

    def _live_output(self, k):
        """Output k if someone still holds it, else None."""
        ref = self._out if self.n_outputs == 1 else self._outs[k]
        return None if ref is None else ref()

    def _output_tensor(self, k):
        out = self._live_output(k)
        if out is None:
            y = self._y if self.n_outputs == 1 else (None if self._y is None else self._y[k])
            if y is None:
                raise RuntimeError(f"{self.name}: output {k} is gone and was not saved; set saves_output = True "
                                   "on the op (torch style: save_for_backward it)")
            out = type(self.inputs[0])._make(y, self.device)
            out._requires_grad, out.grad_fn = True, self
            if self.n_outputs == 1:
                self._out = weakref.ref(out)
            else:
                self._outs[k] = weakref.ref(out)
        return out

    def _output_index(self, t):
        """Which of this node's outputs the tensor t is."""
        if self.n_outputs == 1:
            return 0
        for k, ref in enumerate(self._outs):
            if ref is not None and ref() is t:
                return k
        raise RuntimeError(f"{self.name}: the tensor of shape {tuple(t.shape)} is not one of its outputs")

    def _materialized(self, grads):
        """grads with zeros for the outputs that received none (as PyTorch gives backward)."""
        if all(g is not None for g in grads):
            return grads
        x0 = self.inputs[0]
        return [g if g is not None or self._out_meta[k] is None else
                type(x0)._make(x0.xp.zeros(*self._out_meta[k]), self.device) for k, g in enumerate(grads)]

    def _call_backward(self, grads):
        """backward with one gradient per output; returns a tuple with one gradient (or None) per input."""
        if self.n_outputs == 1:
            gxs = self.backward(grads[0])
        else:
            gxs = self.backward(*(self._materialized(grads) if self.materialize_grads else grads))
        return gxs if type(gxs) is tuple else (gxs,)

    def forward(self, *xs):
        raise NotImplementedError

    def backward(self, *grads):
        raise NotImplementedError

    def register_prehook(self, fn):
        """fn(grad_outputs) -> new grad_outputs or None, called before this node's backward."""
        return add_hook(self._hooks_to_change().pre, fn, "register_prehook")

    def register_hook(self, fn):
        """fn(grad_inputs, grad_outputs) -> new grad_inputs or None, called after this node's backward."""
        return add_hook(self._hooks_to_change().post, fn, "register_hook")

    def _check_saved(self):
        if self.inputs is None:
            raise RuntimeError(
                f"{self.name}: trying to backward through the graph a second time; its saved values were "
                "freed after the first backward. Pass retain_graph=True to the first backward call.")
        if self._versions is not None:
            for i, (x, v) in enumerate(zip(self.inputs, self._versions)):
                if x._version[0] != v:
                    raise RuntimeError(
                        f"{self.name}: input {i} of shape {x.shape}, needed for the gradient, was modified in "
                        f"place (version {x._version[0]}, expected {v}). Use an out-of-place op, or clone() first.")
        if self.saves_output:
            saved = ((self._out, self._out_version),) if self.n_outputs == 1 else zip(self._outs, self._out_version)
            for ref, expected in saved:
                out = None if ref is None else ref()
                if out is not None and out._version[0] != expected:
                    raise RuntimeError(f"{self.name}: its output of shape {out.shape}, needed for the gradient, "
                                       "was modified in place.")


Function.name = _NodeName("function", "FunctionBackward")


class AccumulateGrad(Node):
    """The graph node of a leaf that requires grad: adds the gradient that reaches it to leaf.grad.
    One per leaf, made the first time a gradient (or a hook) needs it."""

    inputs = ()
    name = _NodeName("accumulategrad", "AccumulateGrad")

    def __init__(self, leaf):
        self._leaf = weakref.ref(leaf)  # the leaf holds this node, not the other way round

    @property
    def variable(self):
        """The leaf (None once nothing else holds it)."""
        return self._leaf()

    def accumulate(self, g, create_graph):
        leaf = self._leaf()
        if g.shape != leaf.shape:
            raise RuntimeError(f"backward: gradient of shape {g.shape} does not match leaf of shape {leaf.shape}")
        if leaf.grad is None:
            # own the memory: backward may hand the same array to several inputs (a + b)
            leaf.grad = g if create_graph else type(leaf)._make(g.array.copy(), leaf.device)
        else:
            leaf.grad = leaf.grad + g
        if self._hooks is not None:
            self._hooks.run_post_accumulate(leaf)


def grad_accumulator(leaf):
    """The leaf's AccumulateGrad node, kept on the leaf so that its hooks live as long as it does."""
    node = getattr(leaf, "_grad_accumulator", None)
    if node is None or node._leaf() is not leaf:  # (a copied tensor carries its original's node)
        node = leaf._grad_accumulator = AccumulateGrad(leaf)
    return node


class DelayedError(Function):
    """Identity whose backward raises `message`: it marks a result that must not be differentiated."""

    backward_reads_inputs, is_view = False, True

    def __init__(self, message):
        self.message = message

    def forward(self, x):
        return x

    def backward(self, gy):
        raise RuntimeError(self.message)


class BackwardHookFunction(Function):
    """y_1, ..., y_n = x_1, ..., x_n as one node, whose backward receives the gradients of all the
    y's at once: the place to hang a module's backward hooks (`ys[0].grad_fn.register_prehook`).
    Always returns a tuple; an x that does not require grad gives a y that does not either."""

    @staticmethod
    def forward(ctx, *tensors):
        ctx.mark_non_differentiable(*[t for t in tensors if not t.requires_grad])
        return tensors

    @staticmethod
    def backward(ctx, *grads):
        return grads


# ---------------------------------------------------------------- the backward pass
def _edge(x):
    """Where a gradient for tensor x goes: (x.grad_fn, which of its outputs x is), or (AccumulateGrad, 0)
    for a leaf."""
    fn = x.grad_fn
    if fn is None:
        return grad_accumulator(x), 0
    return fn, (0 if fn.n_outputs == 1 else fn._output_index(x))


def _topological_order(roots):
    """Walk back from `roots` once, depth first (with an explicit stack: a 10,000-op chain needs no
    recursion). Returns
      order   every node after all the nodes that send it gradients, so its gradient is complete
              when its turn comes; a leaf's AccumulateGrad right after the last node that uses the
              leaf (its post-accumulate hooks fire as early as possible)
      edges   per node, one (node, output index) or None per input: where its gradients go
      leaves  the leaves met (held for the pass: a node lets go of its inputs once it has run)
    A node that backward already freed (inputs None) has no edges; backward through it raises."""
    post_order, edges, leaves = [], {}, []
    stack = [(root, False) for root in roots]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:  # all the nodes below it are placed: place it (and the leaves it is the last to use)
            for e in edges[node]:
                if e is not None and type(e[0]) is AccumulateGrad and e[0] not in edges:
                    edges[e[0]] = ()
                    post_order.append(e[0])
            post_order.append(node)
            continue
        if node in edges:
            continue
        node_edges = edges[node] = []
        stack.append((node, True))
        for x in node.inputs or ():
            if not x._requires_grad:
                node_edges.append(None)
                continue
            fn = x.grad_fn
            if fn is None:
                node_edges.append((grad_accumulator(x), 0))
                leaves.append(x)
                continue
            node_edges.append((fn, 0) if fn.n_outputs == 1 else (fn, fn._output_index(x)))
            if fn not in edges:
                stack.append((fn, False))
    post_order.reverse()
    return post_order, edges, leaves


def _leading_to(targets, order, edges):
    """The nodes whose backward leads to a target node: all that grad(inputs=...) needs to run."""
    needed = set()
    for node in reversed(order):  # each node after all the nodes it sends gradients to
        if any(e is not None and (e[0] in targets or e[0] in needed) for e in edges[node]):
            needed.add(node)
    return needed


def _send(grads, node, k, g, create_graph):
    """Add gradient g for output k of node to what node has received so far."""
    received = grads.get(node)
    if received is None:
        grads[node] = received = [None] * node.n_outputs
        received[k] = g
    else:
        received[k] = sum_grads(received[k], g, create_graph)


def run_backward(roots, root_grads, retain_graph=False, create_graph=False, inputs=None, accumulate=True):
    """The backward pass: send each root's gradient back through the graph.

    inputs None: every leaf that requires grad gets its gradient added to .grad (Tensor.backward).
    inputs given: only these tensors' gradients are wanted; they are added to their .grad
    (accumulate=True, backward(inputs=...)) or returned in a list (accumulate=False, grad()).
    """
    grads = {}  # node -> gradients received so far, one slot per output
    for t, g in zip(roots, root_grads):
        _send(grads, *_edge(t), g, create_graph)
    order, edges, leaves = _topological_order(list(grads))
    wanted = must_run = None
    if inputs is not None:
        wanted = {id(t): None for t in inputs}
        must_run = _leading_to({_edge(t)[0] for t in inputs}, order, edges)

    with set_grad_enabled(create_graph):  # backward's own ops are recorded only for create_graph
        for node in order:
            received = grads.pop(node, None)  # 1. the node's gradients, complete by now
            if received is None:
                continue  # no gradient reached this node
            gys = [dense(received[0])] if len(received) == 1 else [dense(g) for g in received]
            hooks = node._hooks
            if hooks is not None:
                gys = hooks.run_tensor_hooks(gys)

            if type(node) is AccumulateGrad:  # 4. a leaf: add to .grad (or keep for grad())
                if wanted is None:
                    node.accumulate(gys[0], create_graph)
                elif id(node.variable) in wanted:
                    _deliver(node.variable, gys[0], wanted, accumulate, create_graph, node)
                continue
            if wanted is not None or hooks is not None and hooks.retain:  # (gradients asked for on the way)
                _keep_output_grads(node, gys, wanted, accumulate, create_graph)
                if must_run is not None and node not in must_run:
                    continue  # nothing wanted lies further back

            gxs = _node_backward(node, gys, edges[node], create_graph)  # 2. the node's backward
            for e, gx in zip(edges[node], gxs):  # 3. each input's gradient goes to the node that made it
                if e is not None and gx is not None:
                    _send(grads, e[0], e[1], gx, create_graph)
            if not retain_graph:  # free what the node kept for backward; keep only where it leads
                node.inputs = node._y = None
                if node._saved is not None:
                    node._saved = None
                node._freed_edges = edges[node]
    del leaves  # (held until here)
    if wanted is not None and not accumulate:
        return [wanted[id(t)] for t in inputs]
    return None


def _node_backward(node, gys, node_edges, create_graph):
    """Run one node's backward, between its pre- and post-hooks: one gradient (or None) per input."""
    node._check_saved()
    if create_graph and not node.differentiable_backward:
        raise RuntimeError(f"{node.name}: create_graph=True is not supported, its backward is not differentiable")
    hooks = node._hooks
    if hooks is not None:
        gys = hooks.run_prehooks(gys)
    if node.create_graph is not create_graph:  # (writing only on a change saves time on the hot path)
        node.create_graph = create_graph
    gxs = node._call_backward(gys)
    if hooks is not None:  # post-hooks see None for inputs that take no gradient, as in PyTorch
        gxs = hooks.run_posthooks([None if e is None else g for e, g in zip(node_edges, gxs)], gys)
    return gxs


def _keep_output_grads(node, gys, wanted, accumulate, create_graph):
    """A non-leaf's complete gradients, where asked for: retain_grad() keeps them in .grad, grad() and
    backward(inputs=...) take those of their inputs."""
    for k, gy in enumerate(gys):
        out = node._live_output(k) if gy is not None else None
        if out is None:
            continue
        if out._retains_grad:
            out.grad = gy if out.grad is None else out.grad + gy
        if wanted is not None and id(out) in wanted:
            _deliver(out, gy, wanted, accumulate, create_graph)


def _deliver(t, g, wanted, accumulate, create_graph, leaf_node=None):
    """A wanted tensor's complete gradient: into its .grad (backward(inputs=...)) or kept for grad()."""
    if not accumulate:
        wanted[id(t)] = g
    elif leaf_node is not None:
        leaf_node.accumulate(g, create_graph)
    else:
        t.grad = g if t.grad is None else t.grad + g


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _root_grads(fn_name, tensors, grad_tensors):
    """Check the tensors to differentiate and pair each with its starting gradient (ones for a scalar)."""
    grad_tensors = (None,) * len(tensors) if grad_tensors is None else _as_tuple(grad_tensors)
    if len(grad_tensors) != len(tensors):
        raise RuntimeError(f"{fn_name}: got {len(grad_tensors)} gradients for {len(tensors)} tensors")
    root_grads = []
    for i, (t, g) in enumerate(zip(tensors, grad_tensors)):
        if not t._requires_grad:
            raise RuntimeError(f"{fn_name}: tensor {i} (shape {tuple(t.shape)}) does not require grad and has no "
                               "grad_fn")
        root_grads.append(t._initial_grad(g))
    return root_grads


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Add d(tensors)/d(leaf) to every leaf's .grad (only to `inputs`' .grad when given), as torch."""
    tensors = _as_tuple(tensors)
    root_grads = _root_grads("backward", tensors, grad_tensors)
    if inputs is not None:
        inputs = _as_tuple(inputs)
        for i, t in enumerate(inputs):
            if not t.requires_grad:
                raise RuntimeError(f"backward: inputs[{i}] (shape {tuple(t.shape)}) does not require grad")
    keep = create_graph if retain_graph is None else retain_graph
    run_backward(tensors, root_grads, keep, create_graph, inputs=inputs, accumulate=True)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=None,
         materialize_grads=False):
    """d(sum of outputs)/d(inputs) as a tuple, leaving every .grad untouched (torch.autograd.grad).

    grad_outputs: one starting gradient per output (None: ones, for a one-element output).
    allow_unused: an input the outputs do not depend on gets None instead of raising;
    materialize_grads: zeros instead of None.
    """
    outputs, inputs = _as_tuple(outputs), _as_tuple(inputs)
    root_grads = _root_grads("grad", outputs, grad_outputs)
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError(f"grad: input {i} (shape {tuple(t.shape)}) does not require grad")
    keep = create_graph if retain_graph is None else retain_graph
    result = run_backward(outputs, root_grads, keep, create_graph, inputs=inputs, accumulate=False)
    for i, (t, g) in enumerate(zip(inputs, result)):
        if g is None:
            if materialize_grads:
                result[i] = type(t)._make(t.xp.zeros(t.shape, dtype=t.dtype), t.device)
            elif not (allow_unused or materialize_grads):
                raise RuntimeError(f"grad: input {i} (shape {tuple(t.shape)}) was not used to compute the outputs; "
                                   "pass allow_unused=True to get None for it")
    return tuple(result)
