import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
from _nn_helpers import assert_close, parity

torch = pytest.importorskip("torch")


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


CONFIGS = [
    dict(num_layers=1, batch_first=False, bidirectional=False),
    dict(num_layers=2, batch_first=True, bidirectional=False),
    dict(num_layers=2, batch_first=False, bidirectional=True),
    dict(num_layers=1, batch_first=True, bidirectional=True),
]


@pytest.mark.parametrize("kind", ["RNN", "RNN_relu", "LSTM", "GRU"])
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"L{c['num_layers']}-bf{int(c['batch_first'])}-bi{int(c['bidirectional'])}")
def test_recurrent_matches_torch(kind, cfg):
    torch.manual_seed(0)
    cls = kind.split("_")[0]
    extra = {"nonlinearity": "relu"} if kind.endswith("relu") else {}
    tm = getattr(torch.nn, cls)(3, 4, **cfg, **extra).double()
    mm = getattr(nn, cls)(3, 4, **cfg, **extra).double()
    n, L = 2, 5
    x = _x(n, L, 3) if cfg["batch_first"] else _x(L, n, 3)
    parity(mm, tm, x)  # zero initial state
    d = 2 if cfg["bidirectional"] else 1
    h0 = _x(cfg["num_layers"] * d, n, 4, seed=1)
    if cls == "LSTM":
        c0 = _x(cfg["num_layers"] * d, n, 4, seed=2)
        mm.zero_grad()
        tm.zero_grad()
        _with_state(mm, tm, x, (h0, c0))
    else:
        mm.zero_grad()
        tm.zero_grad()
        _with_state(mm, tm, x, h0)


def _with_state(mm, tm, x, state):
    mk = lambda a: mg.tensor(a, requires_grad=True)  # noqa: E731
    tk = lambda a: torch.tensor(a, requires_grad=True)  # noqa: E731
    ms = tuple(map(mk, state)) if isinstance(state, tuple) else mk(state)
    ts = tuple(map(tk, state)) if isinstance(state, tuple) else tk(state)
    mx, tx = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (my, mh), (ty, th) = mm(mx, ms), tm(tx, ts)
    assert_close(my, ty)
    mh_list = list(mh) if isinstance(mh, tuple) else [mh]
    th_list = list(th) if isinstance(th, tuple) else [th]
    loss_m = (my * my).sum() + sum((h * 1.5).sum() for h in mh_list)
    loss_t = (ty * ty).sum() + sum((h * 1.5).sum() for h in th_list)
    for a, b in zip(mh_list, th_list):
        assert_close(a, b)
    loss_m.backward()
    loss_t.backward()
    assert_close(mx.grad, tx.grad)
    for a, b in zip(ms if isinstance(ms, tuple) else [ms], ts if isinstance(ts, tuple) else [ts]):
        assert_close(a.grad, b.grad)
    tp = dict(tm.named_parameters())
    for name, p in mm.named_parameters():
        assert_close(p.grad, tp[name].grad, what=name)


def test_parameter_names_and_shapes_match_torch():
    for cls in ("RNN", "LSTM", "GRU"):
        t = getattr(torch.nn, cls)(3, 5, num_layers=2, bidirectional=True)
        m = getattr(nn, cls)(3, 5, num_layers=2, bidirectional=True)
        assert [(k, tuple(v.shape)) for k, v in m.state_dict().items()] == \
               [(k, tuple(v.shape)) for k, v in t.state_dict().items()]
        bound = 1 / np.sqrt(5)
        assert all(np.abs(p.numpy()).max() <= bound for p in m.parameters())


def test_unbatched_input():
    torch.manual_seed(0)
    tm, mm = torch.nn.GRU(3, 4, num_layers=2).double(), nn.GRU(3, 4, num_layers=2).double()
    parity(mm, tm, _x(6, 3))


@pytest.mark.parametrize("cls", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_match_torch(cls):
    torch.manual_seed(0)
    tm, mm = getattr(torch.nn, cls)(3, 4).double(), getattr(nn, cls)(3, 4).double()
    parity(mm, tm, _x(2, 3))
    mm.zero_grad()
    tm.zero_grad()
    h = _x(2, 4, seed=1)
    state = (h, _x(2, 4, seed=2)) if cls == "LSTMCell" else h
    if cls == "LSTMCell":
        mm.load_state_dict(tm.state_dict())
        y = mm(mg.tensor(_x(2, 3)), tuple(mg.tensor(s) for s in state))
        ty = tm(torch.tensor(_x(2, 3)), tuple(torch.tensor(s) for s in state))
        for a, b in zip(y, ty):
            assert_close(a, b)
    else:
        assert_close(mm(mg.tensor(_x(2, 3)), mg.tensor(state)), tm(torch.tensor(_x(2, 3)), torch.tensor(state)))


def test_rnn_gradcheck():
    mg.manual_seed(0)
    for m in (nn.LSTM(2, 3, num_layers=2, bidirectional=True).double(), nn.GRU(2, 2, batch_first=True).double()):
        x = mg.tensor(_x(2, 3, 2), requires_grad=True)
        assert mg.gradcheck(lambda x, *ps: m(x)[0], [x, *list(m.parameters())[:4]])


def test_rnn_errors():
    with pytest.raises(ValueError, match="LSTM.*features"):
        nn.LSTM(3, 4)(mg.randn(5, 2, 2))
    with pytest.raises(ValueError, match="GRU.*hidden state"):
        nn.GRU(3, 4)(mg.randn(5, 2, 3), mg.randn(2, 2, 4))
