"""How the threads family runs each configuration: every run a fresh subprocess, every store a fresh SQLite file."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from benchmarks.common.proc import PY, pytest_cmd, require_ok, run_proc
from benchmarks.common.store import core_phases, plugin_run

NO_HYPOTHESIS = ("-p", "no:hypothesispytest")
NO_SHARE_PREFIX = "--wtb-no-share-prefix"
NOOP = ("--wtb-backend=bench-noop",)  # the generated conftest's backend: see common/project.py


def plugin_options(cwd: Path) -> str:
    """``pytest --help`` text, to use options only when the plugin under test has them."""
    return run_proc([PY, "-m", "pytest", "--help"], cwd).out


def run_wtb(project: Path, n_items: int, workers: int, extra: tuple[str, ...] = ()) -> dict[str, float]:
    """One plugin run on a fresh store; phase times from the conftest and the store."""
    store_dir = Path(tempfile.mkdtemp(prefix="store-", dir=project))
    proc, span = plugin_run(project, f"sqlite:///{store_dir / 'wtb.db'}", n_items,
                            (f"--wtb-workers={workers}", *extra))
    if span["succeeded"] != n_items:
        print(f"  WARNING: expected {n_items} succeeded executions in the store, found {span}", flush=True)
    t = proc.times
    res = {
        "wall": proc.wall_s,
        "cpu": proc.cpu_s,
        "maxrss_mb": proc.maxrss_mb,
        **core_phases(proc, span),
        "tail": t["loop_end"] - span["last_end"],  # items still reported after the last result
        "finish": proc.t0 + proc.wall_s - t["loop_end"],  # everything after the test loop
        "sessionfinish": t["summary_start"] - t["sessionfinish_start"],  # incl. pytest-wtb's finish()
        "exit": proc.t0 + proc.wall_s - t["unconfigure"],  # interpreter shutdown
        "extra_execs": span["count"] - span["succeeded"],  # e.g. shared-prefix executions
    }
    shutil.rmtree(store_dir, ignore_errors=True)
    return res


def run_collect_only(project: Path, n_items: int) -> dict[str, float]:
    proc = run_proc(pytest_cmd(".", "--collect-only"), project)
    require_ok(proc, f"--collect-only in {project}", f"{n_items} test")
    return {
        "wall": proc.wall_s,
        "cpu": proc.cpu_s,
        "maxrss_mb": proc.maxrss_mb,
        "collect": proc.times["collect_end"] - proc.times["collect_start"],
    }


def run_plain_collect(project: Path, extra: tuple[str, ...]) -> dict[str, float]:
    proc = run_proc(pytest_cmd(".", "--collect-only", *extra), project)
    require_ok(proc, f"--collect-only {extra} in {project}", "1 test")
    return {"wall": proc.wall_s, "cpu": proc.cpu_s, "maxrss_mb": proc.maxrss_mb}


def run_handwritten(
    project: Path, n_variants: int, n_cases: int, sleep_s: float, workers: int, mode: str = "shared"
) -> dict[str, float]:
    """handwritten.py (generated) as a subprocess; ``loop``: its in-process ThreadPoolExecutor loop alone."""
    store_dir = Path(tempfile.mkdtemp(prefix="hw-", dir=project))
    cmd = [PY, "handwritten.py", str(store_dir / "hw.db"), str(n_variants), str(n_cases), str(sleep_s),
           str(workers), mode]
    proc = run_proc(cmd, project)
    require_ok(proc, " ".join(cmd), '"loop_s"')
    data = json.loads(proc.out.strip().splitlines()[-1])
    shutil.rmtree(store_dir, ignore_errors=True)
    return {
        "wall": proc.wall_s,
        "cpu": proc.cpu_s,
        "loop": data["loop_s"],
        "loop_cpu": data["loop_cpu_s"],
        "maxrss_mb": proc.maxrss_mb,
    }


def run_pytest_floor(project: Path, n_items: int) -> dict[str, float]:
    """pytest with every installed plugin on no-op items: what any pytest run of this size costs."""
    proc = run_proc(pytest_cmd("."), project)
    require_ok(proc, f"pytest in {project}", f"{n_items} passed")
    return {"wall": proc.wall_s, "cpu": proc.cpu_s, "loop": proc.times["loop_end"] - proc.times["loop_start"]}


def run_param(project: Path, n_items: int, xdist: int) -> dict[str, float]:
    """The same tests with plain parametrize + graph.invoke under ``pytest -n xdist``."""
    store_dir = Path(tempfile.mkdtemp(prefix="param-", dir=project))
    cmd = pytest_cmd(".", "-n", str(xdist))
    proc = run_proc(cmd, project, {"WTB_BENCH_PARAM_DB": str(store_dir / "param.db")})
    require_ok(proc, " ".join(cmd), f"{n_items} passed")
    shutil.rmtree(store_dir, ignore_errors=True)
    return {"wall": proc.wall_s, "cpu": proc.cpu_s, "maxrss_mb": proc.maxrss_mb}
