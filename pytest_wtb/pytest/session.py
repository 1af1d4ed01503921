"""The run's state, kept in ``config.stash``: plan, store, batch, and the checks items run."""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_wtb.errors import ConfigError, ExecutionFailed, WtbError
from pytest_wtb.execute.backends.base import Backend, BackendContext
from pytest_wtb.execute.batch import Batch, owner_label
from pytest_wtb.execute.tape import register_snapshot
from pytest_wtb.model import ExecutionResult
from pytest_wtb.plan.executions import make_plan
from pytest_wtb.plan.fingerprint import Fingerprints
from pytest_wtb.plan.prefix import Shape
from pytest_wtb.pytest.backend_compare import BackendComparison
from pytest_wtb.pytest.gates import GateParam, gate_param, held_keys
from pytest_wtb.pytest.item_check import check_item
from pytest_wtb.pytest.items import ItemParam, VariantCheck, item_param
from pytest_wtb.pytest.recording_marks import modes_and_files
from pytest_wtb.pytest.run_view import WtbRun, as_run
from pytest_wtb.pytest.settings import Settings
from pytest_wtb.report.progress import LiveProgress
from pytest_wtb.report.progress import for_session as progress_for
from pytest_wtb.report.records import RunRecords
from pytest_wtb.store.urls import mask_args

if TYPE_CHECKING:  # the store pulls in SQLAlchemy: only import it once a run has wtb items
    from pytest_wtb.pytest.run_history import RunHistory
    from pytest_wtb.store import Store


def _git(rootdir: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=rootdir, capture_output=True, text=True, timeout=3, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


class WtbSession:
    def __init__(self, config: pytest.Config, settings: Settings, backend: Backend) -> None:
        self.config = config
        self.settings = settings
        self.backend = backend
        self.checks = VariantCheck()
        self.shapes: dict[int, Shape | None] = {}  # prefix-sharing analysis, one per variant
        workerinput = getattr(config, "workerinput", None)
        self.worker_id: str = workerinput["workerid"] if workerinput else "main"
        testrunuid = workerinput.get("testrunuid") if workerinput else None
        # one per pytest command (its xdist workers share it): rows say which command wrote them
        self.invocation: str = (testrunuid or uuid.uuid4().hex)[:12]
        self.run_id: str = settings.run_id or self.invocation
        self.owner = owner_label(self.worker_id, self.invocation)
        self.records = RunRecords(with_state=bool(settings.reports))  # terminal summary, reports, metrics
        self.progress: LiveProgress | None = None
        self.output_lines: list[str] = []  # what --wtb-report/--wtb-metrics wrote, for the summary
        self.store: Store | None = None
        self.batch: Batch | None = None
        self.history: RunHistory | None = None  # liveness, --wtb-against, --wtb-keep-days
        self.comparison: BackendComparison | None = None  # --wtb-compare-backends

    @property
    def store_display(self) -> str | None:
        return self.settings.store.display if self.settings.store else None

    def start(self, items: list[pytest.Item]) -> None:
        """Plan every execution the selected items need and submit them as one batch."""
        pairs: list[tuple[pytest.Item, ItemParam | GateParam]] = [(i, p) for i in items if (p := item_param(i))]
        pairs += [(i, g) for i in items if (g := gate_param(i))]
        if not pairs:
            return
        try:
            record_modes, recordings_files = modes_and_files(self.config, self.settings.record, pairs)
        except ConfigError as exc:
            raise pytest.UsageError(f"pytest-wtb: {exc}") from None
        plan = make_plan(
            self.run_id,
            (r for _, p in pairs for r in p.requests()),
            self.settings.timeout_s,
            shapes=self.shapes if self.settings.share_prefix else None,
            record=record_modes,
            hold=held_keys(p for _, p in pairs),
        )
        assert self.settings.store is not None
        if self.backend.name == "threads":
            with_env = sorted({s.variant_name for s in plan.specs if s.variant.env})
            if with_env:
                raise pytest.UsageError(
                    f"pytest-wtb: variant{'s' if len(with_env) > 1 else ''} {', '.join(map(repr, with_env))} "
                    "declare env=... (a Ray runtime_env), but threads share one process and one environment: "
                    "run with --wtb-backend=ray"
                )
        try:
            store = self.ensure_store()
            if any(s.record != "off" for s in plan.specs):
                store.results.import_recordings(recordings_files)
                register_snapshot(self.run_id, store.results.recordings_snapshot(self.run_id))
            context = BackendContext(
                run_id=self.run_id,
                store_url=self.settings.store,
                checkpointers=store.checkpoints,
                timeout_s=self.settings.timeout_s,
                retries=self.settings.retries,
                share_prefix_min_s=self.settings.share_prefix_min_s,
                concurrency=self.settings.concurrency,
                async_specs=sum(1 for s in plan.specs if self.checks.is_async(s.variant)),
            )
            code_hashes = Fingerprints().for_specs(plan.specs)  # a stale result in this run is run again
            self.batch = Batch(
                plan, self.backend, context, store.results, self.owner,
                shared=xdist_worker(self.config), code_hashes=code_hashes,
            )
            self.batch.start()
            if self.comparison is not None:
                self.comparison.start(plan, self.run_id, context, store, self.owner, code_hashes)
            self.progress = progress_for(self.config, self.batch, xdist_worker(self.config))
            self.records.note_run_id(self.run_id)
        except WtbError as exc:
            self.finish("error")
            raise pytest.UsageError(f"pytest-wtb: {exc}") from None

    def ensure_store(self) -> Store:
        """Open the store and record this run in it, once (the batch and wtb_bench both need it).
        Raises WtbError when the store cannot be opened."""
        if self.store is not None:
            return self.store
        from pytest_wtb.pytest.run_history import RunHistory
        from pytest_wtb.store import open_store
        from pytest_wtb.store.allowlist import allow_types
        from pytest_wtb.store.claims import join_run
        from pytest_wtb.store.runs import wtb_version

        assert self.settings.store is not None
        allow_types(self.settings.allowed_types)
        self.store = open_store(self.settings.store, max_connections=self.settings.thread_workers + 2)
        rootdir = self.config.rootpath
        joined = join_run(
            self.store.results,
            self.run_id,
            self.settings.backend,
            self.owner,
            host=socket.gethostname(),
            git_commit=_git(rootdir, "rev-parse", "HEAD"),
            git_branch=_git(rootdir, "rev-parse", "--abbrev-ref", "HEAD"),
            args=mask_args(self.config.invocation_params.args),  # each argument masked whole: spaces, bare @
            wtb_version=wtb_version(),
        )
        self.history = RunHistory(self.store, self.settings, self.run_id, self.worker_id, self.owner, joined)
        self.history.start()
        return self.store

    def result(self, request_key_: str) -> ExecutionResult:
        if self.batch is None:
            raise ExecutionFailed("pytest-wtb did not start a batch for this item (was it deselected?)")
        if self.progress is None:
            return self.batch.wait(request_key_)
        with self.progress.waiting():
            return self.batch.wait(request_key_)

    def release(self, keys: list[str]) -> None:
        """Run held executions (an adaptive gate's next round)."""
        if self.batch is not None:
            self.batch.release(keys)

    def run_for(self, param: ItemParam) -> WtbRun:
        if param.input_error is not None:  # nothing ran for it: check() fails the item with why
            return param.unrun()
        base_req = param.baseline_request
        baseline = None
        if base_req is not None:
            base_context = self.checks.built_context(base_req.variant, base_req.context)
            baseline = as_run(self.result(base_req.key), base_req.case.input, None, base_context, base_req.config)
        own_context = self.checks.built_context(param.variant, param.own.context)
        own = as_run(self.result(param.own.key), param.case.input, baseline, own_context, param.own.config,
                     param.repetition)
        if self.history is not None:
            self.history.note_results(own.result, baseline.result if baseline else None)
        return own

    def note_item(self, nodeid: str, param: ItemParam, run: WtbRun) -> None:
        """Remember what this item ran: the terminal summary, --wtb-report and metrics read it."""
        if param.input_error is not None:
            return
        is_base = param.baseline is param.variant
        base_key = param.baseline_key
        self.records.note_execution(run.result, param.scope, is_base, base_key, self._prefix_nodes(run.result))
        if run.baseline is not None:
            base_result = run.baseline.result
            self.records.note_execution(base_result, param.scope, True, None, self._prefix_nodes(base_result))
        self.records.note_item(nodeid, run.result.key, base_key)

    def _prefix_nodes(self, result: ExecutionResult) -> int:
        """Nodes a forked execution took from its shared prefix execution instead of running them."""
        spec = self.batch.specs.get(result.key) if self.batch is not None else None
        prefix_key = getattr(spec, "fork_from", None)
        if self.batch is None or prefix_key is None or result.key in self.records.executions:
            return 0
        prefix = self.batch.wait(prefix_key)  # it ended before the fork started
        return len(prefix.nodes) if prefix.ok else 0

    def check(self, item: pytest.Item, run: WtbRun) -> None:
        """Before the test body: fail for a broken execution, then for a parity mismatch."""
        __tracebackhide__ = True
        check_item(self, item, run)

    def _drain_s(self, status: str) -> float:
        """An xdist worker whose items are done may still run executions another worker waits for."""
        if status == "interrupted" or not xdist_worker(self.config):
            return 0.0
        timeout = self.settings.timeout_s
        return timeout * (self.settings.retries + 1) if timeout is not None else DRAIN_S

    def finish(self, status: str) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
        why = STOPPED_BEFORE_FINISHING.get(status, STOPPED_BEFORE_FINISHING["failed"])
        if self.batch is not None:
            self.batch.stop(why, drain_s=self._drain_s(status))
            if self.history is not None:
                self.history.note_batch(self.batch)
        if self.comparison is not None:
            self.comparison.stop(why, status)
            if self.history is not None:
                self.history.notes += self.comparison.summary_lines()
        if self.history is not None:
            self.history.finish(status)  # ends the run in the store, prunes
        elif self.store is not None:
            try:
                self.store.results.end_run(self.run_id, status)
            except WtbError:
                pass
        if self.store is not None:
            self.store.close()
            self.store = None


DRAIN_S = 120.0  # without --wtb-timeout: how long a finished xdist worker lets its executions end

# why an execution still running when the run ends was not finished, by the run's end status
STOPPED_BEFORE_FINISHING = {
    "interrupted": "pytest was interrupted (Ctrl-C) before this execution finished",
    "failed": "pytest ended the run (-x, --maxfail or an error) before this execution finished",
    "passed": "pytest ended the run before this execution finished",
    "error": "the run could not start: this execution was cancelled",
}


def run_status(exitstatus: int | pytest.ExitCode) -> str:
    """The status a run is stored with, from pytest's exit status."""
    if exitstatus == pytest.ExitCode.OK:
        return "passed"
    return "interrupted" if exitstatus == pytest.ExitCode.INTERRUPTED else "failed"


def xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")
