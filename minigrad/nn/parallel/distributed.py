"""DistributedDataParallel: every rank trains the same model on its own share of each batch.

Each rank runs forward and backward on its part of the batch; the gradients are then averaged over
the ranks, so every optimiser step sees the gradient of the whole batch and the copies of the model
stay identical. Averaging is an all-reduce (sum over ranks, then / world size) and it overlaps with
backward:

    parameters, last registered first  ->  buckets of about bucket_cap_mb each (one dtype per bucket)
    backward: a parameter's post-accumulate-grad hook fires once its gradient is complete
              (a weight used twice fires once, after both contributions)
              -> its gradient is copied into its bucket; a full bucket starts a non-blocking
                 Iallreduce while backward goes on with the layers below
              -> each hook also calls Test on the reductions in flight: MPI moves a non-blocking
                 collective forward only inside MPI calls
    end of backward (autograd_engine.queue_callback): wait for every bucket, divide by the world
              size, copy the averages back into .grad

Buckets always start in the same order on every rank (bucket k only after buckets 0..k-1), as MPI
requires of collectives on one communicator.
"""
import contextlib
import json
import time

import numpy as np

from ... import distributed as dist
from ...autograd_engine import queue_callback
from ...grad_mode import is_grad_enabled
from ..module import Module

__all__ = ["DistributedDataParallel", "GradientReducer"]


class _Bucket:
    def __init__(self, params, dtype):
        self.params = params
        sizes = [p.array.size for p in params]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.buf = np.zeros(int(self.offsets[-1]), dtype=dtype)  # host memory (see dist._buffer on CuPy)
        self.reset()

    def reset(self):
        self.ready = set()  # ids of the parameters whose gradient is in buf
        self.request = None  # the Iallreduce in flight
        self.done = False

    def view(self, i):
        return self.buf[self.offsets[i]:self.offsets[i + 1]]


class GradientReducer:
    """Averages the gradients of `params` over all ranks during every backward pass while `active`.

    params: leaf tensors (duplicates are dropped: a tied weight is one parameter); bucket_cap_mb:
    the size at which a bucket is closed. Used by DistributedDataParallel and by the Keras helper.
    `wait_seconds` adds up the time spent waiting for reductions at the end of backward.
    """

    def __init__(self, params, bucket_cap_mb=25.0, fn="DistributedDataParallel"):
        if not bucket_cap_mb > 0:
            raise ValueError(f"{fn}: bucket_cap_mb must be > 0, got {bucket_cap_mb!r}")
        self.MPI, group_comm = dist._comm(fn)
        self.comm = group_comm.Dup()  # the buckets' collectives on a communicator of their own
        self.world = self.comm.Get_size()
        unique = list({id(p): p for p in params if p.requires_grad}.values())
        self.buckets, self._where = [], {}
        cap = bucket_cap_mb * 2**20
        current, size, dtype = [], 0, None
        for p in reversed(unique):  # backward produces the last layers' gradients first
            if current and (size + p.array.nbytes > cap or p.array.dtype != dtype):
                self.buckets.append(_Bucket(current, dtype))
                current, size = [], 0
            current.append(p)
            size += p.array.nbytes
            dtype = p.array.dtype
        if current:
            self.buckets.append(_Bucket(current, dtype))
        for b, bucket in enumerate(self.buckets):
            for i, p in enumerate(bucket.params):
                self._where[id(p)] = (b, i)
        self._handles = [p.register_post_accumulate_grad_hook(self._on_grad_ready) for p in unique]
        self.active = True
        self._in_pass = False
        self._next = 0  # the next bucket to start
        self.wait_seconds = 0.0

    def _on_grad_ready(self, p):
        if not self.active:
            return
        if not self._in_pass:
            self._in_pass = True
            queue_callback(self._finish)
        b, i = self._where[id(p)]
        bucket = self.buckets[b]
        bucket.view(i)[...] = _host(p.grad.array).reshape(-1)
        bucket.ready.add(id(p))
        self._start_ready_buckets()
        for bucket in self.buckets[:self._next]:  # let MPI move the reductions in flight along
            if not bucket.done:
                bucket.done = bucket.request.Test()

    def _start(self, bucket):
        bucket.request = self.comm.Iallreduce(self.MPI.IN_PLACE, bucket.buf, op=self.MPI.SUM)
        self._next += 1

    def _start_ready_buckets(self):
        while self._next < len(self.buckets) and len(self.buckets[self._next].ready) == len(
                self.buckets[self._next].params):
            self._start(self.buckets[self._next])

    def _finish(self):
        """End of backward: reduce what is left (a parameter this pass did not reach contributes the
        .grad it already has, zeros if none), wait, and write the averages into .grad."""
        for bucket in self.buckets[self._next:]:
            for i, p in enumerate(bucket.params):
                if id(p) not in bucket.ready:
                    bucket.view(i)[...] = 0 if p.grad is None else _host(p.grad.array).reshape(-1)
            self._start(bucket)
        t0 = time.perf_counter()
        for bucket in self.buckets:
            if not bucket.done:
                bucket.request.Wait()
        self.wait_seconds += time.perf_counter() - t0
        for bucket in self.buckets:
            bucket.buf /= self.world
            for i, p in enumerate(bucket.params):
                avg = bucket.view(i).reshape(p.shape)
                if p.grad is None:
                    if id(p) not in bucket.ready and not avg.any():
                        continue  # unused on every rank: keep None, as a single process would
                    p.grad = type(p)._make(p.xp.zeros(p.shape, dtype=p.array.dtype), p.device)
                _write(p.grad.array, avg)
                p.grad._version[0] += 1
            bucket.reset()
        self._next = 0
        self._in_pass = False

    def remove(self):
        """Take the hooks out (the parameters go back to plain local gradients)."""
        for h in self._handles:
            h.remove()
        self._handles = []
        self.comm.Free()


def _host(arr):
    return arr if isinstance(arr, np.ndarray) else arr.get()


def _write(dst, src):
    if isinstance(dst, np.ndarray):
        np.copyto(dst, src)
    else:  # CuPy
        import cupy
        dst[...] = cupy.asarray(src)


def _describe(named):
    return [[name, list(t.shape), str(t.array.dtype)] for name, t in named]


def check_same_structure(fn, comm, named, what):
    """Raise the same ValueError on every rank unless every rank has the same names, shapes and dtypes."""
    everyone = [json.loads(b) for b in dist._allgather_bytes(comm, json.dumps(_describe(named)).encode())]
    problems = []
    for r, theirs in enumerate(everyone[1:], start=1):
        if theirs == everyone[0]:
            continue
        mine0 = {n: (s, d) for n, s, d in everyone[0]}
        for name, shape, dtype in theirs:
            if name not in mine0:
                problems.append(f"rank {r} has {what} {name!r} {tuple(shape)} that rank 0 lacks")
            elif mine0[name] != (shape, dtype):
                s0, d0 = mine0[name]
                problems.append(f"{what} {name!r} is {tuple(s0)} {d0} on rank 0 but {tuple(shape)} {dtype} "
                                f"on rank {r}")
        names_r = {n for n, _, _ in theirs}
        problems += [f"rank 0 has {what} {n!r} that rank {r} lacks" for n in mine0 if n not in names_r]
        if not problems:
            problems.append(f"the {what}s are registered in a different order on rank {r} than on rank 0")
    if problems:
        raise ValueError(f"{fn}: every rank must hold the same model; " + "; ".join(problems[:5])
                         + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""))


class DistributedDataParallel(Module):
    """Wrap `module` for data-parallel training: model = DistributedDataParallel(module).

    At construction, checks that every rank's module has the same parameters and buffers (names,
    shapes, dtypes: a clear ValueError on every rank otherwise) and copies rank 0's values to all.
    forward(*args) runs module(*args); the backward pass that follows averages the gradients over the
    ranks. model.module is the wrapped module (save its state_dict, as in torch).

    bucket_cap_mb: the bucket size (torch's default, 25 MB). broadcast_buffers: copy rank 0's buffers
    (BatchNorm running statistics) to every rank at each forward. device_ids, output_device, dim,
    process_group (only the default group), find_unused_parameters (always on: a parameter that
    backward did not reach contributes its current .grad, zeros if none), gradient_as_bucket_view, static_graph: accepted
    for torch's signature.
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=True,
                 process_group=None, bucket_cap_mb=None, find_unused_parameters=False,
                 gradient_as_bucket_view=False, static_graph=False):
        super().__init__()
        fn = "DistributedDataParallel"
        if not isinstance(module, Module):
            raise TypeError(f"{fn}: module must be a minigrad.nn.Module, got {type(module).__name__}")
        _, comm = dist._comm(fn, process_group)
        self.module = module
        self.broadcast_buffers = bool(broadcast_buffers)
        self.require_backward_grad_sync = True
        check_same_structure(fn, comm, list(module.named_parameters()), "parameter")
        check_same_structure(fn, comm, list(module.named_buffers()), "buffer")
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t, 0)
        self.reducer = GradientReducer(module.parameters(), 25.0 if bucket_cap_mb is None else bucket_cap_mb, fn)

    def forward(self, *args, **kwargs):
        if self.broadcast_buffers and self.training:
            for b in self.module.buffers():
                dist.broadcast(b, 0)
        if self.reducer._in_pass:
            raise RuntimeError("DistributedDataParallel: the previous backward pass stopped half-way (an exception "
                               "inside it), leaving gradient reductions in flight; the ranks are out of step and "
                               "cannot train on together")
        # as in torch, the decision to reduce is taken here and holds for the backward pass that follows
        self.reducer.active = self.require_backward_grad_sync and is_grad_enabled()
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """Inside: forward/backward passes only add to the local .grad (gradient accumulation); the first
        backward after a forward outside it averages everything accumulated."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous
