"""Data-parallel training over MPI, with torch.distributed's names."""
