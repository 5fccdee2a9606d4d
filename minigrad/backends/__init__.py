"""`minigrad.backends`: the flags of torch.backends that tutorials read.

(Not to be confused with `minigrad.backend`, which runs the kernels of each device.)
mps: minigrad has no Apple-GPU backend, so `mps.is_available()` and `mps.is_built()` are False.
cudnn: minigrad's CUDA kernels are its own, not cuDNN's; the flags are kept so code that sets
them (`cudnn.benchmark = True`) runs, and they change nothing.
"""
from . import cudnn, mps

__all__ = ["cudnn", "mps"]
