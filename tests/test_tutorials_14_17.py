"""Exercise solutions of tutorial chapters 14 (attention) and 17 (data-parallel training).

The notebooks themselves are run by tests/test_tutorials.py (every chapter, fast mode).
"""
import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
sys.path.insert(0, str(TUTORIALS))  # `solutions` is a package inside tutorials/


def sol(name):
    return importlib.import_module(f"solutions.{name}")


def test_14_causal_mask_and_attention():
    s = sol("14_attention")
    np.testing.assert_array_equal(s.causal_mask(4), np.tril(np.ones((4, 4), bool)))
    rng = np.random.default_rng(0)
    q, k, v = rng.normal(size=(2, 3, 5, 4)), rng.normal(size=(2, 3, 7, 4)), rng.normal(size=(2, 3, 7, 6))
    out, w = s.attention_np(q, k, v)
    ref = F.scaled_dot_product_attention(mg.tensor(q), mg.tensor(k), mg.tensor(v))
    np.testing.assert_allclose(out, ref.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w.sum(-1), 1.0)
    mask = rng.random((5, 7)) < 0.5
    mask[2] = False  # a row with nothing to attend to: zeros, as torch gives
    out, w = s.attention_np(q, k, v, mask)
    ref = F.scaled_dot_product_attention(mg.tensor(q), mg.tensor(k), mg.tensor(v), attn_mask=mg.tensor(mask))
    np.testing.assert_allclose(out, ref.numpy(), rtol=1e-10, atol=1e-12)
    assert np.all(out[..., 2, :] == 0) and np.all(w[..., 2, :] == 0) and np.isfinite(w).all()


def test_14_attention_matches_torch():
    torch = pytest.importorskip("torch")
    s = sol("14_attention")
    rng = np.random.default_rng(1)
    q, k, v = rng.normal(size=(3, 6, 8)), rng.normal(size=(3, 6, 8)), rng.normal(size=(3, 6, 2))
    out, _ = s.attention_np(q, k, v, s.causal_mask(6))
    ref = torch.nn.functional.scaled_dot_product_attention(*(torch.tensor(a) for a in (q, k, v)), is_causal=True)
    np.testing.assert_allclose(out, ref.numpy(), rtol=1e-10, atol=1e-12)


def test_14_sinusoidal_positions():
    s = sol("14_attention")
    pe = s.sinusoidal_positions(50, 16)
    assert pe.shape == (50, 16)
    np.testing.assert_allclose(pe[0], np.tile([0.0, 1.0], 8))  # position 0: sin 0, cos 0
    np.testing.assert_allclose(pe[7, 0], np.sin(7.0))          # the fastest clock: frequency 1
    np.testing.assert_allclose(pe[7, 15], np.cos(7.0 / 10000 ** (14 / 16)))
    np.testing.assert_allclose(pe[:, 0::2] ** 2 + pe[:, 1::2] ** 2, 1.0)
    with pytest.raises(ValueError, match="even"):
        s.sinusoidal_positions(4, 5)


@pytest.mark.parametrize("block", [1, 3, 4, 10, 50])
def test_14_online_softmax(block):
    s = sol("14_attention")
    x = np.random.default_rng(block).normal(size=10) * 30
    x[4] = 700.0  # exp would overflow without the running maximum
    want = np.exp(x - x.max()) / np.exp(x - x.max()).sum()
    np.testing.assert_allclose(s.online_softmax(x, block), want, rtol=1e-12)


@pytest.mark.parametrize("R", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("shape", [(10,), (3, 7), (2,)])
def test_17_ring_allreduce(R, shape):
    s = sol("17_data_parallel")
    arrays = [np.random.default_rng(r).normal(size=shape) for r in range(R)]
    summed, sent = s.ring_allreduce(arrays)
    assert len(summed) == R and len(sent) == R
    for out in summed:
        assert out.shape == shape
        np.testing.assert_allclose(out, sum(arrays), rtol=1e-12)
    n = int(np.prod(shape))
    assert sum(sent) == 2 * (R - 1) * n  # every chunk crosses R - 1 links in each of the two phases
    assert max(sent) <= 2 * (R - 1) * -(-n // R)


def test_17_ring_allreduce_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        sol("17_data_parallel").ring_allreduce([np.zeros(3), np.zeros(4)])


@pytest.mark.parametrize("n, world", [(10, 3), (12, 4), (2, 5), (7, 1)])
def test_17_shard_indices_match_distributed_sampler(n, world):
    from minigrad.utils.data import DistributedSampler
    s = sol("17_data_parallel")
    for rank in range(world):
        ref = list(DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=False))
        assert s.shard_indices(n, world, rank) == ref


def test_17_allreduce_seconds():
    s = sol("17_data_parallel")
    assert s.allreduce_seconds(10 ** 6, 1, 1.0) == 0.0
    # 2 ranks: each sends 2 * 1/2 * 4 MB = 4 MB = 32 Mbit, at 1 Gbit/s 32 ms
    assert np.isclose(s.allreduce_seconds(10 ** 6, 2, 1.0), 0.032)
    assert s.allreduce_seconds(10 ** 6, 64, 1.0) < 2 * s.allreduce_seconds(10 ** 6, 2, 1.0)
