"""Main memory behind SparseCache, by whole lines; lines never written read as zeros.

Lines are stored sparsely (a dict), so a 32-bit address space costs only the lines a trace
touches. Words are little-endian, as in the zero detector.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

__all__ = ["LineMemory"]


class LineMemory:
    """``2**line_address_bits`` lines of ``line_bytes`` bytes, zero until written."""

    def __init__(self, line_bytes: int, line_address_bits: int,
                 image: Mapping[int, bytes] | None = None):
        self._line_bytes = line_bytes
        self._lines_total = 1 << line_address_bits
        self._zero = bytes(line_bytes)
        self._lines: dict[int, bytes] = {}
        for line, data in (image or {}).items():
            self.write_line(line, data)

    @property
    def line_bytes(self) -> int:
        return self._line_bytes

    def _check(self, line: int) -> None:
        if not 0 <= line < self._lines_total:
            raise ValueError(f"line: {line:#x} is outside the {self._lines_total}-line memory")

    def read_line(self, line: int) -> bytes:
        self._check(line)
        return self._lines.get(line, self._zero)

    def write_line(self, line: int, data: bytes) -> None:
        self._check(line)
        data = bytes(data)
        if len(data) != self._line_bytes:
            raise ValueError(f"data: a line is {self._line_bytes} bytes, got {len(data)}")
        if data == self._zero:
            self._lines.pop(line, None)
        else:
            self._lines[line] = data

    def nonzero_lines(self) -> Iterator[int]:
        """Addresses of the lines holding any non-zero byte, in ascending order."""
        return iter(sorted(self._lines))

    def copy(self) -> LineMemory:
        twin = LineMemory(self._line_bytes, self._lines_total.bit_length() - 1)
        twin._lines = dict(self._lines)
        return twin
