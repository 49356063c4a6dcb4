"""Pack and unpack stream payloads from the layout a design's JSON description gives."""

from __future__ import annotations

from typing import Any

__all__ = ["PayloadCodec"]


class PayloadCodec:
    """Converts between a payload's bit vector and nested Python values.

    Structs are dicts by field name, arrays are lists, integers are Python ints (negative for
    signed fields) and enums are member names. Packing rejects values that do not fit, so a
    testbench bug cannot silently truncate an operand.
    """

    def __init__(self, layout: dict[str, Any]):
        self._layout = layout

    @property
    def width(self) -> int:
        return self._layout["width"]

    def pack(self, value: Any) -> int:
        return _pack(self._layout, value, "payload")

    def unpack(self, bits: int) -> Any:
        return _unpack(self._layout, bits)


def _pack(layout: dict[str, Any], value: Any, where: str) -> int:
    kind = layout["kind"]
    if kind == "struct":
        unknown = set(value) - {f["name"] for f in layout["fields"]}
        if unknown:
            raise KeyError(f"{where}: no field named {sorted(unknown)[0]!r}")
        bits = 0
        for field in layout["fields"]:
            sub = value.get(field["name"], _zero(field))
            bits |= _pack(field, sub, f"{where}.{field['name']}") << field["offset"]
        return bits
    if kind == "array":
        if len(value) != layout["length"]:
            raise ValueError(f"{where}: expected {layout['length']} elements, got {len(value)}")
        element = layout["element"]
        bits = 0
        for index, item in enumerate(value):
            bits |= _pack(element, item, f"{where}[{index}]") << (index * element["width"])
        return bits
    if kind == "enum" and isinstance(value, str):
        value = layout["members"][value]
    value = int(value)
    width = layout["width"]
    if layout["signed"]:
        lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    else:
        lo, hi = 0, (1 << width) - 1
    if not lo <= value <= hi:
        raise ValueError(f"{where}: {value} does not fit [{lo}, {hi}]")
    return value & ((1 << width) - 1)


def _zero(layout: dict[str, Any]) -> Any:
    if layout["kind"] == "struct":
        return {}
    if layout["kind"] == "array":
        return [_zero(layout["element"])] * layout["length"]
    return 0


def _unpack(layout: dict[str, Any], bits: int) -> Any:
    kind = layout["kind"]
    if kind == "struct":
        return {f["name"]: _unpack(f, bits >> f["offset"]) for f in layout["fields"]}
    if kind == "array":
        element = layout["element"]
        step = element["width"]
        return [_unpack(element, bits >> (i * step)) for i in range(layout["length"])]
    width = layout["width"]
    value = bits & ((1 << width) - 1)
    if layout["signed"] and value >> (width - 1):
        value -= 1 << width
    if kind == "enum":
        names = {v: k for k, v in layout["members"].items()}
        return names.get(value, value)
    return value
