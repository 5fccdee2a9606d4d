from collections import OrderedDict

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.ModuleDict({"fc": nn.Linear(16, 3), "drop": nn.Dropout(0.5)})
        self.extra = nn.ModuleList([nn.Linear(3, 3), nn.Tanh()])
        self.scale = nn.Parameter(mg.ones(1))
        self.register_buffer("counter", mg.zeros(1))
        self.register_buffer("scratch", mg.zeros(2), persistent=False)

    def forward(self, x):
        h = self.features(x).flatten(1)
        h = self.head["drop"](self.head["fc"](h))
        for m in self.extra:
            h = m(h)
        return h * self.scale


def test_registration_and_names():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
                     "head.fc.weight", "head.fc.bias", "extra.0.weight", "extra.0.bias"] or \
        set(names) == {"scale", "features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
                       "head.fc.weight", "head.fc.bias", "extra.0.weight", "extra.0.bias"}
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    sd = net.state_dict()
    assert "counter" in sd and "scratch" not in sd and "features.1.num_batches_tracked" in sd
    assert [n for n, _ in net.named_buffers()] == ["counter", "scratch", "features.1.running_mean",
                                                   "features.1.running_var", "features.1.num_batches_tracked"]
    assert [n for n, _ in net.named_children()] == ["features", "head", "extra"]
    assert len(list(net.modules())) == 1 + 5 + 3 + 3
    shared = nn.Linear(2, 2)
    seq = nn.Sequential(shared, shared)
    assert len(list(seq.parameters())) == 2  # deduplicated
    y = net(mg.randn(2, 1, 4, 4))
    assert y.shape == (2, 3) and type(y) is mg.Tensor


def test_state_dict_keys_match_torch():
    torch = pytest.importorskip("torch")
    tnn = torch.nn

    def build(n):
        return n.Sequential(OrderedDict([("conv", n.Conv2d(1, 2, 3)), ("bn", n.BatchNorm2d(2)),
                                         ("flat", n.Flatten()), ("emb_ln", n.LayerNorm(8)),
                                         ("rnn", n.Sequential(n.Unflatten(1, (2, 4)), n.GRU(4, 3, batch_first=True)))]))

    assert [(k, tuple(v.shape)) for k, v in build(nn).state_dict().items()] == \
           [(k, tuple(v.shape)) for k, v in build(tnn).state_dict().items()]


def test_repr_like_torch():
    m = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Sequential(nn.Dropout(0.1), nn.Linear(3, 1, bias=False)))
    assert repr(m) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Sequential(\n"
        "    (0): Dropout(p=0.1, inplace=False)\n"
        "    (1): Linear(in_features=3, out_features=1, bias=False)\n"
        "  )\n"
        ")")
    torch = pytest.importorskip("torch")
    t = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(),
                            torch.nn.Sequential(torch.nn.Dropout(0.1), torch.nn.Linear(3, 1, bias=False)))
    assert repr(m) == repr(t)
    assert repr(nn.Conv2d(1, 2, 3, padding=1)) == repr(torch.nn.Conv2d(1, 2, 3, padding=1))
    assert repr(nn.LSTM(3, 4, num_layers=2, batch_first=True)) == repr(torch.nn.LSTM(3, 4, num_layers=2,
                                                                                  batch_first=True))
    assert "Parameter containing" in repr(nn.Parameter(mg.zeros(1)))


def test_train_eval_switch_dropout_and_batchnorm():
    mg.manual_seed(0)
    net = Net()
    x = mg.randn(4, 1, 4, 4)
    assert net.training and net.features[1].training
    net.eval()
    assert not any(m.training for m in net.modules())
    a, b = net(x).numpy(), net(x).numpy()
    assert np.array_equal(a, b)  # no dropout noise, running stats used and left alone
    assert net.features[1].num_batches_tracked.item() == 0
    net.train()
    assert all(m.training for m in net.modules())
    net(x)
    assert net.features[1].num_batches_tracked.item() == 1
    assert not np.allclose(net.features[1].running_mean.numpy(), 0)
    c, d = net(x).numpy(), net(x).numpy()
    assert not np.array_equal(c, d)  # dropout active


def test_zero_grad_requires_grad_and_freezing():
    net = Net()
    net(mg.randn(2, 1, 4, 4)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(np.all(p.grad.numpy() == 0) for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.features.requires_grad_(False)
    net.scale.requires_grad = False
    net(mg.randn(2, 1, 4, 4)).sum().backward()
    assert all(p.grad is None for p in net.features.parameters()) and net.scale.grad is None
    assert net.head.fc.weight.grad is not None
    net.requires_grad_()
    assert all(p.requires_grad for p in net.parameters())


def test_to_and_dtype_keep_parameter_identity():
    net = Net()
    params = list(net.parameters())
    w = net.head.fc.weight
    net.double()
    assert [id(p) for p in net.parameters()] == [id(p) for p in params]
    assert w.dtype == np.float64 and net.head.fc.weight is w
    assert net.features[1].num_batches_tracked.dtype == np.int64  # integer buffers keep their dtype
    assert net(mg.randn(1, 1, 4, 4, dtype=mg.float64)).dtype == np.float64
    net.to("cpu").float()
    assert w.dtype == np.float32 and w.device == mg.device("cpu")


def test_apply_and_containers():
    seen = []
    net = Net().apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Net" and "Linear" in seen

    def init_fn(m):
        if isinstance(m, nn.Linear):
            nn.init.zeros_(m.bias)
    net.apply(init_fn)
    assert np.all(net.head["fc"].bias.numpy() == 0)
    seq = nn.Sequential(OrderedDict([("a", nn.Linear(2, 2)), ("b", nn.ReLU())]))
    assert isinstance(seq[1], nn.ReLU) and isinstance(seq[-1], nn.ReLU) and len(seq) == 2
    assert isinstance(seq[:1], nn.Sequential) and len(seq[:1]) == 1
    seq.append(nn.Linear(2, 1))
    assert len(seq) == 3 and seq(mg.randn(4, 2)).shape == (4, 1)
    ml = nn.ModuleList([nn.ReLU()])
    ml.append(nn.Tanh())
    ml.extend([nn.Sigmoid()])
    ml.insert(0, nn.Identity())
    assert [type(m).__name__ for m in ml] == ["Identity", "ReLU", "Tanh", "Sigmoid"] and len(ml) == 4
    md = nn.ModuleDict({"x": nn.ReLU()})
    md["y"] = nn.Linear(1, 1)
    assert "y" in md and list(md.keys()) == ["x", "y"] and len(list(md.parameters())) == 2


def test_attribute_errors():
    m = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="weight"):
        m.weight = mg.zeros(2, 2)
    with pytest.raises(AttributeError, match="Linear.*nope"):
        m.nope
    m.bias = None
    assert m.bias is None and "bias" not in m.state_dict()
    assert m(mg.randn(3, 2)).shape == (3, 2)

    class Early(nn.Module):
        def __init__(self):
            self.x = 1
    with pytest.raises(AttributeError, match="__init__"):
        Early()


def test_init_functions():
    mg.manual_seed(0)
    w = mg.zeros(200, 100)
    nn.init.xavier_uniform_(w)
    bound = np.sqrt(6 / 300)
    assert np.abs(w.numpy()).max() <= bound and w.numpy().std() == pytest.approx(bound / np.sqrt(3), rel=0.05)
    nn.init.kaiming_normal_(w, nonlinearity="relu")
    assert w.numpy().std() == pytest.approx(np.sqrt(2 / 100), rel=0.05)
    nn.init.xavier_normal_(w, gain=2.0)
    assert w.numpy().std() == pytest.approx(2 * np.sqrt(2 / 300), rel=0.05)
    nn.init.kaiming_uniform_(w, a=0, mode="fan_out")
    assert np.abs(w.numpy()).max() <= np.sqrt(6 / 200)
    nn.init.constant_(w, 0.5)
    assert np.all(w.numpy() == 0.5)
    nn.init.ones_(w)
    nn.init.normal_(w, 1.0, 0.1)
    assert w.numpy().mean() == pytest.approx(1.0, abs=0.01)
    nn.init.uniform_(w, -2, -1)
    assert w.numpy().max() < -1
    assert nn.init.calculate_gain("leaky_relu", 0.2) == pytest.approx(np.sqrt(2 / 1.04))
    assert nn.init.calculate_gain("tanh") == pytest.approx(5 / 3)
    mg.manual_seed(3)
    a = nn.Linear(3, 3).weight.numpy().copy()
    mg.manual_seed(3)
    assert np.array_equal(a, nn.Linear(3, 3).weight.numpy())
    with pytest.raises(ValueError, match="fan"):
        nn.init.xavier_uniform_(mg.zeros(3))
