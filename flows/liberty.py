"""What accelgen needs from a Liberty file: each cell's area, pins and logic function.

Enough of the Liberty syntax (groups, simple and complex attributes, comments, line
continuations) is read to find every ``cell``'s ``area``, whether it holds state (``ff``,
``latch``, ``statetable``) and its pins' directions and ``function`` strings. Functions are
evaluated with Liberty's operators (``!``, postfix ``'``, ``&``, ``*``, juxtaposition, ``|``,
``+``, ``^``), which is how the smallest two-input NAND is found for gate-equivalent counts.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["LibertyCell", "evaluate_function", "nand2_area", "read_liberty"]


@dataclass(frozen=True)
class LibertyCell:
    """One cell: ``inputs`` and ``outputs`` by pin name; ``functions`` of the outputs."""

    name: str
    area: float
    sequential: bool
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    functions: dict[str, str] = field(default_factory=dict)


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}();:,]|[^\s{}();:,"]+')
_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(_COMMENT.sub(" ", text.replace("\\\n", " ")))


@dataclass
class _Group:
    kind: str
    args: list[str]
    attributes: dict[str, str] = field(default_factory=dict)
    groups: list[_Group] = field(default_factory=list)


def _parse(tokens: list[str]) -> _Group:
    """A tree of groups; ``name : value ;`` and ``name (args) ;`` both land in attributes."""
    root = _Group("root", [])
    stack = [root]
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "}":
            stack.pop()
            i += 1
            continue
        if token == ";":
            i += 1
            continue
        following = tokens[i + 1] if i + 1 < len(tokens) else ""
        if following == ":":
            end = i + 2
            while end < len(tokens) and tokens[end] not in (";", "}"):
                end += 1
            if end < len(tokens) and tokens[end] == "}":
                # A last attribute without its ';': keep the brace for the group.
                stack[-1].attributes[token] = " ".join(tokens[i + 2:end])
                i = end
                continue
            stack[-1].attributes[token] = " ".join(tokens[i + 2:end])
            i = end + 1
        elif following == "(":
            end = tokens.index(")", i + 2)
            args = [t.strip('"') for t in tokens[i + 2:end] if t != ","]
            if end + 1 < len(tokens) and tokens[end + 1] == "{":
                group = _Group(token, args)
                stack[-1].groups.append(group)
                stack.append(group)
                i = end + 2
            else:
                stack[-1].attributes[token] = ",".join(args)
                i = end + 1
        else:
            i += 1
    return root


def read_liberty(path: Path) -> dict[str, LibertyCell]:
    """Every cell of the Liberty file at ``path``, by name."""
    root = _parse(_tokens(path.read_text(errors="replace")))
    libraries = [group for group in root.groups if group.kind == "library"]
    if not libraries:
        raise ValueError(f"{path}: no library group, not a Liberty file")
    cells: dict[str, LibertyCell] = {}
    for group in libraries[0].groups:
        if group.kind != "cell" or not group.args:
            continue
        pins = [pin for pin in group.groups if pin.kind == "pin"]
        for bus in (g for g in group.groups if g.kind == "bus"):
            pins += [pin for pin in bus.groups if pin.kind == "pin"]
        inputs, outputs, functions = [], [], {}
        for pin in pins:
            direction = pin.attributes.get("direction", "").strip('"')
            for name in pin.args:
                if direction == "input":
                    inputs.append(name)
                elif direction == "output":
                    outputs.append(name)
                    if "function" in pin.attributes:
                        functions[name] = pin.attributes["function"].strip('"')
        state = any(g.kind in ("ff", "latch", "ff_bank", "latch_bank", "statetable")
                    for g in group.groups)
        name = group.args[0]
        cells[name] = LibertyCell(name, float(group.attributes.get("area", "0")), state,
                                  tuple(inputs), tuple(outputs), functions)
    return cells


# --- functions -----------------------------------------------------------------------------

_FUNCTION_TOKEN = re.compile(r"[A-Za-z_][\w\[\].]*|[01]|[!'&*|+^()]")

def evaluate_function(function: str, values: Mapping[str, bool]) -> bool:
    """The value of a Liberty ``function`` string for the pin ``values``.

    Precedence, loosest first: ``|`` / ``+``, ``^``, ``&`` / ``*`` / juxtaposition, then ``!``
    and postfix ``'``.
    """
    tokens = _FUNCTION_TOKEN.findall(function)
    position = 0

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> str:
        nonlocal position
        position += 1
        return tokens[position - 1]

    def binary(operators: tuple[str, ...], operand: Callable[[], bool],
               combine: Callable[[bool, bool], bool], *, implicit: bool = False) -> bool:
        value = operand()
        while True:
            following = peek()
            if following in operators:
                take()
            elif not (implicit and following is not None and following not in "|+^)'"):
                return value
            value = combine(value, operand())

    def unary() -> bool:
        token = take()
        if token == "!":
            value = not unary()
        elif token == "(":
            value = disjunction()
            if take() != ")":
                raise ValueError(f"unbalanced parentheses in {function!r}")
        elif token in ("0", "1"):
            value = token == "1"
        elif token in values:
            value = bool(values[token])
        else:
            raise ValueError(f"{function!r} uses {token!r}, which is not an input")
        while peek() == "'":
            take()
            value = not value
        return value

    def conjunction() -> bool:
        return binary(("&", "*"), unary, lambda a, b: a and b, implicit=True)

    def exclusive() -> bool:
        return binary(("^",), conjunction, lambda a, b: a != b)

    def disjunction() -> bool:
        return binary(("|", "+"), exclusive, lambda a, b: a or b)

    result = disjunction()
    if position != len(tokens):
        raise ValueError(f"cannot parse {function!r}")
    return result


def _truth_table(cell: LibertyCell, output: str) -> tuple[bool, ...] | None:
    try:
        return tuple(evaluate_function(cell.functions[output], dict(zip(cell.inputs, bits,
                                                                         strict=True)))
                     for bits in itertools.product((False, True), repeat=len(cell.inputs)))
    except ValueError:
        return None


def nand2_area(cells: Mapping[str, LibertyCell]) -> float | None:
    """Area of the smallest combinational cell computing a two-input NAND, if any."""
    nand = (True, True, True, False)
    areas = [cell.area for cell in cells.values()
             if not cell.sequential and len(cell.inputs) == 2 and len(cell.outputs) == 1
             and cell.area > 0 and cell.outputs[0] in cell.functions
             and _truth_table(cell, cell.outputs[0]) == nand]
    return min(areas) if areas else None
