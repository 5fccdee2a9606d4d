"""LoRA: LoRALinear, apply_lora, adapter state dicts and files."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
from minigrad.nn.utils import apply_lora, load_lora, lora_state_dict, merge_lora, save_lora, unmerge_lora


class Block(nn.Module):
    def __init__(self, d=8):
        super().__init__()
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(3 * d, d)
        self.norm = nn.LayerNorm(d)

    def forward(self, x):
        return self.c_proj(mg.tanh(self.c_attn(self.norm(x))))


class Net(nn.Module):
    def __init__(self, d=8):
        super().__init__()
        self.h = nn.ModuleList([Block(d), Block(d)])
        self.head = nn.Linear(d, 5)

    def forward(self, x):
        for b in self.h:
            x = x + b(x)
        return self.head(x)


def make(seed=0, dtype=np.float64):
    mg.manual_seed(seed)
    net = Net()
    return net.to(dtype=mg.float64) if dtype == np.float64 else net


def data(seed=1):
    r = np.random.default_rng(seed)
    return mg.tensor(r.standard_normal((6, 8))), mg.tensor(r.integers(0, 5, 6))


def test_fresh_adapter_computes_the_base_output_exactly():
    net = make()
    x, _ = data()
    before = net(x).array.copy()
    apply_lora(net, r=4, lora_alpha=8, target_modules=("c_attn", "c_proj"))
    np.testing.assert_array_equal(net(x).array, before)


def test_lora_linear_shapes_scaling_and_init():
    base = nn.Linear(10, 6)
    lora = nn.LoRALinear(base, r=3, lora_alpha=6)
    assert lora.lora_A.shape == (3, 10) and lora.lora_B.shape == (6, 3)
    assert lora.scaling == 2.0
    assert not lora.weight.requires_grad and lora.lora_A.requires_grad
    assert np.all(lora.lora_B.array == 0) and np.any(lora.lora_A.array != 0)
    bound = 1 / np.sqrt(10)  # Kaiming-uniform with a = sqrt(5): bound = 1 / sqrt(fan_in)
    assert np.abs(lora.lora_A.array).max() <= bound
    assert set(lora.state_dict()) == {"weight", "bias", "lora_A", "lora_B"}


def test_output_is_base_plus_scaled_low_rank_update():
    mg.manual_seed(3)
    lora = nn.LoRALinear(nn.Linear(5, 4).to(dtype=mg.float64), r=2, lora_alpha=3)
    lora.lora_B.array[...] = np.random.default_rng(0).standard_normal((4, 2))
    x = np.random.default_rng(1).standard_normal((7, 5))
    W, b, A, B = (p.array for p in (lora.weight, lora.bias, lora.lora_A, lora.lora_B))
    expected = x @ W.T + b + x @ A.T @ B.T * 1.5
    np.testing.assert_allclose(lora(mg.tensor(x)).array, expected, rtol=1e-12)


def test_only_adapters_train_and_base_weights_stay_bit_identical():
    net = make()
    base = {k: v.array.copy() for k, v in net.state_dict().items()}
    apply_lora(net, r=2, lora_alpha=4, target_modules=("c_attn",))
    trainable = [n for n, p in net.named_parameters() if p.requires_grad]
    assert trainable and all(n.endswith(("lora_A", "lora_B")) for n in trainable)
    opt = mg.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.1)
    x, y = data()
    first = None
    for _ in range(20):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        assert all(p.grad is None for n, p in net.named_parameters() if not n.endswith(("lora_A", "lora_B")))
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < first
    for k, v in net.state_dict().items():
        if k in base:
            np.testing.assert_array_equal(v.array, base[k], err_msg=k)


def test_trainable_count_is_r_times_in_plus_out_per_layer():
    net = make()
    apply_lora(net, r=4, lora_alpha=4, target_modules=("c_attn", "c_proj"))
    n = sum(p.numel() for p in net.parameters() if p.requires_grad)
    assert n == 2 * (4 * (8 + 24) + 4 * (24 + 8))


def test_merge_and_unmerge_agree_with_the_adapter():
    net = make()
    apply_lora(net, r=2, lora_alpha=2, target_modules=("c_attn",))
    for m in net.modules():
        if isinstance(m, nn.LoRALinear):
            m.lora_B.array[...] = np.random.default_rng(0).standard_normal(m.lora_B.shape)
    x, _ = data()
    unmerged = net(x).array.copy()
    w0 = net.h[0].c_attn.weight.array.copy()
    merge_lora(net)
    np.testing.assert_allclose(net(x).array, unmerged, rtol=1e-10, atol=1e-12)
    assert not np.array_equal(net.h[0].c_attn.weight.array, w0)
    with pytest.raises(RuntimeError, match="already merged"):
        net.h[0].c_attn.merge()
    with pytest.raises(ValueError, match="unmerge"):
        save_lora(net, "never-written")
    unmerge_lora(net)
    np.testing.assert_allclose(net.h[0].c_attn.weight.array, w0, rtol=1e-12, atol=1e-14)
    assert not any(m.merged for m in net.modules() if isinstance(m, nn.LoRALinear))


def test_adapter_state_dict_and_file_round_trip(tmp_path):
    net = make()
    apply_lora(net, r=2, lora_alpha=4, target_modules=("c_attn",))
    for m in net.modules():
        if isinstance(m, nn.LoRALinear):
            m.lora_B.array[...] = np.random.default_rng(1).standard_normal(m.lora_B.shape)
    sd = lora_state_dict(net)
    assert sorted(sd) == ["h.0.c_attn.lora_A", "h.0.c_attn.lora_B", "h.1.c_attn.lora_A", "h.1.c_attn.lora_B"]
    x, _ = data()
    out = net(x).array.copy()

    fresh = apply_lora(make(), r=2, lora_alpha=4, target_modules=("c_attn",))
    missing, unexpected = fresh.load_state_dict(sd, strict=False)
    assert not unexpected and all("lora" not in k for k in missing)
    np.testing.assert_array_equal(fresh(x).array, out)

    save_lora(net, tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_config.json").exists()
    loaded = load_lora(make(), tmp_path / "adapter")
    np.testing.assert_array_equal(loaded(x).array, out)


def test_pretrained_state_dict_still_loads_into_the_adapted_model():
    src = make(seed=5)
    net = apply_lora(make(seed=0), r=2, lora_alpha=2, target_modules=("c_attn",))
    missing, unexpected = net.load_state_dict(src.state_dict(), strict=False)
    assert not unexpected and all(k.endswith(("lora_A", "lora_B")) for k in missing)
    x, _ = data()
    np.testing.assert_array_equal(net(x).array, src(x).array)


@pytest.mark.parametrize("kwargs, match", [
    (dict(target_modules=("nope",)), "match no module"),
    (dict(target_modules=("norm",)), "LayerNorm"),
    (dict(target_modules=()), "empty"),
])
def test_apply_lora_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        apply_lora(make(), r=2, **kwargs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(r=0), "r must be"), (dict(r=2.5), "r must be"), (dict(r=2, lora_alpha=0), "lora_alpha"),
    (dict(r=2, lora_dropout=1.0), "lora_dropout"),
])
def test_lora_linear_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        nn.LoRALinear(nn.Linear(3, 3), **kwargs)
    with pytest.raises(TypeError, match="nn.Linear"):
        nn.LoRALinear(nn.Conv2d(1, 1, 3), r=1)


def test_matches_peft_lora_forward_and_gradients():
    torch = pytest.importorskip("torch")
    mg.manual_seed(0)
    lora = nn.LoRALinear(nn.Linear(6, 4).to(dtype=mg.float64), r=2, lora_alpha=5)
    lora.lora_B.array[...] = np.random.default_rng(2).standard_normal((4, 2))
    x = np.random.default_rng(3).standard_normal((3, 6))
    W, b, A, B = (torch.tensor(p.array) for p in (lora.weight, lora.bias, lora.lora_A, lora.lora_B))
    A.requires_grad_(True)
    B.requires_grad_(True)
    tx = torch.tensor(x)
    ty = torch.nn.functional.linear(tx, W, b) + (tx @ A.T @ B.T) * (5 / 2)
    (ty ** 2).sum().backward()
    mx = mg.tensor(x)
    my = lora(mx)
    (my ** 2).sum().backward()
    np.testing.assert_allclose(my.array, ty.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(lora.lora_A.grad.array, A.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(lora.lora_B.grad.array, B.grad.numpy(), rtol=1e-10)


def test_bad_arguments_leave_the_model_untouched():
    net = make()
    for kwargs in (dict(r=0), dict(r=2, lora_alpha=-1), dict(r=2, lora_dropout="0.1")):
        with pytest.raises(ValueError, match=r"apply_lora: (r|lora_alpha|lora_dropout)"):
            apply_lora(net, target_modules=("c_attn",), **kwargs)
    assert all(p.requires_grad for p in net.parameters())
    assert not any(isinstance(m, nn.LoRALinear) for m in net.modules())
    with pytest.raises(TypeError, match="module names"):
        apply_lora(net, r=2, target_modules=("c_attn", 3))


def test_adapters_added_in_two_calls_all_train_and_round_trip(tmp_path):
    net = make()
    apply_lora(net, r=2, lora_alpha=4, target_modules=("c_attn",))
    apply_lora(net, r=2, lora_alpha=4, target_modules=("c_proj",))
    trainable = sorted(n for n, p in net.named_parameters() if p.requires_grad)
    assert trainable == sorted(f"h.{i}.{m}.lora_{ab}" for i in (0, 1) for m in ("c_attn", "c_proj") for ab in "AB")
    for m in net.modules():
        if isinstance(m, nn.LoRALinear):
            m.lora_B.array[...] = np.random.default_rng(4).standard_normal(m.lora_B.shape)
    x, _ = data()
    save_lora(net, tmp_path / "a")
    np.testing.assert_array_equal(load_lora(make(), tmp_path / "a")(x).array, net(x).array)
    with pytest.raises(ValueError, match="same settings"):
        apply_lora(net, r=4, lora_alpha=4, target_modules=("head",))
