"""Parity with Hugging Face transformers' GPT2LMHeadModel and with a PyTorch training loop (no network)."""
import json

import numpy as np
import pytest

import minigrad as mg
from minigrad.models import GPT, GPTConfig

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

SMALL = dict(vocab_size=53, n_positions=16, n_embd=24, n_layer=2, n_head=3)


def _hf_model(seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    # a wide init, so that the logits differ enough for greedy decoding to wander (not repeat one token)
    cfg = transformers.GPT2Config(**SMALL, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, initializer_range=0.3)
    model = transformers.GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():  # non-zero biases and LayerNorm parameters, so a mix-up of them shows
        for name, p in model.named_parameters():
            if p.ndim == 1:
                p.add_(torch.randn_like(p) * 0.1)
    return model.to(dtype)


def _strip_prefix(directory):
    """Rewrite the saved file the hub's way: no `transformer.` prefix, no lm_head.weight."""
    from safetensors.numpy import load_file, save_file
    path = directory / "model.safetensors"
    tensors = load_file(str(path))
    tensors = {k.removeprefix("transformer."): v for k, v in tensors.items() if k != "lm_head.weight"}
    save_file(tensors, str(path), metadata={"format": "pt"})
    return tensors


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("hf_gpt2")
    _hf_model().save_pretrained(directory, safe_serialization=True)
    return directory


@pytest.fixture(scope="module")
def hub_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("hub_gpt2")
    _hf_model().save_pretrained(directory, safe_serialization=True)
    keys = _strip_prefix(directory)
    assert "wte.weight" in keys and "lm_head.weight" not in keys
    return directory


def _tokens(seed=1, shape=(3, 11)):
    return np.random.default_rng(seed).integers(0, SMALL["vocab_size"], shape)


@pytest.mark.parametrize("layout", ["hf_dir", "hub_dir"])
def test_logits_match_transformers(layout, request):
    directory = request.getfixturevalue(layout)
    ours = GPT.from_pretrained(directory, dtype=mg.float32).eval()
    assert ours.config.block_size == 16 and ours.config.n_layer == 2
    idx = _tokens()
    ref = _hf_model()(torch.tensor(idx)).logits.detach().numpy()
    np.testing.assert_allclose(ours(mg.tensor(idx)).numpy(), ref, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("layout", ["hf_dir", "hub_dir"])
def test_greedy_generation_matches_transformers_float64(layout, request):
    directory = request.getfixturevalue(layout)
    ours = GPT.from_pretrained(directory, dtype=mg.float64)
    assert ours.lm_head.weight is ours.transformer.wte.weight and ours.lm_head.weight.dtype == mg.float64
    hf = _hf_model(dtype=torch.float64)
    idx = _tokens(2, (2, 4))
    # 20 new tokens from 4: past block_size (16), where our cache is cropped and rebuilt; transformers
    # cannot go past n_positions, so compare the first 12 and check the rest against the no-cache path
    ref = hf.generate(torch.tensor(idx), max_new_tokens=12, do_sample=False, pad_token_id=0,
                      attention_mask=torch.ones(idx.shape, dtype=torch.long)).numpy()
    out = ours.generate(mg.tensor(idx), 12, do_sample=False).numpy()
    np.testing.assert_array_equal(out, ref)
    long_cached = ours.generate(mg.tensor(idx), 20, do_sample=False).numpy()
    long_plain = ours.generate(mg.tensor(idx), 20, do_sample=False, use_cache=False).numpy()
    np.testing.assert_array_equal(long_cached, long_plain)
    np.testing.assert_array_equal(long_cached[:, :16], ref)


def test_saved_model_loads_in_transformers(tmp_path):
    mg.manual_seed(3)
    ours = GPT(GPTConfig(vocab_size=53, block_size=16, n_layer=2, n_head=3, n_embd=24)).eval()
    with mg.no_grad():
        for p in ours.parameters():
            if p.ndim == 1:
                p.add_(mg.randn(*p.shape) * 0.1)
    ours.save_pretrained(tmp_path)
    from safetensors import safe_open
    with safe_open(str(tmp_path / "model.safetensors"), framework="numpy") as f:
        keys = set(f.keys())
    assert "lm_head.weight" not in keys and "transformer.wte.weight" in keys  # the tied weight, once
    hf = transformers.GPT2LMHeadModel.from_pretrained(tmp_path).eval()
    idx = _tokens(4)
    np.testing.assert_allclose(hf(torch.tensor(idx)).logits.detach().numpy(), ours(mg.tensor(idx)).numpy(),
                               atol=1e-4, rtol=1e-4)
    again = GPT.from_pretrained(tmp_path)
    for (name, a), (_, b) in zip(ours.state_dict().items(), again.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)


def test_refuses_what_gpt2_cannot_express(tmp_path, hf_dir):
    with pytest.raises(ValueError, match="bias=False"):
        GPT(GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=2, n_embd=8, bias=False)).save_pretrained(tmp_path)
    for field, value in [("n_inner", 7), ("activation_function", "relu"), ("add_cross_attention", True),
                         ("scale_attn_by_inverse_layer_idx", True), ("tie_word_embeddings", False),
                         ("model_type", "llama")]:
        d = tmp_path / field
        d.mkdir()
        cfg = json.loads((hf_dir / "config.json").read_text())
        cfg[field] = value
        (d / "config.json").write_text(json.dumps(cfg))
        with pytest.raises(ValueError, match=field):
            GPT.from_pretrained(d)
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        (tmp_path / "empty").mkdir()
        (tmp_path / "empty" / "config.json").write_text((hf_dir / "config.json").read_text())
        GPT.from_pretrained(tmp_path / "empty")


def test_old_checkpoints_with_mask_buffers_load(tmp_path, hf_dir):
    from safetensors.numpy import load_file, save_file
    tensors = load_file(str(hf_dir / "model.safetensors"))
    tensors["transformer.h.0.attn.bias"] = np.tril(np.ones((1, 1, 16, 16), np.float32))
    tensors["transformer.h.0.attn.masked_bias"] = np.array(-1e4, np.float32)
    save_file(tensors, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    (tmp_path / "config.json").write_text((hf_dir / "config.json").read_text())
    idx = _tokens()
    np.testing.assert_allclose(GPT.from_pretrained(tmp_path)(mg.tensor(idx)).numpy(),
                               GPT.from_pretrained(hf_dir)(mg.tensor(idx)).numpy())


def test_training_matches_pytorch_float64(hf_dir):
    """10 AdamW steps (two parameter groups, grad clipping) from the same weights on the same batches:
    the same losses and the same weights, as llm.c checks against PyTorch."""
    ours = GPT.from_pretrained(hf_dir, dtype=mg.float64).train()
    hf = _hf_model(dtype=torch.float64).train()
    opt = ours.configure_optimizers(weight_decay=0.1, learning_rate=1e-3, betas=(0.9, 0.99))
    decay = [p for n, p in hf.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in hf.named_parameters() if p.ndim < 2]
    ref_opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                                lr=1e-3, betas=(0.9, 0.99), eps=1e-8)
    rng = np.random.default_rng(7)
    for step in range(10):
        x = rng.integers(0, SMALL["vocab_size"], (4, 12))
        y = rng.integers(0, SMALL["vocab_size"], (4, 12))
        _, loss = ours(mg.tensor(x), mg.tensor(y))
        opt.zero_grad()
        loss.backward()
        mg.nn.utils.clip_grad_norm_(ours.parameters(), 1.0)
        opt.step()
        logits = hf(torch.tensor(x)).logits
        ref_loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), torch.tensor(y).reshape(-1))
        ref_opt.zero_grad()
        ref_loss.backward()
        torch.nn.utils.clip_grad_norm_(hf.parameters(), 1.0)
        ref_opt.step()
        assert abs(loss.item() - ref_loss.item()) < 1e-10, step
    theirs = dict(hf.named_parameters())
    for name, p in ours.named_parameters():
        ref = theirs[name].detach().numpy()
        np.testing.assert_allclose(p.numpy(), ref.T if name.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight"))
                                   else ref, atol=1e-10, rtol=1e-9, err_msg=name)
