"""An xdist worker waiting for another worker's execution when the store goes away: the item gets a
failed result that names the store error (the summary then lists it as not saved), not a StoreError
raised through the item's setup."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph

import pytest_wtb as wtb
from pytest_wtb.declare.variants import Case
from pytest_wtb.errors import StoreError
from pytest_wtb.execute.backends.base import BackendContext
from pytest_wtb.execute.backends.threads import ThreadsBackend
from pytest_wtb.execute.batch import Batch
from pytest_wtb.plan.executions import ExecutionRequest, make_plan
from pytest_wtb.store import open_store, parse_store_url


class S(TypedDict, total=False):
    q: str


def build() -> StateGraph[Any]:
    g = StateGraph(S)
    g.add_node("work", lambda s: {"q": s["q"]})
    g.add_edge(START, "work")
    g.add_edge("work", END)
    return g


BASE = wtb.variant(baseline=True)(build)


def test_a_store_outage_while_waiting_for_another_worker_fails_the_item_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(parse_store_url(f"sqlite:///{tmp_path}/w.db", tmp_path))
    plan = make_plan("run", [ExecutionRequest("m", BASE, Case("x", {"q": "x"}))], timeout_s=None)
    spec = plan.specs[0]
    assert store.results.claim(spec, "otherhost:1:gw1", "threads")  # another worker runs it

    def gone(*_: object) -> None:
        raise StoreError("store sqlite:///w.db: disk I/O error")

    monkeypatch.setattr(store.results, "execution_row", gone)
    waiter = Batch(plan, ThreadsBackend(1), BackendContext("run", store.url, store.checkpoints), store.results,
                   "me:2:gw0", shared=True)
    waiter.start()
    try:
        result = waiter.wait(spec.key)
    finally:
        waiter.stop()
        store.close()
    assert result.status == "failed" and result.error is not None
    assert "its result could not be read from the store: store sqlite:///w.db: disk I/O error" in result.error.message
    assert result.store_error == "store sqlite:///w.db: disk I/O error"
