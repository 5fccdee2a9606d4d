"""minigrad.save / minigrad.load: checkpoints in the safetensors format, read and written here.

mg.save(m.state_dict(), path) writes a plain safetensors file (any safetensors reader opens it).
mg.save(obj, path) with a nested obj (dicts/lists/tuples of tensors, numpy arrays, int, float, str,
bool, None: optimizer and scheduler state_dicts, epochs, rng states) stores the tensors the same way
and the structure as JSON in __metadata__ (see checkpoint_format.py); mg.load gives obj back.

File layout (https://github.com/huggingface/safetensors):
    8 bytes     N, the header length, unsigned little-endian
    N bytes     JSON: {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
                       "__metadata__": {"key": "value"}}   (optional, strings only)
    rest        the tensors' raw little-endian bytes; offsets are relative to the start of this part
Nothing is ever unpickled, so loading an untrusted file cannot run code.
"""
import json
import math
import os

import numpy as np
from . import _files

_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
           "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}
_CODES = {np.dtype(v).newbyteorder("="): k for k, v in _DTYPES.items()}  # native dtype -> code
_MAX_HEADER = 100 * 1024 * 1024


def _array(value, key):
    from .tensor import Tensor
    if isinstance(value, Tensor):
        arr = value.numpy()
    elif hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        arr = value.detach().cpu().numpy()
    elif type(value).__module__.startswith("cupy"):
        arr = value.get()
    else:
        arr = np.asarray(value)
    if arr.dtype.newbyteorder("=") not in _CODES:
        raise TypeError(f"save: tensor {key!r} has dtype {arr.dtype}, which safetensors cannot store")
    return arr


def _is_flat(obj):
    """A dict name -> Tensor/array: stored as a plain safetensors file, as before nested checkpoints."""
    from .tensor import Tensor
    return isinstance(obj, dict) and bool(obj) and all(
        isinstance(k, str) and k != "__metadata__" and (isinstance(v, (Tensor, np.ndarray))
                                                         or type(v).__module__.startswith("torch"))
        for k, v in obj.items())


def save(obj, path, metadata=None):
    """Write a checkpoint to `path` atomically.

    obj: a dict name -> Tensor (a state_dict: a plain safetensors file), or any nesting of
    dicts (str/int keys), lists and tuples of Tensors, numpy arrays, int, float, str, bool and
    None. Anything else raises TypeError naming its key path. metadata: extra str -> str
    entries for the header. The bytes go to a temporary file in the same directory, are
    fsynced, then renamed over `path`: a crash leaves either the old file or the complete new one.
    """
    from . import checkpoint_format as fmt
    header, chunks, offset = {}, [], 0
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise TypeError("save: metadata must map strings to strings")
        if {fmt.STRUCTURE_KEY, fmt.FORMAT_KEY} & set(metadata):
            raise ValueError(f"save: metadata keys {fmt.STRUCTURE_KEY!r} and {fmt.FORMAT_KEY!r} are reserved")
        header["__metadata__"] = dict(metadata)
    if _is_flat(obj):
        tensors = obj
    else:
        structure, tensors = fmt.flatten(obj, _array)
        header["__metadata__"] = {**header.get("__metadata__", {}), fmt.FORMAT_KEY: fmt.FORMAT,
                                  fmt.STRUCTURE_KEY: structure}
    for key, value in tensors.items():
        if not isinstance(key, str) or key == "__metadata__":
            raise TypeError(f"save: tensor names must be strings other than '__metadata__', got {key!r}")
        arr = _array(value, key)
        code = _CODES[arr.dtype.newbyteorder("=")]
        raw = np.ascontiguousarray(arr, dtype=np.dtype(_DTYPES[code])).tobytes()
        header[key] = {"dtype": code, "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # pad so the data starts 8-byte aligned, as the reference writer does
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = _files.mkstemp(prefix=".tmp-" + os.path.basename(path) + "-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(len(text).to_bytes(8, "little"))
            f.write(text)
            for raw in chunks:
                f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable; not possible on every platform
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def _not_safetensors(path, blob):
    if blob[:1] == b"\x80" or blob[:2] in (b"(d", b"}q", b"(l"):
        kind = "a Python pickle"
    elif blob[:4] == b"PK\x03\x04":
        kind = "a zip archive (torch.save's format)"
    else:
        return None
    return ValueError(f"load: {path!r} is not a safetensors file, it looks like {kind}. minigrad never unpickles "
                      "files (that could run arbitrary code); convert it with safetensors.torch.save_file.")


def _read_header(path, blob):
    size = len(blob)
    looks_right = size >= 9 and blob[8:9] == b"{"  # the JSON header starts right after its length
    bad = None if looks_right else _not_safetensors(path, blob)
    if bad is not None:
        raise bad
    if size < 8:
        raise ValueError(f"load: {path!r} is truncated: {size} bytes, too short for the 8-byte header length")
    n = int.from_bytes(blob[:8], "little")
    if n > _MAX_HEADER or 8 + n > size:
        raise ValueError(f"load: {path!r} is not a valid safetensors file or is truncated: header length {n} but "
                         f"the file has {size} bytes")
    try:
        header = json.loads(bytes(blob[8:8 + n]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ValueError(f"load: {path!r} has a corrupted header (invalid JSON: {e})") from None
    if not isinstance(header, dict):
        raise ValueError(f"load: {path!r} has a corrupted header (expected a JSON object)")
    return header, 8 + n


def _entries(path, header, data_len):
    """Validate every tensor entry; returns [(key, dtype, shape, begin, end)] in file order."""
    entries = []
    for key, info in header.items():
        if key == "__metadata__":
            if not isinstance(info, dict):
                raise ValueError(f"load: {path!r}: __metadata__ must be a JSON object")
            continue
        if not isinstance(info, dict) or set(info) < {"dtype", "shape", "data_offsets"}:
            raise ValueError(f"load: {path!r}: entry {key!r} needs dtype, shape and data_offsets, got {info!r}")
        code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if code not in _DTYPES:
            raise ValueError(f"load: {path!r}: tensor {key!r} has unknown or unsupported dtype {code!r}")
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                                  for d in shape):
            raise ValueError(f"load: {path!r}: tensor {key!r} has an invalid shape {shape!r}")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)):
            raise ValueError(f"load: {path!r}: tensor {key!r} has invalid data_offsets {offsets!r}")
        begin, end = offsets
        if not 0 <= begin <= end:
            raise ValueError(f"load: {path!r}: tensor {key!r} has invalid data_offsets {offsets!r}")
        if end > data_len:
            raise ValueError(f"load: {path!r} is truncated or corrupted: tensor {key!r} needs bytes "
                             f"[{begin}, {end}) but the data section has only {data_len} bytes")
        dtype = np.dtype(_DTYPES[code])
        expected = math.prod(shape) * dtype.itemsize
        if end - begin != expected:
            raise ValueError(f"load: {path!r}: tensor {key!r} of dtype {code} and shape {shape} needs {expected} "
                             f"bytes but its data_offsets span {end - begin}")
        entries.append((key, dtype, tuple(shape), begin, end))
    spans = sorted((b, e, k) for k, _, _, b, e in entries if e > b)
    for (b0, e0, k0), (b1, e1, k1) in zip(spans, spans[1:]):
        if b1 < e0:
            raise ValueError(f"load: {path!r} is corrupted: tensors {k0!r} and {k1!r} overlap "
                             f"([{b0}, {e0}) and [{b1}, {e1}))")
    return entries


def load(path, device=None, *, map_location=None):
    """Read what mg.save wrote: the nested object back, or {name: Tensor} (file order) for a plain
    safetensors file (also one written by other tools). device (or torch's map_location): where
    the Tensors go.

    Raises ValueError naming the file (and the tensor) when the file is truncated,
    corrupted, tampered with, or not a safetensors file at all (e.g. a pickle).
    """
    from . import checkpoint_format as fmt
    from .tensor import Tensor
    device = device if device is not None else map_location
    path = os.fspath(path)
    with open(path, "rb") as f:
        blob = bytearray(f.read())  # bytearray: the arrays made from it are writable
    header, start = _read_header(path, blob)
    entries = _entries(path, header, len(blob) - start)
    structure = header.get("__metadata__", {}).get(fmt.STRUCTURE_KEY)
    out = {}
    for key, dtype, shape, begin, end in entries:
        arr = np.frombuffer(blob, dtype=dtype, count=math.prod(shape), offset=start + begin).reshape(shape)
        if arr.dtype.byteorder == ">" or (arr.dtype.byteorder == "<" and not np.little_endian):
            arr = arr.astype(arr.dtype.newbyteorder("="))
        elif arr.dtype.byteorder == "<":
            arr = arr.view(arr.dtype.newbyteorder("="))
        out[key] = arr if structure is not None else Tensor(arr, device=device)
    if structure is not None:
        if not isinstance(structure, str):
            raise ValueError(f"load: {path!r} is corrupted: its {fmt.STRUCTURE_KEY!r} entry is not a string")
        return fmt.unflatten(structure, out, path, device)
    return out


def load_metadata(path):
    """The `__metadata__` dict of a safetensors file ({} when absent)."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        blob = bytearray(f.read())
    header, _ = _read_header(path, blob)
    return dict(header.get("__metadata__", {}))
