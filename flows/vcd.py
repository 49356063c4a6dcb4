"""Toggle counts per signal bit from a VCD file, read in one streaming pass.

Only what a switching-activity estimate needs is kept: every variable's scope, name and
width, and for every distinct value-change identifier how often each of its bits changed.
Aliases (one identifier declared in several scopes, as Verilator does for a port and the net
it is connected to) share one set of counts. Values ``x`` and ``z`` count as 0.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["VcdActivity", "VcdVariable", "read_toggles"]


@dataclass(frozen=True)
class VcdVariable:
    """One ``$var``: its scope path (outermost first), name, width and identifier code."""

    scope: tuple[str, ...]
    name: str
    width: int
    code: str


@dataclass
class VcdActivity:
    """``toggles[code][bit]``: changes of bit ``bit`` (0 = least significant) of the
    identifier ``code`` after its first value; ``end_time`` is the last timestamp."""

    variables: list[VcdVariable] = field(default_factory=list)
    toggles: dict[str, list[int]] = field(default_factory=dict)
    rising_edges: dict[str, int] = field(default_factory=dict)
    end_time: int = 0

    def find(self, name: str, scope: tuple[str, ...] | None = None) -> VcdVariable | None:
        """The first variable called ``name`` (in ``scope``, if given)."""
        return next((v for v in self.variables
                     if v.name == name and (scope is None or v.scope == scope)), None)


def _words(path: Path) -> Iterator[str]:
    with path.open(errors="replace") as handle:
        for line in handle:
            yield from line.split()


def _value(text: str) -> int:
    return int(text.replace("x", "0").replace("X", "0").replace("z", "0").replace("Z", "0"), 2)


def read_toggles(path: Path) -> VcdActivity:
    """Read the VCD at ``path``; raises :class:`ValueError` on a file that is not one."""
    activity = VcdActivity()
    words = _words(path)
    scope: list[str] = []
    for word in words:
        if word == "$scope":
            next(words)  # scope kind
            scope.append(next(words))
        elif word == "$upscope":
            scope.pop()
        elif word == "$var":
            next(words)  # var kind
            width, code, name = int(next(words)), next(words), next(words)
            activity.variables.append(VcdVariable(tuple(scope), name, width, code))
            activity.toggles.setdefault(code, [0] * width)
            activity.rising_edges.setdefault(code, 0)
        elif word == "$enddefinitions":
            break
    if not activity.variables:
        raise ValueError(f"{path}: no $var declarations, not a VCD file")

    last: dict[str, int] = {}
    toggles, rising = activity.toggles, activity.rising_edges
    for word in words:
        first = word[0]
        if first == "#":
            activity.end_time = int(word[1:])
            continue
        if first in "bBrR":
            if first in "rR":
                next(words)  # real values are not switching activity
                continue
            value, code = _value(word[1:]), next(words)
        elif first in "01xXzZ":
            value, code = (1 if first == "1" else 0), word[1:]
        else:
            if word == "$comment":
                for skipped in words:
                    if skipped == "$end":
                        break
            continue  # $dumpvars, $end and friends
        previous = last.get(code)
        last[code] = value
        if previous is None or code not in toggles:
            continue
        changed = previous ^ value
        if value & 1 and not previous & 1:
            rising[code] += 1
        counts = toggles[code]
        while changed:
            low = changed & -changed
            counts[low.bit_length() - 1] += 1
            changed ^= low
    return activity
