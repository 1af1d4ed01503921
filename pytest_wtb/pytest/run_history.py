"""A run's place in the store's history: liveness, --wtb-against, --wtb-keep-days, unsaved results.

WtbSession owns one of these once the store is open; it keeps session.py about the batch and items.
It also says, in the terminal summary, what happened to runs that died, and when this command joins
a run another pytest command started (a reused --wtb-run-id / WTB_RUN_ID, or a CI shard): what it
reused from it and what it ran again. Joining is never silent, so a stale result cannot pass unseen.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from pytest_wtb.declare.parity import ParitySpec
from pytest_wtb.errors import WtbError
from pytest_wtb.model import ExecutionResult
from pytest_wtb.pytest.against import AgainstCheck, resolve_against
from pytest_wtb.pytest.settings import Settings
from pytest_wtb.store import Store
from pytest_wtb.store.lifecycle import ABANDON_AFTER_S, Reaped, SessionLifecycleManager, prune
from pytest_wtb.store.owners import owner_invocation, owner_is_dead, owner_pid
from pytest_wtb.verdict.compare import short

if TYPE_CHECKING:
    from pytest_wtb.execute.batch import Batch
    from pytest_wtb.pytest.items import ItemParam
    from pytest_wtb.pytest.run_view import WtbRun

SHOWN = 3  # executions named per line; the rest are counted
# a run fails when any pytest command that wrote into it failed: CI shards fail together (one that
# was interrupted or died left unfinished executions, which the next command runs again)
_CARRIED = ("failed", "error")


def baseline_warnings(run: Any, requested: str, max_age_days: float | None) -> list[str]:
    """A stored baseline that is old, or came from another pytest-wtb, is worth a word."""
    from pytest_wtb.store.runs import wtb_version

    found = []
    age_days = (time.time() - run.started_at) / 86400
    if max_age_days is not None and age_days > max_age_days:
        found.append(f"pytest-wtb: warning: --wtb-against={requested} is run {run.run_id}, {age_days:.1f} days old: "
                     f"older than --wtb-baseline-max-age={max_age_days:g}; bless a newer run")
    if run.wtb_version and run.wtb_version != wtb_version():
        found.append(f"pytest-wtb: warning: --wtb-against={requested} is run {run.run_id}, recorded by pytest-wtb "
                     f"{run.wtb_version}; this is {wtb_version()}: differences may come from pytest-wtb itself")
    return found


class RunHistory:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        run_id: str,
        worker_id: str,
        owner: str = "",
        joined: dict[str, Any] | None = None,
    ) -> None:
        """``owner``: this process's owner label; ``joined``: the run's row as it was when this
        process joined it (None: a new run)."""
        self.owner = owner
        self.joined = joined
        self.store = store
        self.settings = settings
        self.run_id = run_id
        self.worker_id = worker_id
        self.lifecycle = SessionLifecycleManager(store.results, run_id)
        self.against: AgainstCheck | None = None
        self.unsaved: dict[str, str] = {}  # thread_id -> why its result could not be saved
        self.notes: list[str] = []  # for the terminal summary

    def start(self) -> None:
        """Mark dead runs abandoned, keep this one's heartbeat, find the run --wtb-against names.
        Raises StoreError for an unknown run id (the caller makes it a usage error)."""
        self.notes += reaped_lines(self.lifecycle.start(), self.run_id)
        if self.joined is not None and owner_invocation(self.joined.get("owner")) != owner_invocation(self.owner):
            self.notes.append(joined_line(self.run_id, self.joined))
        requested = self.settings.against
        if not requested:
            return
        found = resolve_against(self.store.results, requested, self.run_id)
        if found is None:
            self.notes.append(
                f"pytest-wtb: --wtb-against={requested}: no earlier finished run in {self.store.url.display}; "
                "nothing was compared"
            )
            return
        self.against = AgainstCheck(self.store.results, found, requested, self.run_id, self.store.checkpoints)
        self.notes.append(f"pytest-wtb: compared executions with stored {self.against.description}")
        self.notes += baseline_warnings(found, requested, self.settings.baseline_max_age_days)

    def note_results(self, *results: ExecutionResult | None) -> None:
        for result in results:
            if result is not None and result.store_error:
                self.unsaved[result.thread_id] = result.store_error

    def against_failures(
        self, nodeid: str, props: list[tuple[str, object]], run: WtbRun, param: ItemParam
    ) -> list[str]:
        """The --wtb-against parity failure text for this item's execution, if its state changed."""
        if self.against is None:
            return []
        result = run.result
        try:
            found = self.against.check(param.scope, result, run.input, param.parity or ParitySpec())
        except WtbError as exc:
            return [f"parity with stored {self.against.description} could not be checked: {exc}"]
        if found is None:
            return []
        props.append(("wtb_against_thread_id", found.earlier["thread_id"]))
        try:
            self.store.results.record_parity(
                run_id=self.run_id,
                nodeid=nodeid,
                variant=result.variant,
                baseline=found.earlier["variant"],
                case_id=result.case_id,
                passed=found.text is None,  # a trajectory can differ where no key does
                thread_id=result.thread_id,
                baseline_thread_id=found.earlier["thread_id"],
                diff_json=json.dumps([[d.path, short(d.baseline), short(d.other)] for d in found.diffs]),
                against_run=self.against.run.run_id,
            )
        except WtbError:
            pass  # the verdict still reaches pytest
        return [found.text] if found.text else []

    def note_batch(self, batch: Batch) -> None:
        """What this process reused from, and ran again in, a run other pytest commands wrote into;
        and what the run stopped before it finished."""
        who = "" if self.worker_id == "main" else f"[{self.worker_id}] "
        if batch.replaced:
            self.notes.append(
                f"pytest-wtb: {who}run {self.run_id}: ran {len(batch.replaced)} execution(s) again whose stored "
                "result came from other code or inputs, or never finished"
            )
        if batch.reused:
            owners = sorted({_process(o) for o in batch.reused.values()})
            self.notes.append(
                f"pytest-wtb: {who}run {self.run_id}: {len(batch.reused)} execution(s) were not run again: another "
                f"pytest command ({', '.join(owners[:SHOWN])}) recorded them in this run from the same code and "
                "inputs; use a new --wtb-run-id (or unset WTB_RUN_ID) to run everything afresh"
            )
        if batch.cancelled:
            more = f" and {len(batch.cancelled) - SHOWN} more" if len(batch.cancelled) > SHOWN else ""
            self.notes.append(
                f"pytest-wtb: {who}{len(batch.cancelled)} execution(s) had not finished when the run stopped; "
                f"recorded as abandoned: {', '.join(batch.cancelled[:SHOWN])}{more}"
            )

    def finish(self, status: str) -> None:
        """End the run in the store, then prune old runs if --wtb-keep-days asks (one process does)."""
        self.lifecycle.stop()
        before = self.joined.get("status") if self.joined and self.joined.get("ended_at") else None
        if before in _CARRIED and status not in _CARRIED:
            status = str(before)  # an earlier command (a CI shard) of this run failed
        if self.lifecycle.lost:
            self.notes.append(self.lifecycle.lost)
        try:
            self.store.results.end_run(self.run_id, status)
        except WtbError as exc:
            self.notes.append(f"pytest-wtb: the end of this run could not be saved: {exc}")
        keep_days = self.settings.keep_days
        if keep_days is None or self.worker_id not in ("main", "gw0"):
            return
        try:
            pruned = prune(self.store, keep_days, keep={self.run_id})
        except WtbError as exc:
            self.notes.append(f"pytest-wtb: --wtb-keep-days: pruning failed: {exc}")
            return
        if pruned.runs:
            self.notes.append(
                f"pytest-wtb: pruned {len(pruned.runs)} run(s) older than {keep_days:g} days "
                "(--wtb-keep-days) with their checkpoints"
            )

    def summary_lines(self) -> list[str]:
        """What the terminal summary says about the store: unsaved results last, most visible."""
        lines = list(self.notes)
        if self.unsaved:
            lines.append(
                f"pytest-wtb: {len(self.unsaved)} result(s) could not be saved to the store "
                f"{self.store.url.display} (their items were still reported):"
            )
            lines += [f"  {thread_id}: {why}" for thread_id, why in sorted(self.unsaved.items())]
        return lines


def _process(owner: str | None) -> str:
    host = (owner or "?").partition(":")[0]
    return f"process {owner_pid(owner)} on {host}" if owner_pid(owner) is not None else (owner or "unknown")


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts)) if ts else "-"


def joined_line(run_id: str, before: dict[str, Any]) -> str:
    """This pytest command writes into a run another command started: say so, and what that means."""
    owner = before.get("owner")
    if before.get("ended_at"):
        state = f"ended {before.get('status')} at {_when(before.get('ended_at'))}"
    elif owner_is_dead(owner):
        state = f"its {_process(owner)} is gone"
    else:
        state = f"still running in {_process(owner)}" if owner else "still running"
    commit = before.get("git_commit")
    git = f" at git {before.get('git_branch') or '?'}@{str(commit)[:8]}" if commit else ""
    return (
        f"pytest-wtb: run id {run_id!r} (--wtb-run-id / WTB_RUN_ID) already names a run started "
        f"{_when(before.get('started_at'))} on {before.get('host') or '?'}{git} ({state}); this command writes "
        "into it: its stored results are reused only where they finished from the same code and inputs"
    )


def reaped_lines(reaped: Reaped, current: str) -> list[str]:
    """What happened to runs that died: each run, why it is known dead, and what it was running."""
    unfinished: dict[str, list[str]] = defaultdict(list)
    for run_id, thread_id, variant, case_id in reaped.unfinished:
        if run_id != current:
            unfinished[run_id].append(f"{thread_id} ({variant}, {case_id})")
    owners = dict(reaped.owners)
    lines = []
    for run_id in sorted((set(unfinished) | set(owners)) - {current}):
        owner = owners.get(run_id)
        if run_id in owners:
            why = f"its process {owner_pid(owner)} is gone" if owner_is_dead(owner) else (
                f"no heartbeat for {ABANDON_AFTER_S:g}s")
            head = f"pytest-wtb: the previous run {run_id} ended without finishing ({why})"
        else:
            head = f"pytest-wtb: run {run_id} lost a pytest process that had not finished"
        names = unfinished.get(run_id, [])
        more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
        during = f" during execution{'s' if len(names) > 1 else ''} {', '.join(names[:SHOWN])}{more}" if names else ""
        lines.append(f"{head}{during}; marked abandoned")
    return lines
