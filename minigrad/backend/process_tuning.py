"""What the Numba backend changes in the process for speed: listed, explained, and each one optional.

Nothing changes at `import minigrad`, nor when tensors are made or another backend runs. Just
before the Numba backend's first kernel runs, `apply()` makes three changes, once per process
(call it yourself as `minigrad.backend.apply_tuning()` to make them earlier, e.g. before your own
Numba code starts Numba's threads; `minigrad.backend.restore_tuning()` undoes them); `minigrad.backend.tuning()` lists them with their current
values (`print(*tuning(), sep="\\n")`). MINIGRAD_TUNING=0 turns all three off.

  GOMP_SPINCOUNT=10000  Numba's idle OpenMP threads spin briefly, then sleep (process-wide).
  BLAS threads          numpy's BLAS runs the products that the Numba backend's matmul hands to
                        it on one thread, for those calls only: the rest of the process keeps
                        numpy's own thread count.
  malloc                glibc keeps freed big blocks for reuse instead of unmapping them
                        (process-wide; see memory.py).

Not a process setting: the GEMM micro-kernel is compiled with LLVM's SLP vectoriser, switched on
for that kernel's compilation only (kernels/cpu/matmul.py).
"""
import itertools
import os
import threading
import warnings
from collections import namedtuple

from . import memory

SPINCOUNT = "10000"

_lock = threading.Lock()
_done = {}  # setting -> what apply() did: "set", "yours", "late", "off", "missing"


class Setting(namedtuple("Setting", "name value status what why opt_out")):
    """One process setting: its name, current value, what minigrad did with it, and why."""

    def __str__(self):
        return (f"{self.name} = {self.value}  [{self.status}]\n    what: {self.what}\n    why: {self.why}\n"
                f"    opt out: {self.opt_out}")


class BlasLimit:
    """`blas_limit.call(np.matmul, a, b)` runs numpy's BLAS on `threads` threads for that call, then
    gives it back its previous count. Calls the limit finds in place (nested ones, or another
    thread's) change nothing, so the count that is restored is never the limit itself. Unarmed
    (before apply(), or opted out) it only calls.

    One limited call costs about half a microsecond more: three direct calls into OpenBLAS.
    """

    def __init__(self):
        self.threads = None  # None: leave BLAS alone
        self.get_threads = self.set_threads = None

    def arm(self, threads, get_threads, set_threads):
        self.get_threads, self.set_threads, self.threads = get_threads, set_threads, threads

    def call(self, fn, *args):
        if self.threads is None:
            return fn(*args)
        saved = self.get_threads()
        if saved == self.threads:
            return fn(*args)
        self.set_threads(self.threads)
        try:
            return fn(*args)
        finally:
            self.set_threads(saved)


blas_limit = BlasLimit()


def _off(variable=None):
    """True when the user turned this setting (or all of them, MINIGRAD_TUNING=0) off."""
    return os.environ.get("MINIGRAD_TUNING", "1") == "0" or (variable is not None
                                                            and os.environ.get(variable, "1") == "0")


def _numba_threads_started():
    from numba.np.ufunc import parallel
    return getattr(parallel, "_is_initialized", False)


def _set_spincount():
    if _off():
        return "off"
    if "GOMP_SPINCOUNT" in os.environ:
        return "yours"
    if _numba_threads_started():  # libgomp reads the variable once, when Numba starts its threads
        warnings.warn("minigrad: Numba's OpenMP threads started before the Numba backend's first kernel, so "
                      f"GOMP_SPINCOUNT={SPINCOUNT} cannot take effect: idle threads spin as long as libgomp's "
                      "default, which slows training on a busy machine. Call minigrad.backend.apply_tuning() (or "
                      "set GOMP_SPINCOUNT) before your own Numba code starts them; MINIGRAD_TUNING=0 silences this.",
                      RuntimeWarning, stacklevel=4)
        return "late"
    os.environ["GOMP_SPINCOUNT"] = SPINCOUNT
    return "set"


def _openblas_calls(lib):
    """(get, set) thread-count functions of an OpenBLAS, called directly; None if not found."""
    for prefix, suffix in itertools.product(("", "scipy_"), ("", "64_", "_64")):
        get = getattr(lib.dynlib, f"{prefix}openblas_get_num_threads{suffix}", None)
        if get is not None:
            return get, getattr(lib.dynlib, f"{prefix}openblas_set_num_threads{suffix}")
    return None


def _numpy_blas():
    """(get, set) thread-count functions of the BLAS that numpy calls, or None when none is found."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    libs = ThreadpoolController().select(user_api="blas").lib_controllers
    libs = [lib for lib in libs if "numpy" in lib.filepath] or libs  # numpy's own copy, not scipy's
    if not libs:
        return None
    lib = libs[0]
    if lib.internal_api == "openblas" and lib.threading_layer == "pthreads":
        calls = _openblas_calls(lib)  # ~0.3 us a round trip; threadpoolctl's methods take ~1.3 us
        if calls:
            return calls
    return lib.get_num_threads, lib.set_num_threads


def _blas_threads():
    value = os.environ.get("MINIGRAD_BLAS_THREADS", "1")
    if not value.isdigit():
        raise ValueError(f"MINIGRAD_BLAS_THREADS must be a whole number >= 0 (0: leave BLAS alone), got {value!r}")
    return int(value)


def _limit_blas(threads):
    if _off() or threads == 0:
        return "off"
    calls = _numpy_blas()
    if calls is None:
        return "missing"
    blas_limit.arm(threads, *calls)
    return "set"


def _tune_malloc():
    if _off("MINIGRAD_MALLOC_TUNING"):
        return "off"
    return "set" if memory.tune_malloc() else "missing"


def apply():
    """Make the settings above, once per process (the Numba backend calls this before its first kernel;
    exported as minigrad.backend.apply_tuning)."""
    with _lock:
        if _done:
            return
        threads = _blas_threads()  # a bad value stops here, before anything has changed
        _done["GOMP_SPINCOUNT"] = _set_spincount()
        _done["BLAS threads"] = _limit_blas(threads)
        _done["malloc"] = _tune_malloc()


def restore():
    """Undo what apply() set (exported as minigrad.backend.restore_tuning): BLAS keeps its own thread
    count in every call again, glibc gets its default malloc thresholds, and GOMP_SPINCOUNT leaves the
    environment (Numba's running threads keep the value they started with). apply() does nothing after."""
    with _lock:
        if _done.get("BLAS threads") == "set":
            blas_limit.threads = None
        if _done.get("malloc") == "set":
            memory.restore_malloc()
        if _done.get("GOMP_SPINCOUNT") == "set" and os.environ.get("GOMP_SPINCOUNT") == SPINCOUNT:
            del os.environ["GOMP_SPINCOUNT"]
        for setting in ("GOMP_SPINCOUNT", "BLAS threads", "malloc"):
            _done[setting] = "restored" if _done.get(setting) in (None, "set") else _done[setting]


def _status(setting, **words):
    done = _done.get(setting)
    if done is None:
        return "not applied yet: minigrad applies it before the Numba backend's first kernel"
    return {"set": "applied by minigrad", "restored": "restored by restore_tuning()", **words}[done]


def tuning():
    """Every process setting the Numba backend changes: (Setting(name, value, status, what, why,
    opt_out), ...), with current values. Nothing is applied until the Numba backend first runs."""
    spin = os.environ.get("GOMP_SPINCOUNT")
    if blas_limit.threads is None:
        blas = "numpy's own thread count in every call"
    else:
        blas = f"{blas_limit.threads} inside the Numba backend's matmuls, {blas_limit.get_threads()} elsewhere"
    return (
        Setting("GOMP_SPINCOUNT", spin if spin is not None else "unset (libgomp's default)",
                _status("GOMP_SPINCOUNT", yours="yours: minigrad leaves it alone", off="off: MINIGRAD_TUNING=0",
                        late="not set: Numba's OpenMP threads had started before, so it would do nothing"),
                "idle OpenMP threads of the Numba kernels spin ~10k times before they sleep (process-wide, "
                "read once when Numba starts its threads)",
                "long enough to catch the next kernel of a training step, short enough not to starve OpenBLAS "
                "and other processes; measured on 2 cores: a 2-thread conv2d forward took 16 ms under the default "
                "spinning, 4.3 ms with sleeping at once, but a 64x64 matmul 135 us sleeping at once, 35 us here",
                "set GOMP_SPINCOUNT yourself before the first Numba kernel (minigrad never overrides it), "
                "or MINIGRAD_TUNING=0"),
        Setting("BLAS threads", blas,
                _status("BLAS threads", off="off: MINIGRAD_BLAS_THREADS=0 or MINIGRAD_TUNING=0",
                        missing="not applied: threadpoolctl found no BLAS library"),
                "numpy's BLAS runs the products the Numba backend's matmul hands it (the small ones) on "
                "MINIGRAD_BLAS_THREADS threads (default 1), set around those calls only",
                "OpenBLAS's idle threads spin after each call and starve the Numba kernel that comes next, "
                "and these products are too small to gain from more threads; measured on 2 cores with OpenBLAS "
                "on one thread: seed CNN training 488 -> 1235 images/s, seed MLP 45k -> 52k",
                "MINIGRAD_BLAS_THREADS=n for n threads, MINIGRAD_BLAS_THREADS=0 to leave BLAS alone"),
        Setting("malloc", "M_MMAP_MAX=0, M_TRIM_THRESHOLD=1 GiB" if _done.get("malloc") == "set" else "glibc's defaults",
                _status("malloc", off="off: MINIGRAD_MALLOC_TUNING=0 or MINIGRAD_TUNING=0",
                        missing="not applied: this C library is not glibc"),
                "glibc serves big blocks from its heap and keeps what is freed for reuse (process-wide)",
                "a training step frees and allocates the same MiB-sized arrays every iteration; returning them "
                "to the OS costs a page fault per 4 KiB at each reuse (seed CNN step 52 ms -> 33 ms)",
                "MINIGRAD_MALLOC_TUNING=0, or MINIGRAD_TUNING=0"),
    )
