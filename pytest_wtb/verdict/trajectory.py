"""Trajectories: the nodes an execution ran at each step and the tool calls its AI messages made.

Pure: built from ``checkpoint_history`` (so it reads only stored checkpoint values, never code) and
compared in one of the contract's modes. Step numbers and checkpoint ids are where a step is, not
what it is: two executions agree on a step when they ran the same nodes and made the same tool calls
(name and args; tool-call ids are identifiers and are ignored).

- ``strict``: the same steps in the same order.
- ``unordered``: the same steps in any order (as a multiset).
- ``subset``: every step of the variant occurs in the baseline (as many times at most).
- ``superset``: every step of the baseline occurs in the variant.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_wtb.verdict.history import Step, checkpoint_history

ToolCall = tuple[str, Any]  # (name, canonical args)


@dataclass(frozen=True)
class TrajectoryStep:
    step: int
    nodes: tuple[str, ...]
    tool_calls: tuple[ToolCall, ...]
    checkpoint_id: str

    @property
    def identity(self) -> tuple[tuple[str, ...], tuple[ToolCall, ...]]:
        """What the step is: nodes of a parallel step in any order, tool calls in the order made."""
        return tuple(sorted(self.nodes)), self.tool_calls

    def describe(self) -> str:
        nodes = ", ".join(self.nodes) or "-"
        if not self.tool_calls:
            return nodes
        return f"{nodes} calling {', '.join(call_text(c) for c in self.tool_calls)}"


Trajectory = list[TrajectoryStep]


@dataclass(frozen=True)
class Divergence:
    mode: str
    index: int  # position in the trajectories (0-based) where they part
    baseline: TrajectoryStep | None  # None: the baseline has no step there (or it is not the issue)
    other: TrajectoryStep | None
    why: str  # one line: what about the step does not match the mode


def canonical(value: Any) -> Any:
    """A hashable form of a tool call's args that compares as JSON values do: dict order is ignored,
    tuples and lists compare alike (the serializer turns one into the other), 1 == 1.0, true != 1."""
    if isinstance(value, Mapping):
        return ("{}", tuple(sorted((str(k), canonical(v)) for k, v in value.items())))
    if isinstance(value, list | tuple):
        return ("[]", tuple(canonical(v) for v in value))
    if isinstance(value, bool):  # True == 1 in Python, not in JSON
        return ("bool", value)
    if isinstance(value, float) and math.isnan(value):
        return ("nan",)
    if isinstance(value, set | frozenset):
        return ("set", tuple(sorted(repr(canonical(v)) for v in value)))
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return ("repr", repr(value))


def _plain(value: Any) -> Any:
    """canonical() back to JSON-ish values, for failure texts."""
    if isinstance(value, tuple) and value and value[0] == "{}":
        return {k: _plain(v) for k, v in value[1]}
    if isinstance(value, tuple) and value and value[0] in ("[]", "set"):
        return [_plain(v) for v in value[1]]
    if isinstance(value, tuple) and value:
        return value[-1] if len(value) > 1 else value[0]
    return value


def call_text(call: ToolCall) -> str:
    args = json.dumps(_plain(call[1]), sort_keys=True, default=str)
    return f"{call[0]}({args if len(args) <= 120 else args[:117] + '...'})"


def _is_ai(value: Any) -> bool:
    return getattr(value, "type", None) == "ai" and hasattr(value, "tool_calls")


def _tool_calls(message: Any) -> list[ToolCall]:
    calls = []
    for call in getattr(message, "tool_calls", None) or ():
        if isinstance(call, Mapping):
            calls.append((str(call.get("name")), canonical(call.get("args") or {})))
    return calls


def _new_items(value: Any, before: Any) -> list[Any]:
    """What a step added to a channel: list items not there before (by message id; items without
    an id by position), or a single value the step wrote."""
    if not isinstance(value, list | tuple):
        return [value]
    old = list(before) if isinstance(before, list | tuple) else []
    old_ids = {mid for m in old if (mid := getattr(m, "id", None)) is not None}
    new = []
    for i, item in enumerate(value):
        mid = getattr(item, "id", None)
        if (mid not in old_ids) if mid is not None else i >= len(old):
            new.append(item)
    return new


def from_history(steps: Sequence[Step]) -> Trajectory:
    """The trajectory of a checkpoint history (oldest first). The input checkpoint is the case itself,
    not a step the graph took, and a copied prefix reads like the steps it copied."""
    out: Trajectory = []
    last: dict[str, Any] = {}
    for s in steps:
        if s.source in ("input", "error"):
            continue
        calls: list[ToolCall] = []
        for key, value in s.changed.items():
            for item in _new_items(value, last.get(key)):
                if _is_ai(item):
                    calls += _tool_calls(item)
            last[key] = value
        if not s.nodes and not calls:
            continue  # a checkpoint no node wrote (e.g. a resume's bookkeeping)
        out.append(TrajectoryStep(s.step, s.nodes, tuple(calls), s.checkpoint_id))
    return out


def trajectory_of(saver: Any, thread_id: str) -> Trajectory:
    """The trajectory of a stored execution: what checkpoint_history reads, plus the tool calls."""
    return from_history(checkpoint_history(saver, thread_id))


def _at(traj: Trajectory, index: int) -> TrajectoryStep | None:
    return traj[index] if index < len(traj) else None


def _unmatched(steps: Trajectory, pool: Trajectory) -> int | None:
    """Index of the first step in ``steps`` with no (unused) equal step in ``pool``."""
    left = Counter(s.identity for s in pool)
    for i, s in enumerate(steps):
        if left[s.identity] <= 0:
            return i
        left[s.identity] -= 1
    return None


def compare_trajectories(base: Trajectory, other: Trajectory, mode: str) -> Divergence | None:
    """None when ``other`` (the variant) matches ``base`` (the baseline) under ``mode``."""
    if mode == "strict":
        for i in range(max(len(base), len(other))):
            b, o = _at(base, i), _at(other, i)
            if b is None or o is None or b.identity != o.identity:
                if o is None:
                    why = "the variant ended before this step"
                elif b is None:
                    why = "the variant ran a step past the baseline's last"
                else:
                    why = "different nodes or tool calls at this step"
                return Divergence(mode, i, b, o, why)
        return None
    extra = _unmatched(other, base) if mode in ("strict", "unordered", "subset") else None
    missing = _unmatched(base, other) if mode in ("unordered", "superset") else None
    if extra is None and missing is None:
        return None
    # report whichever unmatched step comes first in the run, with the other side's step there
    if extra is not None and (missing is None or extra <= missing):
        return Divergence(mode, extra, _at(base, extra), other[extra],
                          "the variant's step is not in the baseline's trajectory")
    assert missing is not None
    return Divergence(mode, missing, base[missing], _at(other, missing),
                      "the baseline's step is not in the variant's trajectory")


def step_row(step: TrajectoryStep | None) -> dict[str, Any] | None:
    """A JSON-ready view of one step, for reports (None: that side has no such step)."""
    if step is None:
        return None
    return {"step": step.step, "nodes": list(step.nodes), "tool_calls": [call_text(c) for c in step.tool_calls],
            "checkpoint_id": step.checkpoint_id}


def divergence_row(found: Divergence, base_thread: str, other_thread: str) -> dict[str, Any]:
    """What reports show of a trajectory divergence: the mode, why, and both sides' step."""
    return {"mode": found.mode, "index": found.index, "why": found.why,
            "baseline": step_row(found.baseline), "other": step_row(found.other),
            "baseline_thread_id": base_thread, "thread_id": other_thread}


def divergence_label(found: Divergence) -> str:
    """One short line (a JUnit property): 'step N: baseline nodes / variant nodes'."""
    where = found.other or found.baseline
    step_no = where.step if where is not None else found.index

    def nodes(s: TrajectoryStep | None) -> str:
        return s.describe() if s is not None else "(none)"

    return f"step {step_no}: {nodes(found.baseline)} / {nodes(found.other)}"
