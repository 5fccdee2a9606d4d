"""A training process killed mid-epoch resumes from its last checkpoint and ends bit-identical to an
uninterrupted run (same backend, same thread count: both are pinned in the children's environment)."""
import json
import os
import subprocess
import sys

import numpy as np

import minigrad as mg

CHILD = """
import os, sys
import minigrad as mg
from minigrad.examples import mnist_cnn
kill_at = int(os.environ.get("KILL_AT_STEP", "0"))
if kill_at:  # die abruptly, as a crash or an OOM kill would, right after optimiser step `kill_at`
    step, calls = mg.optim.Adam.step, [0]
    def dying_step(self, *args, **kwargs):
        out = step(self, *args, **kwargs)
        calls[0] += 1
        if calls[0] == kill_at:
            os._exit(17)
        return out
    mg.optim.Adam.step = dying_step
mnist_cnn.main(sys.argv[1:])
"""


def _run(args, kill_at=0):
    env = dict(os.environ, KILL_AT_STEP=str(kill_at), NUMBA_NUM_THREADS="2", OMP_NUM_THREADS="1",
               MINIGRAD_BACKEND=os.environ.get("MINIGRAD_BACKEND", "numba"))
    return subprocess.run([sys.executable, "-c", CHILD, *args], env=env, capture_output=True, text=True, timeout=600)


def test_killed_run_resumes_bit_identical(mnist_dir, tmp_path):
    # 320 images, batch 32: 10 steps an epoch, 2 epochs; checkpoints every 4 steps and at epoch ends
    common = ["--limit", "320", "--epochs", "2", "--batch-size", "32", "--data-dir", str(mnist_dir),
              "--no-progress", "--checkpoint-every", "4", "--seed", "3"]
    whole = _run(common + ["--out", str(tmp_path / "whole")])
    assert whole.returncode == 0, whole.stderr
    killed = _run(common + ["--out", str(tmp_path / "crash")], kill_at=15)
    assert killed.returncode == 17, killed.stderr
    ck = mg.load(tmp_path / "crash" / "checkpoint.safetensors")  # last written after step 12, mid-epoch 2
    assert (ck["epoch"], ck["step"], ck["in_epoch"], ck["loader"]["batches_yielded"]) == (2, 12, True, 2)
    assert not (tmp_path / "crash" / "mnist_cnn.safetensors").exists()
    resumed = _run(common + ["--out", str(tmp_path / "crash"), "--resume"])
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stdout and "epoch 2, step 12" in resumed.stdout

    a = (tmp_path / "whole" / "mnist_cnn.safetensors").read_bytes()
    b = (tmp_path / "crash" / "mnist_cnn.safetensors").read_bytes()
    assert a == b  # every weight, bit for bit
    ends = [mg.load(tmp_path / d / "checkpoint.safetensors") for d in ("whole", "crash")]
    assert ends[0]["step_losses"].tobytes() == ends[1]["step_losses"].tobytes() and len(ends[0]["step_losses"]) == 20
    for k, v in ends[0]["optimizer"]["state"].items():
        for name in ("exp_avg", "exp_avg_sq"):
            assert v[name].tobytes() == ends[1]["optimizer"]["state"][k][name].tobytes()
    logs = [json.loads((tmp_path / d / "metrics.json").read_text())["epochs"] for d in ("whole", "crash")]
    for key in ("train_loss", "test_loss", "test_accuracy", "lr_end"):
        assert [e[key] for e in logs[0]] == [e[key] for e in logs[1]], key
    assert np.isfinite(ends[0]["step_losses"]).all()


def test_resume_refuses_other_settings(mnist_dir, tmp_path):
    from minigrad.examples import mnist_cnn
    out = str(tmp_path / "r")
    args = ["--limit", "64", "--epochs", "1", "--batch-size", "32", "--data-dir", str(mnist_dir), "--no-progress",
            "--out", out]
    mnist_cnn.main(args)
    import pytest
    with pytest.raises(SystemExit, match="batch_size"):
        mnist_cnn.main(args[:4] + ["--batch-size", "16"] + args[6:] + ["--resume"])
