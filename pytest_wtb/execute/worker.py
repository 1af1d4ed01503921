"""The one function every backend runs: execute a spec against a checkpointer, return plain data.

It never raises for a failing workflow: errors become an ExecutionResult that says which node
raised what, so one broken execution cannot take down the batch.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from pytest_wtb.declare.run_settings import build_context
from pytest_wtb.errors import GraphBuildError
from pytest_wtb.execute.fork import copy_thread, last_step
from pytest_wtb.execute.graphs import compile_variant, needs_async, rebound
from pytest_wtb.execute.outcome import STOP, outcome_extra, unused_resume_error
from pytest_wtb.execute.record_hooks import open_tape
from pytest_wtb.execute.stores import private_store
from pytest_wtb.execute.tape import RecordingsNotLoaded, Tape, settle
from pytest_wtb.execute.tracebacks import error_info, user_traceback
from pytest_wtb.model import FAILED, INTERRUPTED, SUCCEEDED, ErrorInfo, ExecutionResult, ExecutionSpec, NodeRun

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

DEFAULT_RECURSION_LIMIT = 25  # langchain_core.runnables.config's, for a graph and case that set none


@dataclass
class Progress:
    """What an execution is doing right now; read by timeout watchdogs from another thread."""

    started: float = 0.0
    running: dict[str, str] = field(default_factory=dict)  # task id -> node
    lock: threading.Lock = field(default_factory=threading.Lock)

    def nodes(self) -> list[str]:
        with self.lock:
            return sorted(set(self.running.values()))


_process_label: tuple[int, str] = (0, "")


def worker_label() -> str:
    global _process_label
    pid, label = _process_label
    if pid != os.getpid():  # gethostname is a system call: once per process, not per execution
        _process_label = pid, label = os.getpid(), f"{socket.gethostname()}:{os.getpid()}"
    return f"{label}:{threading.current_thread().name}"


@dataclass
class Attempt:
    """One execution under way: its compiled graph, config and what the stream has shown so far.
    The sync loop here and the async one in aio.py drive it alike."""

    spec: ExecutionSpec
    graph: Any
    config: RunnableConfig
    context: Any
    progress: Progress
    on_node: Callable[[NodeRun], None] | None
    base: dict[str, Any]
    t0: float
    nodes: list[NodeRun] = field(default_factory=list)
    task_started: dict[str, float] = field(default_factory=dict)
    step: int = 0
    resumes_used: int = 0
    tape: Tape | None = None  # --wtb-record: its model and tool calls
    scratch_store: Any = None  # a fork's store as its factory seeded it, should it run from scratch after all

    def recording(self) -> AbstractContextManager[None]:
        return self.tape.active() if self.tape is not None else nullcontext()

    def settled(self, result: ExecutionResult) -> ExecutionResult:
        return settle(self.tape, result) if self.tape is not None else result

    forked: bool = False

    def first_input(self) -> Any:
        return None if self.forked else self.spec.input

    def fork(self, saver: Any) -> None:
        """Copy the shared prefix's thread into this one, or run from scratch when the copy could not
        give the same result: LangGraph counts ``recursion_limit`` from the checkpoint an invocation
        starts at, so a fork gets the budget the prefix left, and none left means no fork."""
        source = self.spec.fork_thread_id
        assert source is not None
        step = last_step(saver, source)
        if step is None:
            raise RuntimeError(f"shared prefix thread {source} has no checkpoints to fork from")
        limit = self.config.get("recursion_limit") or (self.graph.config or {}).get("recursion_limit")
        # a fresh thread stops after step recursion_limit; one resumed at step k after k + 2 + its own limit
        left = int(limit or DEFAULT_RECURSION_LIMIT) - step - 2
        if left < 1:
            self.base["extra"] = {"unshared": "the recursion limit ends within the shared prefix's budget"}
            if self.scratch_store is not None:  # from scratch means from the factory's store, too
                self.graph = rebound(self.graph, store=self.scratch_store)
            return
        fork_point = copy_thread(saver, source, self.spec.thread_id)
        self.config = cast("RunnableConfig", {**self.config, "recursion_limit": left})
        self.forked = True
        self.base["extra"] = {"forked_from": source, "fork_checkpoint_id": fork_point}

    def stream_config(self) -> RunnableConfig:
        if not self.resumes_used:
            return self.config
        value = self.spec.resume[self.resumes_used - 1]
        shown = {"wtb_resume": self.resumes_used, "wtb_resume_value": repr(value)[:200]}
        metadata = {**self.config.get("metadata", {}), **shown}
        return cast("RunnableConfig", {**self.config, "metadata": metadata})

    def next_resume(self, snapshot: Any) -> Any:
        """What to continue a paused thread with: a Command, or None (LangGraph's own way to continue
        an interrupt_before/after pause; it has no use for Command(resume=None)). STOP when it ran to the
        end, has no resume left, or is a shared prefix, which stops on purpose."""
        if self.spec.is_prefix or not snapshot.next or self.resumes_used >= len(self.spec.resume):
            return STOP
        from langgraph.types import Command

        value = self.spec.resume[self.resumes_used]
        self.resumes_used += 1
        if value is None or isinstance(value, Command):
            return value
        return Command(resume=value)

    def on_event(self, event: dict[str, Any]) -> None:
        task_id, name = str(event["id"]), str(event["name"])
        progress = self.progress
        if "result" in event or "error" in event:
            with progress.lock:
                progress.running.pop(task_id, None)
            node_error = event.get("error")
            run = NodeRun(
                step=self.step,
                node=name,
                duration_s=time.perf_counter() - self.task_started.pop(task_id, self.t0),
                error=None if node_error is None else f"{type(node_error).__name__}: {node_error}",
            )
            self.nodes.append(run)
            if self.on_node is not None:
                self.on_node(run)
            if not progress.running:
                self.step += 1
        else:
            self.task_started[task_id] = time.perf_counter()
            with progress.lock:
                progress.running[task_id] = name

    def finished(self, snapshot: Any) -> ExecutionResult:
        values = snapshot.values if isinstance(snapshot.values, dict) else {"__root__": snapshot.values}
        extra = {**self.base.pop("extra", {}), **outcome_extra(self, snapshot)}
        status, error = SUCCEEDED, None
        if snapshot.next and not self.spec.is_prefix:
            status = INTERRUPTED
        elif self.resumes_used < len(self.spec.resume):
            status, error = FAILED, unused_resume_error(self.spec, self.resumes_used)
        return self.settled(ExecutionResult.of(
            self.spec,
            status,
            state=dict(values),
            error=error,
            checkpoint_id=snapshot.config["configurable"].get("checkpoint_id"),
            duration_s=time.perf_counter() - self.t0,
            nodes=tuple(self.nodes),
            pending_nodes=tuple(snapshot.next),
            extra=extra,
            **self.base,
        ))

    def failed(self, exc: BaseException, node: str | None, checkpoint_id: str | None) -> ExecutionResult:
        return self.settled(ExecutionResult.of(
            self.spec,
            FAILED,
            error=error_info(exc, node),
            checkpoint_id=checkpoint_id,
            duration_s=time.perf_counter() - self.t0,
            nodes=tuple(self.nodes),
            **self.base,
        ))


def begin(
    spec: ExecutionSpec,
    checkpointer: Any,
    *,
    backend: str,
    progress: Progress | None = None,
    worker: str | None = None,
    on_node: Callable[[NodeRun], None] | None = None,
) -> Attempt | ExecutionResult:
    """Compile the spec's graph (a failed result when that fails) and set up its config and context."""
    progress = progress or Progress()
    progress.started = time.time()
    t0 = time.perf_counter()
    base: dict[str, Any] = dict(started_at=progress.started, backend=backend, worker=worker or worker_label())
    try:
        graph = compile_variant(spec.variant, checkpointer, interrupt_before=spec.interrupt_before)
        scratch_store = None
        if spec.store_seed is not None and graph.store is not None:  # a fork: the store its prefix left
            scratch_store = graph.store
            graph = rebound(graph, store=private_store(scratch_store, spec.store_seed))
        context = build_context(getattr(graph, "context_schema", None), spec.context)
        tape = open_tape(spec, graph)
    except (GraphBuildError, ValueError, RecordingsNotLoaded) as exc:
        kind = type(exc).__name__ if isinstance(exc, GraphBuildError | RecordingsNotLoaded) else "ContextError"
        err = ErrorInfo(type=kind, message=str(exc), traceback=user_traceback(exc))
        return ExecutionResult.of(spec, FAILED, error=err, duration_s=time.perf_counter() - t0, **base)
    configurable = {**spec.config.get("configurable", {}), "thread_id": spec.thread_id}
    # what a stochastic fake may seed from: the same in every run (a thread_id also holds the run id)
    # (not the variant: a shared prefix runs once for several variants)
    metadata = {**spec.config.get("metadata", {}), "wtb_case": spec.case_id, "wtb_repetition": spec.repetition}
    config = cast("RunnableConfig", {**spec.config, "configurable": configurable, "metadata": metadata})
    return Attempt(spec, graph, config, context, progress, on_node, base, t0, tape=tape, scratch_store=scratch_store)


def execute(
    spec: ExecutionSpec,
    checkpointer: Any,
    *,
    backend: str,
    progress: Progress | None = None,
    worker: str | None = None,
    on_node: Callable[[NodeRun], None] | None = None,
) -> ExecutionResult:
    """Run ``spec`` to its end on the calling thread. A graph with async nodes runs on this process's
    shared event loop (aio.py) while the caller waits; backends that own loops call aio directly."""
    attempt = begin(spec, checkpointer, backend=backend, progress=progress, worker=worker, on_node=on_node)
    if isinstance(attempt, ExecutionResult):
        return attempt
    if needs_async(attempt.graph):
        from pytest_wtb.execute.aio import run_blocking

        return run_blocking(attempt, checkpointer)
    return run_sync(attempt, checkpointer)


def run_sync(attempt: Attempt, checkpointer: Any) -> ExecutionResult:
    graph, spec = attempt.graph, attempt.spec
    try:
        if spec.fork_thread_id is not None:
            attempt.fork(checkpointer)
            graph = attempt.graph
        graph_input = attempt.first_input()
        while True:
            with attempt.recording():
                for event in graph.stream(graph_input, attempt.stream_config(), context=attempt.context,
                                          stream_mode="tasks", durability="sync"):
                    attempt.on_event(event)
            snapshot = graph.get_state(attempt.config)
            graph_input = attempt.next_resume(snapshot)
            if graph_input is STOP:
                break
    except Exception as exc:
        return attempt.failed(exc, _failing_node(graph, attempt.config, attempt.progress),
                              _last_checkpoint_id(graph, attempt.config))
    return attempt.finished(snapshot)


def _failing_node(graph: Any, config: RunnableConfig, progress: Progress) -> str | None:
    try:
        failed = [t.name for t in graph.get_state(config).tasks if t.error is not None]
    except Exception:
        failed = []
    names = failed or progress.nodes()
    return ", ".join(names) if names else None


def _last_checkpoint_id(graph: Any, config: RunnableConfig) -> str | None:
    try:
        cid = graph.get_state(config).config["configurable"].get("checkpoint_id")
    except Exception:
        return None
    return str(cid) if cid else None

