"""The result table every family prints: one Row per measurement, plugin against its baseline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Row:
    measurement: str
    plugin: str
    baseline: str
    ratio: str
    goal: str
    met: str


def ratio_row(measurement: str, plugin: str, baseline: str, ratio: float | None, goal: str,
              met: bool | None) -> Row:
    """A row whose ratio is a number (two decimals, '-' if none) and whose verdict is yes / NO / '-'."""
    return Row(measurement, plugin, baseline, "-" if ratio is None else f"{ratio:.2f}", goal,
               "-" if met is None else ("yes" if met else "NO"))


def verdict(met: bool) -> str:
    return "yes" if met else "NO"


def table(rows: list[Row]) -> str:
    head = Row("measurement", "plugin", "baseline", "ratio", "goal", "met?")
    cells = [[r.measurement, r.plugin, r.baseline, r.ratio, r.goal, r.met] for r in [head, *rows]]
    widths = [max(len(c[i]) for c in cells) for i in range(6)]
    lines = ["| " + " | ".join(c[i].ljust(widths[i]) for i in range(6)) + " |" for c in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def fmt_s(x: float, places: int = 2) -> str:
    return f"{x:.{places}f} s"


def fmt_ms(x: float) -> str:
    return f"{x * 1000:.1f} ms"


def phases(name: str, d: dict[str, Any]) -> str:
    return f"{name}: " + ", ".join(f"{k}={v:.3f}" for k, v in d.items())
