import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
from _nn_helpers import assert_close, parity

torch = pytest.importorskip("torch")
tnn = torch.nn


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


LAYERS = [
    ("linear", lambda m: m.Linear(4, 3), (2, 4)),
    ("linear_nobias_3d", lambda m: m.Linear(4, 3, bias=False), (2, 5, 4)),
    ("conv2d", lambda m: m.Conv2d(2, 4, 3), (2, 2, 6, 5)),
    ("conv2d_stride_pad", lambda m: m.Conv2d(2, 4, (3, 2), stride=2, padding=1), (2, 2, 7, 6)),
    ("conv2d_dilation_groups", lambda m: m.Conv2d(4, 6, 3, padding=2, dilation=2, groups=2), (1, 4, 6, 6)),
    ("conv2d_same_even", lambda m: m.Conv2d(2, 3, 4, padding="same", bias=False), (1, 2, 5, 5)),
    ("conv2d_same_odd", lambda m: m.Conv2d(2, 3, 3, padding="same"), (2, 2, 5, 4)),
    ("conv1d", lambda m: m.Conv1d(3, 4, 3, stride=2, padding=1), (2, 3, 9)),
    ("conv1d_groups", lambda m: m.Conv1d(4, 4, 2, groups=4, dilation=2), (2, 4, 7)),
    ("maxpool", lambda m: m.MaxPool2d(2), (2, 3, 6, 6)),
    ("maxpool_stride_pad", lambda m: m.MaxPool2d(3, stride=2, padding=1), (1, 2, 7, 7)),
    ("avgpool", lambda m: m.AvgPool2d(2, stride=1), (2, 2, 5, 5)),
    ("adaptive_avg_div", lambda m: m.AdaptiveAvgPool2d((2, 3)), (2, 2, 4, 6)),
    ("adaptive_avg_nodiv", lambda m: m.AdaptiveAvgPool2d((3, 2)), (2, 2, 5, 7)),
    ("adaptive_avg_1", lambda m: m.AdaptiveAvgPool2d(1), (2, 3, 4, 4)),
    ("flatten", lambda m: m.Flatten(), (2, 3, 2, 2)),
    ("unflatten", lambda m: m.Unflatten(1, (2, 3)), (2, 6)),
    ("identity", lambda m: m.Identity(), (2, 3)),
    ("layernorm", lambda m: m.LayerNorm(4), (2, 3, 4)),
    ("layernorm_2d", lambda m: m.LayerNorm((3, 4)), (2, 3, 4)),
    ("relu", lambda m: m.ReLU(), (3, 4)),
    ("leaky_relu", lambda m: m.LeakyReLU(0.2), (3, 4)),
    ("sigmoid", lambda m: m.Sigmoid(), (3, 4)),
    ("tanh", lambda m: m.Tanh(), (3, 4)),
    ("gelu", lambda m: m.GELU(), (3, 4)),
    ("gelu_tanh", lambda m: m.GELU("tanh"), (3, 4)),
    ("softmax", lambda m: m.Softmax(dim=1), (3, 4)),
    ("log_softmax", lambda m: m.LogSoftmax(dim=-1), (3, 4)),
    ("softplus", lambda m: m.Softplus(beta=2.0), (3, 4)),
]


@pytest.mark.parametrize("name,make,shape", LAYERS, ids=[c[0] for c in LAYERS])
def test_layer_matches_torch(name, make, shape):
    torch.manual_seed(0)
    tm = make(tnn).double()
    mm = make(nn).double()
    parity(mm, tm, _x(*shape))


@pytest.mark.parametrize("name,make,shape", [c for c in LAYERS if c[0] in (
    "linear", "conv2d_stride_pad", "conv2d_dilation_groups", "conv1d", "avgpool", "adaptive_avg_nodiv", "layernorm",
    "maxpool")], ids=lambda c: c if isinstance(c, str) else "")
def test_layer_gradcheck(name, make, shape):
    mg.manual_seed(0)
    m = make(nn).double()
    x = mg.tensor(_x(*shape, seed=1), requires_grad=True)
    assert mg.gradcheck(lambda x, *ps: m(x), [x, *m.parameters()])


def test_default_shapes_and_init_follow_torch():
    mg.manual_seed(0)
    lin = nn.Linear(50, 40)
    bound = 1 / np.sqrt(50)
    assert lin.weight.shape == (40, 50) and lin.bias.shape == (40,)
    assert np.abs(lin.weight.numpy()).max() <= bound and np.abs(lin.weight.numpy()).max() > 0.9 * bound
    assert np.abs(lin.bias.numpy()).max() <= bound
    conv = nn.Conv2d(3, 8, 3)
    b = 1 / np.sqrt(27)
    assert conv.weight.shape == (8, 3, 3, 3) and np.abs(conv.weight.numpy()).max() <= b
    assert lin.weight.dtype == np.float32 and lin.weight.requires_grad
    assert nn.Conv2d(4, 4, 3, groups=2).weight.shape == tnn.Conv2d(4, 4, 3, groups=2).weight.shape


@pytest.mark.parametrize("cls,shape", [("BatchNorm1d", (6, 3)), ("BatchNorm1d", (4, 3, 5)), ("BatchNorm2d", (4, 3, 2, 3))])
def test_batchnorm_train_and_eval_match_torch(cls, shape):
    torch.manual_seed(0)
    tm, mm = getattr(tnn, cls)(3, momentum=0.3).double(), getattr(nn, cls)(3, momentum=0.3).double()
    with torch.no_grad():
        tm.weight.uniform_(0.5, 1.5)
        tm.bias.uniform_(-1, 1)
    for step in range(3):
        parity(mm, tm, _x(*shape, seed=step) * 2 + 1)
        mm.load_state_dict(tm.state_dict())  # parity() reloads from torch; keep running stats in step
    assert_close(mm.running_mean, tm.running_mean)
    assert_close(mm.running_var, tm.running_var)
    assert mm.num_batches_tracked.dtype == np.int64 and int(mm.num_batches_tracked.item()) == 3
    mm.eval()
    tm.eval()
    parity(mm, tm, _x(*shape, seed=9))


def test_batchnorm_running_stats_accumulate():
    tm, mm = tnn.BatchNorm1d(3).double(), nn.BatchNorm1d(3).double()
    mm.load_state_dict(tm.state_dict())
    for s in range(4):
        x = _x(5, 3, seed=s)
        tm(torch.tensor(x))
        mm(mg.tensor(x))
    assert_close(mm.running_mean, tm.running_mean)
    assert_close(mm.running_var, tm.running_var)
    assert int(mm.num_batches_tracked.item()) == 4
    cma_t, cma_m = tnn.BatchNorm1d(3, momentum=None).double(), nn.BatchNorm1d(3, momentum=None).double()
    for s in range(3):
        x = _x(5, 3, seed=s)
        cma_t(torch.tensor(x))
        cma_m(mg.tensor(x))
    assert_close(cma_m.running_var, cma_t.running_var)
    no_stats_t, no_stats_m = tnn.BatchNorm2d(2, track_running_stats=False).double(), nn.BatchNorm2d(
        2, track_running_stats=False).double()
    assert "running_mean" not in no_stats_m.state_dict()
    no_stats_t.eval()
    no_stats_m.eval()
    parity(no_stats_m, no_stats_t, _x(3, 2, 2, 2))


def test_batchnorm_gradcheck():
    m = nn.BatchNorm2d(2).double()
    x = mg.tensor(_x(3, 2, 2, 2), requires_grad=True)
    assert mg.gradcheck(lambda x, *ps: m(x), [x, *m.parameters()])


def test_embedding_matches_torch_and_padding_idx():
    torch.manual_seed(0)
    tm, mm = tnn.Embedding(7, 3, padding_idx=2).double(), nn.Embedding(7, 3, padding_idx=2).double()
    idx = np.array([[0, 2, 5], [2, 2, 6]])
    parity(mm, tm, idx)
    assert np.all(mm.weight.grad.numpy()[2] == 0)
    assert np.all(nn.Embedding(5, 2, padding_idx=1).weight.numpy()[1] == 0)
    with pytest.raises(IndexError, match="embedding"):
        mm(mg.tensor([7]))


def test_dropout_train_eval():
    mg.manual_seed(0)
    d = nn.Dropout(0.25)
    x = mg.ones(2000)
    y = d(x).numpy()
    assert np.all((y == 0) | np.isclose(y, 1 / 0.75))
    assert abs((y == 0).mean() - 0.25) < 0.05
    d.eval()
    assert d(x) is x
    d2 = nn.Dropout2d(0.5)
    y = d2(mg.ones(4, 50, 3, 3)).numpy()
    per_channel = y.reshape(4, 50, 9)
    assert np.all(per_channel.min(-1) == per_channel.max(-1))  # whole channels dropped
    d2.eval()
    assert np.all(d2(mg.ones(1, 2, 3, 3)).numpy() == 1)
    # gradient flows through the kept elements only, scaled
    x = mg.ones(100, requires_grad=True)
    d.train()
    out = d(x)
    out.sum().backward()
    assert_close(x.grad, out.detach())


def test_layer_errors_name_op_and_shapes():
    with pytest.raises(ValueError, match=r"linear.*\(2, 5\)"):
        nn.Linear(4, 3)(mg.randn(2, 5))
    with pytest.raises(ValueError, match="conv2d"):
        nn.Conv2d(3, 4, 3)(mg.randn(1, 2, 5, 5))
    with pytest.raises(ValueError, match="BatchNorm2d"):
        nn.BatchNorm2d(3)(mg.randn(2, 3))
    with pytest.raises(ValueError, match="layer_norm"):
        nn.LayerNorm(5)(mg.randn(2, 4))
