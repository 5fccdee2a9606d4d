"""Devices and the backends that run their kernels.

A Device names where a tensor's memory lives ("cpu", "cuda:0"). A backend is a module
with a flat API: `xp` (its array module) plus the hot kernels (matmul, conv2d
forward/backward, pooling) -- see `numpy_backend` for the readable reference.

The CPU device runs either the numpy reference backend or the Numba kernels; pick with
`MINIGRAD_BACKEND=numpy|numba` or `minigrad.set_backend(...)`.
"""
import importlib
import os

from . import numpy_backend


class Device:
    """Where a tensor lives: Device("cpu"), Device("cuda"), Device("cuda:1"), Device("cuda", 1)."""

    __slots__ = ("type", "index")

    def __init__(self, spec="cpu", index=None):
        if isinstance(spec, Device):
            spec, index = spec.type, spec.index if index is None else index
        spec = str(spec)
        if ":" in spec:
            spec, idx = spec.split(":", 1)
            if not idx.isdigit():
                raise ValueError(f"invalid device string {spec}:{idx!r}")
            index = int(idx)
        if spec not in ("cpu", "cuda"):
            raise ValueError(f"unknown device type {spec!r}; expected 'cpu' or 'cuda'")
        if spec == "cuda" and index is None:
            index = 0
        self.type = spec
        self.index = index

    def __eq__(self, other):
        if isinstance(other, str):
            other = Device(other)
        return isinstance(other, Device) and self.type == other.type and self.index == other.index

    def __hash__(self):
        return hash((self.type, self.index))

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    @property
    def backend(self):
        """The backend module that runs kernels on this device."""
        return get_backend(self)

    @property
    def xp(self):
        """The array module of this device: numpy on the CPU, cupy on a GPU."""
        return get_backend(self).xp

    def __repr__(self):
        return f"device(type='{self.type}'" + ("" if self.index is None else f", index={self.index}") + ")"


CPU = Device("cpu")

_CPU_BACKENDS = {"numpy": "minigrad.backend.numpy_backend", "numba": "minigrad.backend.cpu_backend"}
_state = {"cpu": None}


def _default_cpu_backend():
    wanted = os.environ.get("MINIGRAD_BACKEND", "").strip().lower()
    if wanted:
        return wanted
    try:
        importlib.import_module(_CPU_BACKENDS["numba"])
        return "numba"
    except ImportError:
        return "numpy"


def set_backend(name):
    """Choose the CPU backend: "numpy" (reference) or "numba" (compiled kernels)."""
    if name not in _CPU_BACKENDS:
        raise ValueError(f"set_backend: unknown CPU backend {name!r}; choose one of {sorted(_CPU_BACKENDS)}")
    _state["cpu"] = importlib.import_module(_CPU_BACKENDS[name])


def get_backend_name():
    return _active_cpu_backend().name


def _active_cpu_backend():
    if _state["cpu"] is None:
        set_backend(_default_cpu_backend())
    return _state["cpu"]


def load_cuda_backend():
    """The CUDA backend module (imports cupy: raises a clear error without it or a GPU)."""
    return importlib.import_module("minigrad.backend.cuda_backend")


def get_backend(device):
    """The backend module that runs kernels for `device`."""
    if device.type == "cpu":
        return _state["cpu"] or _active_cpu_backend()
    return load_cuda_backend()
