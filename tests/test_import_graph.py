"""minigrad's modules import each other without cycles (counting only imports that run when a
module loads; an import inside a function runs later and cannot deadlock the loader)."""
import ast
from pathlib import Path

import minigrad

PACKAGE_DIR = Path(minigrad.__file__).parent


def _module_names():
    """{dotted module name: source path} for every .py file of the package."""
    out = {}
    for path in PACKAGE_DIR.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _load_time_imports(tree):
    """Import statements that run at module load: everything outside function bodies."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(node))


def _targets(node, module, is_package, modules):
    """The minigrad modules one import statement loads (a name imported `from` a package counts as
    the submodule when one has that name)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in modules]
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[:len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module
    if source not in modules:
        return []
    found = [f"{source}.{a.name}" for a in node.names if f"{source}.{a.name}" in modules]
    if len(found) < len(node.names):  # some names are attributes of `source` itself
        found.append(source)
    return found


def import_graph():
    modules = _module_names()
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        is_package = path.name == "__init__.py"
        graph[name] = {t for node in _load_time_imports(tree)
                       for t in _targets(node, name, is_package, modules) if t != name}
    return graph


def _find_cycle(graph):
    """One cycle as a list of modules, or None (depth-first search with three colours)."""
    colour, parent = {}, {}
    for start in sorted(graph):
        if colour.get(start):
            continue
        stack = [(start, iter(sorted(graph[start])))]
        colour[start] = "grey"
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                colour[node] = "black"
                stack.pop()
                continue
            if colour.get(child) == "grey":
                cycle = [child, node]
                while cycle[-1] != child:
                    cycle.append(parent[cycle[-1]])
                return cycle[::-1]
            if not colour.get(child):
                colour[child], parent[child] = "grey", node
                stack.append((child, iter(sorted(graph[child]))))
    return None


def test_no_import_cycle_between_minigrad_modules():
    cycle = _find_cycle(import_graph())
    assert cycle is None, "import cycle at module level: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_cycles():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) in (["a", "b", "c", "a"],)
    assert _find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_graph_sees_relative_and_absolute_imports():
    graph = import_graph()
    assert "minigrad.autograd" in graph["minigrad.tensor"]  # `from . import autograd`
    assert "minigrad.tensor" in graph["minigrad.ops.convert"]  # `from ..tensor import ...`
    assert "minigrad.ops" in graph["minigrad"]  # `from . import ops`
