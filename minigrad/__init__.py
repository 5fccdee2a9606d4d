"""minigrad: a readable deep-learning engine with a PyTorch-shaped core.

    import minigrad as mg
    x = mg.tensor([[1.0, 2.0]], requires_grad=True)
    y = (x @ x.T).sum()
    y.backward()          # x.grad == 2 * x
"""
from . import autograd
from .autograd import (enable_grad, grad, inference_mode, is_grad_enabled, is_inference_mode_enabled, no_grad,
                       set_grad_enabled)
from .backend import Device, get_backend_name, set_backend
from .random import Generator, default_generator, get_rng_state, initial_seed, manual_seed, seed, set_rng_state
from .tensor import (Size, Tensor, bool_, float16, float32, float64, get_default_dtype, int8, int16, int32, int64,
                     set_default_dtype, uint8)
from . import ops
# the tensor ops at the top level (mg.add, mg.sum, mg.where, ...); the layer ops stay in nn.functional
from .ops.compare import *  # noqa: F401,F403
from .ops.convert import *  # noqa: F401,F403
from .ops.elementwise import *  # noqa: F401,F403
from .ops.matmul import *  # noqa: F401,F403
from .ops.reduce import *  # noqa: F401,F403
from .ops.shape import *  # noqa: F401,F403
from .ops.softmax import *  # noqa: F401,F403
from .ops.sampling import *  # noqa: F401,F403
from .factories import (arange, empty, empty_like, eye, from_numpy, full, full_like, get_default_device, linspace,
                        ones, ones_like, rand, rand_like, randint, randn, randn_like, set_default_device, tensor, zeros,
                        zeros_like)
from .gradcheck import gradcheck, gradgradcheck
from .compile import compile  # noqa: A001 (torch.compile's name; the package stays importable as minigrad.compile)

float, double, half, long, int, bool = float32, float64, float16, int64, int32, bool_  # noqa: A001 (torch names)
device = Device
clip = clamp
concatenate = cat
divide, multiply, subtract = div, mul, sub


def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(x):
    return x.numel()


def set_num_threads(n):
    """Threads for the compiled CPU kernels (Numba)."""
    from .backend import apply_tuning
    apply_tuning()  # GOMP_SPINCOUNT is read when Numba starts its threads, just below
    import numba
    numba.set_num_threads(n)


def get_num_threads():
    import numba
    return numba.get_num_threads()


def __getattr__(name):  # the larger subpackages load on first use, keeping `import minigrad` quick
    import importlib
    if name in ("nn", "optim", "utils", "vision", "keras", "metrics", "cuda", "viz", "serialization", "testing",
                "accelerator", "backends", "linalg"):
        return importlib.import_module(f".{name}", __name__)
    if name in ("save", "load"):
        return getattr(importlib.import_module(".serialization", __name__), name)
    if name == "distributed":
        return importlib.import_module(".distributed", __name__)
    raise AttributeError(f"module 'minigrad' has no attribute {name!r}")


__version__ = "0.1.0"
