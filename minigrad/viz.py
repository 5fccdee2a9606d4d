"""Draw the computation graph behind a tensor, as SVG (no Graphviz needed) or DOT text.

    import minigrad as mg
    from minigrad.viz import draw
    x = mg.randn(3, requires_grad=True)
    y = (x * x).sum()
    draw(y)                 # in a notebook: shows the graph
    draw(y).save("y.svg")   # or write it to a file

Every box is one node: a Function (the op that made a tensor) or a leaf tensor. It shows
the op's name, the shape, dtype and device of the tensor it made, and the gradient's norm
when that tensor has a `.grad`. Values or gradients holding NaN or inf are drawn in red.

The graph is walked from the output through `tensor.grad_fn` and `Function.inputs`.
`backward()` frees those records unless you pass `retain_graph=True`, so draw before
calling backward, or keep the graph when you want to see the gradients too.
"""
import math
from html import escape

import numpy as np

__all__ = ["draw", "to_dot", "Graph"]

_BOX = {"op": ("#e8f0fe", "#4a6fa5"), "param": ("#e6f4ea", "#3c8d50"),
        "const": ("#f1f3f4", "#9aa0a6"), "bad": ("#fde8e8", "#d93025")}
_CHAR_W, _LINE_H, _PAD, _GAP_X, _GAP_Y = 7.0, 15, 8, 24, 46


class Node:
    """One box: kind is "op", "param" (a leaf that requires grad) or "const" (a leaf that does not)."""

    def __init__(self, key, kind, title, tensor):
        self.key, self.kind, self.title = key, kind, title
        self.shape = tuple(tensor.shape)
        self.dtype = str(tensor.dtype)
        self.device = str(tensor.device)
        self.grad_norm = None
        self.bad = _nonfinite(tensor.array)
        if tensor.grad is not None:
            g = np.asarray(_host(tensor.grad.array), dtype=np.float64)
            self.grad_norm = float(np.sqrt((g * g).sum()))
            self.bad = self.bad or not math.isfinite(self.grad_norm)

    def lines(self):
        out = [self.title, f"{self.shape} {self.dtype}", self.device]
        if self.grad_norm is not None:
            out.append(f"|grad| = {self.grad_norm:.4g}")
        if self.bad:
            out.append("NaN/inf!")
        return out


def _host(a):
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else a


def _nonfinite(a):
    a = _host(a)
    return a.dtype.kind in "fc" and not bool(np.isfinite(a).all())


class Graph:
    """The nodes and edges (input key -> consumer key) found behind one tensor."""

    def __init__(self, nodes, edges, root):
        self.nodes, self.edges, self.root = nodes, edges, root

    # ------------------------------------------------------------ layout
    def _layout(self):
        """Layer = longest distance from the output; the output sits at the bottom."""
        consumers = {k: [] for k in self.nodes}
        for src, dst in self.edges:
            consumers[src].append(dst)
        depth = {k: 0 for k in self.nodes}
        for _ in range(len(self.nodes)):  # longest path: relax the edges until nothing changes
            changed = False
            for src, dst in self.edges:
                if depth[src] < depth[dst] + 1:
                    depth[src], changed = depth[dst] + 1, True
            if not changed:
                break
        order = list(self.nodes)
        top = max(depth.values())
        rows = [[] for _ in range(top + 1)]
        for k in order:
            rows[top - depth[k]].append(k)
        # order each row by the mean position of its consumers (one sweep upwards from the output)
        pos = {k: i for i, k in enumerate(rows[-1])}
        for r in range(top - 1, -1, -1):
            rows[r].sort(key=lambda k: sum(pos.get(c, 0) for c in consumers[k]) / max(len(consumers[k]), 1))
            pos.update({k: i for i, k in enumerate(rows[r])})
        return rows

    def to_svg(self):
        rows = self._layout()
        size = {}
        for k, node in self.nodes.items():
            lines = node.lines()
            size[k] = (max(len(s) for s in lines) * _CHAR_W + 2 * _PAD, len(lines) * _LINE_H + 2 * _PAD)
        row_w = [sum(size[k][0] for k in row) + _GAP_X * (len(row) - 1) for row in rows]
        row_h = [max(size[k][1] for k in row) for row in rows]
        width = max(row_w) + 2 * _GAP_X
        xy, y = {}, _GAP_X / 2
        for row, w, h in zip(rows, row_w, row_h):
            x = (width - w) / 2
            for k in row:
                xy[k] = (x, y + (h - size[k][1]) / 2)
                x += size[k][0] + _GAP_X
            y += h + _GAP_Y
        height = y - _GAP_Y + _GAP_X / 2

        out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
               f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="monospace" font-size="12">',
               '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
               'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#5f6368"/></marker></defs>']
        for src, dst in self.edges:
            (x0, y0), (w0, h0) = xy[src], size[src]
            (x1, y1), (w1, _) = xy[dst], size[dst]
            out.append(f'<line x1="{x0 + w0 / 2:.1f}" y1="{y0 + h0:.1f}" x2="{x1 + w1 / 2:.1f}" y2="{y1:.1f}" '
                       'stroke="#5f6368" stroke-width="1.2" marker-end="url(#arrow)"/>')
        for k, node in self.nodes.items():
            (x, y), (w, h) = xy[k], size[k]
            fill, stroke = _BOX["bad" if node.bad else node.kind]
            extra = ' stroke-width="2.5"' if k == self.root or node.bad else ""
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="6" '
                       f'fill="{fill}" stroke="{stroke}"{extra}/>')
            for i, text in enumerate(node.lines()):
                color = "#d93025" if node.bad and (text == "NaN/inf!" or text.startswith("|grad|")) else "#202124"
                weight = ' font-weight="bold"' if i == 0 else ""
                out.append(f'<text x="{x + w / 2:.1f}" y="{y + _PAD + (i + 0.8) * _LINE_H:.1f}" '
                           f'text-anchor="middle" fill="{color}"{weight}>{escape(text)}</text>')
        out.append("</svg>")
        return "\n".join(out)

    def _repr_svg_(self):
        return self.to_svg()

    def to_dot(self):
        lines = ["digraph minigrad {", '  node [shape=box, style="rounded,filled", fontname="monospace"];']
        for k, node in self.nodes.items():
            fill, stroke = _BOX["bad" if node.bad else node.kind]
            label = "\\n".join(s.replace('"', '\\"') for s in node.lines())
            lines.append(f'  n{node.key} [label="{label}", fillcolor="{fill}", color="{stroke}"];')
        for src, dst in self.edges:
            lines.append(f"  n{self.nodes[src].key} -> n{self.nodes[dst].key};")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def save(self, path):
        """Write the graph to `path`: .svg gets the drawing, .dot / .gv the DOT text."""
        path = str(path)
        text = self.to_dot() if path.endswith((".dot", ".gv")) else self.to_svg()
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def __repr__(self):
        return f"<minigrad.viz.Graph: {len(self.nodes)} nodes, {len(self.edges)} edges>"


def _graph(tensor, names=None):
    label = {id(t): n for n, t in (names or {}).items()}
    nodes, edges, seen_edges = {}, [], set()

    def key_of(t):
        return id(t.grad_fn) if t.grad_fn is not None else id(t)

    def add(t):
        k = key_of(t)
        if k in nodes:
            return k, False
        fn = t.grad_fn
        if fn is not None:
            title = type(fn).__name__
            kind = "op"
        else:
            kind = "param" if t.requires_grad else "const"
            title = ("Parameter" if type(t).__name__ == "Parameter" else "leaf") if kind == "param" else "constant"
            if kind == "const" and t.array.size == 1:
                title = f"constant {_host(t.array).item():.4g}"
        if id(t) in label:
            title = f"{label[id(t)]}: {title}" if fn is not None else label[id(t)]
        nodes[k] = Node(len(nodes), kind, title, t)
        return k, True

    root, _ = add(tensor)
    queue = [tensor]
    while queue:  # breadth-first, so every consumer is met before what it consumes
        t = queue.pop(0)
        fn = t.grad_fn
        for x in (fn.inputs or ()) if fn is not None else ():
            k, new = add(x)
            if (k, key_of(t)) not in seen_edges:
                seen_edges.add((k, key_of(t)))
                edges.append((k, key_of(t)))
            if new:
                queue.append(x)
    return Graph(nodes, edges, root)


def draw(tensor, names=None):
    """The computation graph of `tensor` as a Graph: shows itself in a notebook, `.save("g.svg")`.

    names: optional {"w": w, ...} to label the tensors you know (e.g. dict(model.named_parameters())).
    """
    return _graph(tensor, names)


def to_dot(tensor, names=None):
    """The same graph as Graphviz DOT text (render it with `dot -Tpng` if you have Graphviz)."""
    return _graph(tensor, names).to_dot()
