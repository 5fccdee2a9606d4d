"""Helpers shared by the layer files: making parameters, torch's default initialisation."""
import math

import numpy as np

from ...factories import default_device
from ...tensor import get_default_dtype
from .. import init
from ..module import Parameter


def new_parameter(shape, dtype=None, device=None):
    """An uninitialised (zero) Parameter on `device` (default: mg.get_default_device()); the layer's
    reset_parameters() fills it."""
    dev = default_device(device)
    dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
    p = Parameter.__new__(Parameter)
    Parameter.__init__(p, dev.xp.zeros(shape, dtype=dt))
    p.device = dev
    return p


def reset_weight_and_bias(weight, bias):
    """torch's default for Linear and Conv: kaiming_uniform(a=sqrt(5)) on the weight, which works out
    to U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the same bound for the bias."""
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in = weight.shape[1] * math.prod(weight.shape[2:])
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(bias, -bound, bound)
