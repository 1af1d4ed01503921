"""Who wrote a row: ``host:pid:worker[@invocation]``, and whether that process is visibly gone.

No SQLAlchemy here: the batch imports this before any store is opened.
"""

from __future__ import annotations

import os
import socket


def owner_label(worker_id: str = "main", invocation: str = "") -> str:
    """``invocation`` is shared by the xdist workers of one pytest command and differs between
    commands, so a row says whether this command or an earlier one (a CI shard, a rerun) wrote it."""
    label = f"{socket.gethostname()}:{os.getpid()}:{worker_id}"
    return f"{label}@{invocation}" if invocation else label


def owner_invocation(owner: str | None) -> str:
    return (owner or "").rpartition("@")[2] if "@" in (owner or "") else ""


def owner_pid(owner: str | None) -> int | None:
    pid_text = (owner or "").partition(":")[2].partition(":")[0]
    return int(pid_text) if pid_text.isdigit() else None


def owner_is_dead(owner: str | None) -> bool:
    """True only when we can see the owner is gone: a process on this host that no longer exists.
    (A pid reused by another process reads as alive: the heartbeat timeout still catches that run.)"""
    if not owner:
        return False
    host = owner.partition(":")[0]
    pid = owner_pid(owner)
    if host != socket.gethostname() or pid is None or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False
