"""``--wtb-report=PATH.json``: the run as one JSON document (the same data the HTML report shows).

Schema ``pytest-wtb-report/1`` (a JSON Schema ships as ``pytest_wtb/report/assets/report.schema.json``):

- ``schema``, ``run_ids`` (the store's run ids: one, or several under ``--wtb-run-id`` sharing),
  ``created_at`` (ISO 8601, UTC), ``store`` (URL, password masked, or null), ``show_command``
  (with ``{thread_id}`` to fill in), ``timeline_note`` (why timelines lack written keys, or null)
- ``totals``: ``executions``, ``items``, ``passed``, ``failed``, ``skipped``, ``errors``, ``parity``
- ``variants``: one row per variant: ``name``, ``baseline``, ``executions``, ``passed``, ``failed``
  (items failed or errored), ``skipped`` (incl. xfailed), ``errors`` (executions that raised, timed out
  or were lost), ``parity`` (items with a parity mismatch), ``p50_s``, ``p95_s``, ``saved_nodes``
- ``cases``: the matrix rows, ``{"scope": module, "case_id": id}`` in order of first use
- ``executions``: one per unique execution: ``key``, ``scope``, ``variant``, ``case_id``, ``baseline``
  (this variant is its module's baseline), ``baseline_key`` (the baseline execution on the same case,
  or null), ``status`` (succeeded | failed | timed_out | lost | interrupted), ``outcome`` (the cell colour: passed |
  failed | parity | error | xfailed | xpassed | skipped | none), ``thread_id``, ``checkpoint_id``,
  ``backend``, ``worker``, ``duration_s``, ``attempts``, ``error`` (null or ``type``, ``message``,
  ``node``, ``traceback``), ``state`` (final state, JSON-ready; null for failed executions),
  ``diff`` (null, or the whole final state against the baseline's: ``[{path, baseline, other}]`` with
  values as short reprs), ``timeline`` (``[{step, nodes: [{name, duration_s, error}], keys,
  checkpoint_id}]``: ``keys`` are the state keys the step wrote, null when the checkpoints could not be
  read), ``saved_nodes`` (nodes taken from a shared prefix execution instead of run), ``forked_from``
  (that prefix execution's thread_id, or null), ``store_error``, ``ran_with`` (its context and config as
  display text), ``interrupts`` (an interrupted execution's ``[{node, value}]``), and ``items``: the tests that used
  it, ``[{nodeid, outcome, parity, trajectory, message}]`` where ``parity`` is the verdict's differing
  paths (null: no parity check or baseline), ``trajectory`` where its trajectory parted from the
  baseline's (null, or ``{mode, index, why, baseline, other, baseline_thread_id, thread_id}`` with each
  side's ``{step, nodes, tool_calls, checkpoint_id}`` or null) and ``message`` the failure text.
- ``recordings``: with ``--wtb-record``, per variant: calls ``replayed``, ``recorded``, ``live``, ``missing``;
  each execution's ``calls`` lists its model and tool calls in order (kind, name, node, key, status).
- ``gates``: one per ``@wtb.gate`` item: ``nodeid``, ``variant``, ``baseline``, ``test``, ``pairs``,
  ``mean`` and ``base_mean`` with ``mean_ci``/``base_mean_ci`` (95%), ``diff`` with ``low``/``high``
  (at 1 - 2 alpha), ``p_value``, ``margin``, ``alpha``, ``decision`` (worse | not worse | undecided),
  ``more_pairs`` (undecided: about how many pairs would decide), ``excluded`` (pairs whose score raised)
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from pytest_wtb.declare.parity import ParitySpec
from pytest_wtb.report.calls import call_rows
from pytest_wtb.report.failures import show_hint
from pytest_wtb.report.records import RunRecords, cell_outcome, diff_rows, variant_rows
from pytest_wtb.verdict.compare import compare

if TYPE_CHECKING:
    from pytest_wtb.store.urls import StoreURL
    from pytest_wtb.verdict.history import Step

SCHEMA: Final = "pytest-wtb-report/1"
Timelines = dict[str, list["Step"]]


def read_timelines(url: StoreURL, thread_ids: list[str]) -> tuple[Timelines, str | None]:
    """Each thread's checkpoint history from the store, or why it could not be read."""
    from pytest_wtb.errors import WtbError
    from pytest_wtb.store import open_store
    from pytest_wtb.verdict.history import checkpoint_history

    try:
        store = open_store(url, max_connections=1, create=False)
    except WtbError as exc:
        return {}, f"checkpoints not read: {exc}"
    try:
        saver = store.checkpoints.new()
        return {tid: checkpoint_history(saver, tid) for tid in thread_ids}, None
    except Exception as exc:  # a report is a by-product: never fail the run for it
        return {}, f"checkpoints not read: {type(exc).__name__}: {exc}"
    finally:
        store.close()


def timeline(rec: Mapping[str, Any], steps: list[Step] | None) -> list[dict[str, Any]]:
    """Checkpoint steps (keys written) joined with the worker's node timings, in order."""
    pending = list(rec["nodes"])  # [step, node, duration_s, error]

    def take(name: str) -> dict[str, Any]:
        bare = name.removesuffix(" (failed)")
        for i, (_, node, duration, error) in enumerate(pending):
            if node == bare:
                del pending[i]
                return {"name": bare, "duration_s": duration, "error": error}
        return {"name": bare, "duration_s": None, "error": None}

    out: list[dict[str, Any]] = []
    for s in steps or []:
        if s.source == "error":
            node = take(s.nodes[0] if s.nodes else "(failed)")
            node["error"] = node["error"] or str(s.changed.get("error", ""))[:400]
            out.append({"step": s.step, "nodes": [node], "keys": [], "checkpoint_id": None})
            continue
        nodes = [take(n) for n in s.nodes]
        out.append({"step": s.step, "nodes": nodes, "keys": sorted(s.changed), "checkpoint_id": s.checkpoint_id})
    for step, node, duration, error in pending:  # no checkpoint read: timings only
        out.append({"step": step, "nodes": [{"name": node, "duration_s": duration, "error": error}],
                    "keys": None, "checkpoint_id": None})
    return out


def _state_diff(rec: Mapping[str, Any], base: Mapping[str, Any] | None) -> list[dict[str, str]] | None:
    if base is None or base is rec or rec["state"] is None or base["state"] is None:
        return None
    return diff_rows(compare(base["state"], rec["state"], ParitySpec()))


def build(
    records: RunRecords,
    store_display: str | None,
    timelines: Timelines | None = None,
    timeline_note: str | None = None,
) -> dict[str, Any]:
    items_by_key: dict[str, list[dict[str, Any]]] = {}
    for item in records.items.values():
        items_by_key.setdefault(item["key"], []).append(item)
    executions: list[dict[str, Any]] = []
    cases: dict[tuple[str, str], None] = {}
    for rec in records.executions.values():
        cases.setdefault((rec["scope"], rec["case_id"]), None)
        items = items_by_key.get(rec["key"], [])
        base = records.executions.get(rec["baseline_key"] or "")
        executions.append({
            **{k: v for k, v in rec.items() if k != "nodes"},
            "outcome": cell_outcome(rec, items),
            "diff": _state_diff(rec, base),
            "timeline": timeline(rec, (timelines or {}).get(rec["thread_id"])),
            "items": [{**{k: i[k] for k in ("nodeid", "outcome", "parity", "message")},
                       "trajectory": i.get("trajectory")} for i in items],
        })
    rows = variant_rows(records)
    outcomes = [i["outcome"] for i in records.items.values()]
    return {
        "schema": SCHEMA,
        "run_ids": list(records.run_ids),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "store": store_display,
        "show_command": show_hint("{thread_id}", store_display).removeprefix("inspect: "),
        "timeline_note": timeline_note,
        "totals": {
            "executions": len(executions),
            "items": len(outcomes),
            "passed": sum(o in ("passed", "xpassed") for o in outcomes),
            "failed": sum(o in ("failed", "error") for o in outcomes),
            "skipped": sum(o in ("skipped", "xfailed") for o in outcomes),
            "errors": sum(r.errors for r in rows),
            "parity": sum(r.parity for r in rows),
        },
        "variants": [r.as_dict() for r in rows],
        "cases": [{"scope": scope, "case_id": case_id} for scope, case_id in cases],
        "executions": executions,
        "gates": list(records.gates.values()),
        "recordings": call_rows(records),
    }


def write(path: Path, report: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
