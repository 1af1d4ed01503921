"""Checkpoints of async executions into a SQLite store, written behind the event loop by one thread.

LangGraph awaits every checkpoint write of a step before the next one. Handing each write to a
thread and back costs the loop two thread switches and SQLite a commit per write, which on a few
hundred executions in flight is most of a small graph's run. Here a write is serialized on the loop
(LangGraph's own ``SqliteSaver.put``/``put_writes`` run against a connection that only collects their
statements, so the values are captured when LangGraph hands them over) and queued; one thread owns
the real connection and commits whatever has queued up in one transaction.

Nothing can read around the queue: every read (``aget_tuple``, ``alist``, the fork copy) is queued
behind the writes before it and answered by the same thread and connection, so an execution always
reads its own writes, and its result (which the driver records after a final read) is never stored
before its checkpoints. A write that fails is reported by that thread's next read, failing the
execution with the store's error; ``close`` commits what is still queued.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, TypeVar

from langgraph.checkpoint.base import BaseCheckpointSaver

from pytest_wtb.errors import StoreError

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

T = TypeVar("T")
Statement = tuple[str, str, Any]  # ("execute" | "executemany", sql, parameters)
BATCH: Final = 512  # queued operations per transaction at most
CLOSE_WAIT_S: Final = 10.0


class _Collector:
    """Stands in for a sqlite3 connection: what SqliteSaver would run, collected instead."""

    def __init__(self) -> None:
        self.statements: list[Statement] = []

    def cursor(self) -> _Collector:
        return self

    def execute(self, sql: str, parameters: Any = ()) -> None:
        self.statements.append(("execute", sql, parameters))

    def executemany(self, sql: str, seq: Any) -> None:
        self.statements.append(("executemany", sql, list(seq)))

    def commit(self) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class _Write:
    thread_id: str
    statements: list[Statement]


@dataclass
class _Call:
    fn: Callable[[Any], Any]
    future: Future[Any] = field(default_factory=Future)
    thread_id: str | None = None


class _Writer:
    """The thread that owns the store's connection: commits queued writes in groups and answers calls
    in queue order."""

    def __init__(self, make_saver: Callable[[], Any]) -> None:
        self.queue: queue.SimpleQueue[_Write | _Call | None] = queue.SimpleQueue()
        self.failed: dict[str, BaseException] = {}
        self._ready: Future[Any] = Future()
        self.thread = threading.Thread(target=self._serve, args=(make_saver,), name="wtb-checkpoint-writer",
                                       daemon=True)
        self.thread.start()
        self.saver = self._ready.result()  # raises what opening the store raised

    def _serve(self, make_saver: Callable[[], Any]) -> None:
        try:
            saver = make_saver()
        except BaseException as exc:
            self._ready.set_exception(exc)
            return
        self._ready.set_result(saver)
        while True:
            ops = [self.queue.get()]
            while len(ops) < BATCH:
                try:
                    ops.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            stop = None in ops
            try:
                self._run(saver, [op for op in ops if op is not None])
            except BaseException as exc:  # a bug here must fail the waiting executions, not hang them
                for op in ops:
                    if isinstance(op, _Call) and not op.future.done():
                        op.future.set_exception(exc)
                    elif isinstance(op, _Write):
                        self.failed.setdefault(op.thread_id, exc)
            if stop:
                return

    def _run(self, saver: Any, ops: list[_Write | _Call]) -> None:
        writes: list[_Write] = []
        for op in ops:
            if isinstance(op, _Write):
                writes.append(op)
                continue
            self._commit(saver.conn, writes)
            writes = []
            self._answer(saver, op)
        self._commit(saver.conn, writes)

    def _answer(self, saver: Any, op: _Call) -> None:
        failed = self.failed.get(op.thread_id) if op.thread_id is not None else None
        if failed is not None:
            op.future.set_exception(failed)
            return
        try:
            op.future.set_result(op.fn(saver))
        except BaseException as exc:
            op.future.set_exception(exc)

    def _commit(self, conn: sqlite3.Connection, writes: list[_Write]) -> None:
        if not writes:
            return
        try:
            _execute(conn, [s for w in writes for s in w.statements])
            return
        except sqlite3.Error:
            conn.rollback()
        for write in writes:  # one of them failed: find out whose, keep everyone else's
            try:
                _execute(conn, write.statements)
            except sqlite3.Error as exc:
                conn.rollback()
                refused = StoreError(f"the store refused a checkpoint of this execution: {type(exc).__name__}: {exc}")
                self.failed.setdefault(write.thread_id, refused)


class WriteBehindSqliteSaver(BaseCheckpointSaver[Any]):
    """The async saver interface over one SQLite connection on its own thread (see the module doc).

    ``make_saver`` is called on that thread and returns a ``SqliteSaver`` on the store's file."""

    def __init__(self, make_saver: Callable[[], Any]) -> None:
        from langgraph.checkpoint.sqlite import SqliteSaver

        self._writer = _Writer(make_saver)
        super().__init__(serde=self._writer.saver.serde)
        self._collector = _Collector()
        self._capture = SqliteSaver(self._collector, serde=self.serde)  # type: ignore[arg-type]
        self._capture.is_setup = True
        self._capture_lock = threading.Lock()

    def _collect(self, thread_id: str, fn: Callable[[Any], T]) -> T:
        with self._capture_lock:
            try:
                result = fn(self._capture)
            finally:
                statements, self._collector.statements = self._collector.statements, []
        self._writer.queue.put(_Write(thread_id, statements))
        return result

    def _queue_call(self, fn: Callable[[Any], T], thread_id: str | None) -> Future[T]:
        """``fn(saver)`` on the writer thread, after every write queued before it."""
        op = _Call(fn, thread_id=thread_id)
        self._writer.queue.put(op)
        return op.future

    async def call(self, fn: Callable[[Any], T], thread_id: str | None = None) -> T:
        return await asyncio.wrap_future(self._queue_call(fn, thread_id))

    def call_blocking(self, fn: Callable[[Any], T], thread_id: str | None = None) -> T:
        return self._queue_call(fn, thread_id).result()

    async def aget_tuple(self, config: RunnableConfig) -> Any:
        return await self.call(lambda s: s.get_tuple(config), _thread_of(config))

    async def alist(self, config: RunnableConfig | None, *, filter: dict[str, Any] | None = None,
                    before: RunnableConfig | None = None, limit: int | None = None) -> AsyncIterator[Any]:
        found = await self.call(lambda s: list(s.list(config, filter=filter, before=before, limit=limit)),
                                _thread_of(config))
        for item in found:
            yield item

    async def aput(self, config: RunnableConfig, checkpoint: Any, metadata: Any, new_versions: Any) -> RunnableConfig:
        return self.put(config, checkpoint, metadata, new_versions)

    async def aput_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str,
                          task_path: str = "") -> None:
        self.put_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        self.delete_thread(thread_id)

    def get_tuple(self, config: RunnableConfig) -> Any:
        return self.call_blocking(lambda s: s.get_tuple(config), _thread_of(config))

    def list(self, config: RunnableConfig | None, **kwargs: Any) -> Any:
        return iter(self.call_blocking(lambda s: [*s.list(config, **kwargs)], _thread_of(config)))

    def put(self, config: RunnableConfig, checkpoint: Any, metadata: Any, new_versions: Any) -> RunnableConfig:
        result: RunnableConfig = self._collect(
            str(_thread_of(config)), lambda s: s.put(config, checkpoint, metadata, new_versions)
        )
        return result

    def put_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str,
                   task_path: str = "") -> None:
        self._collect(str(_thread_of(config)), lambda s: s.put_writes(config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        self._collect(thread_id, lambda s: s.delete_thread(thread_id))

    def get_next_version(self, current: Any, channel: None) -> Any:
        return self._capture.get_next_version(current, channel)

    def close(self, wait_s: float = CLOSE_WAIT_S) -> None:
        """Commit what is queued, then stop the thread (waiting at most ``wait_s``)."""
        self._writer.queue.put(None)
        if self._writer.thread is not threading.current_thread():
            self._writer.thread.join(timeout=wait_s)


def _execute(conn: sqlite3.Connection, statements: list[Statement]) -> None:
    cur = conn.cursor()
    try:
        for kind, sql, params in statements:
            if kind == "executemany":
                cur.executemany(sql, params)
            else:
                cur.execute(sql, params)
        conn.commit()
    finally:
        cur.close()


def _thread_of(config: RunnableConfig | None) -> str | None:
    if not config:
        return None
    value = config.get("configurable", {}).get("thread_id")
    return None if value is None else str(value)
