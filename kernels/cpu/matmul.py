"""Blocked, packed GEMM:  C[t] += A[a_idx[t]] @ B[b_idx[t]]  (float32 / float64), either operand
stored transposed or not (the packing absorbs the layout, so callers never transpose).

Blocking scheme (GotoBLAS order, outer-product micro-kernel):
  * Work is cut into (k slice, batch t, MG-row block, NC-column block) tasks, spread with prange.
  * A is packed once, whole, into panels of MR rows stored k-major (ap[k*MR + i]): every task
    that shares it (a conv's weights serve all images) reads the same panels. Per k block of at
    most KC_MAX, a task packs its NC columns of B into panels of NR columns (bp[k*NR + j]).
    Ragged panels are zero-filled, so the micro-kernel never branches inside.
  * Micro-kernel (micro.py): an MR x NR tile of C in registers; each k is one outer product,
    NR loads of b and MR broadcasts of a. A B panel (KC_MAX x NR) stays in L1 while the tile
    walks down the packed A block (in L2). No horizontal sums, so short k costs nothing extra.
  * LLVM's SLP vectoriser turns each row of the tile into one SIMD register. Numba leaves SLP off
    by default, so the GEMM is compiled with it on (`slp_vectorized`, for this kernel only), and
    `fastmath` is limited to "contract" (FMA): with reassociation allowed the loop vectoriser
    would rewrite the k loop into dot products instead.
  * The cache blocking is chosen at run time from the CPU's own caches (tile_shape): the B panel
    (KC x NR) takes half of L1d, the A block a task sweeps (MC x KC) half of L2. The two CPU
    families met here differ: 48 KiB L1d / 2 MiB L2 (Xeon, Sapphire Rapids) against 32 KiB / 1 MiB
    (EPYC, Zen 4); both run the 8 x 16 register tile, 8 of their 32 vector registers.
"""
import contextlib
import functools
import re
from pathlib import Path

import numba
import numpy as np
from numba import njit, prange
from numba.core import codegen as _codegen
from numba.core.compiler_lock import global_compiler_lock

from .micro import MR, NR, micro_kernel

MICRO_KERNEL = "8x16-d2cd725409611849"

MC = 96       # rows of A a task sweeps per B block when the caches cannot be read (a multiple of MR)
KC_MAX = 256  # longest k block likewise: a float32 B panel is 16 KiB, half of a 32 KiB L1


def _size(text):
    """'48K' -> 49152 (the format of /sys/devices/system/cpu/cpu0/cache/index*/size)."""
    m = re.fullmatch(r"\s*(\d+)\s*([KMG]?)i?B?\s*", text)
    if not m:
        return None
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2)]


def cache_sizes(root="/sys/devices/system/cpu/cpu0/cache"):
    """{"L1d": bytes, "L2": bytes, "L3": bytes} of this CPU (what it reports; missing levels left out)."""
    out = {}
    for d in sorted(Path(root).glob("index*")):
        try:
            level, kind, size = ((d / f).read_text().strip() for f in ("level", "type", "size"))
        except OSError:
            continue
        if kind == "Instruction" or _size(size) is None:
            continue
        out["L1d" if level == "1" else f"L{level}"] = _size(size)
    return out


def cpu_flags(path="/proc/cpuinfo"):
    """The instruction-set flags of this CPU ('avx512f', 'avx2', 'fma', ...); empty where unreadable."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


@functools.lru_cache(maxsize=None)
def tile_shape(itemsize, caches=None):
    """(KC, MC) for elements of `itemsize` bytes: the longest k block and the rows of A per B block.

    KC: a B panel of KC x NR elements fills half of L1d (the other half streams A and C);
    MC: an A block of MC x KC elements fills half of L2 (B's block of NC columns shares the rest).
    Both are rounded down (KC to a multiple of 16, MC of MR) and kept to sane bounds; caches:
    a tuple of (level, bytes) pairs to plan for another machine (tests), else this one's."""
    c = dict(caches) if caches is not None else cache_sizes()
    l1, l2 = c.get("L1d"), c.get("L2")
    if not l1 or not l2:
        return KC_MAX, MC
    kc = max(64, min(1024, (l1 // 2) // (NR * itemsize) // 16 * 16))
    mc = max(MR * 4, min(1024, (l2 // 2) // (kc * itemsize) // MR * MR))
    return kc, mc


PREFER_512 = '"prefer-vector-width"="512"'  # an LLVM function attribute: plan and emit for zmm


@contextlib.contextmanager
def wide_vectors(flags=None):
    """While compiling (under the compiler lock): mark every function compiled as preferring 512-bit
    vectors, on CPUs with AVX-512 (flags: cpu_flags() unless given).

    Why: LLVM tunes most AVX-512 CPUs (Skylake-X to Sapphire Rapids, and the CPU model a VM reports)
    to "prefer-256-bit", so the register tile's rows of 16 float32 were split into two ymm halves:
    half the work per FMA. The function attribute overrides that tuning for these kernels alone, so
    other code keeps the CPU's default. Same instructions per element, so results do not change.
    On CPUs without AVX-512 nothing is marked (the attribute could not widen them anyway).
    """
    if "avx512f" not in (cpu_flags() if flags is None else flags):
        yield
        return
    add_ir_module = _codegen.CPUCodeLibrary.add_ir_module

    def add_wide(library, ir_module):
        for fn in ir_module.functions:
            if fn.blocks:  # definitions only (declarations take no such attribute)
                set.add(fn.attributes, PREFER_512)  # a string attribute llvmlite's checked add() refuses
        return add_ir_module(library, ir_module)

    _codegen.CPUCodeLibrary.add_ir_module = add_wide
    try:
        yield
    finally:
        _codegen.CPUCodeLibrary.add_ir_module = add_ir_module


def slp_vectorized(dispatcher):
    """Make a Numba function compile each new specialisation with LLVM's SLP vectoriser on.

    Numba reads numba.config.SLP_VECTORIZE while it compiles, and compiles under one process-wide
    lock. The dispatcher calls `_compile_for_args` only when no compiled (or cached) version fits
    the arguments; this wrapper takes that lock, so that the flag is on for this compilation alone:
    no other function, in any thread, is compiled meanwhile, and calls never touch the flag.

    On AVX-512 CPUs the functions compiled here also get full-width vectors (wide_vectors).
    """
    compile_for_args = dispatcher._compile_for_args

    def compile_with_slp(*args, **kwargs):
        with global_compiler_lock:
            before = numba.config.SLP_VECTORIZE
            numba.config.SLP_VECTORIZE = 1
            try:
                with wide_vectors():
                    return compile_for_args(*args, **kwargs)
            finally:
                numba.config.SLP_VECTORIZE = before

    dispatcher._compile_for_args = compile_with_slp
    return dispatcher


@njit(cache=True, inline="always")
def _pack_a(dst, src, km, r0, nrows, k0, kk):
    """dst[p, k*MR + i] = A[r0 + p*MR + i, k0 + k] for rows < nrows, zero past them.
    src holds A (M, K), or A transposed (K, M) when km."""
    zero = dst.dtype.type(0)
    npan = (nrows + MR - 1) // MR
    if km:  # one view per k row; MR neighbours sit side by side in it
        for k in range(kk):
            row = src[k0 + k, r0:]
            for p in range(npan):
                for i in range(MR):
                    dst[p, k * MR + i] = row[p * MR + i] if p * MR + i < nrows else zero
        return
    for p in range(npan):
        d = dst[p]
        for i in range(MR):
            if p * MR + i < nrows:
                s = src[r0 + p * MR + i, k0:]
                for k in range(kk):
                    d[k * MR + i] = s[k]
            else:
                for k in range(kk):
                    d[k * MR + i] = zero


@njit(cache=True, inline="always")
def _pack_b(dst, src, nk, c0, ncols, k0, kk):
    """dst[p, k*NR + j] = B[k0 + k, c0 + p*NR + j] for columns < ncols, zero past them.
    src holds B (K, N), or B transposed (N, K) when nk."""
    zero = dst.dtype.type(0)
    npan = (ncols + NR - 1) // NR
    if not nk:  # one view per k row; each panel's NR columns are one contiguous run of it
        full = ncols // NR
        for k in range(kk):
            row = src[k0 + k, c0:]
            for p in range(full):
                for j in range(NR):
                    dst[p, k * NR + j] = row[p * NR + j]
            for p in range(full, npan):
                for j in range(NR):
                    dst[p, k * NR + j] = row[p * NR + j] if p * NR + j < ncols else zero
        return
    for p in range(npan):
        d = dst[p]
        for j in range(NR):
            if p * NR + j < ncols:
                s = src[c0 + p * NR + j, k0:]
                for k in range(kk):
                    d[k * NR + j] = s[k]
            else:
                for k in range(kk):
                    d[k * NR + j] = zero


@njit(cache=True, inline="always")
def _pack_b_implicit(dst, X, base, ko, no, c0, ncols, k0, kk):
    """dst[p, k*NR + j] = X[base + ko[k0 + k] + no[c0 + p*NR + j]] for columns < ncols, zero past them.

    A B that is never built: a convolution's patch matrix is X[ko[k] + no[n]] with ko the offset of
    tap k and no the offset of output pixel n in the padded input (or the other way round).
    """
    zero = dst.dtype.type(0)
    npan = (ncols + NR - 1) // NR
    for k in range(kk):
        src = X[base + ko[k0 + k]:]
        for p in range(npan):
            for j in range(NR):
                dst[p, k * NR + j] = src[no[c0 + p * NR + j]] if p * NR + j < ncols else zero


@slp_vectorized
@njit(cache=True, parallel=True, fastmath={"contract"})
def _gemm(A, B, C, a_idx, b_idx, a_km, b_nk, MG, NC, KS, accumulate, X, ko, no, bstride, Apk, KCM, MCB):
    nt = a_idx.shape[0]
    M, N = C.shape[2], C.shape[3]
    K = A.shape[1] if a_km else A.shape[2]
    kslice = (K + KS - 1) // KS
    nkb = (kslice + KCM - 1) // KCM
    kc = (kslice + nkb - 1) // nkb                     # even split of the slice
    nmg = (M + MG - 1) // MG
    nnb = (N + NC - 1) // NC
    # Pack every A once, whole (all tasks that share it read the same panels): Apk[a, p, k*MR + i].
    npa = (M + MR - 1) // MR
    for q in prange(A.shape[0] * npa):
        pa = q % npa
        _pack_a(Apk[q // npa, pa:pa + 1], A[q // npa], a_km, pa * MR, min(MR, M - pa * MR), 0, K)
    for task in prange(KS * nt * nmg * nnb):
        s = task // (nt * nmg * nnb)
        task2 = task % (nt * nmg * nnb)
        t = task2 // (nmg * nnb)
        r = task2 % (nmg * nnb)
        g0 = (r // nnb) * MG
        g1 = min(M, g0 + MG)
        j0 = (r % nnb) * NC
        nj = min(N, j0 + NC) - j0
        kbeg = s * kslice
        kend = min(K, kbeg + kslice)
        Bp = np.empty(((NC + NR - 1) // NR, kc * NR), dtype=A.dtype)
        Ct = C[s, t]
        if kend <= kbeg and not accumulate:  # an empty k slice still owns its tile
            Ct[g0:g1, j0:j0 + nj] = 0
        Au = Apk[a_idx[t]]
        for k0 in range(kbeg, kend, kc):
            kk = min(kend, k0 + kc) - k0
            if ko.shape[0]:
                _pack_b_implicit(Bp, X, b_idx[t] * bstride, ko, no, j0, nj, k0, kk)
            else:
                _pack_b(Bp, B[b_idx[t]], b_nk, j0, nj, k0, kk)
            for i0 in range(g0, g1, MCB):      # MCB rows of A at a time stay in L2
                mi = min(g1, i0 + MCB) - i0
                for jp in range((nj + NR - 1) // NR):
                    cols = min(NR, nj - jp * NR)
                    for ip in range((mi + MR - 1) // MR):
                        rows = min(MR, mi - ip * MR)
                        micro_kernel(kk, Au[i0 // MR + ip, k0 * MR:], Bp[jp], Ct, i0 + ip * MR, j0 + jp * NR,
                                     rows, cols, accumulate or k0 != kbeg)
    return C


def gemm(A, B, C, a_idx, b_idx, a_km, b_nk, MG, NC, KS, accumulate=True, implicit=None):
    """C[s, t] += A_t[:, ks] @ B_t[ks, :] with A_t = A[a_idx[t]], B_t = B[b_idx[t]], over the s-th of KS
    slices ks of K (sum C over axis 0 afterwards when KS > 1).

    A: (na, M, K), or (na, K, M) when a_km; B: (nb, K, N), or (nb, N, K) when b_nk; all C-contiguous;
    a_idx, b_idx: (nt,) int64. A task owns MG rows x NC columns of one C[s, t] (MG a multiple of MR).
    accumulate: add onto C's values (a bias to start from); otherwise C may hold garbage, since each
    task's first k block stores instead of adding. implicit = (X, ko, no, bstride): B is not given
    (pass any 3-D array of A's dtype) but read as B_t[k, n] = X[b_idx[t] * bstride + ko[k] + no[n]].
    """
    if implicit is None:
        implicit = (np.empty(0, A.dtype), np.empty(0, np.int64), np.empty(0, np.int64), 0)
    m, k = C.shape[2], (A.shape[1] if a_km else A.shape[2])
    packed_a = np.empty((A.shape[0], (m + MR - 1) // MR, k * MR), dtype=A.dtype)
    kc, mc = tile_shape(A.dtype.itemsize)
    return _gemm(A, B, C, a_idx, b_idx, a_km, b_nk, MG, NC, KS, accumulate, *implicit, packed_a, kc, mc)
