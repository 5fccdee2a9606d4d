"""A second compiled build of one kernel (e.g. serial beside parallel) needs a second name.

Numba's on-disk cache files a compiled function under its module, qualified name and first line,
and keys the entries by argument types and CPU, not by jit options. Two builds of one Python
function with different options (parallel=True and not) therefore share one cache entry, and
after a restart both load whichever build was written last.
"""
import types


def variant(fn, suffix):
    """A copy of the Python function fn named fn.__name__ + suffix (same code, globals and docstring)."""
    name = fn.__name__ + suffix
    code = fn.__code__.replace(co_name=name, co_qualname=fn.__qualname__ + suffix)
    copy = types.FunctionType(code, fn.__globals__, name, fn.__defaults__, fn.__closure__)
    copy.__qualname__ = fn.__qualname__ + suffix
    copy.__doc__ = fn.__doc__
    copy.__module__ = fn.__module__
    return copy
