"""Conv1d and Conv2d (zero padding; int, pair, 'same' or 'valid' padding; dilation; groups)."""

from ...checks import check_choice, check_int
from ...ops.conv import int_tuple
from .. import functional as F
from ..module import Module
from ._util import new_parameter, reset_weight_and_bias


class _ConvNd(Module):
    n = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        in_channels = check_int(name, "in_channels", in_channels, min=1)
        out_channels = check_int(name, "out_channels", out_channels, min=1)
        groups = check_int(name, "groups", groups, min=1)
        check_choice(name, "padding_mode", padding_mode, ("zeros", "reflect", "replicate", "circular"))
        if padding_mode != "zeros":
            raise NotImplementedError(f"{name}: only padding_mode='zeros' is supported, got {padding_mode!r}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels ({out_channels}) must be "
                             f"divisible by groups ({groups})")
        if isinstance(padding, str) and padding not in ("same", "valid"):
            raise ValueError(f"{name}: padding must be 'same', 'valid', an int or a tuple, got {padding!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = int_tuple(kernel_size, self.n, name, "kernel_size", 1)
        self.stride = int_tuple(stride, self.n, name, "stride", 1)
        self.dilation = int_tuple(dilation, self.n, name, "dilation", 1)
        if padding == "same" and any(s != 1 for s in self.stride):
            raise ValueError(f"{name}: padding='same' is not supported for strided convolutions")
        self.padding = padding if isinstance(padding, str) else int_tuple(padding, self.n, name, "padding", 0)
        self.padding_mode = padding_mode
        self.weight = new_parameter((out_channels, in_channels // groups) + self.kernel_size, dtype, device)
        if bias:
            self.bias = new_parameter((out_channels,), dtype, device)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        reset_weight_and_bias(self.weight, self.bias)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self.n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self.n:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv2d(_ConvNd):
    """x: (N, C_in, H, W) -> (N, C_out, OH, OW); weight: (C_out, C_in / groups, KH, KW), bias: (C_out,)."""

    n = 2

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Conv1d(_ConvNd):
    """x: (N, C_in, L) -> (N, C_out, OL); weight: (C_out, C_in / groups, K), bias: (C_out,)."""

    n = 1

    def forward(self, x):
        return F.conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
