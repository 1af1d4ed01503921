"""Which machine, which versions and which plugin code a run measured (read-only git commands)."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BASE_PACKAGES = ("pytest", "pytest-xdist", "langgraph", "langgraph-checkpoint-sqlite", "pytest-wtb")


def loadavg() -> float:
    return os.getloadavg()[0]


def log(msg: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def machine() -> str:
    try:
        load = "load avg {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        load = "load avg n/a"
    return f"{platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}, {load}"


def versions(extra: tuple[str, ...] = ()) -> str:
    from importlib.metadata import version

    out = []
    for name in (*BASE_PACKAGES, *extra):
        try:
            out.append(f"{name} {version(name)}")
        except Exception:
            out.append(f"{name} ?")
    return ", ".join(out)


def git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def git_state() -> str:
    """HEAD, pytest_wtb/'s tree hash and how many uncommitted changes it has: which plugin code was measured."""
    head = git("rev-parse", "--short", "HEAD") or "?"
    tree = git("rev-parse", "--short", "HEAD:pytest_wtb") or "?"
    dirty = git("status", "--porcelain", "--", "pytest_wtb")
    changes = f" + {len(dirty.splitlines())} uncommitted change(s)" if dirty else ""
    return f"git {head} (pytest_wtb tree {tree}{changes})"


def code_state() -> str:
    """The tree hash of pytest_wtb/ at HEAD plus its uncommitted changes: what the runs executed."""
    tree = git("rev-parse", "HEAD:pytest_wtb") or "unknown"
    dirty = git("diff", "HEAD", "--", "pytest_wtb")
    return f"{tree}+{hash(dirty) & 0xFFFFFFFF:08x}" if dirty else tree
