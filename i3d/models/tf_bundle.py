"""Reader of TensorFlow's checkpoint format (a "tensor bundle"), without TensorFlow.

A checkpoint ``PREFIX`` is ``PREFIX.index`` plus data shards ``PREFIX.data-00000-of-0000N``. The index is a
LevelDB-style table: data blocks of prefix-compressed key/value entries with restart points, an index block
pointing at them, and a 48-byte footer (metaindex and index block handles as varints, padding, the magic
0xdb4775248b80fb57); each block is followed by a compression byte and a masked CRC-32C. TF writes the bundle
index uncompressed. The empty key holds a ``BundleHeaderProto`` (shard count, byte order); every other key is
a tensor name whose ``BundleEntryProto`` gives dtype, shape, shard, offset and byte size in the shard, which
holds the raw little-endian values.

Why our own reader: TensorFlow's CPU wheel is ~250 MB (and pins numpy/protobuf) to read two files of a small,
stable format. The block CRCs of the index and each tensor's CRC in the data are checked (CRC-32C in Python:
~1 s per 10 MB here, ~5 s for an I3D checkpoint), so a corrupt download is refused rather than imported.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
BLOCK_TRAILER = 5  # compression type (1 byte) + masked crc32c (4 bytes)
COMPRESSION = {0: "none", 1: "snappy", 2: "zlib"}

DTYPES: dict[int, np.dtype] = {  # tensorflow/core/framework/types.proto DataType -> little-endian numpy dtype
    1: np.dtype("<f4"), 2: np.dtype("<f8"), 3: np.dtype("<i4"), 9: np.dtype("<i8"), 19: np.dtype("<f2"),
}
DTYPE_NAMES = {1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8", 7: "string", 9: "int64",
               10: "bool", 14: "bfloat16", 19: "float16"}


@dataclass(frozen=True)
class Entry:
    """Where one tensor lies: ``dtype`` is TF's DataType number (``DTYPE_NAMES``)."""

    dtype: int
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    sliced: bool
    crc32c: int | None = None
    """The masked CRC-32C of the tensor's bytes (``None`` where the writer left it out)."""

    @property
    def dtype_name(self) -> str:
        return DTYPE_NAMES.get(self.dtype, f"DataType {self.dtype}")


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
        table.append(crc)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as LevelDB tables checksum their blocks."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def unmask_crc(masked: int) -> int:
    """LevelDB stores ``rotate_right(crc, 15) + 0xa282ead8`` so that a CRC of data holding CRCs differs."""
    rot = (masked - 0xA282EAD8) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """(value, next position) of the base-128 varint at ``pos``."""
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("a varint runs past its field")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def parse_proto(buf: bytes) -> dict[int, list[int | bytes]]:
    """Field number -> values of a protobuf message (wire format): ints for varint/fixed fields, bytes for
    length-delimited ones (nested messages, packed fields); what a field means is the caller's business."""
    fields: dict[int, list[int | bytes]] = {}
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            if pos + width > len(buf):
                raise ValueError("a fixed-width field runs past the message")
            value, pos = int.from_bytes(buf[pos:pos + width], "little"), pos + width
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > len(buf):
                raise ValueError("a length-delimited field runs past the message")
            value, pos = buf[pos:pos + length], pos + length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        fields.setdefault(number, []).append(value)
    return fields


def _last(fields: dict[int, list], number: int, default: int | bytes = 0) -> int | bytes:
    return fields[number][-1] if number in fields else default  # proto3: the last occurrence wins


def _entry(value: bytes) -> Entry:
    """A ``BundleEntryProto``: dtype=1, shape=2 (TensorShapeProto: dim=2 {size=1}), shard_id=3, offset=4,
    size=5, crc32c=6, slices=7."""
    fields = parse_proto(value)
    shape = parse_proto(_last(fields, 2, b""))
    dims = tuple(_last(parse_proto(dim), 1) for dim in shape.get(2, []))
    return Entry(dtype=_last(fields, 1), shape=dims, shard_id=_last(fields, 3), offset=_last(fields, 4),
                 size=_last(fields, 5), sliced=7 in fields, crc32c=fields[6][-1] if 6 in fields else None)


def _block(data: bytes, handle: bytes, end: int) -> bytes:
    """The contents of the block a BlockHandle (offset, size varints) points at, its trailer checked."""
    offset, pos = _varint(handle, 0)
    size, _ = _varint(handle, pos)
    if offset + size + BLOCK_TRAILER > end:
        raise ValueError(f"truncated: a block at byte {offset} runs past the end of the table")
    contents = data[offset:offset + size]
    kind = data[offset + size]
    if kind != 0:
        raise ValueError(f"{COMPRESSION.get(kind, f'unknown ({kind})')}-compressed block; TensorFlow writes "
                         "checkpoint indexes uncompressed and only those are read")
    stored = int.from_bytes(data[offset + size + 1:offset + size + BLOCK_TRAILER], "little")
    if unmask_crc(stored) != crc32c(data[offset:offset + size + 1]):
        raise ValueError(f"corrupt: the block at byte {offset} fails its CRC-32C")
    return contents


def _block_entries(block: bytes) -> list[tuple[bytes, bytes]]:
    """The (key, value) pairs of a block: each entry is shared-prefix length, own key length and value length
    (varints), then the key's own bytes and the value; a uint32 array of restart offsets and its count end it."""
    if len(block) < 4:
        raise ValueError("corrupt: a block shorter than its restart count")
    restarts = int.from_bytes(block[-4:], "little")
    limit = len(block) - 4 - 4 * restarts
    if limit < 0:
        raise ValueError("corrupt: a block's restart array is longer than the block")
    entries, key, pos = [], b"", 0
    while pos < limit:
        shared, pos = _varint(block, pos)
        own, pos = _varint(block, pos)
        length, pos = _varint(block, pos)
        if shared > len(key) or pos + own + length > limit:
            raise ValueError("corrupt: a block entry runs past its block")
        key = key[:shared] + block[pos:pos + own]
        pos += own
        entries.append((key, block[pos:pos + length]))
        pos += length
    return entries


def read_index(index: str | os.PathLike) -> tuple[int, dict[str, Entry]]:
    """(number of data shards, tensor name -> Entry) of a checkpoint's ``.index`` file; ValueError naming the
    file and the reason if it is not a readable tensor-bundle index."""
    index = Path(index)
    try:
        data = index.read_bytes()
    except OSError as err:
        raise ValueError(f"{index}: cannot read the checkpoint index ({err.strerror})") from None
    try:
        if len(data) < FOOTER_SIZE:
            raise ValueError(f"not a TensorFlow checkpoint index: {len(data)} bytes, shorter than a table footer")
        if int.from_bytes(data[-8:], "little") != MAGIC:
            raise ValueError("not a TensorFlow checkpoint index (no table magic number at its end)")
        footer = data[-FOOTER_SIZE:]
        _, pos = _varint(footer, _varint(footer, 0)[1])  # skip the metaindex handle: bundles keep nothing there
        index_block = _block(data, footer[pos:], len(data) - FOOTER_SIZE)
        rows = [row for _, handle in _block_entries(index_block)
                for row in _block_entries(_block(data, handle, len(data) - FOOTER_SIZE))]
        header = dict(rows).get(b"")
        if header is None:
            raise ValueError("no bundle header (the empty key): a table, but not a checkpoint index")
        header = parse_proto(header)  # BundleHeaderProto: num_shards=1, endianness=2 (0 little, 1 big)
        if _last(header, 2):
            raise ValueError("a big-endian checkpoint; only little-endian ones are read")
        entries = {key.decode(): _entry(value) for key, value in rows if key}
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{index}: {err}") from None
    return _last(header, 1, 1), entries


def shard_path(prefix: str | os.PathLike, shard_id: int, num_shards: int) -> Path:
    return Path(f"{prefix}.data-{shard_id:05d}-of-{num_shards:05d}")


def checkpoint_prefix(path: str | os.PathLike) -> Path:
    """The checkpoint prefix given the prefix itself, its ``.index`` file, or a directory holding one index."""
    path = Path(path)
    if path.is_dir():
        indexes = sorted(path.glob("*.index"))
        if len(indexes) != 1:
            raise ValueError(f"{path}: a directory with {len(indexes)} checkpoint indexes (*.index); "
                             "give the checkpoint prefix (e.g. .../model.ckpt)")
        path = indexes[0]
    if path.suffix == ".index":
        path = path.with_suffix("")
    if not Path(f"{path}.index").is_file():
        raise ValueError(f"{path}: not a TensorFlow checkpoint: no {path.name}.index beside it")
    return path


def read_tensors(prefix: str | os.PathLike, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """The tensors ``names`` (default: all) of the checkpoint ``prefix``, as numpy arrays of their shapes.

    ValueError naming the file and the reason for a missing or truncated data shard, an unsupported dtype, or
    a partitioned (sliced) variable.
    """
    prefix = Path(prefix)
    num_shards, entries = read_index(f"{prefix}.index")
    unknown = [name for name in names or [] if name not in entries]
    if unknown:
        raise ValueError(f"{prefix}.index: no tensor {unknown[0]!r}")
    tensors = {}
    for name in entries if names is None else names:
        entry = entries[name]
        shard = shard_path(prefix, entry.shard_id, num_shards)
        if entry.sliced:
            raise ValueError(f"{prefix}.index: {name} is a partitioned variable; those are not read")
        if entry.dtype not in DTYPES:
            raise ValueError(f"{prefix}.index: {name} is {entry.dtype_name}; only "
                             f"{', '.join(DTYPE_NAMES[d] for d in DTYPES)} are read")
        dtype = DTYPES[entry.dtype]
        count = int(np.prod(entry.shape, dtype=np.int64))
        if entry.size != count * dtype.itemsize:
            raise ValueError(f"{prefix}.index: {name} has {entry.size} bytes, but {entry.dtype_name} "
                             f"{list(entry.shape)} needs {count * dtype.itemsize}")
        try:
            have = shard.stat().st_size
        except OSError:
            raise ValueError(f"{shard}: missing data shard of checkpoint {prefix}") from None
        if entry.offset + entry.size > have:
            raise ValueError(f"{shard}: truncated: {name} needs bytes {entry.offset}..{entry.offset + entry.size} "
                             f"but the file has {have}")
        with open(shard, "rb") as f:
            f.seek(entry.offset)
            values = np.fromfile(f, dtype=dtype, count=count)
        if values.size != count:
            raise ValueError(f"{shard}: truncated while reading {name}")
        if entry.crc32c is not None and unmask_crc(entry.crc32c) != crc32c(values.tobytes()):
            raise ValueError(f"{shard}: corrupt: {name} fails its CRC-32C")
        tensors[name] = values.reshape(entry.shape).astype(dtype.newbyteorder("="), copy=False)
    return tensors
