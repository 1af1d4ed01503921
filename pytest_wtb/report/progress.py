"""A live progress line for long batches: executions done / total, running, failed, ETA.

Only on a terminal (never in CI logs or pipes, never on xdist workers), only once the batch has
run for a few seconds, and only while the test loop is blocked waiting for an execution: the line
is drawn after what pytest has written on the current line (cursor saved, text, cursor restored
and the rest of the line erased before pytest writes again), so pytest's own output is untouched.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

AFTER_S: Final = 3.0  # a batch shorter than this never shows a line
INTERVAL_S: Final = 0.5
SAVE, RESTORE_ERASE = "\x1b7", "\x1b8\x1b[K"


@dataclass(frozen=True)
class Counts:
    total: int
    done: int
    running: int
    failed: int


def batch_counts(batch: Any) -> Counts:
    """Counts from a Batch's futures (results of other xdist workers count as done)."""
    futures = list(batch._futures.values())
    local_done = failed = done = 0
    for future in futures:
        if not future.done():
            continue
        done += 1
        result = future.result()
        if result is not None:
            local_done += 1
            failed += not result.ok
    return Counts(len(futures), done, max(0, batch.local_count - local_done), failed)


def eta(elapsed_s: float, counts: Counts) -> str:
    if counts.done == 0 or counts.done >= counts.total:
        return "?" if counts.done == 0 else "0s"
    left = elapsed_s / counts.done * (counts.total - counts.done)
    return f"{left:.0f}s" if left < 120 else f"{left / 60:.0f}m"


def line_text(counts: Counts, elapsed_s: float, room: int) -> str:
    """The longest form that fits in ``room`` columns, or '' when none does."""
    forms = (
        f"[wtb: {counts.done}/{counts.total} executions done, {counts.running} running, "
        f"{counts.failed} failed, ETA {eta(elapsed_s, counts)}]",
        f"[wtb {counts.done}/{counts.total}, {counts.failed} failed, ETA {eta(elapsed_s, counts)}]",
        f"[wtb {counts.done}/{counts.total}]",
    )
    return next((" " + f for f in forms if len(f) + 1 <= room), "")


class LiveProgress:
    def __init__(
        self,
        out_fd: int,
        counts: Callable[[], Counts],
        room: Callable[[], int],
        markup: Callable[[str], str] = lambda s: s,
        after_s: float = AFTER_S,
    ) -> None:
        self._fd, self._counts, self._room, self._markup = out_fd, counts, room, markup
        self._after_s = after_s
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._waiting = False
        self._drawn = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, name="wtb-progress", daemon=True)
        self._thread.start()

    def _write(self, text: str) -> None:
        try:
            os.write(self._fd, text.encode("utf-8", "replace"))
        except OSError:
            self._stop.set()

    def _tick(self) -> None:
        while not self._stop.wait(INTERVAL_S):
            with self._lock:
                if self._waiting:
                    self._draw()

    def _draw(self) -> None:
        elapsed = time.monotonic() - self._started
        counts = self._counts()
        if elapsed < self._after_s or counts.done >= counts.total:
            return
        text = line_text(counts, elapsed, self._room())
        if not text:
            return
        self._write((RESTORE_ERASE if self._drawn else SAVE) + self._markup(text))
        self._drawn = True

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Around a blocking wait: the line may show meanwhile, and is gone when this returns."""
        with self._lock:
            self._waiting = True  # the ticker draws if this wait outlasts its next tick
        try:
            yield
        finally:
            with self._lock:
                self._waiting = False
                if self._drawn:
                    self._write(RESTORE_ERASE)
                    self._drawn = False

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            self._waiting = False
        try:
            os.close(self._fd)
        except OSError:
            pass


def for_session(config: Any, batch: Any, is_worker: bool) -> LiveProgress | None:
    """A LiveProgress on pytest's terminal, or None: not a TTY, TERM=dumb, -qq, xdist worker."""
    if is_worker or config.get_verbosity() <= -2 or os.environ.get("TERM") == "dumb":
        return None
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return None
    tw = config.get_terminal_writer()
    try:
        fileno = tw._file.fileno()
        if not os.isatty(fileno):
            return None
        fd = os.dup(fileno)  # the terminal itself: fd capture redirects `fileno` while a test runs
    except (AttributeError, OSError, ValueError):
        return None
    after = float(os.environ.get("WTB_PROGRESS_AFTER_S", AFTER_S))

    def markup(text: str) -> str:
        return str(tw.markup(text, cyan=True)) if tw.hasmarkup else text

    return LiveProgress(
        fd,
        lambda: batch_counts(batch),
        lambda: int(tw.fullwidth) - int(tw.width_of_current_line) - 1,
        markup,
        after,
    )
