"""No run lies about its state: Ctrl-C, a process that dies mid-run, a compared second backend, and
the local Ray a killed pytest started."""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from typing import Any

import pytest

from tests.conftest import service_missing
from tests.plugin.graphs_src import GRAPH
from tests.plugin.test_compare_backends import MODULE as COMPARED
from tests.plugin.test_compare_backends import SKEWED_BACKEND

INTERRUPTED = GRAPH + '''
import os
import threading

STARTED = threading.Event()
NEVER = threading.Event()


@wtb.variant(baseline=True)
def base():
    return build()


def slow_answer(state):
    if os.environ.get("WTB_INTERRUPT") and state["q"] == "slow":
        STARTED.set()
        NEVER.wait(60)  # still running when pytest is interrupted
    return {"answer": f"answer to {state['q']}", "score": 0.5, "log": ["answer"]}


slowv = base.with_nodes({"answer": slow_answer}, name="slowv")


@wtb.cases({"fast": {"q": "fast"}, "slow": {"q": "slow"}})
def test_x(wtb_run):
    if os.environ.get("WTB_INTERRUPT") and (wtb_run.variant, wtb_run.case_id) == ("base", "fast"):
        assert STARTED.wait(30)
        raise KeyboardInterrupt  # what Ctrl-C does while items run
'''

CRASHING = GRAPH + '''
import os


@wtb.variant(baseline=True)
def base():
    return build()


def crash(state):
    if os.environ.get("WTB_CRASH"):
        os._exit(3)  # the whole pytest process dies mid-execution, with no word
    return {"answer": f"answer to {state['q']}", "score": 0.5, "log": ["answer"]}


doomed = base.with_nodes({"answer": crash}, name="doomed")


@wtb.cases({"a": {"q": "a"}})
def test_x(wtb_run):
    pass
'''


def query(pytester: pytest.Pytester, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(pytester.path / ".wtb" / "wtb.db")
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def cli(pytester: pytest.Pytester, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest_wtb", *args], cwd=pytester.path, capture_output=True,
                          text=True, timeout=120)


def test_ctrl_c_records_what_finished_cancels_the_rest_and_ends_the_run_interrupted(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_int=INTERRUPTED)
    monkeypatch.setenv("WTB_INTERRUPT", "1")
    result = pytester.runpytest_subprocess("--wtb-run-id=int-1", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([
        "pytest-wtb: 1 execution(s) had not finished when the run stopped; recorded as abandoned: "
        "wtb-int-1-slowv-slow-*",
    ])
    assert query(pytester, "select status, ended_at is not null from wtb_runs") == [("interrupted", 1)]
    rows = {(v, c): (s, e) for v, c, s, e in query(
        pytester, "select variant, case_id, status, error_message from wtb_executions where variant != ?",
        "(shared-prefix)")}
    assert rows.pop(("slowv", "slow")) == (
        "abandoned", "pytest was interrupted (Ctrl-C) before this execution finished")
    assert {s for s, _ in rows.values()} == {"succeeded"}  # what finished is there with its real status
    assert not query(pytester, "select thread_id from wtb_executions where status = 'running'")

    monkeypatch.delenv("WTB_INTERRUPT")
    again = pytester.runpytest("--wtb-run-id=int-1")  # the same run id: what never finished runs now
    again.assert_outcomes(passed=4)
    again.stdout.fnmatch_lines(["pytest-wtb: run int-1: ran 1 execution(s) again whose stored result came from "
                                "other code or inputs, or never finished"])
    assert query(pytester, "select status from wtb_executions where variant = 'slowv' and case_id = 'slow'") == [
        ("succeeded",)]


def test_a_run_whose_process_died_is_reported_at_once_by_runs_and_by_the_next_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_crash=CRASHING)
    crashed = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider"], cwd=pytester.path,
                             env={**os.environ, "WTB_CRASH": "1"}, capture_output=True, text=True, timeout=300)
    assert crashed.returncode == 3, crashed.stdout + crashed.stderr
    ((dead,),) = query(pytester, "select run_id from wtb_runs")
    pid = query(pytester, "select owner from wtb_executions where run_id = ?", dead)[0][0].split(":")[1]

    listed = cli(pytester, "runs")
    assert listed.returncode == 0, listed.stderr
    assert re.search(rf"^{dead}\s.*\babandoned\b", listed.stdout, re.M), listed.stdout
    assert f"its pytest process {pid} on this host is gone: it stopped without finishing" in listed.stdout

    fresh = pytester.runpytest()
    fresh.assert_outcomes(passed=2)
    fresh.stdout.fnmatch_lines([
        f"pytest-wtb: the previous run {dead} ended without finishing (its process {pid} is gone) during "
        f"execution*wtb-{dead}-doomed-a-* (doomed, a)*; marked abandoned",
    ])
    assert query(pytester, "select status from wtb_runs where run_id = ?", dead) == [("abandoned",)]
    assert not query(pytester, "select thread_id from wtb_executions where run_id = ? and status = 'running'", dead)


def test_compared_backends_end_their_second_run_which_never_becomes_last(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(SKEWED_BACKEND)
    pytester.makepyfile(test_cmp=COMPARED)
    pytester.runpytest("--wtb-run-id=plain").assert_outcomes(passed=4)
    compared = pytester.runpytest("--wtb-compare-backends=threads,skewed", "--wtb-run-id=cmp")
    compared.assert_outcomes(passed=3, failed=1)
    compared.stdout.fnmatch_lines([
        "pytest-wtb: backend comparison (threads and skewed): 4 execution(s) compared, 1 differed; "
        "skewed's executions are in run cmp-skewed",
    ])
    runs = dict(query(pytester, "select run_id, status from wtb_runs"))
    assert runs == {"plain": "passed", "cmp": "failed", "cmp-skewed": "failed"}

    diff = cli(pytester, "diff", "last~1", "last")  # the last run is the compared one, not its second leg
    assert diff.stdout.startswith("diff plain (") and " -> cmp (" in diff.stdout.splitlines()[0], diff.stdout
    listed = cli(pytester, "runs")
    assert "the second backend of run cmp (--wtb-compare-backends)" in listed.stdout, listed.stdout


# -- the local Ray that pytest starts ---------------------------------------------------------------

HELD_ON_RAY = GRAPH + '''
import os
import socket
import threading


@wtb.variant(baseline=True)
def base():
    return build()


def hold(state):
    with socket.create_connection(("127.0.0.1", int(os.environ["WTB_TELL_PORT"])), timeout=60) as tell:
        tell.sendall(b"running")
    threading.Event().wait(300)  # still running when pytest is killed
    return {}


held = base.with_nodes({"answer": hold}, name="held")


@wtb.cases({"one": {"q": "one"}})
def test_x(wtb_run):
    pass
'''


def session_processes(sid: int) -> dict[int, str]:
    """Live (not zombie) processes of session ``sid``: pid -> command line."""
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read().decode(errors="replace")
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[3]) != sid or fields[0] == "Z":
                continue
            with open(f"/proc/{name}/cmdline", "rb") as fh:
                found[int(name)] = fh.read().replace(b"\0", b" ").decode(errors="replace")[:120]
        except (OSError, ValueError, IndexError):
            continue
    return found


def wait_gone(pids: set[int], timeout_s: float) -> None:
    """Wait, on pidfds (no polling), until each of ``pids`` has exited or ``timeout_s`` passed."""
    poller, fds = select.poll(), []
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        fds.append(fd)
        poller.register(fd, select.POLLIN)
    deadline = time.monotonic() + timeout_s
    try:
        pending = set(fds)
        while pending and time.monotonic() < deadline:
            for fd, _ in poller.poll(max(0.0, deadline - time.monotonic()) * 1000):
                poller.unregister(fd)
                pending.discard(fd)
    finally:
        for fd in fds:
            os.close(fd)


@pytest.mark.services
def test_kill_9_of_pytest_takes_the_local_ray_it_started_with_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_wtb.execute.backends.ray_cluster import ray_installed

    if not ray_installed():
        service_missing("Ray", "pip install 'pytest-wtb[ray]'")
    if not sys.platform.startswith("linux") or not hasattr(os, "pidfd_open"):
        pytest.skip("reads processes from /proc and waits on pidfds (Linux)")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # pytest starts a local Ray of its own
    pytester.makepyfile(test_held=HELD_ON_RAY)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(240)
        env = {**os.environ, "WTB_TELL_PORT": str(listener.getsockname()[1])}
        pytest_proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "--wtb-backend=ray", "--wtb-workers=1", "-p", "no:cacheprovider"],
            cwd=pytester.path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,  # its session holds pytest and every process the local Ray starts
        )
        sid = pytest_proc.pid
        try:
            listener.accept()[0].close()  # an execution is running on the local Ray
            started = session_processes(sid)
            assert any("raylet" in cmd for cmd in started.values()), started
            pytest_proc.send_signal(signal.SIGKILL)
            pytest_proc.wait(60)
            wait_gone(set(started) - {sid}, timeout_s=30)
            left = session_processes(sid)
            assert not left, f"still running 30s after kill -9 of pytest: {left}"
        finally:
            for pid in session_processes(sid):  # never leave a cluster behind, even when the test fails
                os.kill(pid, signal.SIGKILL)
