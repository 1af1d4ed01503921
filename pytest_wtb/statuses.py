"""What an execution's status may be, and a recorded call's (--wtb-record): plain names, imported by
every layer (declarations too)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"
TIMED_OUT: Final = "timed_out"
LOST: Final = "lost"
INTERRUPTED: Final = "interrupted"  # paused at interrupt() (or interrupt_before/after) with no resume left
RUNNING: Final = "running"
FINAL_STATUSES: Final = frozenset({SUCCEEDED, FAILED, TIMED_OUT, LOST, INTERRUPTED})
STATUSES: Final = (SUCCEEDED, FAILED, TIMED_OUT, LOST, INTERRUPTED)  # what wtb_run.status may be

# a model or tool call under --wtb-record (execute/tape.py), as an execution's ``calls`` name it
REPLAYED: Final = "replayed"
RECORDED: Final = "recorded"
LIVE: Final = "live"
MISSING: Final = "missing"
CALL_STATUSES: Final = (REPLAYED, RECORDED, LIVE, MISSING)


def count_calls(calls: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Calls per status (an execution's ``calls``, as stored with its result), in CALL_STATUSES order."""
    counts = dict.fromkeys(CALL_STATUSES, 0)
    for call in calls:
        status = call.get("status")
        counts[status if status in counts else LIVE] += 1
    return counts
