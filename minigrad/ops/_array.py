"""Which array module (numpy or cupy) holds an array."""
import numpy as np


def array_module(a):
    """numpy for numpy arrays (the fast path), cupy for cupy arrays."""
    if type(a) is np.ndarray:
        return np
    import cupy
    return cupy if isinstance(a, cupy.ndarray) else np
