"""Actor pools of the ray backend: one per (resources, env) of a variant, within a resource budget.

Actors hold their resources for life, so the pools share one budget taken from what the cluster had
free at start; a pool that cannot get its first actor retires idle actors of the other pools.
Only the backend's driver thread calls into this module.
"""

from __future__ import annotations

import json
import os
import queue
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Final

from pytest_wtb.execute.backends import ray_cluster as rc
from pytest_wtb.execute.backends.base import DoneCallback
from pytest_wtb.execute.backends.ray_actor import ExecutionActor
from pytest_wtb.execute.backends.ray_cluster import first_line
from pytest_wtb.model import ExecutionSpec
from pytest_wtb.store.allowlist import configured_types_env
from pytest_wtb.store.urls import StoreURL

# Calls queued on each actor beyond its running executions: the next execution is already there when
# one ends, instead of waiting a driver round trip (~7 ms here, a third of a 20 ms execution).
PIPELINE: Final = 1


@dataclass(eq=False)
class Task:
    spec: ExecutionSpec
    done: DoneCallback
    pool: Pool | None = None
    attempt: int = 0
    errors: list[str] = field(default_factory=list)
    spec_ref: Any = None
    input_ref: Any = None
    ref: Any = None
    actor: Actor | None = None
    started: float = 0.0  # wall clock of the current attempt; 0 until its actor is up
    sent: float = 0.0
    ticket: int = 0  # its place in its actor's admission order (ray_actor.Turnstile)
    probe: Any = None  # a pending progress() call, asked at the guessed deadline
    probe_sent: float = 0.0


@dataclass(eq=False)
class Actor:
    handle: Any
    pool: Pool
    ready_ref: Any
    label: str = ""  # host:pid, once the actor answered ready()
    tickets_issued: int = 0
    tasks: set[Task] = field(default_factory=set)


@dataclass(eq=False)
class Pool:
    key: str
    options: dict[str, Any]
    concurrency: int
    demand: dict[str, float]
    actors: list[Actor] = field(default_factory=list)
    queue: deque[Task] = field(default_factory=deque)
    error: str | None = None

    def free_actor(self) -> Actor | None:
        """An actor that can take one more call: its running slots plus PIPELINE queued on it."""
        return next((a for a in self.actors if len(a.tasks) < self.concurrency + PIPELINE), None)


@dataclass
class PoolSettings:
    """Per-run actor options; a variant's ``resources`` override them for its own pool."""

    actors: int
    num_cpus: float | None = None
    memory: int | None = None
    max_concurrency: int = 1
    ship_paths: list[str] = field(default_factory=list)


class SharedInputs:
    """One ray.put per distinct input object (variants share their cases' inputs), until its last use."""

    def __init__(self, ray: Any) -> None:
        self.ray = ray
        self._refs: dict[int, tuple[Any, Any, int]] = {}  # id(input) -> (input, ref, users)

    def acquire(self, value: Any) -> Any:
        entry = self._refs.get(id(value)) or (value, self.ray.put(value), 0)
        self._refs[id(value)] = (entry[0], entry[1], entry[2] + 1)
        return entry[1]

    def release(self, value: Any) -> None:
        entry = self._refs.pop(id(value), None)
        if entry is not None and entry[2] > 1:
            self._refs[id(value)] = (entry[0], entry[1], entry[2] - 1)


class Pools:
    def __init__(self, ray: Any, store_url: StoreURL, settings: PoolSettings, free: dict[str, float]) -> None:
        self.ray = ray
        self.inputs = SharedInputs(ray)
        self.store_url = store_url
        self.settings = settings
        self.free = free
        self.by_key: dict[str, Pool] = {}
        self._cls = ray.remote(ExecutionActor)

    def __iter__(self) -> Any:
        return iter(list(self.by_key.values()))

    def for_spec(self, spec: ExecutionSpec | None) -> Pool:
        resources = dict(spec.variant.resources) if spec else {}
        env = dict(spec.variant.env) if spec else {}
        key = json.dumps([resources, env], sort_keys=True, default=repr)
        pool = self.by_key.get(key)
        if pool is None:
            pool = self.by_key[key] = self._new(key, resources, env, spec)
        return pool

    def _new(self, key: str, resources: dict[str, Any], env: dict[str, Any], spec: ExecutionSpec | None) -> Pool:
        s = self.settings
        opts: dict[str, Any] = {"num_cpus": s.num_cpus, "memory": s.memory}
        opts.update({k: v for k, v in resources.items() if k in rc.RESOURCE_KEYS})
        if opts["num_cpus"] is None:
            opts["num_cpus"] = rc.default_cpus(self.free.get("CPU", 1.0), s.actors)
        concurrency = max(1, int(opts.pop("max_concurrency", None) or s.max_concurrency))
        # actors revive from the store what the driver does (wtb_allowed_types): see store/allowlist.py
        env_vars = {"PYTHONPATH": os.pathsep.join(s.ship_paths), **configured_types_env(),
                    **dict(env.get("env_vars") or {})}
        options = {k: v for k, v in opts.items() if v is not None}
        # threads for the running executions, the queued ones waiting for a slot, and one so that
        # progress() answers while nodes run
        options.update(
            max_concurrency=concurrency + PIPELINE + 1, max_restarts=0, runtime_env={**env, "env_vars": env_vars}
        )
        pool = Pool(key, options, concurrency, rc.demand_of(opts))
        whose = f"variant '{spec.variant_name}'" if spec else "the actor pool"
        unknown = sorted(set(resources) - set(rc.RESOURCE_KEYS))
        short = rc.shortfall(pool.demand, self.free, 1 if spec else s.actors)
        if unknown:
            pool.error = f"{whose}: unknown resources {', '.join(unknown)}; valid: {', '.join(rc.RESOURCE_KEYS)}"
        elif short and spec is None:
            pool.error = f"{whose} {short}; lower --wtb-workers or the per-actor resources"
        elif short:
            pool.error = f"{whose} {short}; lower its @wtb.variant(resources=...)"
        return pool

    def spawn(self, pool: Pool) -> Actor | None:
        """A new actor for ``pool`` if the run's actor count and the resource budget allow one."""
        if pool.error or len(pool.actors) >= self.settings.actors:
            return None
        if not rc.fits(pool.demand, self.free) and (pool.actors or not self._reclaim(pool)):
            return None
        try:
            handle = self._cls.options(**pool.options).remote(self.store_url, pool.concurrency)
        except Exception as exc:
            pool.error = f"Ray refused the actor options {pool.options}: {first_line(exc)}"
            return None
        for name, amount in pool.demand.items():
            self.free[name] = self.free.get(name, 0.0) - amount
        actor = Actor(handle, pool, handle.ready.remote())
        pool.actors.append(actor)
        return actor

    def _reclaim(self, starving: Pool) -> bool:
        for pool in self:
            for actor in [a for a in pool.actors if pool is not starving and not a.tasks]:
                self.kill(actor)
                if rc.fits(starving.demand, self.free):
                    return True
        return False

    def kill(self, actor: Actor) -> None:
        if actor in actor.pool.actors:
            actor.pool.actors.remove(actor)
            for name, amount in actor.pool.demand.items():
                self.free[name] = self.free.get(name, 0.0) + amount
        try:
            self.ray.kill(actor.handle, no_restart=True)
        except Exception:
            pass

    def kill_all(self) -> None:
        for pool in self:
            for actor in list(pool.actors):
                self.kill(actor)


def drain(inbox: queue.SimpleQueue[Task | None]) -> list[Task]:
    """Every task still waiting in the driver's inbox (None is the stop signal, not a task)."""
    items: list[Task] = []
    while True:
        try:
            item = inbox.get_nowait()
        except queue.Empty:
            return items
        if item is not None:
            items.append(item)
