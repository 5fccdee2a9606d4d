"""LoRA on the GPT, and a tiny run of the fine-tuning example (python -m minigrad.examples.gpt_finetune)."""
import json
import os

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
from minigrad.models import GPT, GPTConfig
from minigrad.nn.utils import apply_lora, load_lora, lora_state_dict, merge_lora, save_lora

C, L, V = 16, 2, 13


def tiny_gpt(seed=0):
    mg.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=V, block_size=8, n_layer=L, n_head=2, n_embd=C))


def tokens(seed=1, B=3, T=8):
    r = np.random.default_rng(seed)
    return mg.tensor(r.integers(0, V, (B, T))), mg.tensor(r.integers(0, V, (B, T)))


def randomize_adapters(model, seed=2):
    r = np.random.default_rng(seed)
    for m in model.modules():
        if isinstance(m, nn.LoRALinear):
            m.lora_B.array[...] = 0.1 * r.standard_normal(m.lora_B.shape)


def test_fresh_adapters_give_the_base_logits_exactly():
    model = tiny_gpt()
    x, _ = tokens()
    before = model(x).array.copy()
    apply_lora(model, r=4, lora_alpha=8, target_modules=("c_attn", "c_proj"))
    assert sum(isinstance(m, nn.LoRALinear) for m in model.modules()) == 3 * L  # c_attn, attn/mlp c_proj
    np.testing.assert_array_equal(model(x).array, before)


def test_trainable_count_is_r_times_in_plus_out_per_adapted_layer():
    model = apply_lora(tiny_gpt(), r=4, lora_alpha=8, target_modules=("c_attn", "c_proj"))
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert n == L * 4 * ((C + 3 * C) + (C + C) + (4 * C + C))


def test_only_adapters_train_and_base_weights_stay_bit_identical():
    model = tiny_gpt()
    base = {k: v.array.copy() for k, v in model.state_dict().items()}
    apply_lora(model, r=2, lora_alpha=4, target_modules=("c_attn",))
    opt = model.configure_optimizers(weight_decay=0.1, learning_rate=1e-2)
    x, y = tokens()
    losses = []
    for _ in range(8):
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for name, p in model.named_parameters():
            assert (p.grad is not None) == name.endswith(("lora_A", "lora_B")), name
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    sd = model.state_dict()
    for k, v in base.items():
        np.testing.assert_array_equal(sd[k].array, v, err_msg=k)
    assert any(np.any(v.array != 0) for k, v in lora_state_dict(model).items() if k.endswith("lora_B"))


def test_merged_and_unmerged_gpt_agree_including_cached_generation():
    model = apply_lora(tiny_gpt(), r=2, lora_alpha=2, target_modules=("c_attn", "c_proj"))
    randomize_adapters(model)
    x, _ = tokens()
    unmerged = model(x).array.copy()
    greedy = model.generate(x[:, :3], 5, do_sample=False).numpy()
    merge_lora(model)
    np.testing.assert_allclose(model(x).array, unmerged, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(model.generate(x[:, :3], 5, do_sample=False).numpy(), greedy)


def test_adapter_files_round_trip_into_a_fresh_gpt(tmp_path):
    model = tiny_gpt()
    model.save_pretrained(tmp_path / "base")
    apply_lora(model, r=2, lora_alpha=4, target_modules=("c_attn",))
    randomize_adapters(model)
    x, _ = tokens()
    out = model(x).array.copy()
    save_lora(model, tmp_path / "adapter")
    assert sorted(os.listdir(tmp_path / "adapter")) == ["adapter_config.json", "adapter_model.safetensors"]
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert config["r"] == 2 and config["target_modules"] == ["c_attn"]
    # the adapter file is small: two (r, C) / (3C, r) matrices per block, not the model
    assert os.path.getsize(tmp_path / "adapter" / "adapter_model.safetensors") < 4096

    fresh = load_lora(GPT.from_pretrained(tmp_path / "base"), tmp_path / "adapter")
    np.testing.assert_array_equal(fresh(x).array, out)

    other = apply_lora(GPT.from_pretrained(tmp_path / "base"), r=2, lora_alpha=4, target_modules=("c_attn",))
    missing, unexpected = other.load_state_dict(lora_state_dict(model), strict=False)
    assert not unexpected and not any("lora" in k for k in missing)
    np.testing.assert_array_equal(other(x).array, out)


# ---- the example ----

def _shakespeare_or_skip():
    from minigrad.text import tinyshakespeare_path
    try:
        path = tinyshakespeare_path()
    except Exception:
        path = None
    if path is None or not os.path.exists(path):
        pytest.skip("tiny Shakespeare is not available (set MINIGRAD_DATA_DIR)")


TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16", "--batch-size", "4",
        "--eval-interval", "2", "--eval-batches", "2", "--sample-tokens", "12", "--lr", "1e-2"]


def test_split_holds_out_every_speech_of_the_character():
    _shakespeare_or_skip()
    from minigrad.examples.gpt_finetune import split_speeches
    from minigrad.text import load_tinyshakespeare
    text = load_tinyshakespeare()
    rest, speeches = split_speeches(text, "DUKE VINCENTIO")
    assert len(speeches) == 193 and all(s == "DUKE VINCENTIO:" or s.startswith("DUKE VINCENTIO:\n") for s in speeches)
    assert "\nDUKE VINCENTIO:\n" not in "\n" + rest
    assert set("".join(speeches)) <= set(rest)  # no character of the held-out text is new
    assert len(rest) + sum(len(s) for s in speeches) + 2 * len(speeches) == len(text)
    with pytest.raises(ValueError, match="'Hamlet' has no speeches.*DUKE VINCENTIO"):
        split_speeches(text, "Hamlet")


def test_tiny_run_compares_the_four_ways_and_reuses_its_base(tmp_path):
    _shakespeare_or_skip()
    from minigrad.examples import gpt_finetune
    out = tmp_path / "ft"
    s = gpt_finetune.main(TINY + ["--pretrain-iters", "4", "--iters", "6", "--out", str(out)])
    rows = {r["method"]: r for r in s["rows"]}
    assert list(rows) == ["base (no fine-tuning)", "lora", "last-blocks", "full", "scratch"]
    total = s["total_params"]
    assert rows["lora"]["trainable"] == 8 * (16 + 48)  # r=8 on the one block's c_attn
    block = 12 * 16 * 16 + 13 * 16  # attn + mlp weights and biases, two LayerNorms
    assert rows["last-blocks"]["trainable"] == block + 2 * 16  # + ln_f
    assert rows["full"]["trainable"] == rows["scratch"]["trainable"] == total
    base_loss = rows["base (no fine-tuning)"]["val_after"]
    for m in ("lora", "last-blocks", "full"):
        assert rows[m]["val_before"] == base_loss
    for m in ("full", "scratch"):
        assert rows[m]["val_after"] < rows[m]["val_before"], m
    assert rows["lora"]["saved_bytes"] < rows["last-blocks"]["saved_bytes"] < rows["full"]["saved_bytes"]
    assert (out / "lora" / "adapter_model.safetensors").exists()
    assert (out / "last-blocks" / "trained_params.safetensors").exists()
    assert (out / "full" / "model.safetensors").exists()
    assert all(r["sample"].startswith("DUKE VINCENTIO:\n") for r in s["rows"])
    assert "| lora |" in (out / "results.md").read_text()

    again = gpt_finetune.main(TINY + ["--base", str(out / "base"), "--methods", "lora", "--iters", "2",
                                      "--out", str(tmp_path / "again")])
    assert again["rows"][0]["val_after"] == base_loss
    assert [r["method"] for r in again["rows"]] == ["base (no fine-tuning)", "lora"]


def test_bad_options_are_reported():
    from minigrad.examples import gpt_finetune
    with pytest.raises(ValueError, match="--methods"):
        gpt_finetune.main(["--methods", "lora,qlora"])
    with pytest.raises(ValueError, match="--unfreeze 5"):
        gpt_finetune.main(["--unfreeze", "5", "--n-layer", "4"])
