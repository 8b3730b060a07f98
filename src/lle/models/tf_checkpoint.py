"""Read TensorFlow checkpoints (what `tf.train.Saver` writes) without TensorFlow.

    arrays = read_tf_checkpoint("model/")      # the folder holding `checkpoint`, or a prefix "model/GLADNet"

A checkpoint is a *tensor bundle*: `<prefix>.index`, a LevelDB-format table (sorted keys, prefix-compressed
within blocks, a block index and a footer) whose value for each variable name is a `BundleEntryProto`
(dtype, shape, shard, offset, size, crc32c), and `<prefix>.data-0000i-of-0000n`, the raw little-endian bytes.
The empty key holds the `BundleHeaderProto` (shard count, endianness). TensorFlow's bundle writer does not
compress the table; snappy blocks are refused by name. The few protobuf fields needed are decoded here, and the
crc32c TensorFlow stores for every block and tensor is checked, so a damaged file is named as such.
`<prefix>.meta` (the graph) is not needed.
"""

from __future__ import annotations

import re
import struct
from functools import cache
from os import PathLike
from pathlib import Path

import numpy as np

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_SIZE = 48
# TensorFlow DataType enum → numpy dtype (the types a checkpoint of these networks can hold).
_DTYPES = {
    1: np.float32,
    2: np.float64,
    3: np.int32,
    4: np.uint8,
    5: np.int16,
    6: np.int8,
    9: np.int64,
    10: np.bool_,
    19: np.float16,
}


class TFCheckpointError(ValueError):
    """A TensorFlow checkpoint that cannot be read (missing files, truncated or damaged data)."""


# --- crc32c (Castagnoli), masked as LevelDB/TensorFlow store it ---------------------------------------------


@cache
def _crc_table() -> np.ndarray:
    """table[b]: the reflected CRC-32C register update for byte b."""
    table = np.zeros(256, dtype=np.uint32)
    for b in range(256):
        c = b
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        table[b] = c
    return table


@cache
def _zeros_operator(length: int) -> list[list[int]]:
    """Per-byte tables of the (linear) map 'run the register over `length` zero bytes'."""
    table = _crc_table().tolist()
    columns = []
    for bit in range(32):
        reg = 1 << bit
        for _ in range(length):
            reg = (reg >> 8) ^ table[reg & 0xFF]
        columns.append(reg)
    tables = []
    for k in range(4):
        row = []
        for value in range(256):
            out = 0
            for i in range(8):
                if value >> i & 1:
                    out ^= columns[8 * k + i]
            row.append(out)
        tables.append(row)
    return tables


def crc32c(data: bytes | memoryview) -> int:
    """CRC-32C of `data`. The register is linear in (start value, bytes): equal chunks run side by side in numpy
    from a zero register, then are chained with the 'advance over a chunk of zeros' map."""
    table = _crc_table()
    buf = np.frombuffer(bytes(data), dtype=np.uint8)
    chunk = 1 << max(6, (len(buf).bit_length() + 1) // 2)  # about sqrt(n) lanes of about sqrt(n) bytes
    lanes = len(buf) // chunk
    reg = 0xFFFFFFFF
    if lanes:
        chunks = buf[: lanes * chunk].reshape(lanes, chunk).T.copy()
        partial = np.zeros(lanes, dtype=np.uint32)
        for column in chunks:
            partial = (partial >> 8) ^ table[(partial ^ column) & 0xFF]
        z0, z1, z2, z3 = _zeros_operator(chunk)
        for p in partial.tolist():
            reg = z0[reg & 0xFF] ^ z1[(reg >> 8) & 0xFF] ^ z2[(reg >> 16) & 0xFF] ^ z3[reg >> 24] ^ p
    t = table.tolist()
    for byte in buf[lanes * chunk :].tolist():
        reg = (reg >> 8) ^ t[(reg ^ byte) & 0xFF]
    return reg ^ 0xFFFFFFFF


def unmask_crc(masked: int) -> int:
    rot = (masked - 0xA282EAD8) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


# --- protobuf wire format: the few fields the bundle uses -------------------------------------------------


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise TFCheckpointError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) of a protobuf message: ints for varint/fixed fields, bytes for length-delimited."""
    out, pos = [], 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            (value,), pos = struct.unpack_from("<Q", buf, pos), pos + 8
        elif wire == 5:
            (value,), pos = struct.unpack_from("<I", buf, pos), pos + 4
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + length], pos + length
        else:
            raise TFCheckpointError(f"unsupported protobuf wire type {wire}")
        out.append((number, value))
    return out


def _entry(buf: bytes) -> dict:
    """BundleEntryProto: dtype=1, shape=2 (TensorShapeProto: dim=2 {size=1}), shard_id=3, offset=4, size=5,
    crc32c=6 (fixed32), slices=7."""
    entry = {"dtype": 0, "shape": [], "shard_id": 0, "offset": 0, "size": 0, "crc32c": None, "sliced": False}
    for number, value in _fields(buf):
        if number == 1:
            entry["dtype"] = value
        elif number == 2:
            for dim_number, dim in _fields(value):
                if dim_number == 2:
                    entry["shape"].append(next((v for n, v in _fields(dim) if n == 1), 0))
        elif number in (3, 4, 5):
            entry[{3: "shard_id", 4: "offset", 5: "size"}[number]] = value
        elif number == 6:
            entry["crc32c"] = value
        elif number == 7:
            entry["sliced"] = True
    return entry


# --- the LevelDB table of the .index file -----------------------------------------------------------------


def _block(file: bytes, offset: int, size: int, name: str) -> bytes:
    """The contents of the block at (offset, size), checked against its trailer (type byte + masked crc32c)."""
    if offset + size + 5 > len(file):
        raise TFCheckpointError(f"{name} is truncated (a block ends at byte {offset + size + 5} of {len(file)})")
    contents = file[offset : offset + size]
    kind = file[offset + size]
    (masked,) = struct.unpack_from("<I", file, offset + size + 1)
    if unmask_crc(masked) != crc32c(file[offset : offset + size + 1]):
        raise TFCheckpointError(f"{name} is damaged (checksum mismatch in the block at byte {offset})")
    if kind != 0:
        raise TFCheckpointError(f"{name}: compressed table blocks (type {kind}) are not supported")
    return contents


def _block_entries(block: bytes, name: str) -> list[tuple[bytes, bytes]]:
    """Key/value pairs of a table block; keys share a prefix with the previous key (reset at restart points)."""
    (num_restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    end = len(block) - 4 - 4 * num_restarts
    entries, pos, key = [], 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        value_length, pos = _varint(block, pos)
        if shared > len(key) or pos + unshared + value_length > end:
            raise TFCheckpointError(f"{name} is damaged (bad entry in a table block)")
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        entries.append((key, block[pos : pos + value_length]))
        pos += value_length
    return entries


def _handle(buf: bytes, pos: int = 0) -> tuple[int, int, int]:
    offset, pos = _varint(buf, pos)
    size, pos = _varint(buf, pos)
    return offset, size, pos


def read_index(index_path: str | PathLike) -> tuple[dict, dict[str, dict]]:
    """(header fields, {variable name: entry}) of a bundle's `.index` file."""
    path = Path(index_path)
    file = path.read_bytes()
    if len(file) < _FOOTER_SIZE:
        raise TFCheckpointError(f"{path} is truncated ({len(file)} bytes): not a TensorFlow checkpoint index")
    footer = file[-_FOOTER_SIZE:]
    if struct.unpack_from("<Q", footer, 40)[0] != _TABLE_MAGIC:
        raise TFCheckpointError(f"{path} is not a TensorFlow checkpoint index (or is truncated): no table footer")
    _meta_offset, _meta_size, pos = _handle(footer)
    index_offset, index_size, _ = _handle(footer, pos)
    records: dict[bytes, bytes] = {}
    for _separator, handle in _block_entries(_block(file, index_offset, index_size, str(path)), str(path)):
        offset, size, _ = _handle(handle)
        records.update(_block_entries(_block(file, offset, size, str(path)), str(path)))
    if b"" not in records:
        raise TFCheckpointError(f"{path} has no bundle header: not a TensorFlow checkpoint index")
    header_fields = dict(_fields(records.pop(b"")))
    header = {"num_shards": header_fields.get(1, 1), "endianness": header_fields.get(2, 0)}
    if header["endianness"] != 0:
        raise TFCheckpointError(f"{path}: big-endian checkpoints are not supported")
    return header, {key.decode(): _entry(value) for key, value in records.items()}


# --- the checkpoint ---------------------------------------------------------------------------------------


def checkpoint_prefix(path: str | PathLike) -> Path:
    """The bundle prefix of a checkpoint folder (its `checkpoint` file names the latest) or of a prefix path."""
    path = Path(path)
    if path.is_dir():
        state = path / "checkpoint"
        if not state.is_file():
            raise TFCheckpointError(
                f"{path} has no 'checkpoint' file: give the folder tf.train.Saver wrote into "
                f"(it holds checkpoint, <name>.index, <name>.data-…) or the prefix <folder>/<name>"
            )
        match = re.search(r'^model_checkpoint_path:\s*"(.*)"\s*$', state.read_text(), re.MULTILINE)
        if not match:
            raise TFCheckpointError(f"{state} names no model_checkpoint_path")
        named = Path(match[1])
        # Paths are relative to the folder, or absolute where the checkpoint was written (perhaps elsewhere).
        candidates = [named] if named.is_absolute() else []
        candidates += [path / named, path / named.name]
        found = next((c for c in candidates if c.with_name(c.name + ".index").is_file()), None)
        if found is None:
            raise TFCheckpointError(f"{state} names {match[1]!r}, but there is no {named.name}.index in {path}")
        return found
    if path.name.endswith(".index"):
        path = path.with_name(path.name[: -len(".index")])
    elif ".data-" in path.name:
        path = path.with_name(path.name.split(".data-")[0])
    if not path.with_name(path.name + ".index").is_file():
        raise TFCheckpointError(f"{path}: no {path.name}.index there (neither a checkpoint folder nor a prefix)")
    return path


def read_tf_checkpoint(path: str | PathLike, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """The arrays of a TensorFlow checkpoint (folder or prefix); only `names` when given (others unread)."""
    prefix = checkpoint_prefix(path)
    header, entries = read_index(prefix.with_name(prefix.name + ".index"))
    if names is not None:
        entries = {k: entries[k] for k in names if k in entries}
    shards: dict[int, bytes] = {}
    arrays = {}
    for name, entry in entries.items():
        if entry["sliced"]:
            raise TFCheckpointError(f"{prefix}: {name} is saved in slices (partitioned), which is not supported")
        dtype = _DTYPES.get(entry["dtype"])
        if dtype is None:
            raise TFCheckpointError(f"{prefix}: {name} has TensorFlow dtype {entry['dtype']}, not supported")
        shard = entry["shard_id"]
        if shard not in shards:
            data = prefix.with_name(f"{prefix.name}.data-{shard:05d}-of-{header['num_shards']:05d}")
            if not data.is_file():
                raise TFCheckpointError(f"{prefix}: the data file {data.name} is missing")
            shards[shard] = data.read_bytes()
        data = shards[shard]
        start, size = entry["offset"], entry["size"]
        if start + size > len(data):
            raise TFCheckpointError(
                f"{prefix}: the data file is truncated ({name} needs bytes {start}–{start + size}, "
                f"the file has {len(data)})"
            )
        raw = data[start : start + size]
        if entry["crc32c"] is not None and unmask_crc(entry["crc32c"]) != crc32c(raw):
            raise TFCheckpointError(f"{prefix}: {name} is damaged (checksum mismatch)")
        count = int(np.prod(entry["shape"], dtype=np.int64))
        if count * np.dtype(dtype).itemsize != size:
            raise TFCheckpointError(f"{prefix}: {name} has {size} bytes for shape {entry['shape']}")
        arrays[name] = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).reshape(entry["shape"]).copy()
    return arrays


def tf_checkpoint_shapes(path: str | PathLike) -> dict[str, list[int]]:
    """Variable name → shape, from the index alone."""
    prefix = checkpoint_prefix(path)
    _header, entries = read_index(prefix.with_name(prefix.name + ".index"))
    return {name: entry["shape"] for name, entry in entries.items()}
