"""Numba CPU kernels (plain numpy arrays in and out; compiled lazily on first call, cached on disk).

matmul: the blocked GEMM, with its register-tile micro-kernel in micro.py (written by
gen_micro.py); conv: patch gathering for the conv GEMMs, direct convolution, bias gradient;
pool: max/avg pooling; fused: one-pass ReLU and optimiser updates.
minigrad.backend.cpu_backend wraps them in the backend API.
"""
