"""A run's place in the store's history: liveness, --wtb-against, --wtb-keep-days, unsaved results.

WtbSession owns one of these once the store is open; it keeps session.py about the batch and items.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from pytest_wtb.declare.variants import ParitySpec
from pytest_wtb.errors import WtbError
from pytest_wtb.model import ExecutionResult
from pytest_wtb.pytest.against import AgainstCheck, resolve_against
from pytest_wtb.pytest.settings import Settings
from pytest_wtb.store import Store
from pytest_wtb.store.lifecycle import SessionLifecycleManager, prune
from pytest_wtb.verdict.compare import short

if TYPE_CHECKING:
    from pytest_wtb.pytest.items import ItemParam
    from pytest_wtb.pytest.run_view import WtbRun


class RunHistory:
    def __init__(self, store: Store, settings: Settings, run_id: str, worker_id: str) -> None:
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
        reaped = self.lifecycle.start()
        if reaped.executions or reaped.runs:
            self.notes.append(
                f"pytest-wtb: marked {len(reaped.runs)} run(s) and {len(reaped.executions)} execution(s) "
                "abandoned: their pytest process stopped without finishing"
            )
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
        self.against = AgainstCheck(self.store.results, found, requested, self.run_id)
        self.notes.append(f"pytest-wtb: compared executions with stored {self.against.description}")

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
                passed=not found.diffs,
                thread_id=result.thread_id,
                baseline_thread_id=found.earlier["thread_id"],
                diff_json=json.dumps([[d.path, short(d.baseline), short(d.other)] for d in found.diffs]),
                against_run=self.against.run.run_id,
            )
        except WtbError:
            pass  # the verdict still reaches pytest
        return [found.text] if found.text else []

    def finish(self, status: str) -> None:
        """End the run in the store, then prune old runs if --wtb-keep-days asks (one process does)."""
        self.lifecycle.stop()
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
