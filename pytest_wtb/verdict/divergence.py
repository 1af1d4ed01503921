"""Where two executions' checkpoint histories part: the first step at which they wrote different values.

Steps are matched by step number, so a replay thread (whose history starts with a copy of the
original's checkpoint at step k) lines up with the thread it was made from.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_wtb.declare.parity import ParitySpec
from pytest_wtb.verdict.compare import Difference, compare, short
from pytest_wtb.verdict.history import Step


@dataclass(frozen=True)
class Divergence:
    step: int
    this: Step | None  # None: this execution has no such step (it ended earlier)
    other: Step | None
    diffs: list[Difference]


def _by_step(steps: list[Step]) -> dict[int, Step]:
    return {s.step: s for s in steps}


def first_divergence(this: list[Step], other: list[Step]) -> tuple[list[int], Divergence | None]:
    """The steps both share unchanged, then the first step where they differ (None: never)."""
    a, b = _by_step(this), _by_step(other)
    if not a or not b:
        return [], None
    start = max(min(a), min(b))  # a replay's history starts at the step it was copied from
    same: list[int] = []
    for step in sorted(s for s in set(a) | set(b) if s >= start):
        sa, sb = a.get(step), b.get(step)
        if sa is None or sb is None:
            return same, Divergence(step, sa, sb, [])
        diffs = compare(sa.changed, sb.changed, ParitySpec())
        # the first step of a copied history names every node seen so far: compare only its values
        copied = step == start and (sa is this[0] or sb is other[0]) and "input" not in (sa.source, sb.source)
        if diffs or (sa.nodes != sb.nodes and not copied) or (sa.source == "error") != (sb.source == "error"):
            return same, Divergence(step, sa, sb, diffs)
        same.append(step)
    return same, None


def _describe(label: str, step: Step | None, width: int) -> str:
    if step is None:
        return f"  {label:<{width}} (no such step: it had ended)"
    nodes = ", ".join(step.nodes) or f"({step.source})"
    return f"  {label:<{width}} node {nodes}  checkpoint_id {step.checkpoint_id}"


def format_divergence(this: list[Step], other: list[Step], labels: tuple[str, str] = ("this:", "other:")) -> list[str]:
    same, found = first_divergence(this, other)
    width = max(map(len, labels))
    lines = []
    if same:
        plural = "s" if len(same) != 1 else ""
        lines.append(f"same values for steps {same[0]}..{same[-1]} ({len(same)} checkpoint{plural})")
    if found is None:
        if not same:
            lines.append("no common steps to compare")
        else:
            lines.append("no divergence: both executions wrote the same values at every step")
        return lines
    lines.append(f"first divergence at step {found.step}")
    lines.append(_describe(labels[0], found.this, width))
    lines.append(_describe(labels[1], found.other, width))
    if found.diffs:
        for diff in found.diffs:
            lines.append(f"  {diff.path}")
            lines.append(f"    {labels[0]:<{width}} {short(diff.baseline)}")
            lines.append(f"    {labels[1]:<{width}} {short(diff.other)}")
    else:
        for label, step in zip(labels, (found.this, found.other), strict=True):
            if step is not None:
                wrote = "; ".join(f"{k}={short(v, 70)}" for k, v in step.changed.items()) or "-"
                lines.append(f"    {label:<{width}} wrote {wrote}")
    return lines
