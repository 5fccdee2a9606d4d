"""The backward pass: walk the graph from the outputs back to the leaves.

    order = every node after all the nodes that consume its outputs (a topological order)
    for node in order:
        gy  = the gradient the node received (the sum over everything that used its output)
        gxs = node.backward(gy)                       # one gradient per input
        each input's gradient goes to the node that made that input
        at a leaf (its AccumulateGrad node): add the gradient to leaf.grad

`run_backward` is that loop, plus what PyTorch users expect on the way: hooks (grad_hooks.py),
retain_grad(), grad(inputs=...) that stops where nothing wanted lies further back, nodes with
several outputs, and freeing what each node saved once it has run. The slice-gradient fast path
(grad_buffers.py) keeps sums of x[t] gradients cheap.
"""
import weakref

from .anomaly import AnomalyMode, checked_backward
from .grad_buffers import dense, sum_grads
from .grad_hooks import NodeHooks
from .grad_mode import set_grad_enabled


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
        below = []
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
                below.append((fn, False))
        # The first input (the activation in x @ W.T, conv2d(x, w), x + b) is walked first, so it is placed
        # last: a layer's weight branch (W.T, a cast) runs right after the layer, and the weight's
        # gradient is final at once, not at the very end (data-parallel buckets start earlier).
        stack.extend(reversed(below))
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


_queued_callbacks = []  # one list per backward pass in progress (a hook may run a nested pass)


def queue_callback(fn):
    """Call fn() once the backward pass now running has finished, after every gradient has reached .grad
    (torch's Variable._execution_engine.queue_callback). Only valid from inside a pass, e.g. from a hook;
    DistributedDataParallel uses it to wait for its last gradient reductions."""
    if not _queued_callbacks:
        raise RuntimeError("queue_callback: no backward pass is running (call it from a hook during backward)")
    _queued_callbacks[-1].append(fn)


def run_backward(*args, **kwargs):
    """The backward pass (see _run_backward), then the callbacks queued during it, in order."""
    queued = []
    _queued_callbacks.append(queued)
    try:
        result = _run_backward(*args, **kwargs)
        while queued:
            queued.pop(0)()
    finally:
        _queued_callbacks.pop()
    return result


def _run_backward(roots, root_grads, retain_graph=False, create_graph=False, inputs=None, accumulate=True):
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

            if AnomalyMode.enabled:  # 2. the node's backward
                gxs = checked_backward(node, lambda: _node_backward(node, gys, edges[node], create_graph))
            else:
                gxs = _node_backward(node, gys, edges[node], create_graph)
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
