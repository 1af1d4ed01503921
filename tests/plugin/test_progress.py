"""The live progress line: drawn on a terminal while items wait for a long batch, never in a pipe."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time

import pytest

from tests.plugin.graphs_src import GRAPH

SLOW = GRAPH + '''

def slow_retrieve(state):
    time.sleep(0.4)
    return {"docs": [f"doc-{state['q']}"], "log": ["retrieve"]}


@wtb.variant(baseline=True)
def base():
    return build()


slow = base.with_nodes({"retrieve": slow_retrieve}, name="slow")


@wtb.cases({f"c{i}": {"q": str(i)} for i in range(8)})
def test_slow(wtb_run):
    assert wtb_run.state["answer"]
'''


def run_on_a_terminal(cwd: str, *args: str, timeout_s: float = 120) -> str:
    """Run pytest with stdout and stderr on a pseudo-terminal of 120 columns; all it printed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm", "WTB_PROGRESS_AFTER_S": "0"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-m", "pytest", *args], cwd=cwd, stdin=subprocess.DEVNULL,
                            stdout=slave, stderr=slave, env=env)
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], deadline - time.monotonic())
            if not ready:
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(master)
        proc.wait(timeout=30)
    return out.decode("utf-8", "replace")


def test_progress_line_on_a_terminal(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_slow=SLOW)
    out = run_on_a_terminal(str(pytester.path), "-p", "no:cacheprovider", "--wtb-workers=2")
    assert "16 passed" in out
    assert "[wtb: " in out and " executions done, " in out and " running, 0 failed, ETA " in out
    assert "\x1b7" in out and "\x1b8\x1b[K" in out  # drawn after pytest's text, then erased
    # every draw is erased before pytest writes again: the last thing before the summary is not our line
    last_draw, last_erase = out.rindex("\x1b7"), out.rindex("\x1b8\x1b[K")
    assert last_erase > last_draw


def test_no_progress_line_when_output_is_not_a_terminal(pytester: pytest.Pytester,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WTB_PROGRESS_AFTER_S", "0")
    pytester.makepyfile(test_slow=SLOW)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--wtb-workers=2")
    result.assert_outcomes(passed=16)
    text = result.stdout.str() + result.stderr.str()
    assert "[wtb" not in text and "\x1b7" not in text
