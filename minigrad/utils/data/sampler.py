"""The base of samplers: an iterable of dataset indices with a length."""

__all__ = ["Sampler"]


class Sampler:
    """An iterable of dataset indices (with a length): DataLoader(sampler=...) takes its batches in this order."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")
