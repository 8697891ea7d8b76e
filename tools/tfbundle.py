"""Read TensorFlow 1 tensor-bundle checkpoints with numpy alone.

A checkpoint saved as ``PREFIX`` is two files: ``PREFIX.index``, an SSTable (the LevelDB
table format) mapping each tensor name to a ``BundleEntryProto``, and
``PREFIX.data-00000-of-00001``, the raw little-endian tensor bytes those entries point at.
The musicnn wheel saves with an empty prefix, so its files are dotfiles literally named
``.index`` and ``.data-00000-of-00001``.

What is implemented, from the format's public definitions (``tensorflow/core/lib/io/table``,
``format.h``, ``tensor_bundle.proto``):

- the 48-byte footer (two block handles, magic ``0xdb4775248b80fb57``);
- block trailers (a compression byte and a masked CRC32C, checked on every block read);
- prefix-compressed keys;
- hand-decoded protobuf for ``BundleEntryProto`` (dtype, shape, shard, offset, size, crc32c);
- tensors read through ``np.memmap``, each optionally checked against its masked CRC32C.

Compressed blocks (snappy) and sliced or multi-shard tensors are rejected: the checkpoints
this project reads use neither.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

# LevelDB/TF table footer: two BlockHandles padded to 40 bytes, then a fixed64 magic.
_FOOTER_SIZE: Final = 48
_TABLE_MAGIC: Final = 0xDB4775248B80FB57
# A block is followed by a 1-byte compression type and a 4-byte masked CRC32C.
_BLOCK_TRAILER_SIZE: Final = 5
_NO_COMPRESSION: Final = 0
# Masking constant of LevelDB's crc32c::Mask (a CRC stored next to the data it covers).
_CRC_MASK_DELTA: Final = 0xA282EAD8
# Castagnoli polynomial, reflected.
_CRC32C_POLY: Final = 0x82F63B78

# tensorflow/core/framework/types.proto DataType -> numpy dtype (little-endian).
_DTYPES: Final[dict[int, np.dtype[np.generic]]] = {
    1: np.dtype("<f4"),  # DT_FLOAT
    2: np.dtype("<f8"),  # DT_DOUBLE
    3: np.dtype("<i4"),  # DT_INT32
    4: np.dtype("u1"),  # DT_UINT8
    5: np.dtype("<i2"),  # DT_INT16
    6: np.dtype("i1"),  # DT_INT8
    9: np.dtype("<i8"),  # DT_INT64
    10: np.dtype("?"),  # DT_BOOL
    17: np.dtype("<u2"),  # DT_UINT16
    19: np.dtype("<f2"),  # DT_HALF
    22: np.dtype("<u4"),  # DT_UINT32
    23: np.dtype("<u8"),  # DT_UINT64
}


class CheckpointError(Exception):
    """The checkpoint is malformed, corrupt, or uses a feature this reader does not support."""


def _make_crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _CRC32C_POLY if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE: Final = _make_crc_table()
# The vectorised CRC runs up to this many stripes side by side (one numpy step per byte
# column), each at least this long so that joining them costs less than it saves.
_CRC_MAX_LANES: Final = 4096
_CRC_MIN_STRIPE: Final = 64


def _crc32c_bytewise(data: bytes | memoryview, crc: int = 0) -> int:
    crc ^= 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in bytes(data):
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _gf2_matrix_times(matrix: Sequence[int], vector: int) -> int:
    result = 0
    row = 0
    while vector:
        if vector & 1:
            result ^= matrix[row]
        vector >>= 1
        row += 1
    return result


def _gf2_matrix_square(matrix: Sequence[int]) -> list[int]:
    return [_gf2_matrix_times(matrix, matrix[n]) for n in range(32)]


@functools.lru_cache(maxsize=64)
def _zeros_operator(length: int) -> tuple[tuple[int, ...], ...]:
    """Byte tables advancing a raw CRC register over ``length`` zero bytes.

    The GF(2) matrix is built by repeated squaring as in zlib's ``crc32_combine``, then
    tabulated per register byte so that applying it costs four look-ups.
    """
    one_bit = [_CRC32C_POLY] + [1 << n for n in range(31)]
    power: Sequence[int] = one_bit
    for _ in range(3):
        power = _gf2_matrix_square(power)
    matrix = [1 << n for n in range(32)]  # identity; column n is the image of bit n
    while length:
        if length & 1:
            matrix = [_gf2_matrix_times(power, column) for column in matrix]
        length >>= 1
        if length:
            power = _gf2_matrix_square(power)
    return tuple(
        tuple(_gf2_matrix_times(matrix, byte << (8 * shift)) for byte in range(256))
        for shift in range(4)
    )


def crc32c(data: bytes | memoryview | npt.NDArray[np.uint8]) -> int:
    """CRC32C (Castagnoli) of ``data``, as LevelDB and TensorFlow compute it.

    Long inputs are cut into up to ``_CRC_MAX_LANES`` equal stripes whose CRCs advance
    together, one byte column per numpy step; the stripe CRCs are then joined with the zlib
    ``crc32_combine`` shift. A pure-Python byte loop takes about 0.4 s per 3 MB, this 0.03 s,
    which makes checking every tensor on read the cheap default.
    """
    buffer = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data
    lanes = min(_CRC_MAX_LANES, len(buffer) // _CRC_MIN_STRIPE)
    if lanes < 2:
        return _crc32c_bytewise(buffer.tobytes())
    stripe = len(buffer) // lanes
    table = np.array(_CRC_TABLE, dtype=np.uint32)
    columns = buffer[: stripe * lanes].reshape(lanes, stripe)
    # Raw registers: the first stripe starts from the CRC's initial ~0, the others from 0 so
    # that each is the plain polynomial remainder of its own bytes.
    registers = np.zeros(lanes, dtype=np.uint32)
    registers[0] = 0xFFFFFFFF
    for column in range(stripe):
        registers = table[(registers ^ columns[:, column]) & 0xFF] ^ (registers >> 8)
    t0, t1, t2, t3 = _zeros_operator(stripe)
    crc = int(registers[0])
    for register in registers[1:].tolist():
        crc = t0[crc & 0xFF] ^ t1[(crc >> 8) & 0xFF] ^ t2[(crc >> 16) & 0xFF] ^ t3[crc >> 24]
        crc ^= register
    crc ^= 0xFFFFFFFF
    tail = buffer[stripe * lanes :].tobytes()
    return _crc32c_bytewise(tail, crc) if tail else crc


def mask_crc(crc: int) -> int:
    """LevelDB's masked form of a CRC, as stored in block trailers and bundle entries."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _CRC_MASK_DELTA) & 0xFFFFFFFF


def _varint(buffer: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buffer):
            raise CheckpointError("truncated varint")
        byte = buffer[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise CheckpointError("varint longer than 64 bits")


def _proto_fields(message: bytes) -> Iterator[tuple[int, int | bytes]]:
    """Yield ``(field number, value)`` of a protobuf message; wire types 0, 1, 2 and 5."""
    pos = 0
    while pos < len(message):
        tag, pos = _varint(message, pos)
        number, wire_type = tag >> 3, tag & 7
        value: int | bytes
        if wire_type == 0:
            value, pos = _varint(message, pos)
        elif wire_type == 1:
            (value,) = struct.unpack_from("<Q", message, pos)
            pos += 8
        elif wire_type == 2:
            length, pos = _varint(message, pos)
            value = message[pos : pos + length]
            pos += length
        elif wire_type == 5:
            (value,) = struct.unpack_from("<I", message, pos)
            pos += 4
        else:
            raise CheckpointError(f"unsupported protobuf wire type {wire_type}")
        if pos > len(message):
            raise CheckpointError("truncated protobuf message")
        yield number, value


@dataclass(frozen=True)
class BundleEntry:
    """Where one tensor lives in the data file (a decoded ``BundleEntryProto``)."""

    name: str
    dtype: np.dtype[np.generic]
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    #: Masked CRC32C of the tensor's bytes.
    crc32c: int


def _decode_shape(message: bytes) -> tuple[int, ...]:
    dims = []
    for number, value in _proto_fields(message):
        if number == 2 and isinstance(value, bytes):  # TensorShapeProto.dim
            size = 0
            for dim_number, dim_value in _proto_fields(value):
                if dim_number == 1 and isinstance(dim_value, int):  # Dim.size
                    size = dim_value
            dims.append(size)
        elif number == 3 and value:  # unknown_rank
            raise CheckpointError("tensor of unknown rank")
    return tuple(dims)


def _decode_entry(name: str, message: bytes) -> BundleEntry:
    dtype_code = 0
    shape: tuple[int, ...] = ()
    fields = {"shard_id": 0, "offset": 0, "size": 0, "crc32c": 0}
    for number, value in _proto_fields(message):
        if number == 1 and isinstance(value, int):
            dtype_code = value
        elif number == 2 and isinstance(value, bytes):
            shape = _decode_shape(value)
        elif number in (3, 4, 5, 6) and isinstance(value, int):
            fields[("shard_id", "offset", "size", "crc32c")[number - 3]] = value
        elif number == 7:
            raise CheckpointError(f"{name}: sliced tensors are not supported")
    if dtype_code not in _DTYPES:
        raise CheckpointError(f"{name}: unsupported dtype code {dtype_code}")
    dtype = _DTYPES[dtype_code]
    entry = BundleEntry(name=name, dtype=dtype, shape=shape, **fields)
    if int(np.prod(shape, dtype=np.int64)) * dtype.itemsize != entry.size:
        raise CheckpointError(f"{name}: size {entry.size} does not match shape {shape}")
    return entry


def _read_block(table: bytes, offset: int, size: int) -> bytes:
    end = offset + size + _BLOCK_TRAILER_SIZE
    if end > len(table):
        raise CheckpointError("block runs past the end of the index file")
    contents = table[offset : offset + size]
    compression = table[offset + size]
    (stored_crc,) = struct.unpack_from("<I", table, offset + size + 1)
    # The trailer CRC covers the block contents and the compression byte.
    if mask_crc(crc32c(table[offset : offset + size + 1])) != stored_crc:
        raise CheckpointError(f"block at offset {offset}: CRC32C mismatch (corrupt index)")
    if compression != _NO_COMPRESSION:
        raise CheckpointError(f"block at offset {offset}: compression {compression} unsupported")
    return contents


def _block_entries(block: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Yield ``(key, value)`` of a block; keys share a prefix with the previous key."""
    if len(block) < 4:
        raise CheckpointError("block too short")
    (num_restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    entries_end = len(block) - 4 * (num_restarts + 1)
    if entries_end < 0:
        raise CheckpointError("bad restart count in block")
    pos = 0
    key = b""
    while pos < entries_end:
        shared, pos = _varint(block, pos)
        non_shared, pos = _varint(block, pos)
        value_length, pos = _varint(block, pos)
        if shared > len(key) or pos + non_shared + value_length > entries_end:
            raise CheckpointError("bad block entry")
        key = key[:shared] + block[pos : pos + non_shared]
        pos += non_shared
        yield key, block[pos : pos + value_length]
        pos += value_length


class TensorBundle:
    """A TF1 checkpoint opened for reading.

    Parameters
    ----------
    prefix
        The checkpoint prefix: ``DIR/model.ckpt`` for ``DIR/model.ckpt.index``; for the
        musicnn wheel the model directory plus a trailing separator (``"…/MTT_musicnn/"``),
        since its files are named ``.index`` and ``.data-00000-of-00001``.

    Raises
    ------
    CheckpointError
        The index is missing, corrupt (footer magic, block CRC) or uses unsupported features.
    """

    def __init__(self, prefix: str | Path) -> None:
        self.prefix = str(prefix)
        index_path = Path(self.prefix + ".index")
        try:
            table = index_path.read_bytes()
        except OSError as exc:
            raise CheckpointError(f"{index_path}: {exc.strerror or exc}") from exc
        self.entries: dict[str, BundleEntry] = {}
        self.num_shards = 1
        for key, value in self._table_items(table):
            if key == b"":  # the BundleHeaderProto
                for number, field in _proto_fields(value):
                    if number == 1 and isinstance(field, int):
                        self.num_shards = field
                    elif number == 2 and field:
                        raise CheckpointError(f"{index_path}: big-endian checkpoint")
                continue
            name = key.decode("utf-8")
            self.entries[name] = _decode_entry(name, value)
        if self.num_shards != 1:
            raise CheckpointError(f"{index_path}: {self.num_shards} shards, only 1 supported")
        self._data: np.memmap[tuple[int], np.dtype[np.uint8]] | None = None

    @staticmethod
    def _table_items(table: bytes) -> Iterator[tuple[bytes, bytes]]:
        if len(table) < _FOOTER_SIZE:
            raise CheckpointError("index file shorter than its footer")
        footer = table[-_FOOTER_SIZE:]
        (magic,) = struct.unpack_from("<Q", footer, _FOOTER_SIZE - 8)
        if magic != _TABLE_MAGIC:
            raise CheckpointError("not a TF checkpoint index (bad footer magic)")
        _meta_offset, pos = _varint(footer, 0)
        _meta_size, pos = _varint(footer, pos)
        index_offset, pos = _varint(footer, pos)
        index_size, pos = _varint(footer, pos)
        index_block = _read_block(table, index_offset, index_size)
        for _last_key, handle in _block_entries(index_block):
            block_offset, handle_pos = _varint(handle, 0)
            block_size, _ = _varint(handle, handle_pos)
            yield from _block_entries(_read_block(table, block_offset, block_size))

    @property
    def data_path(self) -> Path:
        """The single data shard."""
        return Path(f"{self.prefix}.data-00000-of-{self.num_shards:05d}")

    def _data_file(self) -> np.memmap[tuple[int], np.dtype[np.uint8]]:
        if self._data is None:
            try:
                self._data = np.memmap(self.data_path, dtype=np.uint8, mode="r")
            except OSError as exc:
                raise CheckpointError(f"{self.data_path}: {exc.strerror or exc}") from exc
        return self._data

    def read(self, name: str, *, verify: bool = True) -> npt.NDArray[np.generic]:
        """Read one tensor into memory.

        Parameters
        ----------
        name
            The variable name, e.g. ``"conv2d/kernel"``.
        verify
            Check the tensor bytes against the CRC32C stored in its entry.

        Returns
        -------
        numpy.ndarray
            A copy, with the entry's dtype and shape (TF layout, e.g. HWIO for conv kernels).

        Raises
        ------
        KeyError
            No tensor of that name.
        CheckpointError
            The data file is too short or the tensor fails its CRC check.
        """
        entry = self.entries[name]
        data = self._data_file()
        if entry.offset + entry.size > len(data):
            raise CheckpointError(f"{name}: runs past the end of {self.data_path}")
        raw = np.asarray(data[entry.offset : entry.offset + entry.size])
        if verify and mask_crc(crc32c(raw)) != entry.crc32c:
            raise CheckpointError(f"{name}: CRC32C mismatch in {self.data_path}")
        return np.array(raw).view(entry.dtype).reshape(entry.shape)
