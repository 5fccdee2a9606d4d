"""Chapter 02 exercises: a scalar autograd, a hand-written backward, and minigrad's autograd."""
import math

import numpy as np

import minigrad as mg


class Value:
    """The chapter's scalar autograd, with __pow__, relu and exp added."""

    def __init__(self, data, parents=(), op=""):
        self.data, self.grad = float(data), 0.0
        self._parents, self._op = parents, op
        self._backward = lambda: None

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    __radd__, __rmul__ = __add__, __mul__

    def __pow__(self, k):
        assert isinstance(k, int), "only integer exponents"
        out = Value(self.data ** k, (self,), f"**{k}")

        def _backward():  # d x^k / dx = k x^(k-1)
            self.grad += k * self.data ** (k - 1) * out.grad
        out._backward = _backward
        return out

    def relu(self):
        out = Value(max(self.data, 0.0), (self,), "relu")

        def _backward():  # 1 where x > 0, else 0
            self.grad += (self.data > 0) * out.grad
        out._backward = _backward
        return out

    def exp(self):
        e = math.exp(self.data)
        out = Value(e, (self,), "exp")

        def _backward():  # d e^x / dx = e^x
            self.grad += e * out.grad
        out._backward = _backward
        return out

    def tanh(self):
        t = math.tanh(self.data)
        out = Value(t, (self,), "tanh")

        def _backward():
            self.grad += (1 - t * t) * out.grad
        out._backward = _backward
        return out

    def backward(self):
        order, seen = [], set()

        def visit(v):
            if v not in seen:
                seen.add(v)
                for p in v._parents:
                    visit(p)
                order.append(v)
        visit(self)
        self.grad = 1.0
        for v in reversed(order):
            v._backward()


def linear_backward(x, W, gy):
    """y = x @ W + b:  dx = gy @ W^T,  dW = x^T @ gy,  db = gy summed over the batch (numpy arrays)."""
    return gy @ W.T, x.T @ gy, gy.sum(axis=0)


def grad_at(f, x):
    """f'(x) for a float x, where f maps a minigrad scalar tensor to a scalar tensor."""
    t = mg.tensor(float(x), dtype=mg.float64, requires_grad=True)
    f(t).backward()
    return t.grad.item()


_ = np
