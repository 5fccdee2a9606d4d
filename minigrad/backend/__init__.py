"""Devices, the registry of device types, and the backends that run their kernels.

A Device names where a tensor's memory lives ("cpu", "cuda:0"). Each device type has one
backend: a module of plain-array kernels, checked against the contract (contract.py) and bound
once. `Device.backend` / `get_backend(device)` hand out the bound backend, `Device.xp` its array
module (numpy, cupy).

`_DEVICE_TYPES` below maps each device type to where its backend module comes from: a module
name, or a function returning the module. Adding a device is one backend file plus one line there
(or a `register_device(...)` call from your own code).

The CPU runs the Numba kernels ("numba") or the numpy reference ("numpy"): choose with
`MINIGRAD_BACKEND=numpy|numba` or `minigrad.set_backend(...)`. Unset, minigrad takes Numba, and
warns when it cannot load it (then runs the numpy one, about 20x slower). The Numba backend tunes
a few process settings before its first kernel runs (`apply_tuning()` does it now); `tuning()`
lists them.
"""
import importlib
import os
import warnings
from collections import namedtuple
from pathlib import Path

from . import contract, numpy_backend
from .process_tuning import apply as apply_tuning, restore as restore_tuning, tuning

__all__ = ["CPU", "Device", "DeviceType", "apply_tuning", "get_backend", "get_backend_name", "register_device",
           "restore_tuning", "set_backend", "tuning", "unregister_device"]

DeviceType = namedtuple("DeviceType", "backend default_index")


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
        if spec not in _DEVICE_TYPES:
            raise ValueError(f"unknown device type {spec!r}; known types: {', '.join(map(repr, _DEVICE_TYPES))}")
        self.type = spec
        self.index = _DEVICE_TYPES[spec].default_index if index is None else index

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
        """The backend that runs kernels on this device (a contract.Backend)."""
        return _bound.get(self.type) or get_backend(self)

    @property
    def xp(self):
        """The array module of this device: numpy on the CPU, cupy on a GPU."""
        return (_bound.get(self.type) or get_backend(self)).xp

    def __repr__(self):
        return f"device(type='{self.type}'" + ("" if self.index is None else f", index={self.index}") + ")"


# ---------------------------------------------------------------- loading backends
def _install_hint(exc):
    """How to fix a backend module that failed to import, read from the name of the missing module."""
    missing = getattr(exc, "name", None) or ""
    repo = Path(__file__).resolve().parents[2]
    if missing.startswith("minigrad.kernels") and (repo / "pyproject.toml").exists():
        return (f"run `pip install -e .` in {repo} (minigrad runs from a source tree that is not installed, "
                "and only an installation maps minigrad.kernels to the kernels/ folder)")
    if missing.split(".")[0] in ("numba", "llvmlite"):
        return "`pip install numba` (or `pip install -e .` in the minigrad repository)"
    return "reinstall minigrad (`pip install -e .` in its repository)"


def _import(module_name, what):
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(f"minigrad: the {what} cannot load ({exc}). Fix: {_install_hint(exc)}") from exc


_CPU_BACKENDS = {"numpy": "minigrad.backend.numpy_backend", "numba": "minigrad.backend.cpu_backend"}


def _default_cpu_backend():
    """The CPU backend module that MINIGRAD_BACKEND names; unset: Numba's, else numpy's with a warning."""
    wanted = os.environ.get("MINIGRAD_BACKEND", "").strip().lower()
    if wanted:
        if wanted not in _CPU_BACKENDS:
            raise ValueError(f"MINIGRAD_BACKEND={wanted!r}: choose one of {sorted(_CPU_BACKENDS)}")
        return _import(_CPU_BACKENDS[wanted], f"{wanted!r} CPU backend (MINIGRAD_BACKEND={wanted})")
    try:
        return _import(_CPU_BACKENDS["numba"], "'numba' CPU backend")
    except ImportError as exc:
        warnings.warn(f"{exc}. Running the numpy reference backend instead, about 20x slower; set "
                      "MINIGRAD_BACKEND=numpy to choose it and silence this warning.", RuntimeWarning, stacklevel=2)
        return numpy_backend


# device type -> (where its backend module comes from: a module name or a function returning the
# module, the index of Device(type) when none is given)
_DEVICE_TYPES = {
    "cpu": DeviceType(_default_cpu_backend, None),  # numpy or numba: MINIGRAD_BACKEND, set_backend()
    "cuda": DeviceType("minigrad.backend.cuda_backend", 0),
}
_bound = {}      # device type -> its Backend (set_backend replaces the "cpu" one)
_by_module = {}  # backend module -> its Backend, so that each module is checked and bound once


def _bind(module):
    backend = _by_module.get(module)
    if backend is None:
        backend = _by_module[module] = contract.bind(module)
    return backend


def get_backend(device):
    """The Backend (see contract.py) that runs kernels for `device`, loaded on first use."""
    backend = _bound.get(device.type)
    if backend is None:
        source = _DEVICE_TYPES[device.type].backend
        module = _import(source, f"{device.type!r} backend") if isinstance(source, str) else source()
        backend = _bound[device.type] = _bind(module)
    return backend


def register_device(type_name, backend, default_index=None):
    """Add a device type. backend: the name of its backend module, or a function returning the module
    (imported and checked against the contract when the device is first used). default_index: the
    index of Device(type_name)."""
    if not isinstance(type_name, str) or not type_name.isidentifier():
        raise ValueError(f"register_device: a device type is a plain name like 'cpu', got {type_name!r}")
    if type_name in _DEVICE_TYPES:
        raise ValueError(f"register_device: device type {type_name!r} is already registered")
    _DEVICE_TYPES[type_name] = DeviceType(backend, default_index)


def unregister_device(type_name):
    """Remove a device type added with register_device."""
    if type_name in ("cpu", "cuda"):
        raise ValueError(f"unregister_device: {type_name!r} is built in")
    if _DEVICE_TYPES.pop(type_name, None) is None:
        raise ValueError(f"unregister_device: unknown device type {type_name!r}")
    _bound.pop(type_name, None)


def set_backend(name):
    """Choose the CPU backend: "numpy" (the reference) or "numba" (compiled kernels); raises if it cannot load."""
    if name not in _CPU_BACKENDS:
        raise ValueError(f"set_backend: unknown CPU backend {name!r}; choose one of {sorted(_CPU_BACKENDS)}")
    _bound["cpu"] = _bind(_import(_CPU_BACKENDS[name], f"{name!r} CPU backend"))


def get_backend_name():
    """The name of the CPU backend: "numba" or "numpy"."""
    return get_backend(CPU).name


CPU = Device("cpu")
