"""Framework-level API that PyTorch tutorials use, checked against torch: devices, grad modes, seeding,
random_split, nn.init, Module.apply / buffers, testing.assert_close and printed modules."""
import math
import types
import warnings

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
from minigrad.backend import contract, numpy_backend, register_device, unregister_device
from minigrad.utils.data import DataLoader, Subset, TensorDataset, random_split

torch = pytest.importorskip("torch")


# ----------------------------------------------------------------------------------------- devices
@pytest.fixture
def toy_device():
    """A second device (numpy arrays, the reference kernels), to see where tensors land."""
    toy = types.ModuleType("toy_backend")
    toy.name, toy.xp = "toy", np
    for kernel in contract.REQUIRED:
        setattr(toy, kernel, getattr(numpy_backend, kernel))
    register_device("toy", lambda: toy)
    try:
        yield mg.Device("toy")
    finally:
        mg.set_default_device(None)
        unregister_device("toy")


def test_default_device_is_cpu_and_resets():
    assert mg.get_default_device() == mg.Device("cpu") and torch.get_default_device() == torch.device("cpu")
    mg.set_default_device("cpu")
    mg.set_default_device(None)
    assert mg.get_default_device().type == "cpu"


def test_factories_and_layers_use_the_default_device(toy_device):
    cpu = mg.ones(2)
    mg.set_default_device("toy")
    assert mg.get_default_device() == toy_device
    made = [mg.tensor([1.0]), mg.tensor(cpu), mg.zeros(2), mg.ones(2), mg.empty(2), mg.full((2,), 1.0),
            mg.randn(2), mg.rand(2), mg.randint(0, 3, (2,)), mg.arange(3), mg.eye(2), mg.linspace(0, 1, 3)]
    assert all(t.device == toy_device for t in made)
    assert all(t.device.type == "cpu" for t in (mg.zeros_like(cpu), mg.ones_like(cpu), mg.randn_like(cpu),
                                                mg.full_like(cpu, 2.0), mg.from_numpy(np.ones(2))))
    assert mg.zeros(2, device="cpu").device.type == "cpu"
    layers = [nn.Linear(2, 3), nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Embedding(4, 2), nn.LSTM(2, 3)]
    assert all(t.device == toy_device for m in layers for t in list(m.parameters()) + list(m.buffers()))
    mg.set_default_device(None)
    assert mg.zeros(2).device.type == "cpu" and nn.Linear(2, 2).weight.device.type == "cpu"


@pytest.mark.filterwarnings("ignore:To copy construct")
def test_torch_default_device_semantics_we_follow():
    torch.set_default_device("meta")
    try:
        cpu = torch.ones(2, device="cpu")
        assert torch.tensor(cpu).device.type == "meta" and torch.zeros_like(cpu).device.type == "cpu"
        assert torch.from_numpy(np.ones(2)).device.type == "cpu" and torch.nn.Linear(2, 2).weight.is_meta
    finally:
        torch.set_default_device(None)


def test_accelerator_and_backends_preamble():
    device = mg.accelerator.current_accelerator().type if mg.accelerator.is_available() else "cpu"
    assert device == ("cuda" if mg.cuda.is_available() else "cpu")
    assert mg.accelerator.is_available() == mg.cuda.is_available()
    assert mg.accelerator.device_count() == mg.cuda.device_count()
    if not mg.cuda.is_available():
        assert mg.accelerator.current_accelerator(check_available=True) is None
        assert mg.accelerator.current_device_index() == -1
    assert mg.backends.mps.is_available() is False and mg.backends.mps.is_built() is False
    assert torch.backends.mps.is_available() is False  # (on this CPU machine; tutorials then pick "cpu")
    mg.backends.cudnn.benchmark = True  # accepted, changes nothing
    mg.backends.cudnn.benchmark = False
    assert mg.backends.cudnn.is_available() is False


# ----------------------------------------------------------------------------------------- grad modes
@pytest.mark.parametrize("lib", [torch, mg], ids=["torch", "minigrad"])
def test_grad_mode_decorators_and_contexts(lib):
    @lib.no_grad()
    def called():
        return lib.is_grad_enabled()

    @lib.no_grad
    def bare():
        return lib.is_grad_enabled()

    @lib.inference_mode()
    def infer():
        return lib.is_grad_enabled(), lib.is_inference_mode_enabled()

    @lib.inference_mode
    def infer_bare():
        return lib.is_grad_enabled(), lib.is_inference_mode_enabled()

    @lib.set_grad_enabled(False)
    def switched():
        return lib.is_grad_enabled()

    assert lib.is_grad_enabled()  # the set_grad_enabled decorator did not switch at definition
    assert (called(), bare(), infer(), infer_bare(), switched()) == (False, False, (False, True), (False, True), False)
    assert lib.is_grad_enabled() and not lib.is_inference_mode_enabled()
    with lib.no_grad() as entered:
        assert entered is None and not lib.is_grad_enabled()
        with lib.enable_grad():
            assert lib.is_grad_enabled()
        with lib.inference_mode(False):  # leaves inference mode and turns recording on, as torch
            assert lib.is_grad_enabled() and not lib.is_inference_mode_enabled()
        assert not lib.is_grad_enabled()
    with lib.inference_mode():
        x = lib.ones(2, requires_grad=True)
        assert not (x * 2).requires_grad and lib.is_inference_mode_enabled()
    with lib.set_grad_enabled(False):
        assert not lib.is_grad_enabled()
    lib.set_grad_enabled(False)
    assert not lib.is_grad_enabled()
    lib.set_grad_enabled(True)
    assert lib.is_grad_enabled()


@pytest.mark.parametrize("lib", [torch, mg], ids=["torch", "minigrad"])
def test_decorated_generator_runs_each_step_in_the_mode(lib):
    @lib.no_grad()
    def steps():
        received = yield lib.is_grad_enabled()
        yield received, lib.is_grad_enabled()
        return "done"

    it = steps()
    assert next(it) is False and lib.is_grad_enabled()
    assert it.send(7) == (7, False) and lib.is_grad_enabled()
    with pytest.raises(StopIteration) as stop:
        next(it)
    assert stop.value.value == "done"


def test_grad_mode_exported_from_autograd():
    assert mg.autograd.inference_mode is mg.inference_mode
    assert mg.autograd.is_inference_mode_enabled is mg.is_inference_mode_enabled


# ----------------------------------------------------------------------------------------- seeding
def _draws():
    lin = nn.Linear(8, 4)
    drop = nn.functional.dropout(mg.ones(20), 0.5, True)
    loader = DataLoader(TensorDataset(np.arange(20)), batch_size=5, shuffle=True)
    order = np.concatenate([b[0].numpy() for b in loader])
    split = [s.indices.tolist() for s in random_split(range(10), [0.3, 0.7])]
    from minigrad.vision import transforms
    crop = transforms.RandomCrop(4, padding=1)(np.arange(16, dtype=np.float32).reshape(1, 4, 4))
    return [lin.weight.numpy(), lin.bias.numpy(), drop.numpy(), mg.randn(3).numpy(), mg.rand(3).numpy(),
            mg.randint(0, 100, (3,)).numpy(), order, split, np.asarray(crop)]


def test_manual_seed_makes_every_draw_repeatable():
    first = (mg.manual_seed(123), _draws())
    second = (mg.manual_seed(123), _draws())
    for a, b in zip(first[1], second[1]):
        np.testing.assert_array_equal(np.asarray(a, dtype=object if isinstance(a, list) else None),
                                      np.asarray(b, dtype=object if isinstance(b, list) else None))
    mg.manual_seed(124)
    assert not np.array_equal(_draws()[0], first[1][0])


def test_manual_seed_returns_a_generator_like_torch():
    g = mg.manual_seed(7)
    assert isinstance(g, mg.Generator) and g is mg.default_generator and isinstance(torch.manual_seed(7),
                                                                                       torch.Generator)
    assert mg.initial_seed() == 7 == torch.initial_seed()
    state = mg.get_rng_state()
    a = mg.randn(3).numpy()
    mg.set_rng_state(state)
    np.testing.assert_array_equal(mg.randn(3).numpy(), a)
    s = mg.seed()
    assert isinstance(s, int) and mg.initial_seed() == s


def test_generator_objects_drive_their_own_stream():
    g = mg.Generator().manual_seed(42)
    a = mg.randn(4, generator=g).numpy()
    g.manual_seed(42)
    np.testing.assert_array_equal(mg.randn(4, generator=g).numpy(), a)
    assert g.initial_seed() == 42
    w1 = nn.init.normal_(mg.empty(3, 3), generator=mg.Generator().manual_seed(1)).numpy()
    w2 = nn.init.normal_(mg.empty(3, 3), generator=mg.Generator().manual_seed(1)).numpy()
    np.testing.assert_array_equal(w1, w2)
    splits = [random_split(range(10), [5, 5], generator=mg.Generator().manual_seed(3))[0].indices for _ in range(2)]
    np.testing.assert_array_equal(*splits)
    g = mg.Generator().manual_seed(5)
    loader = DataLoader(TensorDataset(np.arange(8)), batch_size=8, shuffle=True, generator=g)
    first = next(iter(loader))[0].numpy()
    g.manual_seed(5)  # the loader reads the generator each epoch, as torch's does
    np.testing.assert_array_equal(next(iter(loader))[0].numpy(), first)
    with pytest.raises(TypeError, match="seed must be an int"):
        mg.Generator().manual_seed(1.5)


# ----------------------------------------------------------------------------------------- random_split
@pytest.mark.parametrize("n, lengths", [(10, [0.5, 0.5]), (10, [0.3, 0.3, 0.4]), (7, [0.33, 0.33, 0.34]),
                                        (10, [0.1] * 10), (10, [3, 7]), (10, [1, 0]), (11, [0.25, 0.25, 0.5]),
                                        (5, [0.0, 1.0])])
def test_random_split_lengths_match_torch(n, lengths):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = random_split(list(range(n)), lengths)
        theirs = torch.utils.data.random_split(list(range(n)), lengths)
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    assert all(isinstance(s, Subset) for s in ours)
    seen = sorted(int(i) for s in ours for i in s.indices)
    assert seen == list(range(n))  # disjoint and covering
    assert [s[0] for s in ours if len(s)] == [s.dataset[int(s.indices[0])] for s in ours if len(s)]


@pytest.mark.parametrize("lengths", [[0.5, 0.6], [4, 4], [-0.5, 1.5], [0.5, 0.5000001], [2.0, -1.0]])
def test_random_split_bad_lengths_raise_like_torch(lengths):
    with pytest.raises(ValueError):
        torch.utils.data.random_split(range(10), lengths)
    with pytest.raises(ValueError, match="random_split"):
        random_split(range(10), lengths)


def test_random_split_warns_on_an_empty_split():
    with pytest.warns(UserWarning, match="index 1 has length 0"):
        random_split(range(3), [0.9, 0.1])


# ----------------------------------------------------------------------------------------- nn.init
INIT_NAMES = ["calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_",
              "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
              "sparse_", "uniform", "normal", "constant", "eye", "dirac", "xavier_uniform", "xavier_normal",
              "kaiming_uniform", "kaiming_normal", "orthogonal", "sparse"]


@pytest.mark.parametrize("name", INIT_NAMES)
def test_init_has_torchs_functions_and_arguments(name):
    import inspect
    theirs = getattr(torch.nn.init, name)
    ours = getattr(nn.init, name)
    if name.endswith("_") or name == "calculate_gain":
        assert [(p.name, p.default) for p in inspect.signature(ours).parameters.values()] == \
               [(p.name, p.default) for p in inspect.signature(theirs).parameters.values()]


def test_init_deprecated_names_warn():
    with pytest.warns(FutureWarning, match="nn.init.uniform_"):
        nn.init.uniform(mg.empty(2, 2))


@pytest.mark.parametrize("args", [("linear",), ("conv2d",), ("sigmoid",), ("tanh",), ("relu",), ("leaky_relu",),
                                  ("leaky_relu", 0.2), ("selu",)])
def test_calculate_gain(args):
    assert nn.init.calculate_gain(*args) == pytest.approx(torch.nn.init.calculate_gain(*args))


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="unsupported nonlinearity 'foo'"):
        nn.init.calculate_gain("foo")
    with pytest.raises(ValueError, match="negative_slope True"):
        nn.init.calculate_gain("leaky_relu", True)


@pytest.mark.parametrize("name, kwargs, std", [
    ("kaiming_normal_", {}, math.sqrt(2 / 500)),
    ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "relu"}, math.sqrt(2 / 400)),
    ("kaiming_uniform_", {"a": math.sqrt(5)}, 1 / math.sqrt(500) / math.sqrt(3)),
    ("xavier_normal_", {"gain": 2.0}, 2.0 * math.sqrt(2 / 900)),
    ("xavier_uniform_", {}, math.sqrt(6 / 900) / math.sqrt(3)),
    ("normal_", {"mean": 1.0, "std": 0.5}, 0.5),
    ("uniform_", {"a": -2.0, "b": 2.0}, 4 / math.sqrt(12)),
    ("trunc_normal_", {"std": 0.02}, 0.02),
])
def test_init_statistics_match_the_formula_and_torch(name, kwargs, std):
    ours = getattr(nn.init, name)(mg.empty(400, 500, dtype=mg.float64), **kwargs).numpy()
    theirs = getattr(torch.nn.init, name)(torch.empty(400, 500, dtype=torch.float64), **kwargs).numpy()
    assert ours.std() == pytest.approx(std, rel=0.02) and theirs.std() == pytest.approx(std, rel=0.02)
    assert ours.mean() == pytest.approx(theirs.mean(), abs=0.02 * std + 1e-3)


def test_init_deterministic_ones_match_torch():
    for shape, groups in (((4, 2, 3, 3), 2), ((3, 3, 5), 1), ((2, 4, 3, 3, 3), 1)):
        np.testing.assert_array_equal(nn.init.dirac_(mg.empty(*shape), groups).numpy(),
                                      torch.nn.init.dirac_(torch.empty(*shape), groups).numpy())
    for shape in ((3, 5), (4, 2)):
        np.testing.assert_array_equal(nn.init.eye_(mg.empty(*shape)).numpy(), torch.nn.init.eye_(torch.empty(*shape)))
    np.testing.assert_array_equal(nn.init.constant_(mg.empty(2, 3), 0.3).numpy(),
                                  torch.nn.init.constant_(torch.empty(2, 3), 0.3).numpy())
    for bad in (lambda: nn.init.eye_(mg.empty(2, 2, 2)), lambda: nn.init.dirac_(mg.empty(2, 2)),
                lambda: nn.init.sparse_(mg.empty(2, 2, 2), 0.5), lambda: nn.init.orthogonal_(mg.empty(3))):
        with pytest.raises(ValueError, match="dimensions are supported"):
            bad()


def test_orthogonal_and_sparse():
    for shape in ((6, 4), (4, 6), (3, 2, 2)):
        w = nn.init.orthogonal_(mg.empty(*shape, dtype=mg.float64), gain=2.0).numpy().reshape(shape[0], -1)
        small = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
        np.testing.assert_allclose(small, 4 * np.eye(len(small)), atol=1e-10)
    w = nn.init.sparse_(mg.empty(10, 6), sparsity=0.25).numpy()
    assert ((w == 0).sum(0) == math.ceil(0.25 * 10)).all()
    assert ((torch.nn.init.sparse_(torch.empty(10, 6), sparsity=0.25) == 0).sum(0) == 3).all()


def test_init_leaves_no_graph_and_bumps_version():
    p = nn.Parameter(mg.zeros(3, 3))
    version = p._version[0]
    assert nn.init.kaiming_uniform_(p) is p and p.grad_fn is None and p._version[0] > version


# ----------------------------------------------------------------------------------------- Module API
class _Net:
    @staticmethod
    def build(lib):
        class Net(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.features = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.ReLU())
                self.head = lib.nn.Linear(4, 2)
                self.register_buffer("steps", lib.zeros(1))
                self.register_buffer("cache", lib.ones(2), persistent=False)

            def forward(self, x):
                return self.head(self.features(x))
        return Net()


def test_apply_visits_children_first_and_returns_self():
    orders = {}
    for lib in (torch, mg):
        net = _Net.build(lib)
        seen = []
        assert net.apply(lambda m: seen.append(type(m).__name__)) is net
        orders[lib.__name__] = seen
    assert orders["minigrad"] == orders["torch"] == ["Linear", "ReLU", "Sequential", "Linear", "Net"]


def test_apply_for_weight_init_as_tutorials_do():
    def init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            m.bias.data.fill_(0.01)

    net = _Net.build(mg).apply(init_weights)
    assert (net.head.bias.numpy() == np.float32(0.01)).all()


def test_buffers_in_state_dict_like_torch():
    ours, theirs = _Net.build(mg), _Net.build(torch)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()] == ["steps", "cache"]
    assert "cache" not in ours.state_dict()
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert ours.get_buffer("steps") is ours.steps and ours.get_parameter("features.0.weight") is ours.features[0].weight
    assert ours.get_submodule("features.1") is ours.features[1]
    with pytest.raises(AttributeError, match="no sub-module 'nope'"):
        ours.get_submodule("features.nope")
    with pytest.raises(KeyError, match="attribute 'head' already exists"):
        ours.register_buffer("head", mg.zeros(1))
    with pytest.raises(TypeError, match="must be a Tensor or None"):
        ours.register_buffer("x", 3)


# ----------------------------------------------------------------------------------------- assert_close
CLOSE_CASES = [
    lambda L: (L.tensor([1.0, 2.0, 3.0]), L.tensor([1.0, 2.0 + 1e-6, 3.0])),
    lambda L: (L.tensor([1.0, 2.0, 3.0]), L.tensor([1.0, 2.5, 3.0])),
    lambda L: (L.tensor([1, 2, 3]), L.tensor([1, 3, 3])),
    lambda L: (L.tensor([1.0], dtype=L.float64), L.tensor([1.0 + 5e-8], dtype=L.float64)),
    lambda L: (L.tensor([1.0], dtype=L.float64), L.tensor([1.0 + 5e-7], dtype=L.float64)),
    lambda L: (L.tensor([1.0], dtype=L.float16), L.tensor([1.0005], dtype=L.float16)),
    lambda L: (L.tensor([1.0]), L.tensor([1.0], dtype=L.float64)),
    lambda L: (L.tensor(1.0), L.tensor(1.5)),
    lambda L: (L.ones(2), L.ones(3)),
    lambda L: (L.tensor([float("nan")]), L.tensor([float("nan")])),
    lambda L: (L.tensor([1.0, float("inf")]), L.tensor([1.0, float("inf")])),
    lambda L: (1.0, 1.0 + 1e-8), lambda L: (1.0, 1.5), lambda L: (1, 1.0), lambda L: (True, False), lambda L: (2, 2),
    lambda L: (np.ones(3), np.ones(3) + 1e-9), lambda L: (np.ones(3), np.zeros(3)),
    lambda L: ([L.ones(2), 1.0, (2, 3)], [L.ones(2), 1.0, (2, 3)]),
    lambda L: ([L.ones(2), L.zeros(2)], [L.ones(2), L.ones(2)]),
    lambda L: ([1, 2], [1, 2, 3]), lambda L: ({"a": 1}, {"b": 1}),
    lambda L: ({"w": L.ones(2), "b": [L.zeros(1)]}, {"w": L.ones(2), "b": [L.zeros(1)]}),
]


def _outcome(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except (AssertionError, TypeError, ValueError) as e:
        return type(e).__name__
    return "ok"


@pytest.mark.parametrize("case", range(len(CLOSE_CASES)))
def test_assert_close_agrees_with_torch(case):
    make = CLOSE_CASES[case]
    assert _outcome(mg.testing.assert_close, *make(mg)) == _outcome(torch.testing.assert_close, *make(torch))


@pytest.mark.parametrize("kwargs", [{"rtol": 0.5, "atol": 0.0}, {"rtol": 0.1}, {"check_dtype": False},
                                    {"equal_nan": True}])
def test_assert_close_options_agree_with_torch(kwargs):
    for make in (lambda L: (L.tensor([1.0, float("nan")]), L.tensor([1.4, float("nan")], dtype=L.float64)),
                 lambda L: (L.tensor([1.0]), L.tensor([1.0], dtype=L.float64))):
        assert _outcome(mg.testing.assert_close, *make(mg), **kwargs) == \
            _outcome(torch.testing.assert_close, *make(torch), **kwargs)


def test_assert_close_message():
    with pytest.raises(AssertionError) as ours:
        mg.testing.assert_close(mg.tensor([[1.0, 2.0], [3.0, 4.0]]), mg.tensor([[1.0, 2.0], [3.0, 4.1]]))
    with pytest.raises(AssertionError) as theirs:
        torch.testing.assert_close(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[1.0, 2.0], [3.0, 4.1]]))
    assert str(ours.value) == str(theirs.value)
    with pytest.raises(AssertionError, match=r"Mismatched elements: 2 / 2 \(100.0%\)[\s\S]*item \['b'\]\[0\]"):
        mg.testing.assert_close({"b": [mg.ones(2)]}, {"b": [mg.zeros(2)]})
    with pytest.raises(AssertionError, match="^custom$"):
        mg.testing.assert_close(mg.ones(1), mg.zeros(1), msg="custom")
    with pytest.raises(AssertionError, match="^Xyz"):
        mg.testing.assert_close(mg.ones(1), mg.zeros(1), msg=lambda m: "Xyz" + m)
    with pytest.raises(TypeError, match="cannot compare inputs of type Tensor and ndarray"):
        mg.testing.assert_close(mg.ones(1), np.ones(1))


# ----------------------------------------------------------------------------------------- printing
def _layers(L):
    n = L.nn
    return [
        n.Linear(784, 128), n.Linear(3, 2, bias=False), n.ReLU(), n.ReLU(inplace=True), n.LeakyReLU(0.2),
        n.LeakyReLU(0.2, inplace=True), n.Sigmoid(), n.Tanh(), n.GELU(), n.GELU("tanh"), n.Softmax(dim=1),
        n.LogSoftmax(dim=1), n.Softplus(), n.Softplus(2, 10),
        n.Conv2d(1, 32, 3), n.Conv2d(1, 32, 3, padding=1, bias=False), n.Conv2d(2, 4, (3, 5), stride=2, dilation=2,
                                                                               groups=2),
        n.Conv2d(1, 32, 3, padding="same"), n.Conv1d(2, 3, 3, stride=2, padding=1),
        n.MaxPool2d(2), n.MaxPool2d(3, stride=1, padding=1, ceil_mode=True), n.AvgPool2d(2), n.AvgPool2d((2, 2)),
        n.AdaptiveAvgPool2d((1, 1)), n.Dropout(), n.Dropout(0.2), n.Dropout2d(), n.BatchNorm1d(4),
        n.BatchNorm2d(32), n.BatchNorm2d(3, affine=False), n.BatchNorm2d(3, bias=False),
        n.BatchNorm1d(4, momentum=None), n.LayerNorm(4), n.LayerNorm([2, 3], elementwise_affine=False),
        n.LayerNorm(4, bias=False), n.Embedding(10, 3), n.Embedding(10, 3, padding_idx=0, max_norm=1.0),
        n.Flatten(), n.Unflatten(1, (2, 5)), n.Identity(),
        n.RNN(3, 4), n.RNN(3, 4, nonlinearity="relu", bias=False, dropout=0.5), n.LSTM(10, 20, num_layers=2),
        n.GRU(2, 3, batch_first=True, bidirectional=True), n.RNNCell(3, 4, nonlinearity="relu"),
        n.LSTMCell(2, 3, bias=False), n.GRUCell(2, 3),
        n.MSELoss(), n.L1Loss(), n.CrossEntropyLoss(), n.NLLLoss(), n.BCELoss(), n.BCEWithLogitsLoss(),
        n.SmoothL1Loss(),
        n.Sequential(n.Flatten(), n.Linear(784, 128), n.ReLU(), n.Dropout(0.2), n.Linear(128, 10)),
        n.Sequential(n.Sequential(n.Conv2d(1, 8, 3), n.ReLU()), n.Linear(2, 2)),
        n.ModuleList([n.Linear(2, 2) for _ in range(3)] + [n.ReLU()]),
        n.ModuleList([n.Sequential(n.Linear(2, 2), n.ReLU()) for _ in range(2)]), n.ModuleList(),
        n.ModuleDict({"a": n.Linear(2, 2), "b": n.ReLU()}), n.Sequential(),
    ]


@pytest.mark.parametrize("index", range(len(_layers(mg))))
def test_layer_reprs_match_torch(index):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns about dropout with one layer
        assert repr(_layers(mg)[index]) == repr(_layers(torch)[index])


def test_custom_module_repr_matches_torch():
    assert repr(_Net.build(mg)) == repr(_Net.build(torch))

    class WithExtra(nn.Module):
        def extra_repr(self):
            return "line one\nline two"

    class WithExtraT(torch.nn.Module):
        def extra_repr(self):
            return "line one\nline two"
    WithExtraT.__name__ = "WithExtra"
    assert repr(WithExtra()) == repr(WithExtraT())
