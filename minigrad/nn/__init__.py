"""Neural-network building blocks: Module, Parameter, layers, losses, init and utilities.

    import minigrad.nn as nn
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
"""
from . import functional, init, utils
from .layers import (BCELoss, BCEWithLogitsLoss, BatchNorm1d, BatchNorm2d, AdaptiveAvgPool2d, AvgPool2d, Conv1d,
                     Conv2d, CrossEntropyLoss, Dropout, Dropout2d, Embedding, Flatten, GELU, GRU, GRUCell, Identity,
                     L1Loss, LayerNorm, LeakyReLU, Linear, LoRALinear, LogSoftmax, LSTM, LSTMCell, MaxPool2d, MSELoss, NLLLoss,
                     ReLU, RNN, RNNCell, Sigmoid, SmoothL1Loss, Softmax, Softplus, Tanh, Unflatten)
from .layers import (MultiheadAttention, Transformer, TransformerDecoder, TransformerDecoderLayer,  # noqa: F401
                     TransformerEncoder, TransformerEncoderLayer)
from .module import Module, ModuleDict, ModuleList, Parameter, Sequential
from .utils import clip_grad_norm_, clip_grad_value_, l1_penalty, l2_penalty, parameters_to_vector, \
    vector_to_parameters
from . import parallel  # nn.parallel.DistributedDataParallel, as in torch
