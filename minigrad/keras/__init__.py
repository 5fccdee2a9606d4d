"""A Keras-shaped face for minigrad: the Keras code learners write runs with only the import changed.

    import minigrad as tf                    # instead of: import tensorflow as tf
    model = tf.keras.Sequential([
        tf.keras.layers.Dense(64, activation='relu', input_shape=(784,)),
        tf.keras.layers.Dense(10, activation='softmax')])
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    model.fit(x_train, y_train, epochs=5)

Submodules: layers, models, optimizers, losses, metrics, callbacks, regularizers,
initializers, activations, utils, datasets, backend, saving, ops
(model.save('m.keras') / keras.models.load_model: minigrad's own format, not TensorFlow's).
Images are channels-last (N, H, W, C) as in Keras; the layers run on minigrad's ops and autograd.
"""
from . import (activations, backend, callbacks, datasets, initializers, layers, losses, metrics, models, ops,
               optimizers, regularizers, saving, utils)
from .layers import Input, Layer
from .models import Model, Sequential

__all__ = ["Sequential", "Model", "Input", "Layer", "layers", "models", "optimizers", "losses", "metrics",
           "callbacks", "regularizers", "initializers", "activations", "utils", "datasets", "backend", "saving", "ops"]
