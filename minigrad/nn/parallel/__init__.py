"""Data-parallel wrappers: DistributedDataParallel (over MPI, see minigrad.distributed)."""
from .distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
