"""The execution actor: a plain class the ray backend turns into a Ray actor.

It lives in an importable module of pytest_wtb (never a test module) so workers load it by name.
Each actor opens its own checkpointer connections once, from the store URL (savers do not pickle),
and keeps them for every execution it runs; one saver per actor thread.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Iterator
from typing import Any

from pytest_wtb.execute.backends.ray_cluster import first_line
from pytest_wtb.execute.tape import register_snapshot, snapshot_for
from pytest_wtb.execute.worker import Progress, execute, worker_label
from pytest_wtb.model import FAILED, LOST, ErrorInfo, ExecutionResult, ExecutionSpec
from pytest_wtb.store.checkpoints import CheckpointerSource
from pytest_wtb.store.results import ResultStore
from pytest_wtb.store.urls import StoreURL


def _cloudpickle() -> Any:
    import importlib

    return importlib.import_module("ray.cloudpickle")


def _join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def unserializable(value: Any, dumps: Any, path: str = "") -> tuple[str, Any, BaseException] | None:
    """The deepest key path of ``value`` that ``dumps`` refuses, with the value and the error."""
    try:
        dumps(value)
        return None
    except Exception as exc:
        children: list[tuple[Any, Any]] = []
        if isinstance(value, dict):
            children = list(value.items())
        elif isinstance(value, list | tuple):
            children = list(enumerate(value))
        for key, child in children:
            found = unserializable(child, dumps, _join(path, key))
            if found is not None:
                return found
        return path, value, exc


def describe_unserializable(what: str, found: tuple[str, Any, BaseException]) -> str:
    path, value, exc = found
    where = f"{what} key '{path}'" if path else what
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"{where} holds a {type(value).__name__} that Ray cannot serialize ({reason})"


class Turnstile:
    """At most ``slots`` calls inside at once, admitted strictly in ticket order (0, 1, 2, ...).

    The actor is threaded, so its calls race for a free slot; the driver hands out tickets in the
    order it sends calls, and admitting them in that order is what lets it tell, when the actor
    dies, which calls were running and which were still queued behind them."""

    def __init__(self, slots: int) -> None:
        self._slots = slots
        self._next = 0
        self._inside = 0
        self._changed = threading.Condition()

    @contextlib.contextmanager
    def turn(self, ticket: int) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: ticket == self._next and self._inside < self._slots)
            self._next += 1
            self._inside += 1
            self._changed.notify_all()
        try:
            yield
        finally:
            with self._changed:
                self._inside -= 1
                self._changed.notify_all()


class ExecutionActor:
    def __init__(self, store_url: StoreURL, concurrency: int = 1) -> None:
        self._source = CheckpointerSource(store_url, max_connections=concurrency + 1)
        self._store_url = store_url
        self._local = threading.local()
        self._running: dict[str, Progress] = {}
        self._lock = threading.Lock()
        # calls beyond the actor's concurrency are queued here (pipelining): they start, and their
        # --wtb-timeout clock runs, only when a slot frees up
        self._slots = Turnstile(concurrency)

    def ready(self) -> str:
        """Answers once the actor is placed and initialised; its label names the worker process."""
        return worker_label().rsplit(":", 1)[0]

    def _saver(self) -> Any:
        saver = getattr(self._local, "saver", None)
        if saver is None:
            saver = self._local.saver = self._source.new()
        return saver

    def run(self, spec: ExecutionSpec, case_input: Any, attempt: int, ticket: int) -> ExecutionResult:
        with self._slots.turn(ticket):
            return self._run(dataclasses.replace(spec, input=case_input), attempt)

    def _run(self, spec: ExecutionSpec, attempt: int) -> ExecutionResult:
        saver = self._saver()
        if attempt > 1:
            # a crashed attempt may have left checkpoints; rerunning the input on top of them would
            # apply reducers twice, so the retry starts the thread afresh
            try:
                saver.delete_thread(spec.thread_id)
            except Exception:
                pass
        if spec.record != "off":
            self._load_recordings(spec.run_id)
        progress = Progress()
        with self._lock:
            self._running[spec.key] = progress
        try:
            result = execute(spec, saver, backend="ray", progress=progress, worker=worker_label())
        finally:
            with self._lock:
                self._running.pop(spec.key, None)
        return _sendable(dataclasses.replace(result, attempts=attempt))

    def _load_recordings(self, run_id: str) -> None:
        """The run's recordings snapshot, read once per actor process (this run's own are not in it)."""
        with self._lock:
            if snapshot_for(run_id) is None:
                results = ResultStore(self._store_url)
                try:
                    register_snapshot(run_id, results.recordings_snapshot(run_id))
                finally:
                    results.close()

    def progress(self, key: str) -> tuple[float, list[str]] | None:
        """When the execution ``key`` started and which nodes it is running (for timeout messages)."""
        with self._lock:
            progress = self._running.get(key)
        return None if progress is None else (progress.started, progress.nodes())

    def close(self) -> None:
        self._source.close()


def _sendable(result: ExecutionResult) -> ExecutionResult:
    """The result, or a failure naming the state key Ray cannot send back to the driver."""
    cloudpickle = _cloudpickle()

    try:
        cloudpickle.dumps(result)
        return result
    except Exception:
        pass
    found = unserializable(result.state or {}, cloudpickle.dumps)
    if found is None or not found[0]:
        found = ("", result.state, TypeError("not serializable"))
    message = describe_unserializable("the final state", found) + "; it cannot be sent back to pytest"
    return dataclasses.replace(
        result,
        status=FAILED,
        state=None,
        error=ErrorInfo(type="SerializationError", message=message),
    )


# -- driver-side helpers (no ray import) -------------------------------------------------------------

_INFRA = ("RayActorError", "WorkerCrashedError", "OutOfMemoryError", "NodeDiedError", "ObjectLostError",
          "OwnerDiedError", "LocalRayletDiedError")


def error_summary(exc: BaseException) -> str:
    """The first line of a Ray error, plus any pip ``ERROR:`` lines (a runtime_env that failed)."""
    extra = [ln.strip() for ln in str(exc).splitlines() if ln.strip().startswith("ERROR:")]
    return "; ".join([first_line(exc), *extra])[:800]


def is_infra(exc: BaseException) -> bool:
    """A lost worker (retry on a fresh actor), as opposed to a failure that would only repeat."""
    text = str(exc)
    if "creation task" in text or "runtime env" in text.lower() or "runtime_env" in text:
        return False
    return any(c.__name__ in _INFRA for c in type(exc).__mro__)


def failed(spec: ExecutionSpec, kind: str, message: str, worker: str = "") -> ExecutionResult:
    return ExecutionResult.of(spec, FAILED, error=ErrorInfo(type=kind, message=message), backend="ray", worker=worker)


def lost(spec: ExecutionSpec, message: str, errors: list[str], started: float, worker: str) -> ExecutionResult:
    """Given up after every attempt lost its worker; ``errors`` has one line per attempt."""
    return ExecutionResult.of(spec, LOST, error=ErrorInfo(type="WorkerDied", message=message),
                              attempts=len(errors), started_at=started,
                              duration_s=time.time() - started if started else 0.0, backend="ray", worker=worker,
                              extra={"attempt_errors": list(errors)})


def spec_problem(spec: ExecutionSpec, exc: BaseException) -> str:
    """Why ``spec`` cannot be sent to Ray, naming the input key or variant function at fault."""
    cloudpickle = _cloudpickle()

    found = unserializable(spec.input, cloudpickle.dumps)
    if found is not None:
        return describe_unserializable("the input", found) + "; it cannot be sent to a Ray worker"
    parts = {"factory": spec.variant.factory, **{f"node '{n}'": f for n, f in spec.variant.node_overrides.items()}}
    for what, fn in parts.items():
        bad = unserializable(fn, cloudpickle.dumps)
        if bad is not None:
            return (f"variant '{spec.variant_name}': its {what} ({getattr(fn, '__qualname__', fn)!r}) cannot be "
                    f"sent to a Ray worker: {first_line(bad[2])}")
    return f"the execution cannot be sent to a Ray worker: {first_line(exc)}"
