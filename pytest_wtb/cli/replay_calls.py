"""``replay --record``: a replayed execution's model and tool calls come from the store's recordings
(the default for an execution that recorded or replayed any), so following up a failure costs no
model call and gives the answers the original got."""

from __future__ import annotations

from typing import Any

from pytest_wtb.execute.tape import register_snapshot
from pytest_wtb.model import ExecutionResult
from pytest_wtb.statuses import count_calls
from pytest_wtb.store import recordings


def replay_record_mode(store: Any, row: dict[str, Any], chosen: str | None) -> str:
    """The mode the replay runs under; with one, the store's recordings (all of them) become its snapshot."""
    mode = chosen or ("none" if _had_calls(store, row) else "off")
    if mode != "off":
        with store.results.read() as conn:
            register_snapshot(str(row["run_id"]), recordings.snapshot(conn, run_id=""))
    return mode


def keep_recordings(store: Any, row: dict[str, Any], result: ExecutionResult) -> None:
    """What a replay under --record=new recorded goes into the store like a run's (and hits are counted)."""
    if result.recordings or result.extra.get("calls"):
        with store.results.write() as conn:
            recordings.write(conn, str(row["run_id"]), [result])


def replay_call_lines(mode: str, result: ExecutionResult) -> list[str]:
    calls = result.extra.get("calls") or []
    if mode == "off":
        return []
    counts = ", ".join(f"{n} {s}" for s, n in count_calls(calls).items() if n)
    return [f"  model and tool calls (--record {mode}): {counts or 'none made'}"]


def _had_calls(store: Any, row: dict[str, Any]) -> bool:
    result = store.results.result_from_row(row)
    return bool(result is not None and result.extra.get("calls"))
