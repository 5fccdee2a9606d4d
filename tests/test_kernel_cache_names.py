"""Every cached kernel build has a cache entry of its own.

Numba files a compiled function under its module, qualified name and first line and keys the
entries by argument types and CPU, not by jit options: a serial and a parallel build of the same
Python function would share one entry and, after a restart, both load whichever was written last
(kernels/cpu/variant.py makes the second build's copy of the function with its own name).
"""
import pytest
from numba.core.registry import CPUDispatcher

from minigrad.backend import warmup
from minigrad.kernels.cpu import fusion


def _cached_kernels():
    kernels = dict(warmup.dispatchers())
    kernels.update({f"fusion.{name}": obj for name, obj in vars(fusion).items() if isinstance(obj, CPUDispatcher)})
    return {name: d for name, d in kernels.items() if type(d._cache).__name__ != "NullCache"}


def _cache_file_base(dispatcher):
    py = dispatcher.py_func
    return f"{py.__module__}.{py.__qualname__}-{py.__code__.co_firstlineno}"


def test_each_cached_build_has_its_own_cache_entry():
    seen = {}
    for name, d in _cached_kernels().items():
        base = _cache_file_base(d)
        assert base not in seen, f"{name} and {seen[base]} share Numba's cache entry {base}"
        seen[base] = name
    assert len(seen) > 20


@pytest.mark.parametrize("serial,parallel", [("fused.softmax_cross_entropy_serial", "fused.softmax_cross_entropy"),
                                             ("rnn.sequence_forward_serial", "rnn.sequence_forward"),
                                             ("fusion.bias_act_serial", "fusion.bias_act_parallel")])
def test_serial_builds_are_serial(serial, parallel):
    kernels = _cached_kernels()
    assert kernels[parallel].targetoptions.get("parallel") and not kernels[serial].targetoptions.get("parallel")
