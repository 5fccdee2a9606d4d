"""Data-parallel wrappers: DistributedDataParallel."""
