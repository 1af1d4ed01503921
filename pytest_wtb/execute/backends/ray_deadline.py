"""When a Ray execution is past --wtb-timeout, judged from the driver without blocking on the actor.

The driver only guesses when an execution started (loading its code and input can take seconds), so
at the guessed deadline it asks the actor how far the execution got and moves the deadline if needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from pytest_wtb.execute.backends.ray_pool import Task

LOAD_GRACE_S: Final = 60.0  # how long an execution's code and input may take to load before its clock runs
PROBE_GRACE_S: Final = 5.0  # how long a busy actor may take to say how far an execution got


@dataclass(frozen=True)
class Overdue:
    found: tuple[float, list[str]] | None  # (started, nodes running) as the actor reported, if it did


def next_wait(tasks: list[Task], now: float, wait: float) -> float:
    """How long the driver may block before the next guessed deadline is due."""
    for t in tasks:
        if t.spec.timeout_s is not None and t.started and t.probe is None:
            wait = min(wait, max(0.0, t.started + t.spec.timeout_s - now))
    return wait


def check(task: Task, now: float, ray: Any) -> Overdue | None:
    """Overdue when the execution is past its limit by the actor's own account (or the actor is silent)."""
    actor, limit = task.actor, task.spec.timeout_s
    if actor is None or limit is None or not task.started or now < task.started + limit:
        return None
    if task.probe is None:
        task.probe, task.probe_sent = actor.handle.progress.remote(task.spec.key), now
        return None
    found: tuple[float, list[str]] | None = None
    if ray.wait([task.probe], timeout=0)[0]:
        try:
            found = ray.get(task.probe, timeout=1)
        except Exception:
            found = None
        task.probe = None
        if (found is None or not found[0]) and now < task.sent + limit + LOAD_GRACE_S:
            task.started = now  # its code and input are still loading: not started yet
            return None
        if found is not None and found[0] and now < found[0] + limit:
            task.started = found[0]
            return None
    elif now < task.probe_sent + PROBE_GRACE_S:
        return None
    return Overdue(found)
