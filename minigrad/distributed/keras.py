"""Data-parallel fit() for the Keras face: the one-line change is model.fit(...) -> dist.keras.fit(model, ...).

    import minigrad as tf
    import minigrad.distributed as dist
    dist.init_process_group("mpi")
    model = tf.keras.Sequential([...]); model.compile(...)
    history = dist.keras.fit(model, x_train, y_train, batch_size=64, epochs=5)    # mpiexec -n 4 python ...

Every rank trains on its own shard of (x, y) (the DistributedSampler split, without shuffling: rank r
takes samples r, r + R, ...); batch_size is per rank, so one step sees batch_size * world_size samples.
Rank 0's weights are copied to every rank first and the gradients are averaged over the ranks in every
backward pass, so all copies stay equal. Only rank 0 prints (verbose is set to 0 elsewhere).
The 'loss' and metrics in the History are this rank's (its shard's); validation figures are computed on
the whole validation set on every rank and agree. Callbacks run on every rank: give file-writing ones
(ModelCheckpoint, CSVLogger) to rank 0 only.
"""
import numpy as np

from ..utils.data.distributed import DistributedSampler

__all__ = ["fit"]


def fit(model, x=None, y=None, batch_size=None, verbose="auto", bucket_cap_mb=25.0, **fit_kwargs):
    """model.fit(x, y, ...) on this rank's shard, with gradients averaged across ranks; returns the History.

    x: an array (N, ...) or a list of arrays (several inputs); y: (N, ...). An iterable of batches is
    passed through as it is (shard it yourself, e.g. DataLoader(sampler=DistributedSampler(...))).
    """
    from ..nn.parallel.distributed import GradientReducer, check_same_structure
    from . import _comm, broadcast, get_rank, get_world_size  # (here: this package imports this module)
    _, comm = _comm("distributed.keras.fit")
    rank, world = get_rank(), get_world_size()
    if x is not None and y is not None:
        n = len(y)
        if n < world:
            raise ValueError(f"distributed.keras.fit: {n} samples cannot be shared among {world} ranks")
        shard = np.asarray(list(DistributedSampler(range(n), world, rank, shuffle=False)), dtype=np.int64)
        x = [np.asarray(a)[shard] for a in x] if isinstance(x, (list, tuple)) else np.asarray(x)[shard]
        y = np.asarray(y)[shard]
        if not model.weights:  # a model without a declared input shape builds on its first batch
            model.build((None,) + (x[0] if isinstance(x, list) else x).shape[1:])
    weights = model.weights
    check_same_structure("distributed.keras.fit", comm, [(str(i), w) for i, w in enumerate(weights)], "weight")
    for w in weights:
        broadcast(w, 0)
    trainable = model.trainable_weights
    for w in trainable:
        w.requires_grad = True
    reducer = GradientReducer(trainable, bucket_cap_mb, "distributed.keras.fit")
    try:
        return model.fit(x, y, batch_size=batch_size, verbose=verbose if rank == 0 else 0, **fit_kwargs)
    finally:
        reducer.remove()
