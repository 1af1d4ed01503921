"""Make the local Ray that pytest starts die with pytest, also after ``kill -9``.

Ray ties its head processes (GCS, raylet, ...) to the driver with PR_SET_PDEATHSIG, but the
raylet's agents (DashboardAgent, RuntimeEnvAgent) outlive a SIGKILLed raylet by a minute or more:
they try to report its death to the GCS that died with it. So ``connect`` starts this watchdog, a
small child process that reads a pipe from pytest and keeps a list of the Ray processes pytest
started (the subtrees of the children ``ray.init`` spawned, with their start times, so a reused pid
is never mistaken for one). When the pipe ends (pytest closed it, exited, or was killed), it kills
whatever of that list is still alive, and exits. Linux only (/proc); elsewhere it is not started.

Run as ``python -m pytest_wtb.execute.backends.ray_watchdog DRIVER_PID``; pytest writes one line
``roots PID...`` once ``ray.init`` returned. Nothing here imports ray.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from typing import IO, Final

POLL_S: Final = 0.5
PROC: Final = "/proc"

Table = dict[int, tuple[int, int, str]]  # pid -> (ppid, start time, state)


def supported() -> bool:
    return sys.platform.startswith("linux") and os.path.isdir(f"{PROC}/self")


def processes() -> Table:
    table: Table = {}
    for name in os.listdir(PROC):
        if not name.isdigit():
            continue
        try:
            with open(f"{PROC}/{name}/stat", "rb") as fh:
                data = fh.read().decode(errors="replace")
        except OSError:
            continue  # it ended while we looked
        fields = data[data.rindex(")") + 2 :].split()  # after "pid (comm) ": state, ppid, ...
        table[int(name)] = (int(fields[1]), int(fields[19]), fields[0])
    return table


def children(table: Table, parent: int) -> set[int]:
    return {pid for pid, (ppid, _, _) in table.items() if ppid == parent}


def subtrees(table: Table, roots: set[int]) -> set[int]:
    found, todo = set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid in table and pid not in found:
            found.add(pid)
            todo.extend(children(table, pid))
    return found


def kill_tracked(tracked: dict[int, int]) -> None:
    table = processes()
    for pid, started in tracked.items():
        entry = table.get(pid)
        if entry is not None and entry[1] == started and entry[2] != "Z":
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass  # gone meanwhile, or not ours to kill


def watch(driver: int, pipe: IO[bytes]) -> None:
    """Track the driver's Ray processes until ``pipe`` ends, then kill what is left of them."""
    me = os.getpid()
    existing = children(processes(), driver) - {me}  # not Ray's: they were there before ray.init
    roots: set[int] | None = None
    tracked: dict[int, int] = {}
    buffer = b""
    fd = pipe.fileno()
    try:
        while True:
            table = processes()
            start = roots if roots is not None else children(table, driver) - existing - {me}
            tracked.update((pid, table[pid][1]) for pid in subtrees(table, start))
            ready, _, _ = select.select([fd], [], [], POLL_S)
            if not ready:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                break  # pytest closed the pipe, exited or was killed
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                words = line.decode(errors="replace").split()
                if words[:1] == ["roots"]:
                    roots = {int(w) for w in words[1:] if w.isdigit()}
    finally:  # also when SIGTERM (a cancelled CI job) stops the watchdog itself
        kill_tracked(tracked)


class Watchdog:
    """The driver's handle: start before ``ray.init``, name the roots after it, close after shutdown."""

    def __init__(self) -> None:
        self._before = children(processes(), os.getpid())
        self._proc = subprocess.Popen(
            [sys.executable, "-m", __name__, str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def started(self) -> None:
        """ray.init returned: the driver's new children are Ray's head processes."""
        roots = children(processes(), os.getpid()) - self._before - {self._proc.pid}
        self._send(f"roots {' '.join(map(str, sorted(roots)))}\n".encode())

    def _send(self, data: bytes) -> None:
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(data)
            self._proc.stdin.flush()
        except OSError:
            pass  # the watchdog is gone: Ray's own fate sharing is all that is left

    def close(self, timeout_s: float = 10.0) -> None:
        """After ray.shutdown(): the watchdog kills what is left of the cluster and exits."""
        if self._proc.stdin is not None:
            try:
                self._proc.stdin.close()
            except OSError:
                pass
        try:
            self._proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m pytest_wtb.execute.backends.ray_watchdog DRIVER_PID", file=sys.stderr)
        return 2
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C in the terminal is for pytest
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    watch(int(argv[0]), sys.stdin.buffer)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
