"""Running one command as every benchmark does: a clean environment, wall time and wait4's rusage, CPU steal.

The Ray, PostgreSQL and prefix families also sample the process tree from /proc, give Ray a private
temp dir (killing whatever of it is left) and kill a command that runs past a timeout: ``RunOpts``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common.sampling import Sample, proc_files, sample_tree

PY = sys.executable
STEAL: list[float] = []  # % of CPU time the hypervisor took from this VM during each command run here


@dataclass(frozen=True)
class RunOpts:
    sample: bool = False  # sample the process tree (and the run's PostgreSQL backends) every 0.25 s
    private_ray: bool = False  # RAY_TMPDIR of its own, RAY_ADDRESS dropped, usage stats off, leftovers killed
    timeout_s: float | None = None  # SIGKILL the command's session after this long
    # a private PYTHONPYCACHEPREFIX (and PYTHONDONTWRITEBYTECODE dropped), so pytest's assertion-rewrite
    # cache and .pyc files work as on a usual machine without writing anything into the shared venv
    bytecode_cache: str | None = None


PLAIN_OPTS = RunOpts()  # what the threads family (formerly run.py) runs every command with
# what the Ray, PostgreSQL and prefix families (formerly extended.py) run every command with
EXTENDED_OPTS = RunOpts(sample=True, private_ray=True, timeout_s=1800)


@dataclass
class Proc:
    wall_s: float
    rc: int
    out: str
    maxrss_mb: float  # wait4: the process and every descendant it reaped
    cpu_s: float  # user + system CPU of the process (and the children it reaped)
    times: dict[str, Any] = field(default_factory=dict)  # what the generated conftest wrote
    t0: float = 0.0
    samples: list[Sample] = field(default_factory=list)  # the process tree, every 0.25 s (RunOpts.sample)
    steal_pct: float | None = None

    @property
    def tree_peak_mb(self) -> float:
        return max((sum(p[2] for p in s.procs.values()) for s in self.samples), default=0) / 2**20


def clean_env(extra: dict[str, str], opts: RunOpts = PLAIN_OPTS) -> dict[str, str]:
    drop = ("PYTEST_", "WTB_", "RAY_ADDRESS") if opts.private_ray else ("PYTEST_", "WTB_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    if opts.bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = opts.bytecode_cache
    if opts.private_ray:
        env["RAY_USAGE_STATS_ENABLED"] = "0"
    env.update(extra)
    return env


def cpu_ticks() -> tuple[int, int]:
    """(steal, total) jiffies from /proc/stat: a VM whose host is busy loses CPU time it cannot see."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def ray_leftovers(tmpdir: str) -> list[int]:
    """Processes of a Ray we started (their command line names our RAY_TMPDIR)."""
    return [pid for pid, cmd in proc_files("cmdline") if tmpdir.encode() in cmd]


def _kill_ray(tmpdir: str) -> None:
    """Never leave a Ray of ours behind (only processes that name our own temp dir)."""
    for pid in ray_leftovers(tmpdir):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    shutil.rmtree(tmpdir, ignore_errors=True)


def run_proc(
    cmd: list[str],
    cwd: Path,
    extra_env: dict[str, str] | None = None,
    opts: RunOpts = PLAIN_OPTS,
    *,
    side: Callable[[threading.Event], None] | None = None,
    pg_db: str | None = None,
) -> Proc:
    """Wall time and rusage (wait4) of one command; optional /proc sampling and a side thread."""
    times_path = cwd / f".times-{time.monotonic_ns()}.json"
    ray_tmp = tempfile.mkdtemp(prefix="wxr", dir="/tmp") if opts.private_ray else None  # short: Ray's sockets
    env = clean_env({"WTB_BENCH_TIMES": str(times_path), **({"RAY_TMPDIR": ray_tmp} if ray_tmp else {}),
                     **(extra_env or {})}, opts)
    stop = threading.Event()
    threads: list[threading.Thread] = []
    samples: list[Sample] = []
    steal0, total0 = cpu_ticks()
    try:
        with tempfile.TemporaryFile() as out:
            t0_epoch = time.time()
            t0 = time.perf_counter()
            p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=opts.timeout_s is not None)

            def sampler() -> None:
                while True:
                    try:
                        samples.append(sample_tree(p.pid, pg_db))
                    except Exception:
                        pass
                    if stop.wait(0.25):
                        return

            if opts.sample:
                threads.append(threading.Thread(target=sampler, daemon=True))
            if side is not None:
                threads.append(threading.Thread(target=side, args=(stop,), daemon=True))
            for t in threads:
                t.start()
            timer = None
            if opts.timeout_s is not None:
                timer = threading.Timer(opts.timeout_s, lambda: os.killpg(p.pid, signal.SIGKILL))
                timer.start()
            try:
                _, status, usage = os.wait4(p.pid, 0)
            finally:
                if timer is not None:
                    timer.cancel()
            wall = time.perf_counter() - t0
            stop.set()
            for t in threads:
                t.join(timeout=5)
            p.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            text = out.read().decode(errors="replace")
    finally:
        stop.set()
        if ray_tmp is not None:
            _kill_ray(ray_tmp)
    times: dict[str, Any] = {}
    if times_path.exists():
        times = json.loads(times_path.read_text())
        times_path.unlink()
    steal1, total1 = cpu_ticks()
    steal = 100.0 * (steal1 - steal0) / (total1 - total0) if total1 > total0 else None
    if steal is not None:
        STEAL.append(steal)
    cpu = usage.ru_utime + usage.ru_stime
    return Proc(wall, p.returncode, text, usage.ru_maxrss / 1024, cpu, times, t0_epoch, samples, steal)


def require_ok(proc: Proc, what: str, expect: str | None = None) -> None:
    if proc.rc != 0 or (expect is not None and expect not in proc.out):
        tail = "\n".join(proc.out.strip().splitlines()[-30:])
        raise SystemExit(f"benchmark step failed: {what} (exit {proc.rc}, expected {expect!r})\n{tail}")


def pytest_cmd(target: str, *extra: str) -> list[str]:
    return [PY, "-m", "pytest", target, "-q", "-p", "no:cacheprovider", *extra]
