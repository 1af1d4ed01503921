"""``@wtb.parity(trajectory=...)`` for items, --wtb-against, --wtb-compare-backends and wtb_bench.

Trajectories are read from the store's checkpoints after both executions ended (never from code:
checkpoint values only), with one saver per store for the process's main thread, where items and
wtb_bench check parity.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_wtb.declare.parity import TRAJECTORY_MODES
from pytest_wtb.errors import WtbError
from pytest_wtb.model import ExecutionResult
from pytest_wtb.report.failures import parted_at, trajectory_text
from pytest_wtb.verdict.compare import Difference
from pytest_wtb.verdict.trajectory import (
    Divergence,
    Trajectory,
    compare_trajectories,
    divergence_label,
    divergence_row,
    trajectory_of,
)

if TYPE_CHECKING:
    import pytest

    from pytest_wtb.pytest.session import WtbSession
    from pytest_wtb.report.records import RunRecords
    from pytest_wtb.store.checkpoints import CheckpointerSource

JUNIT_PROPERTY = "wtb_trajectory_divergence"
TRAJECTORY_PATH = "(trajectory)"  # what the store's parity row names instead of a key path

_savers: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def saver_for(checkpoints: CheckpointerSource) -> Any:
    saver = _savers.get(checkpoints)
    if saver is None:
        saver = _savers[checkpoints] = checkpoints.new()
    return saver


class TrajectoryUnreadable(Exception):
    """A trajectory could not be read back from the store: the item fails saying so."""


def trajectories(checkpoints: CheckpointerSource, *thread_ids: str) -> list[Trajectory]:
    """The stored trajectories of these threads; TrajectoryUnreadable when the store cannot say."""
    try:
        saver = saver_for(checkpoints)
        return [trajectory_of(saver, t) for t in thread_ids]
    except Exception as exc:  # a store outage or a value the strict serializer refuses: say which
        raise TrajectoryUnreadable(
            f"parity: the trajectories of threads {', '.join(thread_ids)} could not be read from the "
            f"store: {type(exc).__name__}: {exc}"
        ) from None


def divergence(checkpoints: CheckpointerSource, base_thread: str, other_thread: str, mode: str) -> Divergence | None:
    base, other = trajectories(checkpoints, base_thread, other_thread)
    return compare_trajectories(base, other, mode)


@dataclass(frozen=True)
class Parted:
    """An item's trajectory verdict when it failed: the failure text, and the row the store keeps."""

    text: str
    difference: Difference


def item_trajectory_failure(
    session: WtbSession, item: pytest.Item, base: ExecutionResult, other: ExecutionResult, mode: str | None
) -> Parted | None:
    """When ``other`` parts from ``base``'s trajectory under ``mode`` (None: it does not, or no mode
    was asked for); also noted for reports and in the item's JUnit properties."""
    if mode is None or session.store is None:
        return None
    try:
        found = divergence(session.store.checkpoints, base.thread_id, other.thread_id, mode)
    except TrajectoryUnreadable as exc:
        return Parted(str(exc), Difference(TRAJECTORY_PATH, "?", "?", str(exc)))
    if found is None:
        return None
    props = item.user_properties
    if ("wtb_parity", "passed") in props:  # the state keys agreed; the verdict is still a mismatch
        props[props.index(("wtb_parity", "passed"))] = ("wtb_parity", "failed")
    props.append((JUNIT_PROPERTY, divergence_label(found)))
    session.records.note_trajectory(item.nodeid, divergence_row(found, base.thread_id, other.thread_id))
    text = trajectory_text(baseline=base, other=other, found=found, store_display=session.store_display)
    sides = [s.describe() if s is not None else "(no such step)" for s in (found.baseline, found.other)]
    return Parted(text, Difference(f"{TRAJECTORY_PATH} step {parted_at(found)}", sides[0], sides[1], found.why))


def results_trajectory_failures(
    checkpoints: CheckpointerSource, base: ExecutionResult, others: Sequence[ExecutionResult], mode: str | None,
    store_display: str | None, records: RunRecords | None = None, nodeid: str | None = None,
) -> list[str]:
    """wtb_bench.assert_parity: one text per variant whose trajectory parts from the baseline's."""
    if mode is None or not base.ok:
        return []
    texts = []
    for other in others:
        if not other.ok:
            continue
        try:
            found = divergence(checkpoints, base.thread_id, other.thread_id, mode)
        except TrajectoryUnreadable as exc:
            texts.append(str(exc))
            continue
        if found is not None:
            if records is not None and nodeid is not None:
                records.note_trajectory(nodeid, divergence_row(found, base.thread_id, other.thread_id))
            texts.append(trajectory_text(baseline=base, other=other, found=found, store_display=store_display))
    return texts


def checked_mode(trajectory: str | None) -> str | None:
    if trajectory is not None and trajectory not in TRAJECTORY_MODES:
        raise WtbError(f"trajectory={trajectory!r}: use one of {', '.join(TRAJECTORY_MODES)}")
    return trajectory
