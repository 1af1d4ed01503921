"""An async execution that the run stops (the backend closes while it awaits) was cut off, not failed:
under pytest-xdist another worker waits on its stored row and would take a failure as its result."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph

import pytest_wtb as wtb
from pytest_wtb.declare.variants import Case
from pytest_wtb.execute.backends.base import BackendContext
from pytest_wtb.execute.backends.threads import ThreadsBackend
from pytest_wtb.model import ExecutionResult
from pytest_wtb.plan.executions import ExecutionRequest, make_plan
from pytest_wtb.store import open_store, parse_store_url

STARTED = threading.Event()


class S(TypedDict, total=False):
    q: str
    out: str


async def aslow(s: S) -> dict[str, Any]:
    STARTED.set()
    await asyncio.sleep(30)
    return {"out": "late"}


def build(node: Any = aslow) -> StateGraph[Any]:
    g = StateGraph(S)
    g.add_node("work", node)
    g.add_edge(START, "work")
    g.add_edge("work", END)
    return g


def test_an_async_execution_cut_off_by_close_is_not_reported_as_failed(tmp_path: Path) -> None:
    store = open_store(parse_store_url(f"sqlite:///{tmp_path}/w.db", tmp_path))
    spec = make_plan("r", [ExecutionRequest("m", wtb.variant(name="slow")(build), Case("c", {"q": "q"}))]).specs[0]
    backend = ThreadsBackend(workers=1)
    backend.start(BackendContext("r", store.url, store.checkpoints, async_specs=1))
    got: list[ExecutionResult] = []
    reported = threading.Event()

    def collect(result: ExecutionResult) -> None:
        got.append(result)
        reported.set()

    STARTED.clear()
    backend.submit(spec, collect)
    try:
        assert STARTED.wait(10)
    finally:
        backend.close()
        # close() cancels it: a report may follow at once (or never; the batch then records it as abandoned)
        reported.wait(3)
        store.close()
    failed = [r.error for r in got if r.status == "failed"]
    assert failed == [], failed


async def aquick(s: S) -> dict[str, Any]:
    return {"out": s["q"]}


def build_quick() -> StateGraph[Any]:
    return build(aquick)


def test_an_async_execution_whose_checkpoint_writer_cannot_open_the_store_fails_saying_so(tmp_path: Path) -> None:
    store = open_store(parse_store_url(f"sqlite:///{tmp_path}/w.db", tmp_path))
    quick = wtb.variant(name="quick")(build_quick)
    specs = make_plan("r", [ExecutionRequest("m", quick, Case(c, {"q": c})) for c in ("a", "b")]).specs
    source = store.checkpoints
    opened = {"n": 0}
    real_new = source.new

    def new_then_fail() -> Any:  # the worker's own saver opens; the loop's writer finds the file gone
        opened["n"] += 1
        if opened["n"] > 1:
            raise OSError("the store's disk went away")
        return real_new()

    source.new = new_then_fail  # type: ignore[method-assign]
    backend = ThreadsBackend(workers=1)
    backend.start(BackendContext("r", store.url, source, async_specs=1))
    got: list[ExecutionResult] = []
    reported = threading.Event()

    def collect(result: ExecutionResult) -> None:
        got.append(result)
        reported.set()

    try:
        for spec in specs:  # the second tries to open the store again and says why it could not
            reported.clear()
            backend.submit(spec, collect)
            assert reported.wait(10)
    finally:
        backend.close()
        store.close()
    assert len(got) == 2
    for result in got:
        assert result.status == "failed" and result.error is not None
        assert "could not start" in result.error.message and "the store's disk went away" in result.error.message
