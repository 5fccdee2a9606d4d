"""No leaks: training steps of the seed CNN and of a small GPT keep the process's memory flat once warmed up, and
inference under no_grad keeps no graph alive (checked with weak references).

The quick test runs 200 steps; the 1,000-step version is marked slow (pytest --runslow).
Print the figures: pytest tests/test_leaks.py -s --runslow
"""
import gc
import os
import weakref

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F
from minigrad.examples.mnist_cnn import CNN


def _rss_mb():
    """The resident set size now, in MB (Linux: /proc/self/statm)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def _train_steps(steps, batch, warmup):
    """RSS (MB) after warm-up and after `steps` more CNN training steps on random 28x28 batches."""
    mg.manual_seed(0)
    model = CNN()
    opt = mg.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((16, batch, 1, 28, 28)).astype(np.float32)
    ys = rng.integers(0, 10, (16, batch))

    def step(i):
        opt.zero_grad()
        loss = F.cross_entropy(model(mg.tensor(xs[i % 16])), mg.tensor(ys[i % 16]))
        loss.backward()
        opt.step()
        return loss.item()

    for i in range(warmup):
        step(i)
    gc.collect()
    before = _rss_mb()
    losses = [step(i) for i in range(steps)]
    gc.collect()
    after = _rss_mb()
    assert np.isfinite(losses).all()
    print(f"\nCNN training, batch {batch}: RSS {before:.1f} MB after {warmup} warm-up steps, {after:.1f} MB after "
          f"{steps} more ({after - before:+.1f} MB)")
    return before, after


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_cnn_training_memory_stays_flat():
    before, after = _train_steps(steps=200, batch=4, warmup=30)
    assert after - before < 12, f"RSS grew {after - before:.1f} MB over 200 steps"


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_cnn_training_memory_stays_flat_1000_steps():
    before, after = _train_steps(steps=1000, batch=16, warmup=50)
    assert after - before < 12, f"RSS grew {after - before:.1f} MB over 1000 steps"


def _gpt_steps(steps, warmup):
    """RSS (MB) after warm-up and after `steps` more AdamW steps of a small character GPT (with
    gradient clipping, as the main job trains it), then a KV-cached generation."""
    from minigrad.models import GPT, GPTConfig
    mg.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=65, block_size=32, n_layer=2, n_head=2, n_embd=32))
    opt = model.configure_optimizers(0.1, 1e-3, betas=(0.9, 0.99))
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 65, (8, 4, 33))

    def step(i):
        x = mg.tensor(tokens[i % 8, :, :-1])
        _, loss = model(x, mg.tensor(tokens[i % 8, :, 1:]))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    for i in range(warmup):
        step(i)
    model.generate(mg.tensor(tokens[0, :1, :4]), 8)
    gc.collect()
    before = _rss_mb()
    losses = [step(i) for i in range(steps)]
    model.generate(mg.tensor(tokens[0, :1, :4]), 8)
    gc.collect()
    after = _rss_mb()
    assert np.isfinite(losses).all()
    print(f"\nGPT training: RSS {before:.1f} MB after {warmup} warm-up steps, {after:.1f} MB after {steps} more "
          f"({after - before:+.1f} MB)")
    return before, after


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_gpt_training_memory_stays_flat():
    before, after = _gpt_steps(steps=200, warmup=30)
    assert after - before < 12, f"RSS grew {after - before:.1f} MB over 200 steps"


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_gpt_training_memory_stays_flat_1000_steps():
    before, after = _gpt_steps(steps=1000, warmup=50)
    assert after - before < 12, f"RSS grew {after - before:.1f} MB over 1000 steps"


def _probe_model():
    """A model whose hidden activation is watched through a weak reference (a forward hook)."""
    mg.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3))
    seen = []
    model[1].register_forward_hook(lambda module, args, out: seen.append(weakref.ref(out)))
    return model, seen


def test_no_grad_inference_keeps_no_graph():
    model, seen = _probe_model()
    x = mg.randn(5, 1, 4, 4)
    y = model(x)  # with grad: the graph behind y keeps the hidden activation alive
    gc.collect()
    assert y.grad_fn is not None and seen[-1]() is not None
    del y
    gc.collect()
    assert seen[-1]() is None  # and lets it go with y
    with mg.no_grad():
        y = model(x)
    gc.collect()
    assert y.grad_fn is None and not y.requires_grad
    assert seen[-1]() is None  # nothing holds the activation: no graph was recorded
    with mg.inference_mode():
        y = model(x)
    gc.collect()
    assert y.grad_fn is None and seen[-1]() is None


def test_backward_frees_the_graph():
    model, seen = _probe_model()
    loss = model(mg.randn(5, 1, 4, 4)).sum()
    gc.collect()
    assert seen[-1]() is not None
    loss.backward()  # without retain_graph the nodes drop what they saved
    gc.collect()
    assert seen[-1]() is None
