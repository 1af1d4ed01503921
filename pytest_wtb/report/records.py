"""What a run did, per execution and per item: noted where items run, merged across xdist workers.

Records are plain JSON-ready dicts, so they travel through xdist's ``workeroutput`` unchanged and are the
rows of ``--wtb-report`` (``json_report``); ``summary`` prints the table. No pytest import."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pytest_wtb.model import ExecutionResult
from pytest_wtb.verdict import messages
from pytest_wtb.verdict.compare import Difference, short

ITEM_OUTCOMES: Final = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
MAX_STR: Final = 4000
MAX_ITEMS: Final = 200
MAX_DEPTH: Final = 12


def jsonable(value: Any, depth: int = 0, path: str = "") -> Any:
    """A JSON-ready copy of a state value. LangChain messages become what the parity verdict judges
    ({type, content, tool_calls: [{name, args}], ...}, see verdict/messages.py) without ids, so the
    report's state diff does not flag every tool-call id two runs drew; ``path`` names the value in
    the state, for where a tool result's call stands (``answers``)."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, str):
        return value if len(value) <= MAX_STR else value[:MAX_STR] + f"... ({len(value)} chars)"
    if depth >= MAX_DEPTH:
        return short(value)
    if messages.is_message(value):  # on its own, outside a conversation: no call to point at
        return _message_json({k: v for k, v in messages.view(value).items() if k != "answers"}, depth)
    if isinstance(value, Mapping):
        items = list(value.items())
        data = {str(k): jsonable(v, depth + 1, f"{path}.{k}" if path else str(k)) for k, v in items[:MAX_ITEMS]}
        if len(items) > MAX_ITEMS:
            data["..."] = f"{len(items) - MAX_ITEMS} more keys"
        return data
    if isinstance(value, list | tuple | set | frozenset):
        seq = list(value)
        if any(map(messages.is_message, seq)):
            views = messages.conversation_views(path, seq)
            listed = [_message_json(views[i], depth) if messages.is_message(v) else jsonable(v, depth + 1)
                      for i, v in enumerate(seq[:MAX_ITEMS])]
        else:
            listed = [jsonable(v, depth + 1, f"{path}[{i}]") for i, v in enumerate(seq[:MAX_ITEMS])]
        return listed + ([f"... {len(seq) - MAX_ITEMS} more"] if len(seq) > MAX_ITEMS else [])
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return jsonable(dump(), depth + 1)
        except Exception:
            pass
    return short(value, MAX_STR)


def _message_json(view: Mapping[str, Any], depth: int) -> dict[str, Any]:
    """A message's view, leaving out empty fields (an AI message without tool calls reads {type, content})."""
    return {k: jsonable(v, depth + 1) for k, v in view.items() if v not in (None, [], "") or k == "content"}


def diff_rows(diffs: Iterable[Difference]) -> list[dict[str, str]]:
    """One row per differing path; ``reason`` only where a comparator said how they differ."""
    rows = []
    for d in diffs:
        row = {"path": d.path, "baseline": short(d.baseline, 400), "other": short(d.other, 400)}
        if d.reason:
            row["reason"] = d.reason
        rows.append(row)
    return rows


def execution_record(
    result: ExecutionResult,
    scope: str,
    is_baseline: bool,
    baseline_key: str | None,
    with_state: bool,
    prefix_nodes: int = 0,
) -> dict[str, Any]:
    """``prefix_nodes``: nodes this execution took from a shared prefix execution instead of running."""
    err = result.error
    pending = result.extra.get("interrupts") or ()  # what an interrupted execution waits on
    return {
        "key": result.key,
        "scope": scope,
        "variant": result.variant,
        "case_id": result.case_id,
        "baseline": is_baseline,
        "baseline_key": baseline_key,
        "status": result.status,
        "thread_id": result.thread_id,
        "checkpoint_id": result.checkpoint_id,
        "backend": result.backend,
        "worker": result.worker,
        "duration_s": result.duration_s,
        "attempts": result.attempts,
        "error": None if err is None else {
            "type": err.type, "message": err.message, "node": err.node, "traceback": err.traceback,
        },
        "nodes": [[n.step, n.node, n.duration_s, n.error] for n in result.nodes],
        "saved_nodes": prefix_nodes,
        "forked_from": result.extra.get("forked_from"),
        "unshared": result.extra.get("unshared"),  # why it ran from scratch though its group shares a prefix
        "store_error": result.store_error,
        "state": jsonable(result.state) if with_state and result.state is not None else None,
        "ran_with": dict(result.extra.get("ran_with") or {}),  # its context and config, as display text
        "interrupts": [{"node": str(i.get("node")), "value": repr(i.get("value"))[:MAX_STR]} for i in pending],
        "calls": [dict(c) for c in result.extra.get("calls") or ()],  # --wtb-record: replayed, recorded, live
    }


def item_outcome(when: str, outcome: str, wasxfail: bool) -> str | None:
    """The outcome one phase report gives an item (None: this phase says nothing new)."""
    if when == "call":
        if outcome == "passed":
            return "xpassed" if wasxfail else "passed"
        if outcome == "skipped":
            return "xfailed" if wasxfail else "skipped"
        return "failed"
    if outcome == "failed":
        return "error"
    if outcome == "skipped" and when == "setup":
        return "xfailed" if wasxfail else "skipped"
    return None


class RunRecords:
    """Executions (by key) and items (by nodeid) this process saw; ``merge`` adds a worker's."""

    def __init__(self, with_state: bool = False) -> None:
        self.with_state = with_state
        self.run_ids: list[str] = []
        self.executions: dict[str, dict[str, Any]] = {}
        self.items: dict[str, dict[str, Any]] = {}
        self.gates: dict[str, dict[str, Any]] = {}  # nodeid -> a @wtb.gate verdict (pytest/repeats.py)

    def __bool__(self) -> bool:
        return bool(self.executions)

    def note_run_id(self, run_id: str) -> None:
        if run_id not in self.run_ids:
            self.run_ids.append(run_id)

    def note_execution(
        self, result: ExecutionResult, scope: str, is_baseline: bool, baseline_key: str | None, prefix_nodes: int = 0
    ) -> None:
        if result.key not in self.executions:
            self.executions[result.key] = execution_record(
                result, scope, is_baseline, baseline_key, self.with_state, prefix_nodes
            )

    def note_item(self, nodeid: str, key: str, baseline_key: str | None) -> None:
        self.items.setdefault(
            nodeid, {"nodeid": nodeid, "key": key, "baseline_key": baseline_key, "outcome": None,
                     "parity": None, "trajectory": None, "message": None}
        )

    def note_gate(self, nodeid: str, row: dict[str, Any]) -> None:
        self.gates[nodeid] = {"nodeid": nodeid, **row}

    def note_parity(self, nodeid: str, diffs: list[dict[str, str]]) -> None:
        if nodeid in self.items:
            self.items[nodeid]["parity"] = diffs

    def note_trajectory(self, nodeid: str, row: dict[str, Any]) -> None:
        """Where this item's trajectory parted from the baseline's (verdict/trajectory.divergence_row)."""
        if nodeid in self.items:
            self.items[nodeid]["trajectory"] = row

    def note_report(self, nodeid: str, when: str, outcome: str, wasxfail: bool, message: str | None) -> None:
        item = self.items.get(nodeid)
        if item is None:
            return
        new = item_outcome(when, outcome, wasxfail)
        if new is None or (when == "teardown" and item["outcome"] in ("failed", "error")):
            return
        item["outcome"] = new
        if message and new in ("failed", "error"):
            item["message"] = message[:MAX_STR]

    def export(self) -> dict[str, Any]:
        return {"run_ids": self.run_ids, "executions": list(self.executions.values()),
                "items": list(self.items.values()), "gates": list(self.gates.values())}

    def merge(self, data: Mapping[str, Any]) -> None:
        for run_id in data.get("run_ids", []):
            self.note_run_id(run_id)
        for rec in data.get("executions", []):
            self.executions.setdefault(rec["key"], rec)
        for rec in data.get("items", []):
            self.items.setdefault(rec["nodeid"], rec)
        for rec in data.get("gates", []):
            self.gates.setdefault(rec["nodeid"], rec)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class VariantRow:
    name: str
    baseline: bool
    executions: int
    passed: int
    failed: int
    skipped: int
    errors: int  # executions that raised, timed out or were lost
    parity: int  # items whose parity check found a difference from the baseline
    p50_s: float
    p95_s: float
    saved_nodes: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def variant_rows(records: RunRecords) -> list[VariantRow]:
    """One row per variant, by module (alphabetical), each module's baseline first, then by name."""
    by_variant: dict[str, list[dict[str, Any]]] = {}
    for rec in records.executions.values():
        by_variant.setdefault(rec["variant"], []).append(rec)
    counts: dict[str, dict[str, int]] = {v: dict.fromkeys((*ITEM_OUTCOMES, "parity"), 0) for v in by_variant}
    for item in records.items.values():
        owner = records.executions.get(item["key"])
        if owner is None:
            continue
        c = counts[owner["variant"]]
        if item["outcome"] in c:
            c[item["outcome"]] += 1
        if item["parity"] or item.get("trajectory"):
            c["parity"] += 1
    rows = []
    for name, recs in by_variant.items():
        c, durations = counts[name], [r["duration_s"] for r in recs]
        rows.append(VariantRow(
            name=name,
            baseline=any(r["baseline"] for r in recs),
            executions=len(recs),
            passed=c["passed"] + c["xpassed"],
            failed=c["failed"] + c["error"],
            skipped=c["skipped"] + c["xfailed"],
            errors=sum(1 for r in recs if r["status"] != "succeeded"),
            parity=c["parity"],
            p50_s=percentile(durations, 50),
            p95_s=percentile(durations, 95),
            saved_nodes=sum(r["saved_nodes"] for r in recs),
        ))
    first_scope = {name: min(r["scope"] for r in recs) for name, recs in by_variant.items()}
    rows.sort(key=lambda r: (first_scope[r.name], not r.baseline, r.name))
    return rows


def net_saved_nodes(records: RunRecords) -> tuple[int, int]:
    """(node executions prefix sharing saved, shared prefixes): each prefix ran its nodes once
    instead of once per execution forked from it."""
    per_prefix: dict[str, list[int]] = {}
    for rec in records.executions.values():
        if rec.get("forked_from") and rec["saved_nodes"]:
            per_prefix.setdefault(rec["forked_from"], []).append(rec["saved_nodes"])
    return sum(sum(v) - max(v) for v in per_prefix.values()), len(per_prefix)


def unshared_reasons(records: RunRecords) -> dict[str, tuple[int, str]]:
    """Per kind ('cheap', 'fallback'): how many executions ran from scratch instead of forking,
    and one example reason."""
    out: dict[str, tuple[int, str]] = {}
    for rec in records.executions.values():
        reason = rec.get("unshared")
        if reason:
            kind, _, detail = reason.partition(": ")
            count, example = out.get(kind, (0, detail))
            out[kind] = (count + 1, example)
    return out


def slowest(records: RunRecords, n: int) -> list[dict[str, Any]]:
    return sorted(records.executions.values(), key=lambda r: -r["duration_s"])[:n]


def cell_outcome(rec: Mapping[str, Any], items: Sequence[Mapping[str, Any]]) -> str:
    """The colour of a matrix cell: the worst of the execution and the items that used it."""
    if rec["status"] != "succeeded":
        return "error"
    outcomes = {i["outcome"] for i in items}
    if any(i["parity"] or i.get("trajectory") for i in items):
        return "parity"
    for name in ("failed", "error", "xpassed", "xfailed", "passed", "skipped"):
        if name in outcomes:
            return "failed" if name == "error" else name
    return "none"
