"""minigrad.distributed, nn.parallel.DistributedDataParallel and DistributedSampler.

The multi-rank checks run as `mpiexec -n 2 python tests/distributed/checks.py` (one launch, every check
reported by name); they are skipped when mpi4py or mpiexec is missing (pip install 'minigrad[distributed]').
The sampler's arithmetic and the argument checks run here, in one process.
"""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
import minigrad.distributed as dist
from minigrad.utils.data import DataLoader, DistributedSampler, TensorDataset

HERE = Path(__file__).parent / "distributed"


def _mpiexec():
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


def _need_mpi():
    pytest.importorskip("mpi4py")
    if _mpiexec() is None:
        pytest.skip("no mpiexec (pip install 'minigrad[distributed]' brings one)")


def _launch(args, timeout):
    return subprocess.run([_mpiexec(), "-n", "2", sys.executable, *args], capture_output=True, text=True,
                          timeout=timeout)


def _check_names():
    spec = importlib.util.spec_from_file_location("distributed_checks", HERE / "checks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.CHECKS)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    _need_mpi()
    out = tmp_path_factory.mktemp("ranks")
    proc = _launch([str(HERE / "checks.py"), str(out)], timeout=300)
    assert proc.returncode == 0, f"mpiexec failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]


@pytest.mark.parametrize("name", _check_names())
def test_under_mpiexec(results, name):
    for rank, by_name in enumerate(results):
        assert by_name[name] == "ok", f"rank {rank}:\n{by_name[name]}"


def test_a_rank_that_raises_aborts_the_job():
    _need_mpi()
    proc = _launch([str(HERE / "fail.py"), "raise"], timeout=60)
    assert proc.returncode != 0 and "finished" not in proc.stdout
    assert "rank 1 of 2 failed with ValueError: bad batch 7; aborting all ranks" in proc.stderr


def test_a_rank_that_exits_early_ends_the_job_after_the_deadline():
    _need_mpi()
    proc = _launch([str(HERE / "fail.py"), "exit"], timeout=60)
    assert proc.returncode != 0 and "finished" not in proc.stdout
    assert "rank 1 of 2 is exiting, but other ranks did not reach their exit within 2 s" in proc.stderr


# ------------------------------------------------------------------ one process
@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_matches_torch_without_shuffle(drop_last):
    torch_sampler = pytest.importorskip("torch.utils.data.distributed").DistributedSampler
    for n in (0, 1, 3, 10, 11):
        for world in (1, 2, 3, 4):
            for rank in range(world):
                mine = DistributedSampler(range(n), world, rank, shuffle=False, drop_last=drop_last)
                theirs = torch_sampler(range(n), world, rank, shuffle=False, drop_last=drop_last)
                assert list(mine) == list(theirs) and len(mine) == len(theirs), (n, world, rank)


def _shards(epoch, n=20, world=3):
    shards = []
    for rank in range(world):
        sampler = DistributedSampler(range(n), world, rank, seed=1)
        sampler.set_epoch(epoch)
        shards.append(list(sampler))
    return shards


def test_sampler_shuffles_per_epoch_and_the_same_on_every_rank():
    first, second = _shards(0), _shards(1)
    assert first == _shards(0) and first != second
    for shards in (first, second):
        assert [len(s) for s in shards] == [7, 7, 7]
        assert set(sum(shards, [])) == set(range(20))  # 21 slots: every index, one of them twice (padding)


def test_sampler_and_loader_errors():
    with pytest.raises(ValueError, match=r"DistributedSampler: rank must be in \[0, 1\], got 2"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_replicas must be >= 1"):
        DistributedSampler(range(4), num_replicas=0, rank=0)
    with pytest.raises(TypeError, match="num_replicas must be an int"):
        DistributedSampler(range(4), num_replicas=2.0, rank=0)
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedSampler(range(4))
    ds = TensorDataset(np.arange(4.0))
    with pytest.raises(ValueError, match="sampler and shuffle=True"):
        DataLoader(ds, sampler=DistributedSampler(ds, 2, 0), shuffle=True)
    with pytest.raises(TypeError, match="sampler must be an iterable"):
        DataLoader(ds, sampler=3)


def test_process_group_errors_before_init():
    assert not dist.is_initialized()
    with pytest.raises(RuntimeError, match="get_rank: the default process group is not initialised"):
        dist.get_rank()
    with pytest.raises(RuntimeError, match="all_reduce: .*init_process_group"):
        dist.all_reduce(mg.zeros(2))
    with pytest.raises(ValueError, match="backend 'nccl' is not available"):
        dist.init_process_group("nccl")
    with pytest.raises(RuntimeError, match="DistributedDataParallel: .*not initialised"):
        mg.nn.parallel.DistributedDataParallel(mg.nn.Linear(2, 2))


def test_mnist_ddp_example(mnist_dir, tmp_path):
    _need_mpi()
    proc = subprocess.run([_mpiexec(), "-n", "2", sys.executable, "-m", "minigrad.examples.mnist_ddp", "--limit", "256",
                           "--epochs", "1", "--threads", "1", "--data-dir", str(mnist_dir), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("epoch 1/1:") == 1  # rank 0 alone prints
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and 0 <= metrics["epochs"][0]["test_accuracy"] <= 1
    assert (tmp_path / "mnist_cnn.safetensors").exists() and not list(tmp_path.glob("*.tmp"))


def test_queue_callback_runs_once_backward_has_finished():
    from minigrad.autograd_engine import queue_callback
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    b = mg.tensor([3.0, 4.0], requires_grad=True)
    seen = []

    def hook(t):  # the first leaf to finish queues the callback; b's gradient is not in yet at that point
        if not seen:
            queue_callback(lambda: seen.append(("end", a.grad.tolist(), b.grad.tolist())))
            queue_callback(lambda: seen.append(("second",)))
        seen.append(("hook", tuple(t.shape)))

    a.register_post_accumulate_grad_hook(hook)
    b.register_post_accumulate_grad_hook(hook)
    ((a * b).sum() + (b * b).sum()).backward()
    assert [s[0] for s in seen] == ["hook", "hook", "end", "second"]
    assert seen[2][1:] == ([3.0, 4.0], [7.0, 10.0])
    ((a * b).sum()).backward()  # the first pass's callbacks do not run again
    assert [s[0] for s in seen[4:]] == ["hook", "hook"]
    with pytest.raises(RuntimeError, match="queue_callback: no backward pass is running"):
        queue_callback(lambda: None)


def test_gpt_example_data_parallel_and_resumed(tmp_path):
    """The GPT main job with --ddp: one log, rank 0's files, and a run stopped and resumed ends where an
    uninterrupted one does (each rank's batches are drawn from (seed, rank, iteration))."""
    _need_mpi()
    shakespeare = Path(os.environ.get("MINIGRAD_DATA_DIR", "")) / "tinyshakespeare" / "input.txt"
    if not shakespeare.exists():
        pytest.skip("needs tiny Shakespeare under $MINIGRAD_DATA_DIR")
    common = ["-m", "minigrad.examples.gpt_shakespeare", "--ddp", "--threads", "1", "--iters", "12",
              "--eval-interval", "6", "--eval-batches", "2", "--n-layer", "1", "--n-embd", "32", "--n-head", "2",
              "--block-size", "16", "--batch-size", "4", "--sample-tokens", "8", "--no-progress"]

    def run(out, *extra):
        proc = _launch(common + ["--out", str(tmp_path / out), *extra], timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc, json.loads((tmp_path / out / "metrics.json").read_text())

    proc, straight = run("straight")
    assert proc.stderr.count("GPT: ") == 1 and "2 ranks" in proc.stderr  # rank 0 alone reports
    assert straight["history"][-1]["val_loss"] < straight["history"][0]["val_loss"]
    ckpt = str(tmp_path / "gpt.ckpt")
    run("first", "--checkpoint", ckpt, "--stop-after", "6")
    _, resumed = run("resumed", "--resume", ckpt)
    assert [r["val_loss"] for r in resumed["history"]] == [r["val_loss"] for r in straight["history"]]
