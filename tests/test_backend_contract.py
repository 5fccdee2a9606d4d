"""The backend contract (minigrad/backend/contract.py), the device registry, and how a CPU backend is chosen."""
import importlib
import inspect
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
import minigrad.backend as backend_pkg
from minigrad.backend import Device, contract, get_backend, numpy_backend, register_device, unregister_device
from minigrad.backend.contract import OPTIONAL, REQUIRED, ContractError

REPO = Path(__file__).resolve().parents[1]


def _cuda_module_on_a_stand_in(monkeypatch):
    """cuda_backend imported against test_cuda's NumPy stand-in for CuPy (dropped again afterwards)."""
    from test_cuda import BACKEND, _stub_cupy
    monkeypatch.setitem(sys.modules, "cupy", _stub_cupy())
    for table, key in ((sys.modules, BACKEND), (backend_pkg.__dict__, "cuda_backend")):
        monkeypatch.setitem(table, key, None)  # at teardown: back as it was, or gone if it was not there
        del table[key]
    return importlib.import_module(BACKEND)


@pytest.fixture(params=["numpy", "numba", "cuda"])
def module(request, monkeypatch):
    if request.param == "cuda":
        return _cuda_module_on_a_stand_in(monkeypatch)
    return importlib.import_module({"numpy": "minigrad.backend.numpy_backend",
                                    "numba": "minigrad.backend.cpu_backend"}[request.param])


def test_contract_lists_the_kernels():
    assert REQUIRED == ("matmul", "conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight",
                        "conv2d_backward_bias", "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward",
                        "avg_pool2d_backward")
    assert set(OPTIONAL) == {"relu_forward", "relu_backward", "gelu_tanh", "softmax_cross_entropy", "adam_update",
                             "sgd_update", "erf",
                             "on_device", "to_host", "from_host",
                             "attention_forward", "attention_backward",
                             "rnn_sequence_forward", "rnn_sequence_backward"}
    assert contract.parameters("sgd_update") == ("p", "g", "buf", "lr", "momentum", "dampening", "wd", "nesterov",
                                                 "first")
    for kernel in REQUIRED + OPTIONAL:
        assert getattr(contract.Backend, kernel).__doc__, f"{kernel} has no documentation"


def test_each_backend_meets_the_contract(module):
    backend = contract.bind(module)
    assert backend.name == module.name and backend.xp is module.xp and backend.module is module
    for kernel in REQUIRED:
        fn = getattr(backend, kernel)
        assert fn is getattr(module, kernel), kernel  # the module's own function, no wrapper in between
        assert tuple(inspect.signature(fn).parameters) == contract.parameters(kernel), kernel
    for kernel in OPTIONAL:
        fn = getattr(backend, kernel)
        if kernel in vars(module):
            assert fn is getattr(module, kernel), kernel
            assert tuple(inspect.signature(fn).parameters) == contract.parameters(kernel), kernel
        else:  # the reference, bound to this backend (so it runs with the backend's xp)
            assert fn.__func__ is getattr(contract.Backend, kernel) and fn.__self__ is backend, kernel


def test_numpy_backend_has_no_fused_kernels_of_its_own():
    """The references live in the contract, once; the numpy backend is the required kernels only."""
    assert not set(OPTIONAL) & set(vars(numpy_backend))


def _module_like(source, name, **changes):
    fake = types.ModuleType(f"{name}_backend")
    fake.__dict__.update({k: getattr(source, k) for k in REQUIRED}, name=name, xp=source.xp)
    fake.__dict__.update(changes)
    return fake


def test_a_backend_without_a_required_kernel_is_refused():
    broken = _module_like(numpy_backend, "broken")
    del broken.max_pool2d_backward
    with pytest.raises(ContractError, match=r"backend 'broken' \(broken_backend\) lacks the required kernel "
                                            r"max_pool2d_backward\(gy, indices, x_shape\)"):
        contract.bind(broken)


def test_a_kernel_with_other_parameter_names_is_refused():
    def relu_backward(grad, out):
        return grad * (out > 0)
    with pytest.raises(ContractError, match=r"backend 'odd'.*kernel relu_backward takes \(grad, out\), the contract "
                                            r"says \(gy, y\)"):
        contract.bind(_module_like(numpy_backend, "odd", relu_backward=relu_backward))


def test_a_backend_without_xp_is_refused():
    fake = _module_like(numpy_backend, "noxp")
    del fake.xp
    with pytest.raises(ContractError, match="noxp_backend has no `xp`"):
        contract.bind(fake)


def test_references_run_with_the_backends_array_module():
    calls = []

    class CountingNumpy(types.ModuleType):
        def __getattr__(self, name):
            calls.append(name)
            return getattr(np, name)

    backend = contract.bind(_module_like(numpy_backend, "counting", xp=CountingNumpy("counting_numpy")))
    x = np.array([[1.0, -2.0, 3.0]])
    np.testing.assert_array_equal(backend.relu_forward(x), [[1.0, 0.0, 3.0]])
    loss, grad, wt = backend.softmax_cross_entropy(x, np.array([2]), None, -100, 0.0)
    assert "maximum" in calls and "exp" in calls
    np.testing.assert_allclose(loss, -np.log(np.exp(3.0) / np.exp(x).sum()))
    with pytest.raises(NotImplementedError, match="backend 'reference' has no matmul kernel"):
        contract.reference(np).matmul(x, x.T)


def test_the_backend_is_bound_once_and_handed_out_as_is():
    cpu = Device("cpu")
    assert cpu.backend is get_backend(cpu) is get_backend(Device("cpu")) is mg.ones(1).device.backend
    assert isinstance(cpu.backend, contract.Backend) and cpu.xp is np
    assert mg.ones(2, requires_grad=True).relu().grad_fn.backend is cpu.backend


# ---------------------------------------------------------------------------------------- the device registry

def test_unknown_device_type_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown device type 'tpu'; known types: 'cpu', 'cuda'"):
        Device("tpu")
    assert Device("cuda").index == 0 and Device("cpu").index is None  # needs no GPU: nothing is loaded


def test_a_new_device_is_one_backend_module_and_one_registry_line():
    toy = _module_like(numpy_backend, "toy")  # the numpy kernels under another name
    register_device("toy", lambda: toy)
    try:
        x = mg.ones(2, 3, device="toy", requires_grad=True)
        w = mg.arange(12.0, device="toy").reshape(3, 4).requires_grad_()
        assert x.device == Device("toy") and x.device.backend.name == "toy" and x.device.backend.module is toy
        loss = (x @ w).relu().sum()
        loss.backward()
        assert loss.device == Device("toy") and x.grad.device == Device("toy")
        np.testing.assert_array_equal(x.grad.array, np.tile(np.arange(12.0).reshape(3, 4).sum(1), (2, 1)))
        np.testing.assert_array_equal(w.grad.array, np.full((3, 4), 2.0))
        with pytest.raises(RuntimeError, match="expected all tensors on the same device"):
            mg.ones(3) + mg.ones(3, device="toy")
        with pytest.raises(ValueError, match="already registered"):
            register_device("toy", lambda: toy)
    finally:
        unregister_device("toy")
    with pytest.raises(ValueError, match="unknown device type 'toy'"):
        Device("toy")
    with pytest.raises(ValueError, match="'cpu' is built in"):
        unregister_device("cpu")


def test_a_device_whose_backend_breaks_the_contract_fails_on_first_use():
    broken = _module_like(numpy_backend, "broken")
    del broken.matmul
    register_device("broken", lambda: broken)
    try:
        with pytest.raises(ContractError, match="backend 'broken'.*lacks the required kernel matmul"):
            mg.zeros(3, device="broken")
    finally:
        unregister_device("broken")


def test_factories_place_arrays_through_the_device():
    placed = []
    toy = _module_like(numpy_backend, "placed")
    toy.from_host = lambda a, index: placed.append(("from_host", index)) or a.copy()
    register_device("placed", lambda: toy, default_index=3)
    try:
        r = mg.randn(2, 2, device="placed")
        z = mg.zeros(2, device="placed:1")
        assert r.device == Device("placed", 3) and z.device.index == 1
        assert placed == [("from_host", 3)]
    finally:
        unregister_device("placed")


# ---------------------------------------------------------------------------------------- choosing the CPU backend

@pytest.fixture
def unchosen_cpu(monkeypatch):
    """No CPU backend chosen yet and MINIGRAD_BACKEND unset (both put back afterwards)."""
    monkeypatch.delitem(backend_pkg._bound, "cpu", raising=False)
    monkeypatch.delenv("MINIGRAD_BACKEND", raising=False)


def _hide(monkeypatch, *prefixes):
    """Make importing these modules (and reimporting the Numba backend) fail, as if not installed."""
    for name in list(sys.modules):
        if name.startswith(prefixes):
            monkeypatch.setitem(sys.modules, name, None)
    for prefix in prefixes:
        monkeypatch.setitem(sys.modules, prefix, None)
    monkeypatch.delitem(sys.modules, "minigrad.backend.cpu_backend", raising=False)


def test_without_numba_minigrad_warns_and_runs_numpy(unchosen_cpu, monkeypatch):
    _hide(monkeypatch, "numba")
    with pytest.warns(RuntimeWarning, match=r"'numba' CPU backend cannot load \(.*numba.*\)\. Fix: `pip install "
                                            r"numba`.*numpy reference backend instead"):
        assert mg.get_backend_name() == "numpy"
    assert mg.ones(3).relu().array.tolist() == [1.0, 1.0, 1.0]


def test_asking_for_numba_without_numba_raises(unchosen_cpu, monkeypatch):
    _hide(monkeypatch, "numba")
    monkeypatch.setenv("MINIGRAD_BACKEND", "numba")
    with pytest.raises(ImportError, match=r"MINIGRAD_BACKEND=numba\) cannot load .*Fix: `pip install numba`"):
        mg.ones(3)
    with pytest.raises(ImportError, match=r"'numba' CPU backend cannot load"):
        mg.set_backend("numba")


def test_missing_kernels_package_says_to_install_the_source_tree(unchosen_cpu, monkeypatch):
    _hide(monkeypatch, "minigrad.kernels")
    with pytest.warns(RuntimeWarning, match=rf"Fix: run `pip install -e \.` in {re.escape(str(REPO))}"):
        assert mg.get_backend_name() == "numpy"


def test_a_bad_backend_name_is_refused(unchosen_cpu, monkeypatch):
    monkeypatch.setenv("MINIGRAD_BACKEND", "fortran")
    with pytest.raises(ValueError, match=r"MINIGRAD_BACKEND='fortran': choose one of \['numba', 'numpy'\]"):
        mg.get_backend_name()
    with pytest.raises(ValueError, match="set_backend: unknown CPU backend 'fortran'"):
        mg.set_backend("fortran")


def _run_uninstalled(code, **env):
    """Run `code` with minigrad imported straight from this source tree, as if never installed:
    -S skips site-packages' .pth files (where the editable install maps minigrad.kernels)."""
    site_packages = str(Path(np.__file__).resolve().parents[1])
    env = dict(os.environ, **env)
    prelude = f"import sys; sys.path[:0] = [{str(REPO)!r}, {site_packages!r}]\n"
    return subprocess.run([sys.executable, "-S", "-c", prelude + code], capture_output=True, text=True,
                          env=env, timeout=120)


def test_an_uninstalled_source_tree_warns_or_raises():
    r = _run_uninstalled("import minigrad as mg; print(mg.ones(2).sum().item(), mg.get_backend_name())",
                         MINIGRAD_BACKEND="")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["2.0", "numpy"]
    assert f"run `pip install -e .` in {REPO}" in r.stderr and "RuntimeWarning" in r.stderr
    r = _run_uninstalled("import minigrad as mg; mg.ones(2)", MINIGRAD_BACKEND="numba")
    assert r.returncode != 0
    assert "ImportError: minigrad: the 'numba' CPU backend (MINIGRAD_BACKEND=numba) cannot load" in r.stderr
    assert f"run `pip install -e .` in {REPO}" in r.stderr
