"""The examples and the `minigrad` command run end to end on tiny MNIST subsets.

The full runs (5 epochs, >= 99% test accuracy for mnist_cnn) are too long for unit tests;
these check that every piece works and writes its outputs.
"""
import json

import pytest

from minigrad import cli
from minigrad.examples import finetune, mnist_cnn, mnist_keras


def test_mnist_cnn_main_job_tiny(mnist_dir, tmp_path, capsys):
    out = tmp_path / "run"
    summary = mnist_cnn.main(["--limit", "256", "--epochs", "1", "--batch-size", "64", "--data-dir", str(mnist_dir),
                              "--out", str(out), "--no-progress"])
    text = capsys.readouterr().out
    assert "epoch 1/1" in text and "test accuracy" in text and "img/s" in text
    assert (out / "mnist_cnn.safetensors").stat().st_size > 800_000  # 225,034 float32 parameters
    assert (out / "loss.png").stat().st_size > 1000
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"][0]["train_images_per_s"] > 0
    assert summary["final_test_accuracy"] > 0.2  # far above chance after 4 steps is not guaranteed; sanity only

    # the saved weights load back into the network
    import minigrad as mg
    model = mnist_cnn.CNN()
    model.load_state_dict(mg.load(out / "mnist_cnn.safetensors"))


def test_mnist_cnn_schedules():
    lrs = [mnist_cnn.lr_at("cosine", 1e-3, s, 100) for s in range(100)]
    assert lrs[0] == pytest.approx(1e-3) and lrs[-1] < 0.05e-3 and lrs == sorted(lrs, reverse=True)
    assert mnist_cnn.lr_at("none", 1e-3, 50, 100) == 1e-3
    one = [mnist_cnn.lr_at("onecycle", 1e-3, s, 100) for s in range(100)]
    assert max(one) == pytest.approx(1e-3, rel=0.05) and one[0] < 2e-4


def test_mnist_keras_tiny(mnist_dir, tmp_path):
    res = mnist_keras.main(["--limit", "128", "--epochs", "1", "--data-dir", str(mnist_dir), "--out",
                            str(tmp_path), "--verbose", "0"])
    assert 0 <= res["test_accuracy"] <= 1
    assert (tmp_path / "mnist_keras.safetensors").exists() and (tmp_path / "history.png").exists()
    assert (tmp_path / "predictions.png").exists()


def test_finetune_tiny(mnist_dir, capsys):
    res = finetune.main(["--limit", "300", "--finetune-samples", "64", "--pretrain-epochs", "1",
                         "--finetune-epochs", "1", "--data-dir", str(mnist_dir), "--verbose", "0"])
    assert res["base_unchanged"]  # the frozen conv base did not move while the head trained
    assert "after fine-tuning" in capsys.readouterr().out


def test_cli_help_and_dispatch(capsys, monkeypatch):
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0
    assert "train" in capsys.readouterr().out
    assert cli.main(["train", "--help"]) == 0
    assert "keras-cnn" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["train", "cnn", "--help"])
    assert "--limit" in capsys.readouterr().out
    called = {}
    monkeypatch.setattr(finetune, "main", lambda argv: called.setdefault("argv", argv))
    cli.main(["train", "finetune", "--finetune-epochs", "2"])
    assert called["argv"] == ["--finetune-epochs", "2"]


def test_viz_plots(tmp_path):
    import numpy as np
    from minigrad.viz_plots import plot_confusion_matrix, show_images
    images = np.random.default_rng(0).random((6, 1, 8, 8))
    show_images(images, labels=[0, 1, 2, 3, 4, 5], predictions=np.eye(6)[[0, 1, 2, 3, 4, 0]],
                path=tmp_path / "g.png")
    plot_confusion_matrix(np.array([[5, 1], [2, 7]]), class_names=["a", "b"], normalize=True,
                          path=tmp_path / "cm.png")
    assert (tmp_path / "g.png").exists() and (tmp_path / "cm.png").exists()
