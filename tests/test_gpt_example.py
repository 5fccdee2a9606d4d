"""The tiny-Shakespeare GPT example: a short run end to end, its outputs, and resuming from a checkpoint."""
import json

import numpy as np
import pytest

import minigrad as mg
from minigrad import cli
from minigrad.examples import gpt_shakespeare
from minigrad.text import datasets

pytestmark = pytest.mark.skipif(not (datasets.data_dir() / "tinyshakespeare" / "input.txt").is_file(),
                                reason="tiny Shakespeare is not in the data dir")

SMALL = ["--iters", "6", "--eval-interval", "3", "--eval-batches", "2", "--n-layer", "1", "--n-embd", "32",
         "--n-head", "2", "--block-size", "16", "--batch-size", "4", "--sample-tokens", "20", "--no-progress",
         "--warmup", "2"]


def test_short_run_writes_model_tokenizer_sample_and_metrics(tmp_path, capsys):
    metrics = gpt_shakespeare.main(SMALL + ["--out", str(tmp_path)])
    assert [row["iter"] for row in metrics["history"]] == [0, 3, 6]
    assert metrics["history"][-1]["val_loss"] < metrics["history"][0]["val_loss"]
    assert json.loads((tmp_path / "metrics.json").read_text())["final_val_loss"] == metrics["final_val_loss"]
    sample = (tmp_path / "sample.txt").read_text()
    assert len(sample) == 20
    model = mg.models.GPT.from_pretrained(tmp_path / "model")
    assert model.config.n_embd == 32 and model.config.vocab_size == 65
    tok = mg.text.load_tokenizer(tmp_path / "tokenizer.json")
    assert tok.decode(tok.encode("ROMEO:")) == "ROMEO:"


def test_resume_continues_exactly(tmp_path):
    full = gpt_shakespeare.main(SMALL + ["--out", str(tmp_path / "full")])
    ckpt = str(tmp_path / "run.ckpt")
    gpt_shakespeare.main(SMALL + ["--out", str(tmp_path / "a"), "--checkpoint", ckpt, "--stop-after", "3"])
    resumed = gpt_shakespeare.main(SMALL + ["--out", str(tmp_path / "b"), "--resume", ckpt])
    assert [r["val_loss"] for r in resumed["history"]] == [r["val_loss"] for r in full["history"]]
    a = mg.load(tmp_path / "full" / "model" / "model.safetensors")
    b = mg.load(tmp_path / "b" / "model" / "model.safetensors")
    for name in a:
        np.testing.assert_array_equal(a[name].numpy(), b[name].numpy(), err_msg=name)
    assert (tmp_path / "full" / "sample.txt").read_text() == (tmp_path / "b" / "sample.txt").read_text()


def test_cli_runs_it(tmp_path):
    assert cli.main(["train", "gpt", *SMALL, "--out", str(tmp_path)]) == 0
    assert (tmp_path / "model" / "config.json").is_file()
