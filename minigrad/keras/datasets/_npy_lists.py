"""Read the object arrays of Keras' imdb.npz (lists of word ids) WITHOUT unpickling.

numpy stores an object array as a pickle of the ndarray; unpickling runs whatever the file
names, so minigrad never does it. This reader walks the pickle's opcodes (pickletools.genops
only tokenises; nothing is executed) and accepts exactly one layout: a 1-D object ndarray
(numpy's _reconstruct / ndarray / dtype('O'), as numpy writes with protocols 2-5, from
Python 2 or 3) whose items are lists of ints. Any other global, opcode or shape is refused.
"""
import io
import pickletools
import zipfile

import numpy as np

_GLOBALS = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}
_INTS = {"BININT", "BININT1", "BININT2", "LONG1", "INT", "LONG"}
_STRINGS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "SHORT_BINSTRING", "BINSTRING", "STRING", "UNICODE",
            "SHORT_BINBYTES", "BINBYTES", "BINBYTES8"}
_SKIP = {"PROTO", "FRAME", "MEMOIZE", "BINPUT", "LONG_BINPUT", "PUT"}


class _Mark:
    pass


class _Call:
    """A call the pickle asks for, kept as data (never performed)."""

    def __init__(self, fn, args):
        self.fn, self.args, self.state = fn, args, None


def _refuse(why):
    raise ValueError(f"imdb: refusing to read the array: {why} (only lists of ints in a 1-D object array are read)")


def _pop_mark(stack):
    for i in range(len(stack) - 1, -1, -1):
        if stack[i] is _MARK:
            items = stack[i + 1:]
            del stack[i:]
            return items
    _refuse("unbalanced MARK")


_MARK = _Mark()


def parse_object_list_pickle(data):
    """The list of lists of ints held by a pickled 1-D object ndarray (bytes), or ValueError."""
    stack, memo = [], {}
    for op, arg, _ in pickletools.genops(io.BytesIO(data)):
        name = op.name
        if name in _INTS or name in _STRINGS:
            stack.append(arg)
        elif name in _SKIP:
            if name in ("MEMOIZE",):
                memo[len(memo)] = stack[-1]
            elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
                memo[arg] = stack[-1]
        elif name in ("BINGET", "LONG_BINGET", "GET"):
            stack.append(memo[arg])
        elif name == "MARK":
            stack.append(_MARK)
        elif name == "EMPTY_LIST":
            stack.append([])
        elif name == "APPEND":
            v = stack.pop()
            stack[-1].append(v)
        elif name == "APPENDS":
            items = _pop_mark(stack)
            if not isinstance(stack[-1], list):
                _refuse("APPENDS to a non-list")
            stack[-1].extend(items)
        elif name in ("TUPLE", "TUPLE1", "TUPLE2", "TUPLE3", "EMPTY_TUPLE"):
            n = {"TUPLE1": 1, "TUPLE2": 2, "TUPLE3": 3, "EMPTY_TUPLE": 0}.get(name)
            items = _pop_mark(stack) if n is None else ([stack.pop() for _ in range(n)][::-1] if n else [])
            stack.append(tuple(items))
        elif name in ("NONE", "NEWTRUE", "NEWFALSE"):
            stack.append({"NONE": None, "NEWTRUE": True, "NEWFALSE": False}[name])
        elif name in ("GLOBAL", "STACK_GLOBAL"):
            if name == "GLOBAL":
                module, attr = arg.split(" ", 1)
            else:
                attr, module = stack.pop(), stack.pop()
            if (module, attr) not in _GLOBALS:
                _refuse(f"it names {module}.{attr}")
            stack.append((module, attr))
        elif name == "REDUCE":
            args, fn = stack.pop(), stack.pop()
            if fn == ("_codecs", "encode"):  # protocol 2 from Python 3 writes bytes as encode(str, 'latin1')
                if len(args) != 2 or not isinstance(args[0], str) or args[1] != "latin1":
                    _refuse("unexpected bytes encoding")
                stack.append(args[0].encode("latin1"))
            else:
                stack.append(_Call(fn, args))
        elif name == "BUILD":
            state = stack.pop()
            if not isinstance(stack[-1], _Call) or stack[-1].state is not None:
                _refuse("BUILD on something else than an ndarray or dtype")
            stack[-1].state = state
        elif name == "STOP":
            break
        else:
            _refuse(f"opcode {name}")
    if len(stack) != 1:
        _refuse("unexpected structure")
    return _check(stack[0])


def _check(obj):
    if not (isinstance(obj, _Call) and obj.fn[1] == "_reconstruct" and obj.args[0] == ("numpy", "ndarray")):
        _refuse("not an ndarray")
    state = obj.state
    if not (isinstance(state, tuple) and len(state) == 5):
        _refuse("unexpected ndarray state")
    _, shape, dtype, _, items = state
    if not (isinstance(dtype, _Call) and dtype.fn == ("numpy", "dtype") and dtype.args[0] in ("O8", "O4", "O")):
        _refuse("the array's dtype is not object")
    if not (isinstance(shape, tuple) and len(shape) == 1 and isinstance(items, list) and len(items) == shape[0]):
        _refuse(f"shape {shape} does not match {len(items) if isinstance(items, list) else '?'} items")
    for seq in items:
        if not isinstance(seq, list) or not all(type(v) is int for v in seq):
            _refuse("an item is not a list of ints")
    return items


def read_npz(path):
    """{name: array or list of int lists} for every array in an .npz file, without unpickling."""
    out = {}
    with zipfile.ZipFile(path) as z:
        for member in z.namelist():
            if not member.endswith(".npy"):
                continue
            with z.open(member) as f:
                version = np.lib.format.read_magic(f)
                header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                          else np.lib.format.read_array_header_2_0)(f)
                shape, fortran, dtype = header
                if dtype.hasobject:
                    out[member[:-4]] = parse_object_list_pickle(f.read())
                else:
                    f.seek(0)
                    out[member[:-4]] = np.lib.format.read_array(f, allow_pickle=False)
    return out
