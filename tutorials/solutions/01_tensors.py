"""Chapter 01 exercises: broadcasting."""
import minigrad as mg


def outer(a, b):
    """c[i, j] = a[i] * b[j] for 1-D a (n,) and b (m,), by broadcasting (n, 1) * (1, m)."""
    return a.reshape(-1, 1) * b.reshape(1, -1)


def pairwise_sq_dists(x, y):
    """D[i, j] = ||x[i] - y[j]||^2 for x (n, d) and y (m, d)."""
    diff = x.unsqueeze(1) - y.unsqueeze(0)  # (n, 1, d) - (1, m, d) -> (n, m, d)
    return (diff * diff).sum(dim=-1)


def standardize(x):
    """Each column shifted to mean 0 and scaled to (population) standard deviation 1."""
    mu = x.mean(dim=0, keepdim=True)
    sd = x.std(dim=0, keepdim=True, correction=0)
    return (x - mu) / sd


_ = mg
