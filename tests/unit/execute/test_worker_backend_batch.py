from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, TypedDict

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph

import pytest_wtb as wtb
from pytest_wtb.declare.variants import Case
from pytest_wtb.errors import GraphBuildError
from pytest_wtb.execute.backends.base import BackendContext
from pytest_wtb.execute.backends.threads import ThreadsBackend
from pytest_wtb.execute.batch import Batch
from pytest_wtb.execute.graphs import compile_variant
from pytest_wtb.execute.worker import execute
from pytest_wtb.model import ExecutionResult
from pytest_wtb.plan.executions import ExecutionRequest, make_plan
from pytest_wtb.store import open_store, parse_store_url
from pytest_wtb.verdict.history import checkpoint_history


class S(TypedDict, total=False):
    q: str
    out: str


def upper(s: S) -> dict[str, Any]:
    return {"out": s["q"].upper()}


def lower(s: S) -> dict[str, Any]:
    return {"out": s["q"].lower()}


def explode(s: S) -> dict[str, Any]:
    raise ValueError("boom")


RELEASE = threading.Event()


def hang(s: S) -> dict[str, Any]:
    RELEASE.wait(30)
    return {"out": "late"}


def build() -> StateGraph[Any]:
    g = StateGraph(S)
    g.add_node("work", upper)
    g.add_edge(START, "work")
    g.add_edge("work", END)
    return g


BASE = wtb.variant(baseline=True)(build)


def spec_for(variant: wtb.Variant, q: str = "Ab", timeout: float | None = None, run: str = "r") -> Any:
    return make_plan(run, [ExecutionRequest("m", variant, Case(q, {"q": q}))], timeout).specs[0]


def test_execute_success_failure_and_node_replacement() -> None:
    saver = InMemorySaver()
    ok = execute(spec_for(BASE), saver, backend="t")
    assert ok.ok and ok.state == {"q": "Ab", "out": "AB"} and ok.checkpoint_id
    assert [n.node for n in ok.nodes] == ["work"]
    low = execute(spec_for(BASE.with_nodes({"work": lower}, name="low")), saver, backend="t")
    assert low.state == {"q": "Ab", "out": "ab"}
    bad = execute(spec_for(BASE.with_nodes({"work": explode}, name="bad")), saver, backend="t")
    assert bad.status == "failed" and bad.error is not None
    assert (bad.error.type, bad.error.node, bad.error.message) == ("ValueError", "work", "boom")
    assert 'raise ValueError("boom")' in bad.error.traceback and "langgraph" not in bad.error.traceback


def test_compile_rejects_unknown_nodes_and_leaves_the_factory_graph_untouched() -> None:
    shared = build()
    variant = wtb.variant(name="shared")(lambda: shared).with_nodes({"work": lower}, name="low")
    compile_variant(variant, InMemorySaver())
    assert shared.nodes["work"].runnable is not None
    assert compile_variant(wtb.variant(name="again")(lambda: shared), InMemorySaver()).invoke(
        {"q": "Ab"}, {"configurable": {"thread_id": "x"}})["out"] == "AB"
    with pytest.raises(GraphBuildError, match="does not have; its nodes are: work"):
        compile_variant(BASE.with_nodes({"nope": lower}, name="n"), None)


def _store(tmp_path: Path) -> Any:
    return open_store(parse_store_url(f"sqlite:///{tmp_path}/w.db", tmp_path))


def test_threads_backend_times_out_a_stuck_execution_and_keeps_its_capacity(tmp_path: Path) -> None:
    store = _store(tmp_path)
    backend = ThreadsBackend(workers=1)
    backend.start(BackendContext("r", store.url, store.checkpoints, timeout_s=0.3))
    got: list[ExecutionResult] = []
    done = threading.Event()

    def collect(result: ExecutionResult) -> None:
        got.append(result)
        if len(got) == 2:
            done.set()

    RELEASE.clear()
    backend.submit(spec_for(BASE.with_nodes({"work": hang}, name="hang"), timeout=0.3), collect)
    backend.submit(spec_for(BASE, timeout=0.3), collect)
    assert done.wait(10), "the second execution must run on the replacement thread"
    assert got[0].status == "timed_out" and "still running node 'work'" in got[0].error.message  # type: ignore[union-attr]
    assert got[1].ok
    RELEASE.set()
    backend.close()
    store.close()


def test_batch_records_rows_and_a_second_worker_reads_them_instead_of_rerunning(tmp_path: Path) -> None:
    store = _store(tmp_path)
    plan = make_plan("run", [ExecutionRequest("m", BASE, Case(str(i), {"q": f"q{i}"})) for i in range(5)])
    first = Batch(plan, ThreadsBackend(2), BackendContext("run", store.url, store.checkpoints), store.results, "a")
    first.start()
    results = [first.wait(s.key) for s in plan.specs]
    assert all(r.ok for r in results) and first.local_count == 5

    calls: list[str] = []

    class Refuse(ThreadsBackend):
        def submit(self, spec: Any, done: Any) -> None:
            calls.append(spec.key)

    second = Batch(plan, Refuse(2), BackendContext("run", store.url, store.checkpoints), store.results, "b")
    second.start()
    again = [second.wait(s.key) for s in plan.specs]
    assert calls == [] and second.remote_count == 5
    assert [(r.thread_id, r.state) for r in again] == [(r.thread_id, r.state) for r in results]
    steps = checkpoint_history(store.checkpoints.new(), results[0].thread_id)
    assert [s.nodes for s in steps] == [("(input)",), ("START",), ("work",)]
    assert steps[-1].changed == {"out": "Q0"}
    first.stop()
    second.stop()
    store.close()


def test_store_refuses_a_foreign_file(tmp_path: Path) -> None:
    (tmp_path / "w.db").write_text("not a database")
    with pytest.raises(wtb.WtbError, match="is not a SQLite database; pytest-wtb will not overwrite it"):
        _store(tmp_path)
    assert (tmp_path / "w.db").read_text() == "not a database"


def test_a_remote_owner_that_never_records_does_not_hang_a_waiter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pytest_wtb.execute.batch as batch_module

    monkeypatch.setattr(batch_module, "REMOTE_GRACE_S", 0.2)
    store = _store(tmp_path)
    plan = make_plan("run", [ExecutionRequest("m", BASE, Case("x", {"q": "x"}))], timeout_s=0.1)
    assert store.results.claim(plan.specs[0], "otherhost:1:gw9", "threads")  # alive elsewhere, never records
    waiter = Batch(plan, ThreadsBackend(1), BackendContext("run", store.url, store.checkpoints, retries=0),
                   store.results, "me")
    waiter.start()
    result = waiter.wait(plan.specs[0].key)
    assert result.status == "failed" and "recorded no result in time" in result.error.message  # type: ignore[union-attr]
    waiter.stop()
    store.close()


def _two_step() -> StateGraph[Any]:
    g = StateGraph(S)
    g.add_node("first", upper)
    g.add_node("work", upper)
    g.add_edge(START, "first")
    g.add_edge("first", "work")
    g.add_edge("work", END)
    return g


TWO = wtb.variant(name="two", baseline=True)(_two_step)
TWO_LOW = TWO.with_nodes({"work": lower}, name="two_low")


def _prefix_plan(cases: int) -> Any:
    requests = [ExecutionRequest("m", v, Case(f"c{i}", {"q": f"Q{i}"})) for i in range(cases) for v in (TWO, TWO_LOW)]
    return make_plan("run", requests, shapes={})


@pytest.mark.parametrize("min_s, forked_cases", [(0.0, 6), (60.0, 2)])
def test_a_probe_decides_whether_the_rest_of_a_prefix_group_forks(
    tmp_path: Path, min_s: float, forked_cases: int
) -> None:
    store = _store(tmp_path)
    plan = _prefix_plan(6)
    assert sum(s.is_prefix for s in plan.specs) == 6
    context = BackendContext("run", store.url, store.checkpoints, share_prefix_min_s=min_s)
    # capacity 2: the probe and one more prefix start at once, the other four wait for the probe
    batch = Batch(plan, ThreadsBackend(2), context, store.results, "me")
    batch.start()
    results = [batch.wait(s.key) for s in plan.specs if not s.is_prefix]
    batch.stop()
    assert all(r.ok for r in results)
    assert {r.case_id: r.state["out"] for r in results if r.variant == "two_low"} == {  # type: ignore[index]
        f"c{i}": f"q{i}" for i in range(6)
    }
    forked = {r.case_id for r in results if r.extra.get("forked_from")}
    assert len(forked) == forked_cases
    unshared = [r for r in results if r.extra.get("unshared")]
    assert len(unshared) == 2 * (6 - forked_cases)
    assert all("in a probe, under --wtb-share-prefix-min-ms=60000" in r.extra["unshared"] for r in unshared)
    rows = {r["exec_key"]: r for r in _all_rows(store)}
    ran_prefixes = [r for r in rows.values() if r["variant"] == "(shared-prefix)"]
    assert len(ran_prefixes) == forked_cases, "skipped prefixes are neither run nor recorded"
    store.close()


def test_stop_writes_finished_results_and_releases_claims_that_never_started(tmp_path: Path) -> None:
    store = _store(tmp_path)
    plan = make_plan("run", [ExecutionRequest("m", BASE, Case(f"c{i}", {"q": f"q{i}"})) for i in range(30)])
    backend = ThreadsBackend(4)
    batch = Batch(plan, backend, BackendContext("run", store.url, store.checkpoints), store.results, "me")
    gate, entered = threading.Event(), threading.Event()
    real_record = batch._recorder._record

    def held_record(group: Any) -> Any:
        entered.set()
        gate.wait(30)  # hold the recorder: results pile up unrecorded, slots stay taken
        return real_record(group)

    batch._recorder._record = held_record  # type: ignore[method-assign]
    batch.start()
    assert entered.wait(30)
    while backend._queue.qsize() or backend._running:  # the four submitted executions finish
        threading.Event().wait(0.02)
    batch._stopping.set()  # what stop() does first; the recorder then flushes while stop() waits
    gate.set()
    batch.stop()
    statuses = [r["status"] for r in _all_rows(store)]
    # four ran (one per thread) before stop; the rest were claimed ahead and are released again
    assert statuses == ["succeeded"] * 4, "every finished execution is in the store after stop(), nothing else"
    store.close()


def test_stop_waits_for_the_recorder_when_every_claim_was_started(tmp_path: Path) -> None:
    store = _store(tmp_path)
    plan = make_plan("run", [ExecutionRequest("m", BASE, Case(f"c{i}", {"q": f"q{i}"})) for i in range(4)])
    backend = ThreadsBackend(4)
    batch = Batch(plan, backend, BackendContext("run", store.url, store.checkpoints), store.results, "me")
    gate, entered = threading.Event(), threading.Event()
    real_record = batch._recorder._record

    def held_record(group: Any) -> Any:
        entered.set()
        gate.wait(30)
        return real_record(group)

    batch._recorder._record = held_record  # type: ignore[method-assign]
    batch.start()
    assert entered.wait(30)
    while backend._queue.qsize() or backend._running:
        threading.Event().wait(0.02)
    threading.Timer(0.3, gate.set).start()  # the recorder is still held when stop() begins
    batch.stop()
    assert [r["status"] for r in _all_rows(store)] == ["succeeded"] * 4
    store.close()


def _all_rows(store: Any) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from pytest_wtb.store import schema

    with store.results.read() as conn:
        return [dict(r._mapping) for r in conn.execute(select(schema.executions))]
