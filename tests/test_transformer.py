"""nn.MultiheadAttention and the nn.Transformer family against torch.nn, float64, weights copied from torch:
outputs, input gradients and every parameter gradient; both layouts, every mask kind."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
from _nn_helpers import assert_close

torch = pytest.importorskip("torch")
tnn = torch.nn

E, H, L, S, N = 8, 2, 5, 6, 3


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _run(mm, tm, inputs, kwargs_np=None, call=None, atol=1e-9):
    """Copy tm's weights into mm; run both on the same inputs (numpy; float ones need grad) and keyword
    masks; compare every output, then the gradients of a fixed weighted sum of them."""
    mm.load_state_dict(tm.state_dict())
    kwargs_np = kwargs_np or {}
    mx = [mg.tensor(x, requires_grad=True) for x in inputs]
    tx = [torch.tensor(x, requires_grad=True) for x in inputs]
    mk = {k: (mg.tensor(v) if isinstance(v, np.ndarray) else v) for k, v in kwargs_np.items()}
    tk = {k: (torch.tensor(v) if isinstance(v, np.ndarray) else v) for k, v in kwargs_np.items()}
    call = call or (lambda m, xs, kw: m(*xs, **kw))
    ys, tys = call(mm, mx, mk), call(tm, tx, tk)
    ys, tys = (ys, tys) if isinstance(ys, tuple) else ((ys,), (tys,))
    ml, tl = 0, 0
    for k, (a, b) in enumerate(zip(ys, tys)):
        assert (a is None) == (b is None)
        if b is None:
            continue
        assert_close(a, b, atol, 1e-7, f"output {k}")
        w = _x(*b.shape, seed=10 + k)
        ml, tl = ml + (a * mg.tensor(w)).sum(), tl + (b * torch.tensor(w)).sum()
    ml.backward()
    tl.backward()
    for a, b in zip(mx, tx):
        assert_close(a.grad, b.grad, atol, 1e-7, "input grad")
    tparams = dict(tm.named_parameters())
    assert [n for n, _ in mm.named_parameters()] == list(tparams)
    for name, p in mm.named_parameters():
        tg = tparams[name].grad
        if tg is None:
            assert p.grad is None or not np.any(p.grad.numpy()), name
        else:
            assert_close(p.grad, tg, atol, 1e-7, f"grad of {name}")


def _pair(mcls, tcls, *args, **kwargs):
    torch.manual_seed(0)
    return mcls(*args, **kwargs).double(), tcls(*args, **kwargs).double()


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights,average", [(True, True), (True, False), (False, True)])
def test_mha_self_attention_matches_torch(batch_first, need_weights, average):
    mm, tm = _pair(nn.MultiheadAttention, tnn.MultiheadAttention, E, H, batch_first=batch_first)
    assert list(mm.state_dict()) == list(tm.state_dict())
    x = _x(N, L, E) if batch_first else _x(L, N, E)
    _run(mm, tm, [x], dict(need_weights=need_weights, average_attn_weights=average),
         call=lambda m, xs, kw: m(xs[0], xs[0], xs[0], **kw))


MASKS = {
    "bool_attn": lambda: dict(attn_mask=np.triu(np.ones((L, S), bool), 2)),
    "float_attn": lambda: dict(attn_mask=_x(L, S, seed=3)),
    "per_head_attn": lambda: dict(attn_mask=_x(N * H, L, S, seed=4)),
    "bool_padding": lambda: dict(key_padding_mask=np.array([[False] * S, [False] * 4 + [True] * 2,
                                                            [True] + [False] * 5])),
    "float_padding": lambda: dict(key_padding_mask=_x(N, S, seed=5)),
    "both": lambda: dict(attn_mask=np.triu(np.ones((L, S), bool), 3),
                         key_padding_mask=np.array([[False] * S, [False] * 5 + [True], [True] + [False] * 5])),
}


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("mask", sorted(MASKS))
def test_mha_cross_attention_with_masks_and_kdim_vdim(mask, need_weights):
    mm, tm = _pair(nn.MultiheadAttention, tnn.MultiheadAttention, E, H, kdim=3, vdim=5, batch_first=True)
    assert mm.in_proj_weight is None and list(mm.state_dict()) == list(tm.state_dict())
    _run(mm, tm, [_x(N, L, E), _x(N, S, 3, seed=1), _x(N, S, 5, seed=2)],
         dict(MASKS[mask](), need_weights=need_weights), call=lambda m, xs, kw: m(*xs, **kw))


def test_mha_unbatched_and_causal_hint():
    mm, tm = _pair(nn.MultiheadAttention, tnn.MultiheadAttention, E, H)
    causal = np.triu(np.full((L, L), -np.inf), 1)
    _run(mm, tm, [_x(L, E)], dict(attn_mask=causal, is_causal=True, need_weights=False),
         call=lambda m, xs, kw: m(xs[0], xs[0], xs[0], **kw))
    _run(mm, tm, [_x(L, E)], dict(key_padding_mask=np.array([False] * (L - 1) + [True])),
         call=lambda m, xs, kw: m(xs[0], xs[0], xs[0], **kw))
    with pytest.raises(RuntimeError, match="attn_mask"):
        mm(mg.tensor(_x(L, E)), mg.tensor(_x(L, E)), mg.tensor(_x(L, E)), is_causal=True)


def test_mha_bad_arguments():
    with pytest.raises(ValueError, match="num_heads"):
        nn.MultiheadAttention(10, 3)
    m = nn.MultiheadAttention(E, H)
    x = mg.randn(L, N, E)
    with pytest.raises(ValueError, match="feature sizes"):
        m(x, mg.randn(S, N, E + 1), mg.randn(S, N, E))
    with pytest.raises(ValueError, match="key_padding_mask"):
        m(x, x, x, key_padding_mask=mg.zeros(N, L + 1, dtype=mg.bool))
    with pytest.raises(ValueError, match="attn_mask"):
        m(x, x, x, attn_mask=mg.zeros(L, L + 1))


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer_matches_torch(norm_first, batch_first, activation):
    kw = dict(dim_feedforward=16, dropout=0.0, activation=activation, batch_first=batch_first, norm_first=norm_first)
    mm, tm = _pair(nn.TransformerEncoderLayer, tnn.TransformerEncoderLayer, E, H, **kw)
    x = _x(N, L, E) if batch_first else _x(L, N, E)
    pad = np.array([[False] * L, [False] * (L - 2) + [True] * 2, [True] + [False] * (L - 1)])
    _run(mm, tm, [x], dict(src_key_padding_mask=pad))
    causal = np.triu(np.full((L, L), -np.inf), 1)
    _run(mm, tm, [x], dict(src_mask=causal, is_causal=True))


def test_encoder_decoder_and_transformer_match_torch():
    kw = dict(dim_feedforward=16, dropout=0.0, batch_first=True)
    layer_m, layer_t = _pair(nn.TransformerEncoderLayer, tnn.TransformerEncoderLayer, E, H, **kw)
    mm = nn.TransformerEncoder(layer_m, 2, norm=nn.LayerNorm(E).double())
    tm = tnn.TransformerEncoder(layer_t, 2, norm=tnn.LayerNorm(E).double(), enable_nested_tensor=False)
    causal = nn.Transformer.generate_square_subsequent_mask(L, dtype=mg.float64).numpy()
    np.testing.assert_array_equal(causal, tnn.Transformer.generate_square_subsequent_mask(L, dtype=torch.float64))
    _run(mm, tm, [_x(N, L, E)], dict(mask=causal))

    layer_m, layer_t = _pair(nn.TransformerDecoderLayer, tnn.TransformerDecoderLayer, E, H, activation="gelu",
                             norm_first=True, **kw)
    mm, tm = nn.TransformerDecoder(layer_m, 2), tnn.TransformerDecoder(layer_t, 2)
    pad = np.array([[False] * S, [False] * 4 + [True] * 2, [True] + [False] * 5])
    _run(mm, tm, [_x(N, L, E), _x(N, S, E, seed=1)], dict(tgt_mask=causal, memory_key_padding_mask=pad))

    mm, tm = _pair(nn.Transformer, tnn.Transformer, d_model=E, nhead=H, num_encoder_layers=1, num_decoder_layers=2,
                   dim_feedforward=16, dropout=0.0)
    assert list(mm.state_dict()) == list(tm.state_dict())
    _run(mm, tm, [_x(S, N, E), _x(L, N, E, seed=1)], dict(tgt_mask=causal))


def test_transformer_trains_and_dropout_only_in_training():
    mg.manual_seed(0)
    model = nn.TransformerEncoderLayer(E, H, dim_feedforward=16, dropout=0.5, batch_first=True)
    x = mg.randn(N, L, E)
    model.eval()
    np.testing.assert_array_equal(model(x).numpy(), model(x).numpy())
    model.train()
    assert not np.array_equal(model(x).numpy(), model(x).numpy())
    opt = mg.optim.Adam(model.parameters(), lr=1e-2)
    target = mg.randn(N, L, E)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = ((model(x) - target) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
