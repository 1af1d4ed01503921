"""The batch's one store writer: finished results are written in groups, one transaction each.

Per-execution transactions cost more GIL time than a trivial workflow's execution itself, so one
thread takes whatever finished meanwhile and commits it together. A result is handed on (to the
items waiting for it) only after it is committed, so what an item reports is what the store holds.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from pytest_wtb.model import LOST, ExecutionResult

if TYPE_CHECKING:
    from pytest_wtb.store.results import ResultStore

RECORD_CHUNK = 256

# a finished result, and the store error that already kept it from being claimed (None: write it)
Finished = tuple[ExecutionResult, str | None]


class Recorder:
    def __init__(self, results: ResultStore, run_id: str, recorded: Callable[[ExecutionResult, str | None], None]):
        self.results = results
        self.run_id = run_id
        self._recorded = recorded
        self._queue: queue.SimpleQueue[Finished | None] = queue.SimpleQueue()  # None asks it to stop
        self._thread = threading.Thread(target=self._loop, name="wtb-recorder", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def put(self, result: ExecutionResult, store_error: str | None) -> None:
        self._queue.put((result, store_error))

    def stop(self, timeout_s: float) -> None:
        """Write what already finished, then stop; results that finish later are not written."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout_s)

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            while len(group) < RECORD_CHUNK:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # stop after this group
                    break
                group.append(item)
            for result, store_error in self._record(group):
                self._recorded(result, store_error)

    def _record(self, group: list[Finished]) -> list[Finished]:
        to_write = [result for result, error in group if error is None]
        try:
            self.results.record_many(self.run_id, to_write)
        except Exception as exc:  # the store went away: keep the results, say they were not saved
            return [(result, error if error is not None else str(exc)) for result, error in group]
        out = []
        for result, store_error in group:
            if store_error is None and result.status == LOST:
                errors = [str(e) for e in result.extra.get("attempt_errors", [])]
                try:
                    self.results.record_dead_letter(self.run_id, result.key, result.thread_id, errors)
                except Exception as exc:
                    store_error = str(exc)
            out.append((result, store_error))
        return out
