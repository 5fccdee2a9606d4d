"""Keras layers built on minigrad's nn.functional, one module per family:

    base           Layer (build / add_weight / call, get_config), KerasTensor, the NCHW hand-off
    core           Input, Dense, Activation, Flatten, Reshape, Dropout, Add, Concatenate
    conv           Conv2D, 2-D and global pooling
    normalization  BatchNormalization, LayerNormalization
    recurrent      Embedding, SimpleRNN, LSTM, GRU
    attention      MultiHeadAttention
"""
from .attention import MultiHeadAttention
from .base import (KerasTensor, Layer, _ActivatedLayer, _ChannelsFirst, _context, _nchw, _nhwc, _shape,  # noqa: F401
                   as_tensor, reset_names, unique_name)
from .conv import (AveragePooling2D, AvgPool2D, Conv2D, Convolution2D, GlobalAveragePooling1D,  # noqa: F401
                   GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPool2D, MaxPooling2D,
                   _same_padding)
from .core import Activation, Add, Concatenate, Dense, Dropout, Flatten, Input, InputLayer, ReLU, Reshape, Softmax
from .normalization import BatchNormalization, LayerNormalization
from .recurrent import GRU, LSTM, Embedding, SimpleRNN

__all__ = ["Layer", "InputLayer", "Input", "Dense", "Activation", "ReLU", "Softmax", "Flatten", "Reshape", "Dropout",
           "Add", "Concatenate", "Conv2D", "Convolution2D", "MaxPooling2D", "AveragePooling2D", "MaxPool2D",
           "AvgPool2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "BatchNormalization", "Embedding",
           "SimpleRNN", "LSTM", "GRU", "KerasTensor", "MultiHeadAttention", "LayerNormalization",
           "GlobalAveragePooling1D", "GlobalMaxPooling1D"]

