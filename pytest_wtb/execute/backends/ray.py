"""Ray backend: the same executions as threads, run by pools of Ray actors.

One driver thread owns every Ray call. Specs wait in per-pool queues (one pool per variant
``resources``/``env``, ray_pool) and go to an actor when it has a free slot: its max_concurrency
running plus ray_pool.PIPELINE queued, admitted in the order sent (ray_actor.Turnstile). A dead
actor loses no result: its calls go back to the queue until --wtb-retries runs out, then they are
LOST. Past --wtb-timeout an actor is killed and replaced. ``done`` is called exactly once per spec."""

from __future__ import annotations

import dataclasses
import os
import queue
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

from pytest_wtb.errors import ConfigError
from pytest_wtb.execute.backends import ray_cluster as rc
from pytest_wtb.execute.backends import ray_deadline as deadline
from pytest_wtb.execute.backends.base import Backend, BackendContext, DoneCallback, timeout_result
from pytest_wtb.execute.backends.ray_actor import error_summary, failed, is_infra, lost, spec_problem
from pytest_wtb.execute.backends.ray_cluster import first_line
from pytest_wtb.execute.backends.ray_pool import Actor, Pool, Pools, PoolSettings, Task, drain
from pytest_wtb.model import ExecutionResult, ExecutionSpec

_CANNOT_IMPORT = " (the Ray worker cannot import your test code: is it under the rootdir or on sys.path?)"


class RayBackend(Backend):
    name: ClassVar[str] = "ray"
    poll_s: ClassVar[float] = 0.1

    def __init__(
        self,
        workers: int | None = None,
        max_pending: int | None = None,
        address: str | None = None,
        *,
        num_cpus: float | None = None,
        memory: int | None = None,
        max_concurrency: int = 1,
        ship_paths: list[Path] | None = None,
    ) -> None:
        self._workers, self._max_pending, self._address = workers, max_pending, address
        self._settings = PoolSettings(workers or os.cpu_count() or 1, num_cpus, memory, max(1, max_concurrency))
        self._ship_extra = list(ship_paths or [])
        self._inbox: queue.SimpleQueue[Task | None] = queue.SimpleQueue()
        self._by_ref: dict[Any, Task | Actor] = {}
        self._conn: rc.Connection | None = None
        self._pools: Pools | None = None
        self._shipping = rc.Shipping([])
        self._retries, self._async_cap = 2, 0
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self.max_in_flight = 0  # the most Ray tasks ever in flight at once (for tests and diagnostics)

    @property
    def capacity(self) -> int:  # a run with async graphs keeps at most --wtb-concurrency in flight
        pending = self._max_pending or 2 * self._settings.actors * self._settings.max_concurrency
        return min(pending, self._async_cap or pending)

    def start(self, context: BackendContext) -> None:
        self._retries, self._async_cap = context.retries, context.concurrency if context.async_specs else 0
        self._conn = rc.connect(rc.target_address(self._address), self._workers)
        ray = self._conn.ray
        try:
            if self._workers is None:
                self._settings.actors = max(1, int(float(ray.cluster_resources().get("CPU", 1))))
            self._shipping = rc.Shipping(rc.shipped_paths(self._ship_extra))
            self._settings.ship_paths = self._shipping.paths
            free = {k: float(v) for k, v in ray.available_resources().items()}
            self._pools = Pools(ray, context.store_url, self._settings, free)
            default = self._pools.for_spec(None)
            if default.error:
                raise ConfigError(f"--wtb-backend=ray: {default.error}")
        except BaseException:
            self.close()
            raise
        self._thread = threading.Thread(target=self._loop, name="wtb-ray", daemon=True)
        self._thread.start()

    def submit(self, spec: ExecutionSpec, done: DoneCallback) -> None:
        self._inbox.put(Task(spec, done))

    def close(self) -> None:
        self._closed.set()
        self._inbox.put(None)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._pools is not None:
            self._pools.kill_all()
        self._shipping.undo()
        rc.disconnect(conn)

    def _loop(self) -> None:
        while not self._closed.is_set():
            try:
                self._step()
            except Exception as exc:  # never strand the batch on a bug in here: fail what is pending
                self._abort(f"the ray backend failed: {type(exc).__name__}: {first_line(exc)}")
                return
        self._abort("the run stopped before this execution finished")

    def _step(self) -> None:
        assert self._conn is not None
        self._take(block=not self._by_ref)
        self._dispatch()
        if not self._by_ref:
            return
        refs = list(self._by_ref)
        ready, _ = self._conn.ray.wait(refs, num_returns=1, timeout=self._wait_s())
        if ready:
            ready, _ = self._conn.ray.wait(refs, num_returns=len(refs), timeout=0)
        for ref in ready:
            self._settle(ref)
        self._expire()

    def _take(self, block: bool) -> None:
        try:
            item = self._inbox.get(timeout=self.poll_s) if block else self._inbox.get_nowait()
            while item is not None:
                self._admit(item)
                item = self._inbox.get_nowait()
        except queue.Empty:
            return

    def _admit(self, task: Task) -> None:
        """Route a new spec to its pool; fail it at once if the pool or the spec cannot be used."""
        assert self._conn is not None and self._pools is not None
        spec = task.spec
        pool = task.pool = self._pools.for_spec(spec)
        if pool.error:
            return self._finish(task, failed(spec, "ResourceError", pool.error))
        try:
            self._shipping.prepare(spec.variant)
            task.spec_ref = self._conn.ray.put(dataclasses.replace(spec, input=None))
            task.input_ref = self._pools.inputs.acquire(spec.input)
        except Exception as exc:
            return self._finish(task, failed(spec, "SerializationError", spec_problem(spec, exc)))
        pool.queue.append(task)

    def _dispatch(self) -> None:
        assert self._pools is not None
        for pool in self._pools:
            while pool.queue and not pool.error:
                actor = pool.free_actor() or self._spawn(pool)
                if actor is None:
                    break
                self._send(pool.queue.popleft(), actor)
            while pool.error and pool.queue:
                task = pool.queue.popleft()
                self._finish(task, failed(task.spec, "ResourceError", pool.error))
        self.max_in_flight = max(self.max_in_flight, len(self._tasks()))

    def _spawn(self, pool: Pool) -> Actor | None:
        assert self._pools is not None
        actor = self._pools.spawn(pool)
        if actor is not None:
            self._by_ref[actor.ready_ref] = actor
        return actor

    def _send(self, task: Task, actor: Actor) -> None:
        task.attempt += 1
        task.actor, task.probe, task.sent = actor, None, time.time()
        task.started = task.sent if actor.label else 0.0
        task.ticket = actor.tickets_issued
        try:
            task.ref = actor.handle.run.remote(task.spec_ref, task.input_ref, task.attempt, task.ticket)
        except Exception as exc:
            return self._finish(task, failed(task.spec, "SerializationError", spec_problem(task.spec, exc)))
        actor.tickets_issued += 1  # only once sent: a gap in the tickets would stall the actor
        actor.tasks.add(task)
        self._by_ref[task.ref] = task

    def _tasks(self) -> list[Task]:
        return [v for v in self._by_ref.values() if isinstance(v, Task)]

    def _wait_s(self) -> float:
        assert self._pools is not None
        # a free slot means the batch may hand us a spec any moment: look at the inbox often
        wait = 0.01 if any(p.free_actor() for p in self._pools) else self.poll_s
        return deadline.next_wait(self._tasks(), time.time(), wait)

    def _settle(self, ref: Any) -> None:
        assert self._conn is not None
        owner = self._by_ref.pop(ref, None)
        if owner is None:
            return
        actor = owner if isinstance(owner, Actor) else owner.actor
        try:
            value = self._conn.ray.get(ref, timeout=60)
        except Exception as exc:
            if actor is None or actor not in actor.pool.actors:
                return None if isinstance(owner, Actor) else self._finish(owner, failed(
                    owner.spec, type(exc).__name__, first_line(exc)))
            if isinstance(owner, Task):
                actor.tasks.add(owner)  # settled with its siblings below
            return self._lost(actor, exc) if is_infra(exc) else self._broken(actor, owner, exc)
        if isinstance(owner, Actor):
            owner.label, now = str(value), time.time()
            for task in owner.tasks:
                task.started = task.started or now
            return None
        if actor is not None:
            actor.tasks.discard(owner)
        return self._finish(owner, value)

    def _lost(self, actor: Actor, exc: BaseException) -> None:
        """The actor died: run its executions again on a fresh actor, or give them up as LOST."""
        calls = self._retire(actor)
        started = calls[: actor.pool.concurrency]  # the rest were queued behind them: not theirs to count
        where = actor.label or "a Ray worker that was starting"
        for task in reversed(calls):
            if task not in started:
                self._requeue(task, counted=False)
                continue
            task.errors.append(f"attempt {task.attempt} on {where}: {first_line(exc)}")
            if task.attempt <= self._retries and task.pool is not None:
                self._requeue(task, counted=True)
                continue
            message = f"Ray actor {where} died while running it (last error: {first_line(exc)})"
            self._finish(task, lost(task.spec, message, task.errors, task.started, actor.label))

    def _retire(self, actor: Actor) -> list[Task]:
        """Kill the actor, finish its calls that had returned (ray.wait orders ready refs arbitrarily,
        so a death can be seen first), return the others in the order the actor admits them."""
        assert self._conn is not None and self._pools is not None
        self._pools.kill(actor)
        self._by_ref.pop(actor.ready_ref, None)
        calls = sorted(actor.tasks, key=lambda t: t.ticket)
        actor.tasks.clear()
        refs = [t.ref for t in calls]
        ready = set(self._conn.ray.wait(refs, num_returns=len(refs), timeout=0)[0]) if refs else set()
        unfinished = []
        for task in calls:
            self._by_ref.pop(task.ref, None)
            if task.ref in ready:
                try:
                    result = self._conn.ray.get(task.ref, timeout=0)
                except Exception:  # it died with the actor
                    pass
                else:
                    self._finish(task, result)
                    continue
            unfinished.append(task)
        return unfinished

    def _requeue(self, task: Task, *, counted: bool) -> None:
        if task.pool is not None:
            task.attempt -= 0 if counted else 1  # uncounted: it never ran, or another's fault ended it
            task.pool.queue.appendleft(task)

    def _broken(self, actor: Actor, owner: Task | Actor, exc: BaseException) -> None:
        """A failure that would only repeat: an actor that cannot start, a spec workers cannot load."""
        text = error_summary(exc) + (_CANNOT_IMPORT if "No module named" in str(exc) else "")
        if isinstance(owner, Task):
            actor.tasks.discard(owner)
            return self._finish(owner, failed(owner.spec, type(exc).__name__, text, actor.label))
        actor.pool.error = f"its Ray actor could not start: {type(exc).__name__}: {text}"
        for task in self._retire(actor):
            self._finish(task, failed(task.spec, "ActorStartError", actor.pool.error))

    def _expire(self) -> None:
        """Past --wtb-timeout: kill the execution's actor; its other executions run again elsewhere."""
        assert self._conn is not None
        now = time.time()
        for task in self._tasks():
            if task.actor is not None and (verdict := deadline.check(task, now, self._conn.ray)) is not None:
                self._time_out(task, task.actor, verdict.found)

    def _time_out(self, task: Task, actor: Actor, found: tuple[float, list[str]] | None) -> None:
        unfinished = self._retire(actor)
        for other in reversed(unfinished):
            if other is not task:
                self._requeue(other, counted=False)
        if task not in unfinished:
            return  # it returned just before its deadline was judged
        started, nodes = found if found and found[0] else (task.started, [])
        self._finish(task, timeout_result(task.spec, self.name, started, nodes, actor.label))

    def _finish(self, task: Task, result: ExecutionResult) -> None:
        if task.input_ref is not None and self._pools is not None:
            self._pools.inputs.release(task.spec.input)
        task.input_ref = task.spec_ref = None
        task.done(result)

    def _abort(self, message: str) -> None:
        pools = list(self._pools) if self._pools is not None else []
        pending = [*self._tasks(), *(t for p in pools for t in p.queue), *drain(self._inbox)]
        for pool in pools:
            pool.queue.clear()
        self._by_ref.clear()
        for task in pending:
            task.done(failed(task.spec, "NotRun", message))

