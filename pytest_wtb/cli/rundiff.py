"""What changed between two stored runs: per (scope, variant, case), the outcome or the final state.

Pure over execution rows (dicts as stored in wtb_executions); final states are compared with
``pytest_wtb.verdict.compare.compare`` like parity, so tuples and lists, and floats within tolerance, agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from pytest_wtb.declare.parity import ParitySpec
from pytest_wtb.model import SUCCEEDED
from pytest_wtb.store.runs import pair_executions
from pytest_wtb.verdict.compare import Difference, compare, short

Row = dict[str, Any]
StateLoader = Callable[[Row], dict[str, Any] | None]
MAX_PATHS: Final = 10


def outcome(row: Row) -> str:
    """The status, and for a failure its exception type and node: 'failed: ValueError in node f'."""
    if row["status"] == SUCCEEDED or not row["error_type"]:
        return str(row["status"])
    node = f" in node '{row['error_node']}'" if row["error_node"] else ""
    return f"{row['status']}: {row['error_type']}{node}"


@dataclass(frozen=True)
class Change:
    before: Row
    after: Row
    diffs: tuple[Difference, ...] = ()  # empty for an outcome change

    @property
    def kind(self) -> str:
        return "state" if self.diffs else "outcome"

    @property
    def input_changed(self) -> bool:
        return bool(self.before["input_hash"] and self.before["input_hash"] != self.after["input_hash"])


@dataclass(frozen=True)
class RunDiff:
    changes: tuple[Change, ...]
    unchanged: int
    only_before: tuple[Row, ...]
    only_after: tuple[Row, ...]

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def diff_runs(before: list[Row], after: list[Row], load_state: StateLoader, spec: ParitySpec | None = None) -> RunDiff:
    spec = spec or ParitySpec()
    pairs, only_before, only_after = pair_executions(before, after)
    changes: list[Change] = []
    unchanged = 0
    for a, b in pairs:
        if outcome(a) != outcome(b):
            changes.append(Change(a, b))
            continue
        if a["status"] == SUCCEEDED:
            diffs = compare(load_state(a) or {}, load_state(b) or {}, spec)
            if diffs:
                changes.append(Change(a, b, tuple(diffs)))
                continue
        unchanged += 1
    return RunDiff(tuple(changes), unchanged, tuple(only_before), tuple(only_after))


def label(row: Row) -> str:
    return f"{row['scope']}::{row['variant']} [{row['case_id']}]"


def format_diff(diff: RunDiff, name_before: str, name_after: str) -> list[str]:
    lines: list[str] = []
    for change in diff.changes:
        a, b = change.before, change.after
        note = " (the case's input changed)" if change.input_changed else ""
        if change.kind == "outcome":
            lines.append(f"{label(b)}: outcome {outcome(a)} -> {outcome(b)}{note}")
            if b["error_message"] and b["status"] != SUCCEEDED:
                message = (b["error_message"].strip().splitlines() or [""])[0]
                lines.append(f"    {name_after}: {message if len(message) <= 100 else message[:97] + '...'}")
        else:
            n = len(change.diffs)
            lines.append(f"{label(b)}: final state differs at {n} key path{'s' if n != 1 else ''}{note}")
            for d in change.diffs[:MAX_PATHS]:
                lines.append(f"    {d.path}: {short(d.baseline, 60)} -> {short(d.other, 60)}")
            if n > MAX_PATHS:
                lines.append(f"    ... and {n - MAX_PATHS} more key paths")
        lines.append(f"    thread_ids: {a['thread_id']} -> {b['thread_id']}")
    for row in diff.only_before:
        lines.append(f"{label(row)}: only in {name_before} ({outcome(row)})")
    for row in diff.only_after:
        lines.append(f"{label(row)}: only in {name_after} ({outcome(row)})")
    n_out = sum(1 for c in diff.changes if c.kind == "outcome")
    lines.append(
        f"{n_out} changed outcome, {len(diff.changes) - n_out} changed final state, {diff.unchanged} unchanged, "
        f"{len(diff.only_before)} only in {name_before}, {len(diff.only_after)} only in {name_after}"
    )
    return lines
