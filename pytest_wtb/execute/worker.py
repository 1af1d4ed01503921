"""The one function every backend runs: execute a spec against a checkpointer, return plain data.

It never raises for a failing workflow: errors become an ExecutionResult that says which node
raised what, so one broken execution cannot take down the batch.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_wtb.errors import GraphBuildError
from pytest_wtb.execute.fork import copy_thread
from pytest_wtb.execute.graphs import compile_variant
from pytest_wtb.model import FAILED, SUCCEEDED, ErrorInfo, ExecutionResult, ExecutionSpec, NodeRun

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

_INTERNAL_PARTS = (
    f"{os.sep}langgraph{os.sep}",
    f"{os.sep}langchain_core{os.sep}",
    f"{os.sep}pytest_wtb{os.sep}",
    f"{os.sep}concurrent{os.sep}futures{os.sep}",
)


@dataclass
class Progress:
    """What an execution is doing right now; read by timeout watchdogs from another thread."""

    started: float = 0.0
    running: dict[str, str] = field(default_factory=dict)  # task id -> node
    lock: threading.Lock = field(default_factory=threading.Lock)

    def nodes(self) -> list[str]:
        with self.lock:
            return sorted(set(self.running.values()))


def worker_label() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"


def user_traceback(exc: BaseException, limit: int = 12) -> str:
    """The traceback without LangGraph's and our own frames: what the user can act on."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not _is_internal(f.filename)]
    lines = traceback.format_list(frames[-limit:])
    lines.extend(traceback.format_exception_only(type(exc), exc))
    # LangGraph adds a note with a random task id; it would make failure texts differ run to run
    return "".join(lines).rstrip().split("\nDuring task with name")[0]


def _is_internal(filename: str) -> bool:
    stdlib = filename.startswith(sys.base_prefix + os.sep + "lib")
    return stdlib or any(part in filename for part in _INTERNAL_PARTS)


def error_info(exc: BaseException, node: str | None) -> ErrorInfo:
    return ErrorInfo(type=type(exc).__name__, message=str(exc), node=node, traceback=user_traceback(exc))


def execute(
    spec: ExecutionSpec,
    checkpointer: Any,
    *,
    backend: str,
    progress: Progress | None = None,
    worker: str | None = None,
    on_node: Callable[[NodeRun], None] | None = None,
) -> ExecutionResult:
    progress = progress or Progress()
    progress.started = time.time()
    t0 = time.perf_counter()
    base: dict[str, Any] = dict(started_at=progress.started, backend=backend, worker=worker or worker_label())
    try:
        graph = compile_variant(spec.variant, checkpointer, interrupt_before=spec.interrupt_before)
    except GraphBuildError as exc:
        err = ErrorInfo(type="GraphBuildError", message=str(exc), traceback=user_traceback(exc))
        return ExecutionResult.of(spec, FAILED, error=err, duration_s=time.perf_counter() - t0, **base)

    config: RunnableConfig = {"configurable": {"thread_id": spec.thread_id}}
    nodes: list[NodeRun] = []
    task_started: dict[str, float] = {}
    step = 0
    graph_input: Any = spec.input
    try:
        if spec.fork_thread_id is not None:
            fork_point = copy_thread(checkpointer, spec.fork_thread_id, spec.thread_id)
            if fork_point is None:
                raise RuntimeError(f"shared prefix thread {spec.fork_thread_id} has no checkpoints to fork from")
            base["extra"] = {"forked_from": spec.fork_thread_id, "fork_checkpoint_id": fork_point}
            graph_input = None  # resume the copied thread at its interrupt with this variant's graph
        for event in graph.stream(graph_input, config, stream_mode="tasks", durability="sync"):
            task_id, name = str(event["id"]), str(event["name"])
            if "result" in event or "error" in event:
                with progress.lock:
                    progress.running.pop(task_id, None)
                node_error = event.get("error")
                run = NodeRun(
                    step=step,
                    node=name,
                    duration_s=time.perf_counter() - task_started.pop(task_id, t0),
                    error=None if node_error is None else f"{type(node_error).__name__}: {node_error}",
                )
                nodes.append(run)
                if on_node is not None:
                    on_node(run)
                if not progress.running:
                    step += 1
            else:
                task_started[task_id] = time.perf_counter()
                with progress.lock:
                    progress.running[task_id] = name
        snapshot = graph.get_state(config)
    except Exception as exc:
        node = _failing_node(graph, config, progress)
        return ExecutionResult.of(
            spec,
            FAILED,
            error=error_info(exc, node),
            checkpoint_id=_last_checkpoint_id(graph, config),
            duration_s=time.perf_counter() - t0,
            nodes=tuple(nodes),
            **base,
        )
    values = snapshot.values if isinstance(snapshot.values, dict) else {"__root__": snapshot.values}
    return ExecutionResult.of(
        spec,
        SUCCEEDED,
        state=dict(values),
        checkpoint_id=snapshot.config["configurable"].get("checkpoint_id"),
        duration_s=time.perf_counter() - t0,
        nodes=tuple(nodes),
        pending_nodes=tuple(snapshot.next),
        **base,
    )


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
