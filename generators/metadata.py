"""Machine-readable description of a generated module: parameters, ports and payload layouts.

Testbenches and flows read this JSON instead of importing the generator, so a design can be
verified and synthesized from its two files alone.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from amaranth.hdl import Shape, ShapeCastable
from amaranth.lib import data, stream, wiring
from amaranth.lib import enum as amaranth_enum

__all__ = ["describe_component", "describe_layout", "generator_version"]


def generator_version() -> str:
    try:
        return metadata.version("accelgen")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


def describe_layout(shape: ShapeCastable | Shape) -> dict[str, Any]:
    """A JSON-able tree of a payload shape with every field's bit offset and width."""
    if isinstance(shape, data.StructLayout):
        return {
            "kind": "struct",
            "width": shape.size,
            "fields": [
                {"name": name, "offset": field.offset, **describe_layout(field.shape)}
                for name, field in shape
            ],
        }
    if isinstance(shape, data.ArrayLayout):
        return {
            "kind": "array",
            "width": shape.size,
            "length": shape.length,
            "element": describe_layout(shape.elem_shape),
        }
    if isinstance(shape, type) and issubclass(shape, amaranth_enum.Enum):
        cast = Shape.cast(shape)
        return {"kind": "enum", "width": cast.width, "signed": cast.signed,
                "members": {member.name: member.value for member in shape}}
    cast = Shape.cast(shape)
    return {"kind": "int", "width": cast.width, "signed": cast.signed}


def describe_component(component: wiring.Component) -> dict[str, Any]:
    """Ports as Amaranth's Verilog back end names them, and each stream's payload layout."""
    ports = [
        {"name": "clk", "direction": "input", "width": 1},
        {"name": "rst", "direction": "input", "width": 1},
    ]
    for path, member, _value in component.signature.flatten(component):
        ports.append({
            "name": "__".join(str(part) for part in path),
            "direction": "output" if member.flow is wiring.Out else "input",
            "width": Shape.cast(member.shape).width,
        })
    streams = {}
    for name, member in component.signature.members.items():
        if member.is_signature and isinstance(member.signature, stream.Signature):
            streams[name] = {
                "direction": "sink" if member.flow is wiring.In else "source",
                "payload": describe_layout(member.signature.members["payload"].shape),
            }
    return {"ports": ports, "streams": streams}
