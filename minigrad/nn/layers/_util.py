"""Helpers shared by the layer files: making parameters of the default dtype."""
import numpy as np

from ...tensor import _device, _xp, get_default_dtype
from ..module import Parameter


def new_parameter(shape, dtype=None, device=None):
    """An uninitialised (zero) Parameter; the layer's reset_parameters() fills it."""
    dev = _device(device)
    dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
    p = Parameter.__new__(Parameter)
    Parameter.__init__(p, _xp(dev).zeros(shape, dtype=dt))
    p.device = dev
    return p
