"""Temporary files for atomic writes that end up with the permissions of a normal file.

tempfile.mkstemp creates its file readable by its owner only (0600); a checkpoint, tokenizer or
data file renamed from it would keep that. This one applies the usual 0666 minus the umask instead.
"""
import os
import tempfile


def _read_umask():
    mask = os.umask(0)  # reading the umask means setting it: done once, at import, not per write
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def mkstemp(*args, **kwargs):
    """tempfile.mkstemp, then chmod to 0666 & ~umask (what open(path, "w") would have given)."""
    fd, path = tempfile.mkstemp(*args, **kwargs)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
    except (AttributeError, OSError):  # no fchmod (Windows): keep mkstemp's mode
        pass
    return fd, path
