"""Small helpers the chapters share: printing library source so that staleness can be checked.

`show(obj)` prints a header line naming the object, then its source. The header lets
tests/test_tutorials.py find every excerpt a committed notebook prints and compare it with the
code as it is now, and lets `build.py --check` list the library files each notebook shows.
"""
import importlib
import inspect
import re

MARK = "# source: "
_HEADER = re.compile(r"^# source: ([\w.]+):([\w.]+)(?: \(first (\d+) lines\))?$", re.M)


def _target(obj):
    return getattr(obj, "py_func", obj)  # a Numba-compiled function keeps its Python original here


def render(obj, lines=None):
    """The text `show` prints: the header, then the source (its first `lines` lines)."""
    fn = _target(obj)
    module = inspect.getmodule(fn).__name__
    src = inspect.getsource(fn).rstrip("\n").splitlines()
    head = f"{MARK}{module}:{fn.__qualname__}"
    if lines is not None and len(src) > lines:
        head += f" (first {lines} lines)"
        src = src[:lines] + ["    ..."]
    return "\n".join([head, *src])


def show(obj, lines=None):
    """Print the source of a function or class (or its first `lines` lines), under a header."""
    print(render(obj, lines))


def resolve(module, qualname):
    """The object `module:qualname` names (a header's two parts)."""
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def shown(text):
    """(module, qualname, lines) for every header in a notebook output's text."""
    return [(m, q, int(n) if n else None) for m, q, n in _HEADER.findall(text)]
