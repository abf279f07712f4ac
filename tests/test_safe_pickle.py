"""i3d.models.safe_pickle: pickles that would run code are refused before anything runs (the same bytes do run
under ``pickle.loads``, so the payloads are real); trees of arrays round-trip; NumPy's own globals refuse every
argument NumPy itself would not have pickled."""
from __future__ import annotations

import os
import pickle
import subprocess

import numpy as np
import pytest

from i3d.models.safe_pickle import load_array_tree


class Payload:
    """Pickles as a call of ``func(*args)``: what a malicious weights file holds."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def payloads(marker) -> dict[str, bytes]:
    """Pickles that create ``marker`` when loaded, each through a different global, some inside a tree of arrays."""
    arrays = {"params": {"Conv_0": {"kernel": np.ones((1, 1, 1, 3, 4), np.float32)}}}
    return {
        "os.system": f"cos\nsystem\n(S'touch {marker}'\ntR.".encode(),  # protocol 0, written by hand
        "builtins.eval": pickle.dumps(Payload(eval, f"open({str(marker)!r}, 'w').close()")),
        "subprocess.call": pickle.dumps({**arrays, "batch_stats": Payload(subprocess.call, ["touch", str(marker)])}),
        "posix.system": pickle.dumps([np.zeros(3), Payload(os.system, f"touch {marker}")], protocol=5),
    }


@pytest.mark.parametrize("name", ["os.system", "builtins.eval", "subprocess.call", "posix.system"])
def test_a_pickle_that_would_run_code_is_refused_naming_the_global_and_nothing_runs(tmp_path, name):
    marker = tmp_path / "marker"
    data = payloads(marker)[name]
    (tmp_path / "evil.pkl").write_bytes(data)
    with pytest.raises(pickle.UnpicklingError, match=rf"refused global {name}\b"):
        load_array_tree(tmp_path / "evil.pkl")
    assert not marker.exists()
    pickle.loads(data)  # the control: plain pickle does run it
    assert marker.exists()


def tree() -> dict:
    rng = np.random.default_rng(0)
    return {"params": {"a/b": {"kernel": rng.standard_normal((2, 3, 4), dtype=np.float32),
                               "fortran": np.asfortranarray(rng.integers(0, 9, (3, 5)))},
                       "big_endian": np.arange(6, dtype=">f8").reshape(2, 3)},
            "stats": [np.zeros((1, 1, 0, 4), np.uint8), (np.float32(2.5), np.bool_(True), np.complex64(1j))],
            "meta": {"step": 3, "name": "x", "none": None, "half": np.array([1.5], np.float16)}}


def assert_same(a, b) -> None:
    assert type(a) is type(b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    else:
        assert a == b


@pytest.mark.parametrize("protocol", [3, 4, 5])
def test_a_nested_tree_of_arrays_round_trips(tmp_path, protocol):
    original = tree()
    (tmp_path / "tree.pkl").write_bytes(pickle.dumps(original, protocol=protocol))
    loaded = load_array_tree(tmp_path / "tree.pkl")
    assert_same(loaded, original)
    assert loaded["params"]["a/b"]["kernel"].flags.writeable
    shared = [np.ones(2)] * 2
    again = load_array_tree(pickle.dumps(shared, protocol=protocol))
    assert again[0] is again[1]


# NumPy's allowed globals called with what NumPy never pickles, written by hand (protocol 2 opcodes, bytes as
# SHORT_BINBYTES): c<module>\n<name>\n pushes a global, R calls it, b sets state, \x81 is NEWOBJ.
NDARRAY = b"cnumpy\nndarray\n"
RECONSTRUCT = b"cnumpy._core.multiarray\n_reconstruct\n"
F4 = b"cnumpy\ndtype\nX\x02\x00\x00\x00f4\x89\x88\x87R"  # dtype('f4', False, True)


def _bytes(b: bytes) -> bytes:
    return b"C" + bytes([len(b)]) + b


def _array_state(shape: bytes, dtype: bytes, data: bytes) -> bytes:
    """``_reconstruct(ndarray, (0,), b'b')`` then BUILD ``(1, shape, dtype, False, data)``."""
    return (b"\x80\x03" + RECONSTRUCT + b"(" + NDARRAY + b"K\x00\x85" + _bytes(b"b") + b"tR"
            + b"(K\x01" + shape + dtype + b"\x89" + _bytes(data) + b"tb.")


ABUSES = {  # name: (pickle, what the refusal says)
    "ndarray called": (b"\x80\x03" + NDARRAY + b"K\x10\x85R.", "numpy.ndarray called"),
    "other subtype": (b"\x80\x03" + RECONSTRUCT + b"(cnumpy\ndtype\nK\x00\x85" + _bytes(b"b") + b"tR.",
                      "_reconstruct"),
    "object dtype": (b"\x80\x03cnumpy\ndtype\nX\x02\x00\x00\x00O8\x89\x88\x87R.", r"numpy.dtype\('O8'"),
    "structured dtype state": (b"\x80\x03" + F4 + b"(K\x03X\x01\x00\x00\x00|N(X\x01\x00\x00\x00xtNJ\xff\xff\xff"
                               b"\xffJ\xff\xff\xff\xffK\x3ftb.", r"dtype state \(3, '\|', None, \('x',\)"),
    "data shorter than the shape": (_array_state(b"K\x04\x85", F4, b"\x00" * 12), r"array data for shape \(4,\)"),
    "negative shape": (_array_state(b"J\xff\xff\xff\xff\x85", F4, b""), r"array shape \(-1,\)"),
    "dtype not from numpy.dtype": (_array_state(b"K\x01\x85", b"X\x02\x00\x00\x00f4", b"\x00" * 4), "dtype 'f4'"),
    "newobj of numpy.dtype": (b"\x80\x03cnumpy\ndtype\nX\x02\x00\x00\x00f4\x85\x81.", "NEWOBJ"),
    "state on a built array": (b"\x80\x03cnumpy._core.multiarray\nscalar\n" + F4 + _bytes(b"\x00" * 4)
                               + b"\x86R(K\x01tb.", "state for a built array"),
    "truncated": (pickle.dumps(np.ones(3))[:-20], "truncated"),
}


@pytest.mark.parametrize("name", list(ABUSES))
def test_numpys_globals_refuse_what_numpy_does_not_pickle(name):
    data, reason = ABUSES[name]
    with pytest.raises(pickle.UnpicklingError, match=reason):
        load_array_tree(data)


def test_the_hand_written_array_is_accepted_when_it_is_what_numpy_writes():
    """The control of the abuses above: their well-formed twin loads."""
    loaded = load_array_tree(_array_state(b"K\x03\x85", F4, np.arange(3, dtype="<f4").tobytes()))
    assert loaded.dtype == np.float32 and loaded.tolist() == [0, 1, 2]
