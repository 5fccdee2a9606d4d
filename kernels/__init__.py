"""Kernels: Numba CPU kernels (`cpu`) and CUDA C sources (`cuda/*.cu`). They never import the Tensor."""
