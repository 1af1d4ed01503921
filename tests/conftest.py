"""Shared test helpers. Services (PostgreSQL, Ray) skip locally when absent, but fail when
WTB_REQUIRE_SERVICES=1 (as .ci/run sets), so CI can never pass by skipping them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

# pytester's in-process runs forget modules first imported inside a run; the plugin imports its
# store (SQLAlchemy) and LangGraph lazily, so load them here once for every in-process run to share.
import pytest_wtb.store.opening  # noqa: F401  isort: skip
from langgraph.graph import StateGraph  # noqa: F401  isort: skip

REQUIRE_SERVICES = os.environ.get("WTB_REQUIRE_SERVICES", "").strip().lower() in ("1", "true", "yes")


def service_missing(what: str, why: str) -> None:
    """Skip (locally) or fail (WTB_REQUIRE_SERVICES=1) a test whose service is not there."""
    message = f"{what} is not available: {why}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} (WTB_REQUIRE_SERVICES=1 makes this a failure, not a skip)", pytrace=False)
    pytest.skip(message)


# -- Ray: one head node per test session -------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


def _start_ray_head(workdir: Any, temp_dir: str, attempts: int = 3) -> tuple[Any, str]:
    """`ray start --head --block` from ``workdir``; returns the process and its address once it runs.

    The head's ports are picked free here and bound by Ray a moment later; another process can take
    one in between (seen: the client server's "Address already in use", after which `--block` ends
    the whole head). A head that does not stay up for a few seconds is started again on new ports."""
    failure = ""
    for _ in range(attempts):
        started = _try_ray_head(workdir, temp_dir)
        if isinstance(started, tuple):
            return started
        failure = started
    pytest.fail("ray start --head did not come up:\n" + failure, pytrace=False)


def _try_ray_head(workdir: Any, temp_dir: str) -> tuple[Any, str] | str:
    import subprocess
    import sys
    import threading
    import time

    import ray

    port = _free_port()
    cmd = [
        os.path.join(os.path.dirname(sys.executable), "ray"), "start", "--head", "--block",
        "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats",
        f"--port={port}", f"--temp-dir={temp_dir}", f"--object-store-memory={200 * 2**20}",
        f"--ray-client-server-port={_free_port()}", f"--dashboard-agent-listen-port={_free_port()}",
        f"--metrics-export-port={_free_port()}",
    ]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    # a local ray.init() leaves ~/.ray/auth_token behind, which turns token auth on for later heads;
    # the drivers here connect without a token
    env["RAY_AUTH_MODE"] = "disabled"
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    up, lines = threading.Event(), []

    def drain() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "Ray runtime started" in line:
                up.set()
        up.set()

    threading.Thread(target=drain, daemon=True).start()
    came_up = up.wait(120)
    settle = time.monotonic() + 5  # the client server binds its port after "Ray runtime started"
    while came_up and proc.poll() is None and time.monotonic() < settle:
        time.sleep(0.2)
    if not came_up or proc.poll() is not None:
        _stop_ray_head(proc, temp_dir)
        return "".join(lines[-30:])
    return proc, f"{ray.util.get_node_ip_address()}:{port}"


def _stop_ray_head(proc: Any, temp_dir: str) -> None:
    """Stop the head we started, and only it: every process of its session, or naming its temp dir."""
    import signal

    for pid in [int(p) for p in os.listdir("/proc") if p.isdigit()]:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                ours = temp_dir.encode() in fh.read()
            if ours or os.getsid(pid) == proc.pid:
                os.kill(pid, signal.SIGKILL)
        except OSError:
            continue
    proc.wait(timeout=30)


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a Ray head started once per test session, from a directory without test code
    (so every ray test also proves that test code reaches workers that cannot import it)."""
    import importlib.util
    import shutil
    import tempfile

    if importlib.util.find_spec("ray") is None:
        service_missing("Ray", "pip install 'pytest-wtb[ray]'")
    temp_dir = tempfile.mkdtemp(prefix="wtbr", dir="/tmp")  # short: Ray's socket paths have a length limit
    proc, address = _start_ray_head(tmp_path_factory.mktemp("ray-head"), temp_dir)
    try:
        yield address
    finally:
        _stop_ray_head(proc, temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def ray_driver(ray_cluster: str) -> Iterator[Any]:
    """This process attached to the session's Ray head (unit tests of the ray backend)."""
    import ray

    ray.init(address=ray_cluster, logging_level="ERROR", log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture
def ray_address(ray_cluster: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """RAY_ADDRESS for pytester subprocesses, so `--wtb-backend=ray` joins the session's head."""
    monkeypatch.setenv("RAY_ADDRESS", ray_cluster)
    return ray_cluster
