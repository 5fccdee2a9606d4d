"""Data-parallel training over MPI, with torch.distributed's names.

Every process (a "rank") runs the same script; MPI starts them and connects them:

    mpiexec -n 4 python train.py                 # 4 ranks on this machine
    mpiexec -n 64 -hostfile hosts python train.py

    import minigrad.distributed as dist
    dist.init_process_group("mpi")
    x = mg.tensor([float(dist.get_rank())])
    dist.all_reduce(x)                           # in place: x = 0 + 1 + 2 + 3 on every rank

The collectives hand numpy buffers straight to mpi4py's upper-case calls (Allreduce, Bcast,
Allgather: the buffer interface, no pickling). CuPy arrays are copied to host memory and back, unless
MINIGRAD_MPI_CUDA_AWARE=1 says that the MPI library was built CUDA-aware (then mpi4py passes device
pointers). The mpich wheels from `pip install minigrad[distributed]` are not CUDA-aware.

If a rank dies of an uncaught exception, it prints its traceback and one line naming the rank and
the error, then aborts the whole job (MPI_Abort), so that the other ranks do not wait forever inside
a collective for a partner that has gone. A rank that leaves otherwise (sys.exit, the end of its
script) waits at exit for the others to leave too, at most `timeout` (init_process_group's, 30 minutes
by default as in torch), then aborts the job saying so.
"""
import atexit
import datetime
import enum
import os
import sys
import time

import numpy as np

__all__ = ["ReduceOp", "is_available", "init_process_group", "is_initialized", "destroy_process_group",
           "get_rank", "get_world_size", "get_backend", "all_reduce", "broadcast", "all_gather", "barrier", "keras"]


class ReduceOp(enum.Enum):
    """How all_reduce combines the ranks' tensors."""
    SUM = "sum"
    AVG = "avg"  # MPI has no average: a sum, then a division by the world size
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"


_group = None  # the default process group, once init_process_group has run


class _Group:
    def __init__(self, mpi, comm, timeout):
        self.MPI, self.comm, self.timeout = mpi, comm, timeout
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.previous_excepthook = sys.excepthook


def _mpi(fn):
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError(f"{fn}: minigrad.distributed needs mpi4py and an MPI library: "
                          "pip install 'minigrad[distributed]'") from e
    return MPI


def is_available():
    """Whether mpi4py (and so an MPI library) can be imported."""
    try:
        _mpi("is_available")
    except ImportError:
        return False
    return True


def init_process_group(backend="mpi", init_method=None, timeout=None, world_size=-1, rank=-1, store=None,
                       group_name=""):
    """Join this process to the job MPI started (mpiexec/srun decide world size and ranks).

    backend: "mpi" (the only one). world_size, rank: optional; when given they must match what MPI
    says. timeout: a datetime.timedelta (default 30 minutes, as torch): how long a rank that is leaving
    waits at exit for the others before it aborts the job. init_method, store, group_name: accepted
    for torch's signature, unused by MPI.
    """
    global _group
    if backend is not None and str(backend).lower() != "mpi":
        raise ValueError(f"init_process_group: backend {backend!r} is not available; minigrad has only 'mpi' "
                         "(start the ranks with mpiexec -n N python script.py)")
    if _group is not None:
        raise RuntimeError("init_process_group: the default process group is already initialised")
    if timeout is None:
        timeout = datetime.timedelta(minutes=30)
    if not isinstance(timeout, datetime.timedelta) or timeout.total_seconds() <= 0:
        raise ValueError(f"init_process_group: timeout must be a positive datetime.timedelta, got {timeout!r}")
    MPI = _mpi("init_process_group")
    comm = MPI.COMM_WORLD.Dup()  # our own communicator: our collectives never meet the user's own MPI calls
    group = _Group(MPI, comm, timeout.total_seconds())
    for name, given, actual in (("world_size", world_size, group.size), ("rank", rank, group.rank)):
        if given is not None and given != -1 and given != actual:
            comm.Free()
            raise ValueError(f"init_process_group: {name}={given} but MPI started this process with "
                             f"{name}={actual} (mpiexec -n decides the world size)")
    _group = group
    sys.excepthook = _abort_on_exception
    atexit.register(_leave, group)  # (Python's atexit handlers run before mpi4py finalises MPI)
    return None


def _leave(group):
    """At exit: wait for every rank to reach its exit too. MPI_Finalize waits for them anyway; this wait
    has a deadline, so a rank that left early (sys.exit) while the others wait for it in a collective
    ends the job with a message instead of a silent hang."""
    if group.size == 1 or group.MPI.Is_finalized():
        return
    request, deadline = group.MPI.COMM_WORLD.Ibarrier(), time.monotonic() + group.timeout
    while not request.Test():
        if time.monotonic() > deadline:
            sys.stderr.write(f"minigrad.distributed: rank {group.rank} of {group.size} is exiting, but other ranks "
                             f"did not reach their exit within {group.timeout:g} s (still waiting for this one in "
                             "a collective?); aborting all ranks\n")
            _abort(group)
        time.sleep(0.002)


def _abort(group):
    """End every rank. The pause lets mpiexec forward this rank's last stderr lines first: an abort that
    follows a write at once often kills the forwarding before the message is out."""
    sys.stdout.flush()
    sys.stderr.flush()
    time.sleep(0.5)
    group.MPI.COMM_WORLD.Abort(1)


def _abort_on_exception(exc_type, exc, tb):
    group = _group
    (group.previous_excepthook if group else sys.__excepthook__)(exc_type, exc, tb)
    if group is not None and group.size > 1:
        sys.stderr.write(f"minigrad.distributed: rank {group.rank} of {group.size} failed with "
                         f"{exc_type.__name__}: {exc}; aborting all ranks\n")
        _abort(group)


def is_initialized():
    return _group is not None


def _default_group(fn, group=None):
    if group is not None:
        raise ValueError(f"{fn}: only the default process group (group=None) is supported")
    if _group is None:
        raise RuntimeError(f"{fn}: the default process group is not initialised; call "
                           "minigrad.distributed.init_process_group('mpi') first")
    return _group


def destroy_process_group(group=None):
    """Leave the process group (the MPI library itself finalises at exit)."""
    global _group
    g = _default_group("destroy_process_group", group)
    if sys.excepthook is _abort_on_exception:
        sys.excepthook = g.previous_excepthook
    g.comm.Free()
    _group = None


def get_rank(group=None):
    """This process's rank, 0 .. world_size - 1."""
    return _default_group("get_rank", group).rank


def get_world_size(group=None):
    return _default_group("get_world_size", group).size


def get_backend(group=None):
    _default_group("get_backend", group)
    return "mpi"


def _comm(fn, group=None):
    """The MPI module and the group's communicator (for nn.parallel and the tests)."""
    g = _default_group(fn, group)
    return g.MPI, g.comm


def barrier(group=None, async_op=False):
    """Wait until every rank has reached this call."""
    g = _default_group("barrier", group)
    if async_op:
        return Work(g.comm.Ibarrier())
    g.comm.Barrier()
    return None


# ------------------------------------------------------------------ buffers
def _cuda_aware():
    return os.environ.get("MINIGRAD_MPI_CUDA_AWARE", "0") == "1"


def _buffer(fn, tensor, name="tensor"):
    """A contiguous buffer MPI can read and write for tensor's data, and a function that puts what MPI
    wrote back into the tensor (None when MPI worked on the tensor's own memory)."""
    arr = getattr(tensor, "array", None)
    if arr is None:
        raise TypeError(f"{fn}: {name} must be a minigrad Tensor, got {type(tensor).__name__}")
    if isinstance(arr, np.ndarray):
        if arr.flags.c_contiguous and arr.flags.writeable:
            return arr, None
        host = np.ascontiguousarray(arr)
        return host, lambda: np.copyto(arr, host)
    if _cuda_aware() and arr.flags.c_contiguous:
        return arr, None
    import cupy
    host = np.ascontiguousarray(cupy.asnumpy(arr))  # a CuPy array, staged through host memory

    def write_back():
        arr[...] = cupy.asarray(host)
    return host, write_back


def _mpi_op(fn, MPI, op, dtype):
    if not isinstance(op, ReduceOp):
        raise TypeError(f"{fn}: op must be a minigrad.distributed.ReduceOp, got {op!r}")
    if op is ReduceOp.AVG and dtype.kind not in "fc":
        raise TypeError(f"{fn}: ReduceOp.AVG needs a floating-point tensor, got {dtype}")
    if dtype == np.bool_ and op in (ReduceOp.SUM, ReduceOp.AVG):
        raise TypeError(f"{fn}: op {op.name} is not defined for bool tensors (use MAX for any, MIN for all)")
    if dtype == np.bool_:  # MPI reduces bools only with logical ops
        return {ReduceOp.PRODUCT: MPI.LAND, ReduceOp.MIN: MPI.LAND, ReduceOp.MAX: MPI.LOR}[op]
    return {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD,
            ReduceOp.MIN: MPI.MIN, ReduceOp.MAX: MPI.MAX}[op]


class Work:
    """A collective in flight (async_op=True): wait() finishes it, is_completed() polls it."""

    def __init__(self, request, finish=None):
        self._request, self._finish, self._done = request, finish, False

    def _complete(self):
        if not self._done:
            self._done = True
            if self._finish is not None:
                self._finish()

    def is_completed(self):
        if not self._done and self._request.Test():
            self._complete()
        return self._done

    def wait(self, timeout=None):
        if not self._done:
            self._request.Wait()
            self._complete()
        return True


def _run(start, blocking, finish, async_op):
    """Run a collective blocking, or start it non-blocking and return its Work."""
    if async_op:
        return Work(start(), finish)
    blocking()
    finish()
    return None


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Combine `tensor` (any shape, the same shape and dtype on every rank) across ranks, in place:
    afterwards every rank holds op(tensor on rank 0, tensor on rank 1, ...)."""
    g = _default_group("all_reduce", group)
    buf, write_back = _buffer("all_reduce", tensor)
    mpi_op = _mpi_op("all_reduce", g.MPI, op, np.dtype(buf.dtype))

    def finish():
        if op is ReduceOp.AVG:
            buf[...] /= g.size
        if write_back is not None:
            write_back()
        tensor._version[0] += 1
    return _run(lambda: g.comm.Iallreduce(g.MPI.IN_PLACE, buf, op=mpi_op),
                lambda: g.comm.Allreduce(g.MPI.IN_PLACE, buf, op=mpi_op), finish, async_op)


def broadcast(tensor, src, group=None, async_op=False):
    """Copy rank `src`'s tensor into `tensor` on every rank, in place (same shape and dtype everywhere)."""
    g = _default_group("broadcast", group)
    if isinstance(src, bool) or not isinstance(src, (int, np.integer)) or not 0 <= src < g.size:
        raise ValueError(f"broadcast: src must be a rank in [0, {g.size - 1}], got {src!r}")
    buf, write_back = _buffer("broadcast", tensor)

    def finish():
        if write_back is not None:
            write_back()
        tensor._version[0] += 1
    return _run(lambda: g.comm.Ibcast(buf, root=int(src)), lambda: g.comm.Bcast(buf, root=int(src)),
                finish, async_op)


def _check_same_everywhere(fn, comm, shape, dtype):
    """Raise the same ValueError on every rank unless all ranks pass the same shape and dtype."""
    mine = (tuple(int(s) for s in shape), str(dtype))
    listed = [(tuple(s), d) for s, d in map(_decode, _allgather_bytes(comm, _encode(mine)))]
    if len(set(listed)) > 1:
        raise ValueError(f"{fn}: every rank must pass the same shape and dtype; got "
                         + ", ".join(f"rank {r}: {s} {d}" for r, (s, d) in enumerate(listed)))


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """tensor_list[r] <- rank r's `tensor`, on every rank. tensor_list: world_size tensors of tensor's
    shape and dtype (overwritten in place)."""
    g = _default_group("all_gather", group)
    if not isinstance(tensor_list, (list, tuple)) or len(tensor_list) != g.size:
        raise ValueError(f"all_gather: tensor_list must be a list of world_size={g.size} tensors, got "
                         f"{len(tensor_list) if isinstance(tensor_list, (list, tuple)) else type(tensor_list).__name__}")
    buf, _ = _buffer("all_gather", tensor)
    for i, t in enumerate(tensor_list):
        if tuple(t.shape) != tuple(buf.shape) or getattr(t, "array", buf).dtype != buf.dtype:
            raise ValueError(f"all_gather: tensor_list[{i}] has shape {tuple(t.shape)} and dtype {t.dtype}, but "
                             f"tensor has shape {tuple(buf.shape)} and dtype {buf.dtype}")
    _check_same_everywhere("all_gather", g.comm, buf.shape, buf.dtype)
    out = np.empty((g.size,) + buf.shape, dtype=buf.dtype)

    def finish():
        for r, t in enumerate(tensor_list):
            dst, write_back = _buffer("all_gather", t, f"tensor_list[{r}]")
            dst[...] = out[r]
            if write_back is not None:
                write_back()
            t._version[0] += 1
    return _run(lambda: g.comm.Iallgather(buf, out), lambda: g.comm.Allgather(buf, out), finish,
                async_op)


# ------------------------------------------------------------------ small messages (no pickle: JSON bytes)
def _encode(obj):
    import json
    return json.dumps(obj).encode()


def _decode(data):
    import json
    return json.loads(data.decode())


def _allgather_bytes(comm, data):
    """Every rank's byte string, on every rank (lengths first, then the bytes: both as numpy buffers)."""
    counts = np.zeros(comm.Get_size(), dtype=np.int64)
    comm.Allgather(np.array([len(data)], dtype=np.int64), counts)
    out = np.empty(int(counts.sum()), dtype=np.uint8)
    displs = np.concatenate([[0], np.cumsum(counts)[:-1]])
    from mpi4py import MPI
    comm.Allgatherv(np.frombuffer(data, dtype=np.uint8), [out, counts.tolist(), displs.tolist(), MPI.BYTE])
    return [out[d:d + c].tobytes() for d, c in zip(displs, counts)]


from . import keras  # noqa: E402  (dist.keras.fit; it uses the functions above)
