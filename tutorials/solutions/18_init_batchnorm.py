"""Chapter 18 exercises: He initialisation and batch normalisation in numpy."""
import numpy as np


def kaiming_std(fan_in):
    """The standard deviation that keeps ReLU activations' second moment constant: sqrt(2 / fan_in)."""
    return np.sqrt(2.0 / fan_in)


def batchnorm_train(x, gamma, beta, eps=1e-5):
    """x (N, F): normalise each feature over the batch (biased variance), then scale and shift."""
    mean = x.mean(0)
    var = x.var(0)
    return gamma * (x - mean) / np.sqrt(var + eps) + beta
