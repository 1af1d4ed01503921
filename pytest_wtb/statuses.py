"""What an execution's status may be: plain names, imported by every layer (declarations too)."""

from __future__ import annotations

from typing import Final

SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"
TIMED_OUT: Final = "timed_out"
LOST: Final = "lost"
INTERRUPTED: Final = "interrupted"  # paused at interrupt() (or interrupt_before/after) with no resume left
RUNNING: Final = "running"
FINAL_STATUSES: Final = frozenset({SUCCEEDED, FAILED, TIMED_OUT, LOST, INTERRUPTED})
STATUSES: Final = (SUCCEEDED, FAILED, TIMED_OUT, LOST, INTERRUPTED)  # what wtb_run.status may be
