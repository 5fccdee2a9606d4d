"""Numba CPU kernels (plain numpy arrays in and out; compiled lazily on first call, cached on disk).

matmul: blocked GEMM (gemm_nt) and a tiled transpose; conv: patch-matrix builders for the
conv GEMMs; pool: max/avg pooling. minigrad.backend.cpu_backend wraps them in the backend API.
"""
