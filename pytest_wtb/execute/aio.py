"""Async executions: graphs with async nodes run through LangGraph's async API on event loops that
pytest-wtb owns, many executions per loop, so an execution awaiting a model call holds no OS thread.

Checkpoints go through the sync savers of the store (store/checkpoints.py), so async and sync
executions share tables, serializer and the SQL fork copy, and the loop never blocks on the database:
into SQLite written behind the loop by one thread (write_behind.py); into PostgreSQL on a few
dedicated threads (``ThreadedAsyncSaver``), one pooled connection each.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from langgraph.checkpoint.base import BaseCheckpointSaver

from pytest_wtb.execute.backends.base import timeout_result
from pytest_wtb.execute.graphs import rebound
from pytest_wtb.execute.outcome import STOP
from pytest_wtb.model import ExecutionResult

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

    from pytest_wtb.execute.worker import Attempt
    from pytest_wtb.execute.write_behind import WriteBehindSqliteSaver
    from pytest_wtb.store.checkpoints import CheckpointerSource

T = TypeVar("T")
DEFAULT_CONCURRENCY = 64


class ThreadedAsyncSaver(BaseCheckpointSaver[Any]):
    """The async saver interface over sync savers, each used by one thread of a small pool."""

    def __init__(self, savers: Sequence[Any]) -> None:
        super().__init__(serde=savers[0].serde)
        self._savers = list(savers)
        self._local = threading.local()
        self._next = itertools.count()
        self._pool = ThreadPoolExecutor(len(self._savers), thread_name_prefix="wtb-checkpoints",
                                        initializer=self._bind)

    def _bind(self) -> None:
        self._local.saver = self._savers[next(self._next) % len(self._savers)]

    def _saver(self) -> Any:
        return getattr(self._local, "saver", self._savers[0])

    async def call(self, fn: Callable[[Any], T]) -> T:
        """``fn(saver)`` on a checkpoint thread: for work the saver API has no async form of (fork copy)."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, lambda: fn(self._saver()))

    async def aget_tuple(self, config: RunnableConfig) -> Any:
        return await self.call(lambda s: s.get_tuple(config))

    async def alist(self, config: RunnableConfig | None, *, filter: dict[str, Any] | None = None,
                    before: RunnableConfig | None = None, limit: int | None = None) -> AsyncIterator[Any]:
        found = await self.call(lambda s: list(s.list(config, filter=filter, before=before, limit=limit)))
        for item in found:
            yield item

    async def aput(self, config: RunnableConfig, checkpoint: Any, metadata: Any, new_versions: Any) -> RunnableConfig:
        result: RunnableConfig = await self.call(lambda s: s.put(config, checkpoint, metadata, new_versions))
        return result

    async def aput_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str,
                          task_path: str = "") -> None:
        await self.call(lambda s: s.put_writes(config, writes, task_id, task_path))

    async def adelete_thread(self, thread_id: str) -> None:
        await self.call(lambda s: s.delete_thread(thread_id))

    def get_tuple(self, config: RunnableConfig) -> Any:
        return self._savers[0].get_tuple(config)

    def list(self, config: RunnableConfig | None, **kwargs: Any) -> Any:
        return self._savers[0].list(config, **kwargs)

    def put(self, config: RunnableConfig, checkpoint: Any, metadata: Any, new_versions: Any) -> RunnableConfig:
        result: RunnableConfig = self._savers[0].put(config, checkpoint, metadata, new_versions)
        return result

    def put_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str,
                   task_path: str = "") -> None:
        self._savers[0].put_writes(config, writes, task_id, task_path)

    def get_next_version(self, current: Any, channel: None) -> Any:
        return self._savers[0].get_next_version(current, channel)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class LoopRunner:
    """One event loop on a daemon thread, running at most ``concurrency`` executions at once."""

    def __init__(self, concurrency: int = DEFAULT_CONCURRENCY, name: str = "wtb-loop") -> None:
        self.concurrency = max(1, concurrency)
        self._loop = asyncio.new_event_loop()
        self._slots: asyncio.Semaphore | None = None
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._slots = asyncio.Semaphore(self.concurrency)
        self._loop.run_forever()

    def submit(self, make: Callable[[], Coroutine[Any, Any, T]]) -> Future[T]:
        """Run ``make()`` on the loop once a slot is free; a thread-safe future of its result."""

        async def bounded() -> T:
            while self._slots is None:  # the loop thread is still starting
                await asyncio.sleep(0)
            async with self._slots:
                return await make()

        return asyncio.run_coroutine_threadsafe(bounded(), self._loop)

    def close(self, grace_s: float = 1.0) -> None:
        """Cancel what still runs, let it see its CancelledError (futures resolve), then stop the loop."""
        if self._loop.is_closed() or not self._thread.is_alive():
            return

        async def shutdown() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=grace_s)
            asyncio.get_running_loop().stop()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop)


def async_saver(source: CheckpointerSource, threads: int) -> ThreadedAsyncSaver | WriteBehindSqliteSaver:
    """The async saver a loop's executions share, for the store behind ``source``."""
    if source.url.kind == "sqlite":
        from pytest_wtb.execute.write_behind import WriteBehindSqliteSaver

        return WriteBehindSqliteSaver(source.new)
    return ThreadedAsyncSaver([source.new() for _ in range(threads)])


_shared: LoopRunner | None = None
_shared_lock = threading.Lock()


def shared_runner() -> LoopRunner:
    """This process's loop for callers that wait on an async execution (Ray actors, wtb_bench)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = LoopRunner(concurrency=1024, name="wtb-shared-loop")
        return _shared


def run_blocking(attempt: Attempt, checkpointer: Any) -> ExecutionResult:
    """Run an async attempt on the shared loop and wait for it (checkpoints through ``checkpointer``)."""
    saver = ThreadedAsyncSaver([checkpointer])
    try:
        return shared_runner().submit(lambda: run_async(attempt, saver)).result()
    finally:
        saver.close()


async def run_async(attempt: Attempt, saver: ThreadedAsyncSaver | WriteBehindSqliteSaver) -> ExecutionResult:
    """The async twin of worker.run_sync; ``--wtb-timeout`` cancels the execution's task."""
    spec = attempt.spec
    graph = attempt.graph = rebound(attempt.graph, checkpointer=saver)
    # its time counts from here, not from when it waited for a slot
    attempt.progress.started = attempt.base["started_at"] = time.time()
    attempt.t0 = time.perf_counter()
    deadline = asyncio.timeout(spec.timeout_s)
    try:
        async with deadline:
            if spec.fork_thread_id is not None:
                await saver.call(attempt.fork)
                graph = attempt.graph
            graph_input = attempt.first_input()
            while True:
                with attempt.recording():
                    async for event in graph.astream(graph_input, attempt.stream_config(), context=attempt.context,
                                                     stream_mode="tasks", durability="sync"):
                        attempt.on_event(event)
                snapshot = await graph.aget_state(attempt.config)
                graph_input = attempt.next_resume(snapshot)
                if graph_input is STOP:
                    break
    except TimeoutError as exc:
        if not deadline.expired():  # the graph's own TimeoutError: a failure like any other
            node, checkpoint_id = await _failing_node_async(graph, attempt.config, attempt.progress)
            return attempt.failed(exc, node, checkpoint_id)
        await saver.call(lambda s: None)  # what it wrote before the timeout is in the store before its result
        return timeout_result(spec, attempt.base["backend"], attempt.progress.started, attempt.progress.nodes(),
                              attempt.base["worker"])
    except Exception as exc:
        node, checkpoint_id = await _failing_node_async(graph, attempt.config, attempt.progress)
        return attempt.failed(exc, node, checkpoint_id)
    return attempt.finished(snapshot)


async def _failing_node_async(graph: Any, config: RunnableConfig, progress: Any) -> tuple[str | None, str | None]:
    """The failed node(s) and the last checkpoint id of an async execution that raised."""
    try:
        snapshot = await graph.aget_state(config)
    except Exception:
        names = progress.nodes()
        return (", ".join(names) if names else None), None
    failed = [t.name for t in snapshot.tasks if t.error is not None] or progress.nodes()
    cid = snapshot.config["configurable"].get("checkpoint_id")
    return (", ".join(failed) if failed else None), (str(cid) if cid else None)
