"""A dynamic-power proxy: switching activity of a real workload, weighted by what it drives.

Dynamic power is roughly the sum over nets of toggle rate times switched capacitance, and a
net's capacitance grows with the number of gate inputs it drives. accelgen has no PDK and no
gate-level simulation, so it measures the two halves separately:

* **activity**: a Verilator run of the RTL under a real workload (a GEMM through the cocotb
  driver) dumps a VCD; every bit of every named net is counted each time it changes;
* **load**: the same design mapped flat to accelgen's cell library
  (:func:`~accelgen.flows.asic_area.asic_area`) gives, for every net bit, the number of cell
  input pins it drives.

The proxy is ``sum(toggles(bit) * loads(bit)) / cycles`` over the net bits found in both: cell
inputs switched per clock cycle. It is a **proxy**, good for comparing designs and workloads
against each other, not a power figure: it sees only nets that keep their RTL name through
synthesis (ports, registers, named wires, which carry a datapath's operands, sums and
control), not the gates' internal nodes or glitches; it ignores wire length, cell drive
strengths and the clock tree, and it has no unit of energy.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from accelgen.generators.emit import generate_systolic, write_design
from accelgen.generators.systolic import SystolicConfig
from accelgen.tb.cases import GemmCase

from .asic_area import asic_area
from .simulate import build_simulator, run_cocotb
from .toolchain import ToolError
from .vcd import VcdActivity, read_toggles

__all__ = ["gemm_power", "net_loads", "power_proxy", "switching_report"]

GEMM_TESTS = "accelgen.tb.systolic_tests"


def net_loads(netlist: dict[str, Any], top: str) -> tuple[dict[str, list[int]], dict[int, int]]:
    """Per named net, its bit identifiers; and per bit identifier, the cell inputs it drives.

    ``netlist`` is Yosys' ``write_json`` output of a flattened, technology-mapped design.
    """
    module = netlist["modules"][top]
    loads: dict[int, int] = defaultdict(int)
    for cell in module["cells"].values():
        directions = cell.get("port_directions", {})
        for port, bits in cell["connections"].items():
            if directions.get(port) == "input":
                for bit in bits:
                    if isinstance(bit, int):
                        loads[bit] += 1
    nets = {name: [bit if isinstance(bit, int) else -1 for bit in net["bits"]]
            for name, net in module["netnames"].items()}
    return nets, dict(loads)


def _top_scope(activity: VcdActivity, top: str, scope: tuple[str, ...] | None
               ) -> tuple[str, ...]:
    if scope is not None:
        if not any(v.scope[:len(scope)] == scope for v in activity.variables):
            raise ValueError(f"scope: no variables under {'.'.join(scope)} in the VCD")
        return scope
    found = sorted({v.scope[:v.scope.index(top) + 1] for v in activity.variables
                    if top in v.scope}, key=len)
    if not found:
        raise ValueError(f"scope: the VCD has no scope named {top}; name it with --scope")
    return found[0]


def switching_report(activity: VcdActivity, nets: dict[str, list[int]], loads: dict[int, int],
                     *, top: str, clock: str = "clk", scope: tuple[str, ...] | None = None
                     ) -> dict[str, Any]:
    """Combine toggle counts and net loads (see the module docstring).

    ``scope`` is the VCD scope path of the design's top instance (default: the shallowest
    scope named ``top``). Cycles are the rising edges of ``clock`` in that scope. Returns
    ``cycles``, ``weighted_toggles_per_cycle`` (the proxy), ``toggles_per_cycle``
    (unweighted), ``matched_bits`` and ``netlist_bits`` (bits with loads found in the VCD, of
    all with loads), ``matched_load_fraction`` (the share of all cell inputs that those bits
    drive) and ``by_instance``: the proxy split by the top's submodule instances.
    """
    root = _top_scope(activity, top, scope)
    clock_var = activity.find(clock, root)
    if clock_var is None:
        raise ValueError(f"clock: no {clock!r} in scope {'.'.join(root)} of the VCD")
    cycles = activity.rising_edges[clock_var.code]
    if cycles == 0:
        raise ValueError(f"clock: {clock!r} never rises in the VCD")

    seen: set[int] = set()
    weighted = 0
    plain = 0
    by_instance: dict[str, int] = defaultdict(int)
    for variable in activity.variables:
        if variable.scope[:len(root)] != root or variable.name == clock:
            continue
        path = [*variable.scope[len(root):], variable.name]
        bits = nets.get(".".join(path))
        if bits is None or len(bits) != variable.width:
            continue
        counts = activity.toggles[variable.code]
        instance = path[0] if len(path) > 1 else "(top)"
        for index, bit in enumerate(bits):
            if bit < 0 or bit in seen:
                continue
            seen.add(bit)
            plain += counts[index]
            contribution = counts[index] * loads.get(bit, 0)
            weighted += contribution
            by_instance[instance] += contribution
    loaded = [bit for bit, count in loads.items() if count]
    covered = sum(loads[bit] for bit in loaded if bit in seen)
    return {
        "cycles": cycles,
        "weighted_toggles_per_cycle": round(weighted / cycles, 3),
        "toggles_per_cycle": round(plain / cycles, 3),
        "matched_bits": sum(1 for bit in loaded if bit in seen),
        "netlist_bits": len(loaded),
        "matched_load_fraction": round(covered / max(1, sum(loads.values())), 4),
        "by_instance": {name: round(value / cycles, 3)
                        for name, value in sorted(by_instance.items(), key=lambda kv: -kv[1])},
        "unit": "cell inputs switched per clock cycle (proxy, see accelgen.flows.power)",
    }


def power_proxy(vcd: Path, netlist: Path, top: str, *, clock: str = "clk",
                scope: tuple[str, ...] | None = None) -> dict[str, Any]:
    """:func:`switching_report` from a VCD file and a flat mapped Yosys JSON netlist."""
    nets, loads = net_loads(json.loads(netlist.read_text()), top)
    return switching_report(read_toggles(vcd), nets, loads, top=top, clock=clock, scope=scope)


def gemm_power(cfg: SystolicConfig, workdir: Path, *, m: int | None = None,
               k: int | None = None, n: int | None = None, seed: int = 1,
               liberty: Path | None = None) -> dict[str, Any]:
    """The proxy for ``cfg`` running one random GEMM (``m`` x ``k`` by ``k`` x ``n``; default
    four tiles of the array with ``K = 4 * rows``), checked against the golden model.

    Writes the design, its flat mapped netlist (``workdir/area``) and the simulation with its
    VCD (``workdir/run``). Raises :class:`ToolError` when the simulation fails its check.
    """
    m = m or 2 * cfg.rows
    k = k or min(cfg.max_k, 4 * cfg.rows * cfg.group)
    n = n or 2 * cfg.cols
    design = generate_systolic(cfg)
    v_path, j_path = write_design(design, workdir)
    area = asic_area(v_path, design.name, workdir / "area", liberty=liberty, netlist=True)
    build = build_simulator(v_path, design.name, waves=True)
    case = GemmCase("power", m, k, n, seed=seed)
    env = {"ACCELGEN_DESIGN": str(j_path.resolve()),
           "ACCELGEN_CASES": json.dumps([case.to_dict()])}
    result = run_cocotb(build, design.name, GEMM_TESTS, env=env, waves=True,
                        test_dir=workdir / "run")
    if not result.passed or result.waves is None:
        raise ToolError(f"the GEMM workload failed on {design.name}: "
                        f"{result.error or result.failed_tests}; log: {result.log}")
    report = power_proxy(result.waves, workdir / "area" / "netlist.json", design.name)
    return {"module": design.name, "workload": {"gemm": [m, k, n], "seed": seed},
            "area": area["area"], **report,
            "weighted_toggles_per_cycle_per_area": round(
                report["weighted_toggles_per_cycle"] / area["area"], 5)}
