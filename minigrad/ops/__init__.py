"""The differentiable primitives, one family per file: each `Function` sits next to the function
that calls it (`class Add(Function)` then `def add(a, b)`), and each file's `__all__` names its
public functions.

  elementwise  add sub mul div pow neg abs exp log sqrt sin cos tanh sigmoid softplus relu
               leaky_relu gelu clamp maximum minimum where
  reduce       sum mean var std max min amax amin logsumexp argmax argmin norm (+ vector_norm)
  shape        reshape permute transpose flatten squeeze unsqueeze expand cat stack split pad sum_to
  matmul       matmul                      softmax   softmax log_softmax
  attention    scaled_dot_product_attention (fused; nn.functional re-exports it)
  conv         conv2d conv1d               pool      max_pool2d avg_pool2d
  loss         cross_entropy               nn_ops    embedding binary_cross_entropy
  rnn          rnn_sequence (a recurrent layer's whole time loop)
  compare      eq ne lt le gt ge bitwise_and bitwise_or bitwise_not all any (no gradient)
  sampling     topk (values differentiable) multinomial (no gradient)
  convert      to clone, the rules that turn Python scalars into operands, and with_out (out=)
  methods      the one table that gives Tensor its operators and methods (`x + y`, `x.sum()`)

This file only gathers them, then installs the methods on Tensor.
"""
from ..tensor import Tensor as _Tensor
from .attention import *  # noqa: F401,F403
from .compare import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .convert import *  # noqa: F401,F403
from .elementwise import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .matmul import *  # noqa: F401,F403
from .methods import install as _install
from .nn_ops import *  # noqa: F401,F403
from .pool import *  # noqa: F401,F403
from .reduce import *  # noqa: F401,F403
from .rnn import *  # noqa: F401,F403
from .sampling import *  # noqa: F401,F403
from .shape import *  # noqa: F401,F403
from .softmax import *  # noqa: F401,F403

_install(_Tensor)
