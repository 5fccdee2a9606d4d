"""Passes over a captured graph (filled in below)."""


def optimize(graph):
    return graph
