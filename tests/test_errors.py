"""Bad input gets a clear error naming the op and the shapes, dtypes or devices involved."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F
from minigrad.backend import Device


def test_backward_on_non_scalar_needs_a_gradient():
    y = mg.ones(2, 3, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"scalar outputs, got shape \(2, 3\)"):
        y.backward()


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(RuntimeError, match="floating-point.*int64"):
        mg.tensor([1, 2], requires_grad=True)


def test_broadcast_failure_names_the_op_and_shapes():
    with pytest.raises(ValueError, match=r"add: .*\(3,\).*\(4,\)"):
        mg.ones(3) + mg.ones(4)


def test_matmul_mismatch():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\)"):
        mg.ones(2, 3) @ mg.ones(4, 5)


def test_reshape_mismatch():
    with pytest.raises(ValueError, match=r"reshape: .*\(2, 3\).*\(4, 2\)"):
        mg.ones(2, 3).reshape(4, 2)


def test_conv2d_channel_mismatch():
    with pytest.raises(ValueError, match=r"conv2d: input of shape \(1, 3, 8, 8\) has 3 channels"):
        F.conv2d(mg.ones(1, 3, 8, 8), mg.ones(4, 2, 3, 3))


def test_conv2d_kernel_larger_than_input():
    with pytest.raises(ValueError, match="conv2d: kernel"):
        F.conv2d(mg.ones(1, 1, 2, 2), mg.ones(1, 1, 3, 3))


def test_cross_entropy_target_out_of_range():
    with pytest.raises(IndexError, match="cross_entropy: target 7 is out of range for 3 classes"):
        F.cross_entropy(mg.ones(2, 3), mg.tensor([0, 7]))


def test_cross_entropy_target_shape():
    with pytest.raises(ValueError, match=r"cross_entropy: input of shape \(2, 3\) needs targets of shape \(2,\)"):
        F.cross_entropy(mg.ones(2, 3), mg.tensor([0, 1, 2]))


def test_index_out_of_range_names_getitem():
    with pytest.raises(IndexError, match=r"getitem: .*shape \(3,\)"):
        mg.ones(3)[5]


def test_mixed_devices_name_both_devices():
    fake = mg.Tensor._make(np.ones(3, dtype=np.float32), Device("cuda:0"))
    with pytest.raises(RuntimeError, match="add: expected all tensors on the same device, got cpu and cuda:0"):
        mg.ones(3) + fake


def test_unknown_device():
    with pytest.raises(ValueError, match="unknown device type 'tpu'"):
        mg.tensor([1.0], device="tpu")


def test_bad_dim():
    with pytest.raises(IndexError, match="sum: dim 3 is out of range"):
        mg.ones(2, 2).sum(3)


def test_cat_shape_mismatch():
    with pytest.raises(ValueError, match="cat: shapes"):
        mg.cat([mg.ones(2, 3), mg.ones(3, 4)], 0)


def test_expand_mismatch():
    with pytest.raises(ValueError, match="expand: cannot expand shape"):
        mg.ones(2, 3).expand(4, 3)


@pytest.mark.skipif(mg.cuda.is_available(), reason="a GPU is present: asking for cuda works")
def test_asking_for_cuda_without_a_gpu_says_what_is_missing():
    for make in (lambda: mg.tensor([1.0]).to("cuda"), lambda: mg.zeros(2, device="cuda"),
                 lambda: mg.nn.Linear(2, 2).to("cuda")):
        with pytest.raises(RuntimeError, match="CUDA backend needs CuPy and an NVIDIA GPU"):
            make()
