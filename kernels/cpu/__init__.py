"""Numba CPU kernels (plain numpy arrays in and out; compiled lazily on first call, cached on disk).

matmul: the blocked GEMM, with its register-tile micro-kernel in micro.py (written by
gen_micro.py); conv: patch gathering for the conv GEMMs, direct convolution, bias gradient;
pool: max/avg pooling; fused: one-pass ReLU, optimiser updates and softmax cross-entropy;
rnn: a recurrent layer's whole time loop (forward and backpropagation through time) in one call.
minigrad.backend.cpu_backend wraps them in the backend API and allocates their big outputs with
numpy (the kernels fill arrays they are handed), so that every large block comes from the one
allocator that minigrad.backend.memory tunes.
"""
