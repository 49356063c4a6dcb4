"""The on-disk trace format: access records, the initial memory image they need, and metadata.

A trace file is little-endian and has five parts::

    header   64 bytes   magic b"ACGTRACE", version (u32 = 1), reserved (u32 = 0),
                        record count (u64), image block count (u64), metadata bytes (u64),
                        CRC-32 of everything after the header (u32), 20 zero bytes
    records  12 bytes each: address (u32, byte address), value (u32, the stored word's bits;
                        0 for loads), gap (u16, idle cycles before the access), op (u8: 0 load,
                        1 store), flags (u8: bit 0 = warm-up, not measured; bit 1 = head
                        stratum of a sampled loop, see :mod:`.sampling`)
    blocks   u64 each: byte addresses of the image blocks, strictly increasing, multiples of 64
    data     64 bytes per block: the block's contents before the first access
    metadata UTF-8 JSON object (``format``, ``word_format``, ``word_bytes``, ``ops``, ...)

Memory the image does not list reads as zero. Blocks are 64 bytes so that one trace serves
any cache line of 4 to 64 bytes. Records are written as they are generated (never the whole
trace in memory); the counts and the CRC are patched into the header at the end and the file
is renamed into place only when complete. :class:`TraceReader` checks every field and raises
:class:`TraceFormatError` naming the file and what is wrong.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["BLOCK_BYTES", "HEAD", "LOAD", "RECORD_DTYPE", "STORE", "WARMUP",
           "TraceFormatError", "TraceReader", "TraceWriter"]

MAGIC = b"ACGTRACE"
VERSION = 1
HEADER = struct.Struct("<8sIIQQQI20x")
BLOCK_BYTES = 64
LOAD, STORE = 0, 1
WARMUP = 1
HEAD = 2
RECORD_DTYPE = np.dtype([("address", "<u4"), ("value", "<u4"), ("gap", "<u2"), ("op", "u1"),
                         ("flags", "u1")])
REQUIRED_METADATA = {"format": str, "word_format": str, "word_bytes": int, "ops": list}
OP_FIELDS = {"name": str, "kind": str, "layer": str, "first": int, "count": int,
             "measured": int, "full_accesses": int, "head_measured": int,
             "head_full_accesses": int}


class TraceFormatError(ValueError):
    """A trace file that cannot be read: the message names the file and the problem."""


class TraceWriter:
    """Streams records into ``path``; call :meth:`close` with the image and metadata.

    Use as a context manager: on an exception the partial file is removed and ``path`` is
    left untouched.
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        self._tmp = Path(tmp)
        self._file = os.fdopen(fd, "w+b")
        self._file.write(bytes(HEADER.size))
        self._crc = 0
        self.records = 0

    def _write(self, data: bytes | memoryview) -> None:
        self._crc = zlib.crc32(data, self._crc)
        self._file.write(data)

    def write_records(self, records: np.ndarray) -> None:
        if records.dtype != RECORD_DTYPE:
            raise TypeError(f"records: must have dtype {RECORD_DTYPE}, got {records.dtype}")
        self._write(memoryview(np.ascontiguousarray(records)).cast("B"))
        self.records += len(records)

    def close(self, blocks: dict[int, bytes], metadata: dict[str, Any]) -> Path:
        addresses = np.array(sorted(blocks), dtype="<u8")
        self._write(addresses.tobytes())
        for address in addresses.tolist():
            data = blocks[address]
            if len(data) != BLOCK_BYTES:
                raise ValueError(f"blocks: block {address:#x} has {len(data)} bytes")
            self._write(data)
        text = json.dumps(metadata, sort_keys=True).encode()
        self._write(text)
        self._file.seek(0)
        self._file.write(HEADER.pack(MAGIC, VERSION, 0, self.records, len(addresses), len(text),
                                     self._crc))
        self._file.close()
        os.chmod(self._tmp, 0o644)
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        self._file.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is not None or not self._file.closed:
            self.abort()


class TraceReader:
    """A checked trace file: ``metadata``, ``records`` (a read-only memory map) and the image.

    ``verify_crc=False`` skips the checksum (it reads the whole file once).
    """

    def __init__(self, path: Path | str, *, verify_crc: bool = True):
        self.path = Path(path)
        try:
            size = self.path.stat().st_size
            with open(self.path, "rb") as handle:
                head = handle.read(HEADER.size)
        except OSError as error:
            raise TraceFormatError(f"trace file {self.path}: cannot read it: "
                                   f"{error.strerror}") from None
        if len(head) < HEADER.size:
            self._fail(f"{size} bytes is shorter than the {HEADER.size}-byte header")
        magic, version, reserved, records, blocks, meta_bytes, crc = HEADER.unpack(head)
        if magic != MAGIC:
            self._fail(f"not a trace file (magic {magic!r}, expected {MAGIC!r})")
        if version != VERSION:
            self._fail(f"format version {version} is not supported (this reader reads "
                       f"version {VERSION})")
        if reserved:
            self._fail(f"reserved header field is {reserved}, must be 0")
        self._records_at = HEADER.size
        self._blocks_at = self._records_at + RECORD_DTYPE.itemsize * records
        self._data_at = self._blocks_at + 8 * blocks
        self._meta_at = self._data_at + BLOCK_BYTES * blocks
        expected = self._meta_at + meta_bytes
        if size != expected:
            self._fail(f"{size} bytes, but the header's counts ({records} records, {blocks} "
                       f"image blocks, {meta_bytes} metadata bytes) need {expected}: truncated "
                       "or corrupt")
        if verify_crc and self._crc() != crc:
            self._fail("checksum mismatch: the file is corrupt")
        with open(self.path, "rb") as handle:
            handle.seek(self._meta_at)
            text = handle.read(meta_bytes)
        try:
            metadata = json.loads(text.decode())
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            self._fail(f"metadata is not valid JSON: {error}")
        self.metadata: dict[str, Any] = metadata
        self._check_metadata(records)
        self.record_count = records
        self.block_count = blocks
        self.records = (np.memmap(self.path, dtype=RECORD_DTYPE, mode="r",
                                  offset=self._records_at, shape=(records,))
                        if records else np.zeros(0, dtype=RECORD_DTYPE))
        self._check_records()
        self._check_blocks()

    def _fail(self, problem: str) -> None:
        raise TraceFormatError(f"trace file {self.path}: {problem}")

    def _crc(self) -> int:
        crc = 0
        with open(self.path, "rb") as handle:
            handle.seek(HEADER.size)
            while chunk := handle.read(1 << 22):
                crc = zlib.crc32(chunk, crc)
        return crc

    def _check_metadata(self, records: int) -> None:
        meta = self.metadata
        if not isinstance(meta, dict):
            self._fail("metadata must be a JSON object")
        for key, kind in REQUIRED_METADATA.items():
            if key not in meta:
                self._fail(f"metadata: missing {key!r}")
            if not isinstance(meta[key], kind) or isinstance(meta[key], bool):
                self._fail(f"metadata: {key!r} must be a {kind.__name__}, got {meta[key]!r}")
        if meta["word_bytes"] not in (1, 2, 4):
            self._fail(f"metadata: word_bytes must be 1, 2 or 4, got {meta['word_bytes']}")
        position = 0
        for number, op in enumerate(meta["ops"]):
            if not isinstance(op, dict):
                self._fail(f"metadata: ops[{number}] must be an object")
            for key, kind in OP_FIELDS.items():
                if not isinstance(op.get(key), kind) or isinstance(op.get(key), bool):
                    self._fail(f"metadata: ops[{number}].{key} must be a {kind.__name__}, got "
                               f"{op.get(key)!r}")
            if op["first"] != position or op["count"] < 0:
                self._fail(f"metadata: ops[{number}] ({op['name']}) covers records "
                           f"{op['first']}..+{op['count']}, expected to start at {position}")
            if not 0 <= op["measured"] <= op["count"]:
                self._fail(f"metadata: ops[{number}] ({op['name']}) measures {op['measured']} "
                           f"of {op['count']} records")
            if not 0 <= op["head_measured"] <= op["measured"] \
                    or not 0 <= op["head_full_accesses"] <= op["full_accesses"]:
                self._fail(f"metadata: ops[{number}] ({op['name']}) has an impossible head "
                           f"stratum ({op['head_measured']} of {op['measured']} measured, "
                           f"{op['head_full_accesses']} of {op['full_accesses']} accesses)")
            position += op["count"]
        if position != records:
            self._fail(f"metadata: ops cover {position} records, the file holds {records}")

    def _check_records(self) -> None:
        word = self.metadata["word_bytes"]
        for start in range(0, self.record_count, 1 << 22):
            chunk = self.records[start:start + (1 << 22)]
            bad = np.flatnonzero(chunk["op"] > STORE)
            if bad.size:
                self._fail(f"record {start + bad[0]}: op {chunk['op'][bad[0]]} is neither 0 "
                           "(load) nor 1 (store)")
            bad = np.flatnonzero(chunk["flags"] & ~np.uint8(WARMUP | HEAD))
            if bad.size:
                self._fail(f"record {start + bad[0]}: unknown flag bits "
                           f"{chunk['flags'][bad[0]]:#x}")
            bad = np.flatnonzero(chunk["address"] % word)
            if bad.size:
                self._fail(f"record {start + bad[0]}: address {chunk['address'][bad[0]]:#x} is "
                           f"not {word}-byte aligned")
            bad = np.flatnonzero((chunk["op"] == LOAD) & (chunk["value"] != 0))
            if bad.size:
                self._fail(f"record {start + bad[0]}: a load carries value "
                           f"{chunk['value'][bad[0]]:#x}")
            if word < 4:
                bad = np.flatnonzero(chunk["value"] >> np.uint32(8 * word))
                if bad.size:
                    self._fail(f"record {start + bad[0]}: value does not fit {word} bytes")
            bad = np.flatnonzero(((chunk["flags"] & WARMUP) != 0) & ((chunk["flags"] & HEAD) != 0))
            if bad.size:
                self._fail(f"record {start + bad[0]}: flagged both warm-up and head")
        for op in self.metadata["ops"]:
            flags = self.records[op["first"]:op["first"] + op["count"]]["flags"]
            measured = int(np.count_nonzero((flags & WARMUP) == 0))
            head = int(np.count_nonzero(flags & HEAD))
            if (measured, head) != (op["measured"], op["head_measured"]):
                self._fail(f"metadata: op {op['name']} says {op['measured']} measured records "
                           f"({op['head_measured']} head), the records have {measured} "
                           f"({head})")

    def block_addresses(self) -> np.ndarray:
        return np.fromfile(self.path, dtype="<u8", count=self.block_count,
                           offset=self._blocks_at)

    def _check_blocks(self) -> None:
        addresses = self.block_addresses()
        if addresses.size and np.any(addresses % BLOCK_BYTES):
            self._fail(f"image block address {addresses[addresses % BLOCK_BYTES != 0][0]:#x} "
                       f"is not a multiple of {BLOCK_BYTES}")
        if addresses.size > 1 and np.any(addresses[1:] <= addresses[:-1]):
            self._fail("image block addresses are not strictly increasing")
        if addresses.size and addresses[-1] >= 1 << 32:
            self._fail(f"image block address {addresses[-1]:#x} is beyond 32 bits")

    def image(self) -> dict[int, bytes]:
        """Block address -> its 64 bytes."""
        data = np.fromfile(self.path, dtype=np.uint8, count=BLOCK_BYTES * self.block_count,
                           offset=self._data_at).reshape(-1, BLOCK_BYTES)
        return {int(a): data[i].tobytes() for i, a in enumerate(self.block_addresses())}

    def line_image(self, line_bytes: int) -> dict[int, bytes]:
        """Line address (byte address / ``line_bytes``) -> contents, for non-zero lines."""
        if line_bytes < 1 or line_bytes & (line_bytes - 1) or line_bytes > BLOCK_BYTES:
            raise ValueError(f"line_bytes: traces hold their image in {BLOCK_BYTES}-byte "
                             f"blocks; a line must be a power of two up to {BLOCK_BYTES} "
                             f"bytes, got {line_bytes}")
        zero = bytes(line_bytes)
        lines = {}
        for address, data in self.image().items():
            for offset in range(0, BLOCK_BYTES, line_bytes):
                piece = data[offset:offset + line_bytes]
                if piece != zero:
                    lines[(address + offset) // line_bytes] = piece
        return lines

    def chunks(self, first: int = 0, count: int | None = None, size: int = 1 << 16
               ) -> Iterator[np.ndarray]:
        """Records ``first .. first + count - 1`` in chunks of at most ``size``."""
        stop = self.record_count if count is None else first + count
        for start in range(first, stop, size):
            yield np.asarray(self.records[start:min(stop, start + size)])
