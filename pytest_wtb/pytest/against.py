"""``--wtb-against=RUN_ID|last``: compare each execution with the same (scope, variant, case) of a
stored earlier run, besides the baseline variant, with both runs' thread_ids in the failure."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_wtb.declare.parity import ParitySpec
from pytest_wtb.errors import StoreError
from pytest_wtb.model import SUCCEEDED, ExecutionResult
from pytest_wtb.pytest.trajectories import TrajectoryUnreadable, trajectories
from pytest_wtb.report.failures import MAX_PATHS, parted_at, trajectory_lines
from pytest_wtb.store.results import ResultStore
from pytest_wtb.store.rows import input_hash
from pytest_wtb.store.runs import RunInfo, matching_execution, resolve_run
from pytest_wtb.verdict.compare import Difference, compare, short
from pytest_wtb.verdict.trajectory import compare_trajectories

if TYPE_CHECKING:
    from pytest_wtb.store.checkpoints import CheckpointerSource


def resolve_against(results: ResultStore, requested: str, current_run: str) -> RunInfo | None:
    """The run to compare with. ``last`` is the latest finished run other than this one, and None
    when the store has none yet (a first run has nothing to compare with); an id must exist."""
    if requested.strip() == "last":
        try:
            return resolve_run(results, "last", exclude=current_run, finished=True)
        except StoreError:
            return None
    return resolve_run(results, requested, exclude=current_run)


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


@dataclass(frozen=True)
class AgainstOutcome:
    earlier: dict[str, Any]  # the stored execution row
    diffs: list[Difference]
    text: str | None  # the failure text, None when the states agree


class AgainstCheck:
    def __init__(self, results: ResultStore, run: RunInfo, requested: str, current_run: str,
                 checkpoints: CheckpointerSource | None = None) -> None:
        self.results = results
        self.checkpoints = checkpoints  # where trajectories are read, for @wtb.parity(trajectory=...)
        self.store_display = results.url.display
        self.run = run
        self.requested = requested
        self.current_run = current_run

    @property
    def description(self) -> str:
        return f"run {self.run.run_id} (--wtb-against={self.requested}, started {_when(self.run.started_at)})"

    def check(self, scope: str, result: ExecutionResult, case_input: Any, spec: ParitySpec) -> AgainstOutcome | None:
        """Compare ``result`` with the stored run's execution of the same (scope, variant, case);
        None when that run has none, or it did not succeed (there is no final state to compare)."""
        earlier = matching_execution(self.results, self.run.run_id, (scope, result.variant, result.case_id), result.key)
        if earlier is None or earlier["status"] != SUCCEEDED or not result.ok:
            return None
        diffs = compare(self.results.load_state(earlier) or {}, result.state or {}, spec)
        parted = self._trajectory(result, earlier, spec.trajectory)
        if not diffs and not parted:
            return AgainstOutcome(earlier, diffs, None)
        return AgainstOutcome(earlier, diffs, self._text(result, earlier, diffs, input_hash(case_input), parted))

    def _labels(self) -> tuple[str, str]:
        return f"run {self.run.run_id}:", f"this run {self.current_run}:"

    def _trajectory(self, result: ExecutionResult, earlier: dict[str, Any], mode: str | None) -> list[str]:
        """Where this execution's trajectory parts from the stored one's (no lines: it does not)."""
        if mode is None or self.checkpoints is None:
            return []
        try:
            then_t, now_t = trajectories(self.checkpoints, earlier["thread_id"], result.thread_id)
        except TrajectoryUnreadable as exc:
            return [f"  {exc}"]
        found = compare_trajectories(then_t, now_t, mode) if then_t else None  # none kept: pruned
        if found is None:
            return []
        labels = tuple(label.rstrip(":") for label in self._labels())
        return [f"  trajectory=\"{mode}\": they part at step {parted_at(found)}",
                *trajectory_lines(found, (labels[0], labels[1]), (earlier["thread_id"], result.thread_id),
                                  self.store_display)]

    def _text(self, result: ExecutionResult, earlier: dict[str, Any], diffs: list[Difference], now_input: str,
              parted: list[str]) -> str:
        then, now = self._labels()
        width = max(len(then), len(now))
        n = len(diffs)
        how = f"at {n} key path{'s' if n != 1 else ''}" if diffs else "in its trajectory"
        lines = [
            f"parity: variant '{result.variant}' on case '{result.case_id}' differs from the same variant "
            f"and case in stored {self.description} {how}"
        ]
        if earlier["input_hash"] and earlier["input_hash"] != now_input:
            lines.append("  note: the case's input changed since that run")
        for d in diffs[:MAX_PATHS]:
            lines.append(f"  {d.path}")
            lines.append(f"    {then:<{width}} {short(d.baseline)}")
            lines.append(f"    {now:<{width}} {short(d.other)}")
            if d.reason:
                lines.append(f"    {'reason:':<{width}} {d.reason}")
        if n > MAX_PATHS:
            lines.append(f"  ... and {n - MAX_PATHS} more key paths")
        lines += parted
        lines.append(
            f"  {then:<{width}} thread_id={earlier['thread_id']} checkpoint_id={earlier['checkpoint_id'] or '-'}"
        )
        lines.append(f"  {now:<{width}} thread_id={result.thread_id} checkpoint_id={result.checkpoint_id or '-'}")
        lines.append(
            f"  compare the runs: python -m pytest_wtb diff {self.run.run_id} {self.current_run} "
            f"--store '{self.store_display}'"
        )
        return "\n".join(lines)
