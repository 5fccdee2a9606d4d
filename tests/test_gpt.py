"""The GPT model: shapes, errors, GPT-2's init, parameter groups, the KV cache, generation."""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad.models import GPT, GPTConfig


def _tiny(**kw):
    mg.manual_seed(0)
    cfg = dict(vocab_size=17, block_size=8, n_layer=2, n_head=2, n_embd=16)
    cfg.update(kw)
    return GPT(GPTConfig(**cfg))


def _idx(shape=(2, 5), vocab=17, seed=0):
    return mg.tensor(np.random.default_rng(seed).integers(0, vocab, shape))


def test_forward_shapes_loss_and_names():
    model = _tiny()
    logits = model(_idx())
    assert logits.shape == (2, 5, 17)
    logits, loss = model(_idx(), _idx(seed=1))
    assert loss.shape == () and abs(loss.item() - math.log(17)) < 0.5  # near-uniform at init
    names = set(model.state_dict())
    for name in ["transformer.wte.weight", "transformer.wpe.weight", "transformer.h.0.ln_1.weight",
                 "transformer.h.1.attn.c_attn.weight", "transformer.h.1.attn.c_proj.bias",
                 "transformer.h.0.mlp.c_fc.weight", "transformer.h.0.mlp.c_proj.weight", "transformer.h.0.ln_2.bias",
                 "transformer.ln_f.weight", "lm_head.weight"]:
        assert name in names, name


def test_lm_head_is_tied_and_counted_once():
    model = _tiny()
    assert model.lm_head.weight is model.transformer.wte.weight
    counted = sum(p.numel() for p in model.parameters())
    C, V, T, L = 16, 17, 8, 2
    per_block = 2 * 2 * C + (C * 3 * C + 3 * C) + (C * C + C) + (C * 4 * C + 4 * C) + (4 * C * C + C)
    assert counted == V * C + T * C + L * per_block + 2 * C
    assert model.get_num_params() == counted - T * C
    _, loss = model(_idx(), _idx(seed=1))
    loss.backward()
    assert model.transformer.wte.weight.grad is not None  # receives both the embedding's and the head's gradient


def test_gpt2_initialisation():
    model = _tiny(n_layer=4, n_embd=64, n_head=4, vocab_size=500, block_size=64)
    sd = dict(model.named_parameters())
    assert abs(sd["transformer.wte.weight"].numpy().std() - 0.02) < 0.002
    assert abs(sd["transformer.h.0.attn.c_attn.weight"].numpy().std() - 0.02) < 0.002
    scaled = 0.02 / math.sqrt(2 * 4)
    for name in ["transformer.h.0.attn.c_proj.weight", "transformer.h.3.mlp.c_proj.weight"]:
        assert abs(sd[name].numpy().std() - scaled) < 0.15 * scaled, name
    assert not sd["transformer.h.0.attn.c_attn.bias"].numpy().any()
    assert (sd["transformer.h.0.ln_1.weight"].numpy() == 1).all() and not sd["transformer.ln_f.bias"].numpy().any()


def test_bad_input_gets_clear_errors():
    model = _tiny()
    with pytest.raises(ValueError, match="vocab|token ids"):
        model(mg.tensor([[1, 2, 17]]))
    with pytest.raises(ValueError, match="token ids"):
        model(mg.tensor([[-1, 2]]))
    with pytest.raises(ValueError, match="block_size 8"):
        model(_idx((1, 9)))
    with pytest.raises(TypeError, match="integer"):
        model(mg.tensor([[1.0, 2.0]]))
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        model(mg.tensor([1, 2]))
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=3, n_embd=16)
    with pytest.raises(ValueError, match="n_layer"):
        GPTConfig(n_layer=0)
    with pytest.raises(ValueError, match="dropout"):
        GPTConfig(dropout=1.5)
    with pytest.raises(ValueError, match="top_k"):
        model.generate(_idx(), 2, top_k=0)
    with pytest.raises(ValueError, match="temperature"):
        model.generate(_idx(), 2, temperature=0.0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        model.generate(_idx(), -1)


def test_param_groups_decay_only_2d_weights():
    model = _tiny()
    opt = model.configure_optimizers(weight_decay=0.1, learning_rate=1e-3, betas=(0.9, 0.99))
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim == 2 for p in decay["params"]) and all(p.ndim == 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))
    assert opt.param_groups[0]["betas"] == (0.9, 0.99)


def test_kv_cache_gives_the_same_logits_as_the_full_pass():
    model = _tiny().eval()
    idx = _idx((2, 7))
    full = model(idx).numpy()
    logits, past = model(idx[:, :3], use_cache=True)
    steps = [logits.numpy()]
    for t in range(3, 7):
        logits, past = model(idx[:, t:t + 1], past=past)
        steps.append(logits.numpy())
    assert past[0][0].shape == (2, 2, 7, 8)
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-5)
    # several new tokens at once on top of a cache: the causal mask is offset by the past
    logits, past = model(idx[:, :4], use_cache=True)
    more, _ = model(idx[:, 4:], past=past)
    np.testing.assert_allclose(more.numpy(), full[:, 4:], atol=1e-5)


def test_generate_greedy_with_and_without_cache_past_block_size():
    model = _tiny(block_size=6)
    with mg.no_grad():  # a wide init so greedy decoding does not settle on one token
        for p in model.parameters():
            p.copy_(mg.randn(*p.shape))
    idx = _idx((2, 3))
    cached = model.generate(idx, 12, do_sample=False)
    plain = model.generate(idx, 12, do_sample=False, use_cache=False)
    assert cached.shape == (2, 15)
    np.testing.assert_array_equal(cached.numpy(), plain.numpy())
    np.testing.assert_array_equal(cached.numpy()[:, :3], idx.numpy())
    assert all(len(np.unique(row)) > 1 for row in cached.numpy()[:, 3:])  # not one token repeated
    assert model.training  # generate restores the mode


def test_generate_sampling_top_k_and_temperature():
    model = _tiny()
    idx = _idx((64, 1))
    mg.manual_seed(5)
    a = model.generate(idx, 3, top_k=1)
    np.testing.assert_array_equal(a.numpy(), model.generate(idx, 3, do_sample=False).numpy())  # top-1 is greedy
    g = mg.Generator().manual_seed(1)
    b = model.generate(idx, 3, generator=g).numpy()
    c = model.generate(idx, 3, generator=mg.Generator().manual_seed(1)).numpy()
    np.testing.assert_array_equal(b, c)
    top3 = model.generate(idx, 1, top_k=3).numpy()[:, 1]
    allowed = mg.topk(model(idx)[:, -1, :], 3).indices.numpy()
    assert all(t in row for t, row in zip(top3, allowed))
    # a very low temperature picks the argmax
    cold = model.generate(idx, 2, temperature=1e-4).numpy()
    np.testing.assert_array_equal(cold, model.generate(idx, 2, do_sample=False).numpy())


def test_gradient_checkpointing_switch_gives_the_same_gradients():
    plain, ckpt = _tiny(), _tiny(gradient_checkpointing=True)
    x, y = _idx(), _idx(seed=1)
    for m in (plain, ckpt):
        _, loss = m(x, y)
        loss.backward()
    for (name, a), b in zip(plain.named_parameters(), ckpt.parameters()):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=1e-6, err_msg=name)


def test_dropout_only_in_training():
    model = _tiny(dropout=0.5)
    idx = _idx()
    model.eval()
    np.testing.assert_array_equal(model(idx).numpy(), model(idx).numpy())
    model.train()
    assert not np.allclose(model(idx).numpy(), model(idx).numpy())


def test_bias_false_has_no_biases():
    model = _tiny(bias=False)
    assert not [n for n, _ in model.named_parameters() if n.endswith(".bias")]
    _, loss = model(_idx(), _idx(seed=1))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
