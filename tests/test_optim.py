import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
import minigrad.optim as optim
from _nn_helpers import assert_close

torch = pytest.importorskip("torch")


def _grad_fn(p):
    """A fixed, nonlinear gradient of the current parameter values (identical input to both libraries)."""
    return np.sin(3 * p) + 0.5 * p ** 3 - 0.2


def _run(make_m, make_t, steps=20, sched=None, groups=False):
    rng = np.random.default_rng(0)
    init = [rng.standard_normal((3, 2)), rng.standard_normal(4)]
    mp = [nn.Parameter(mg.tensor(a)) for a in init]
    tp = [torch.nn.Parameter(torch.tensor(a)) for a in init]
    if groups:
        mo = make_m([{"params": [mp[0]]}, {"params": [mp[1]], "lr": 0.003}])
        to = make_t([{"params": [tp[0]]}, {"params": [tp[1]], "lr": 0.003}])
    else:
        mo, to = make_m(mp), make_t(tp)
    ms = ts = None
    if sched is not None:
        ms, ts = sched[0](mo), sched[1](to)
    for step in range(steps):
        for a, b in zip(mp, tp):
            g = _grad_fn(b.detach().numpy())
            if step == 3 and a is mp[1]:
                continue  # a step where this parameter has no gradient: it must be skipped
            a.grad = mg.tensor(g)
            b.grad = torch.tensor(g)
        mo.step()
        to.step()
        for a, b in zip(mp, tp):
            assert_close(a, b, atol=1e-10, rtol=1e-7, what=f"step {step}")
        mo.zero_grad()
        to.zero_grad()
        if ms is not None:
            if isinstance(ms, optim.lr_scheduler.ReduceLROnPlateau):
                metric = [5, 4, 4, 4, 4, 3, 3, 3, 3, 3][step % 10]
                ms.step(metric)
                ts.step(metric)
            else:
                ms.step()
                ts.step()
            assert np.allclose(ms.get_last_lr(), ts.get_last_lr(), rtol=1e-12, atol=0), step
    return mo, to


OPTIMISERS = [
    ("sgd", lambda o: lambda p: o.SGD(p, lr=0.05)),
    ("sgd_momentum_wd", lambda o: lambda p: o.SGD(p, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("sgd_nesterov", lambda o: lambda p: o.SGD(p, lr=0.05, momentum=0.8, nesterov=True)),
    ("adam", lambda o: lambda p: o.Adam(p, lr=0.01)),
    ("adam_amsgrad_wd", lambda o: lambda p: o.Adam(p, lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True)),
    ("adamw", lambda o: lambda p: o.AdamW(p, lr=0.01)),
    ("adamw_amsgrad", lambda o: lambda p: o.AdamW(p, lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("rmsprop", lambda o: lambda p: o.RMSprop(p, lr=0.01)),
    ("rmsprop_all", lambda o: lambda p: o.RMSprop(p, lr=0.01, alpha=0.9, momentum=0.5, centered=True,
                                                   weight_decay=0.05)),
    ("adagrad", lambda o: lambda p: o.Adagrad(p, lr=0.1, lr_decay=0.01, weight_decay=0.1,
                                               initial_accumulator_value=0.1)),
    ("adadelta", lambda o: lambda p: o.Adadelta(p, lr=1.0, rho=0.8, weight_decay=0.05)),
]


@pytest.mark.parametrize("name,make", OPTIMISERS, ids=[o[0] for o in OPTIMISERS])
def test_optimiser_trajectory_matches_torch(name, make):
    _run(make(optim), make(torch.optim))


@pytest.mark.parametrize("name,make", [OPTIMISERS[1], OPTIMISERS[4]], ids=["sgd", "adam"])
def test_param_groups_match_torch(name, make):
    _run(make(optim), make(torch.optim), groups=True)


SCHEDULERS = [
    ("step", lambda s: lambda o: s.StepLR(o, step_size=3, gamma=0.5)),
    ("multistep", lambda s: lambda o: s.MultiStepLR(o, milestones=[2, 5, 11], gamma=0.3)),
    ("exponential", lambda s: lambda o: s.ExponentialLR(o, gamma=0.9)),
    ("cosine", lambda s: lambda o: s.CosineAnnealingLR(o, T_max=7, eta_min=0.001)),
    ("lambda", lambda s: lambda o: s.LambdaLR(o, lambda e: 1 / (1 + e))),
    ("plateau", lambda s: lambda o: s.ReduceLROnPlateau(o, factor=0.5, patience=2, cooldown=1)),
]


@pytest.mark.parametrize("name,make", SCHEDULERS, ids=[s[0] for s in SCHEDULERS])
def test_scheduler_trajectory_matches_torch(name, make):
    mk = lambda o: lambda p: o.SGD(p, lr=0.1, momentum=0.9)  # noqa: E731
    _run(mk(optim), mk(torch.optim), sched=(make(optim.lr_scheduler), make(torch.optim.lr_scheduler)), groups=True)


def test_scheduler_state_dict():
    p = nn.Parameter(mg.zeros(2))
    o = optim.SGD([p], lr=1.0)
    s = optim.lr_scheduler.StepLR(o, 2, 0.5)
    for _ in range(3):
        s.step()
    sd = s.state_dict()
    assert sd["last_epoch"] == 3 and "optimizer" not in sd
    s2 = optim.lr_scheduler.StepLR(optim.SGD([p], lr=1.0), 2, 0.5)
    s2.load_state_dict(sd)
    assert s2.last_epoch == 3 and s.get_last_lr() == [0.5]


def test_optimizer_state_dict_round_trip():
    torch_free = [nn.Parameter(mg.tensor(np.ones(3))), nn.Parameter(mg.tensor(np.ones(2)))]
    o = optim.Adam(torch_free, lr=0.1)
    for p in torch_free:
        p.grad = mg.tensor(np.full(p.shape, 0.5))
    o.step()
    sd = o.state_dict()
    assert sd["param_groups"][0]["params"] == [0, 1] and sd["state"][0]["step"] == 1
    clone = [nn.Parameter(mg.tensor(p.numpy().copy())) for p in torch_free]
    o2 = optim.Adam(clone, lr=0.5)
    o2.load_state_dict(sd)
    assert o2.param_groups[0]["lr"] == 0.1
    for a, b in zip(torch_free, clone):
        a.grad = b.grad = mg.tensor(np.full(a.shape, 0.25))
    o.step()
    o2.step()
    for a, b in zip(torch_free, clone):
        assert np.array_equal(a.numpy(), b.numpy())


def test_closure_and_zero_grad():
    p = nn.Parameter(mg.tensor([1.0, 2.0]))
    o = optim.SGD([p], lr=0.1)

    def closure():
        o.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = o.step(closure)
    assert loss.item() == 5.0 and np.allclose(p.numpy(), [0.8, 1.6])
    o.zero_grad(set_to_none=False)
    assert np.all(p.grad.numpy() == 0)
    o.zero_grad()
    assert p.grad is None


def test_add_param_group_and_errors():
    a, b = nn.Parameter(mg.zeros(2)), nn.Parameter(mg.zeros(3))
    o = optim.SGD([a], lr=0.1, momentum=0.5)
    o.add_param_group({"params": b, "lr": 0.01})
    assert o.param_groups[1]["momentum"] == 0.5 and o.param_groups[1]["lr"] == 0.01
    with pytest.raises(ValueError, match="more than one"):
        o.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match="empty"):
        optim.Adam([])
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD([a], lr=0.1, nesterov=True)


def test_frozen_parameters_stay_bit_identical():
    mg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    model[0].requires_grad_(False)
    model[2].bias.requires_grad = False
    frozen = {k: v.numpy().copy() for k, v in model.state_dict().items() if k in ("0.weight", "0.bias", "2.bias")}
    for make in (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.1), lambda p: optim.AdamW(p, lr=0.1)):
        o = make(model.parameters())
        for _ in range(5):
            o.zero_grad()
            loss = (model(mg.randn(3, 4)) ** 2).mean()
            loss.backward()
            o.step()
    for k, v in frozen.items():
        assert np.array_equal(model.state_dict()[k].numpy(), v), k
    assert not np.array_equal(model[2].weight.numpy(), nn.Linear(8, 2).weight.numpy())


def test_clip_grad():
    a, b = nn.Parameter(mg.tensor([3.0, 0.0])), nn.Parameter(mg.tensor([4.0]))
    a.grad, b.grad = mg.tensor([3.0, 0.0]), mg.tensor([4.0])
    ta, tb = torch.nn.Parameter(torch.tensor([3.0, 0.0])), torch.nn.Parameter(torch.tensor([4.0]))
    ta.grad, tb.grad = torch.tensor([3.0, 0.0]), torch.tensor([4.0])
    total = nn.clip_grad_norm_([a, b], 1.0)
    ttotal = torch.nn.utils.clip_grad_norm_([ta, tb], 1.0)
    assert np.isclose(total.item(), ttotal.item())
    assert_close(a.grad, ta.grad, atol=1e-6)
    assert_close(b.grad, tb.grad, atol=1e-6)
    a.grad = mg.tensor([-3.0, 0.5])
    nn.clip_grad_value_([a], 1.0)
    assert np.allclose(a.grad.numpy(), [-1.0, 0.5])
    assert np.isclose(nn.clip_grad_norm_([a], 10.0, norm_type=float("inf")).item(), 1.0)
    v = nn.parameters_to_vector([a, b])
    assert v.shape == (3,)
    nn.vector_to_parameters(mg.tensor([1.0, 2.0, 3.0]), [a, b])
    assert np.allclose(a.numpy(), [1, 2]) and np.allclose(b.numpy(), [3])
