"""Writes a TensorFlow checkpoint (tensor bundle) from numpy arrays, for the importer's tests, from the format's
description rather than from our reader: ``PREFIX.index`` is a LevelDB table (uncompressed blocks of
prefix-compressed entries with restart points, each followed by a compression byte and a masked CRC-32C; a
metaindex block, an index block of block handles, and a 48-byte footer ending in the magic number); its empty
key holds a ``BundleHeaderProto``, every other key a tensor's ``BundleEntryProto``. ``PREFIX.data-00000-of-00001``
holds the tensors' little-endian bytes one after another.

It omits the per-tensor CRC (a field of the entry) because computing one in pure Python for a 50 MB model is
too slow and the importer does not check it; TensorFlow itself would refuse such a file only when reading.
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

DATA_TYPES = {np.dtype("float32"): 1, np.dtype("float64"): 2, np.dtype("int32"): 3, np.dtype("int64"): 9,
              np.dtype("float16"): 19}
TABLE_MAGIC = 0xDB4775248B80FB57


def crc32c(data: bytes) -> int:
    """Bit by bit, the reflected Castagnoli polynomial 0x82F63B78."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def masked(crc: int) -> int:
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, value: int | bytes) -> bytes:
    """A protobuf field: varint (wire type 0) for ints, length-delimited (2) for bytes."""
    if isinstance(value, bytes):
        return varint(number << 3 | 2) + varint(len(value)) + value
    return varint(number << 3) + varint(value)


def entry_proto(array: np.ndarray, offset: int, with_crc: bool = False) -> bytes:
    """BundleEntryProto: dtype 1, shape 2 (TensorShapeProto, dim 2 -> Dim.size 1), shard_id 3, offset 4, size 5,
    crc32c 6 (fixed32, masked; bit-by-bit here, so only for small tensors). proto3 leaves fields at 0 out."""
    shape = b"".join(field(2, field(1, n) if n else b"") for n in array.shape)
    out = field(1, DATA_TYPES[array.dtype.newbyteorder("=")]) + field(2, shape)
    if offset:
        out += field(4, offset)
    out += field(5, array.nbytes) if array.nbytes else b""
    return out + (varint(6 << 3 | 5) + struct.pack("<I", masked(crc32c(array.tobytes()))) if with_crc else b"")


def block(entries: list[tuple[bytes, bytes]], restart_interval: int) -> bytes:
    """A table block: every ``restart_interval``-th key stored whole (a restart point), the others as the
    length shared with the previous key plus the rest; then the restart offsets and their count (uint32 LE)."""
    out, restarts, previous = bytearray(), [], b""
    for i, (key, value) in enumerate(entries):
        shared = 0
        if i % restart_interval == 0:
            restarts.append(len(out))
        else:
            while shared < min(len(key), len(previous)) and key[shared] == previous[shared]:
                shared += 1
        out += varint(shared) + varint(len(key) - shared) + varint(len(value)) + key[shared:] + value
        previous = key
    restarts = restarts or [0]
    return bytes(out) + struct.pack(f"<{len(restarts)}I", *restarts) + struct.pack("<I", len(restarts))


def write_bundle(prefix: str | Path, tensors: dict[str, np.ndarray], *, block_size: int = 4096,
                 restart_interval: int = 16, with_crc: bool = False) -> None:
    """``prefix.index`` and ``prefix.data-00000-of-00001`` holding ``tensors``; a data block is closed once it
    passes ``block_size`` bytes, so a small size gives an index of several blocks."""
    data, rows = bytearray(), [(b"", field(1, 1) + field(3, field(1, 1)))]  # num_shards 1, version.producer 1
    for name in sorted(tensors, key=lambda n: n.encode()):
        array = np.asarray(tensors[name])
        array = array.astype(array.dtype.newbyteorder("<"), copy=False)  # tobytes() writes C order
        rows.append((name.encode(), entry_proto(array, len(data), with_crc)))
        data += array.tobytes()
    Path(f"{prefix}.data-00000-of-00001").write_bytes(bytes(data))

    table = bytearray()

    def put(contents: bytes) -> bytes:
        """Append a block and its trailer (type 0 = uncompressed, masked CRC of contents + type); its handle."""
        handle = varint(len(table)) + varint(len(contents))
        table.extend(contents + b"\x00" + struct.pack("<I", masked(crc32c(contents + b"\x00"))))
        return handle

    index_rows, pending = [], []
    for key, value in rows:
        pending.append((key, value))
        if sum(len(k) + len(v) for k, v in pending) >= block_size:
            index_rows.append((key, put(block(pending, restart_interval))))  # the last key bounds the block
            pending = []
    if pending:
        index_rows.append((pending[-1][0], put(block(pending, restart_interval))))
    metaindex = put(block([], restart_interval))
    index = put(block(index_rows, 1))
    footer = (metaindex + index).ljust(40, b"\x00") + struct.pack("<Q", TABLE_MAGIC)
    Path(f"{prefix}.index").write_bytes(bytes(table + footer))
