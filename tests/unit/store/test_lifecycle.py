"""Dead runs are marked abandoned after a timeout; old runs are pruned with their checkpoints."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph
from sqlalchemy import select, update

from pytest_wtb.model import RUNNING
from pytest_wtb.store import Store, open_store, parse_store_url, schema
from pytest_wtb.store.lifecycle import ABANDON_AFTER_S, SessionLifecycleManager, prune, reap_abandoned
from pytest_wtb.store.rows import ABANDONED
from tests.unit.store.builders import spec, write_run

if TYPE_CHECKING:
    from tests.store_support import StoreUnderTest

pytest_plugins = ["tests.store_support"]
DAY = 86400.0


@pytest.fixture
def opened(store: StoreUnderTest) -> Iterator[Store]:
    s = open_store(parse_store_url(store.url, Path(".")))
    yield s
    s.close()


def age_run(opened: Store, run_id: str, seconds: float) -> None:
    """Pretend the run started, last beat (and ended, if it did) ``seconds`` ago."""
    runs = schema.runs.c
    with opened.results.write() as conn:
        row = conn.execute(select(schema.runs).where(runs.run_id == run_id)).one()
        shift = {k: row._mapping[k] - seconds for k in ("started_at", "heartbeat_at", "ended_at") if row._mapping[k]}
        conn.execute(update(schema.runs).where(runs.run_id == run_id).values(**shift))


def status_of(opened: Store) -> dict[str, Any]:
    with opened.results.read() as conn:
        found: dict[str, Any] = {r.run_id: r.status for r in conn.execute(select(schema.runs))}
        found.update({r.thread_id: r.status for r in conn.execute(select(schema.executions))})
    return found


def killed_run(opened: Store, run_id: str) -> str:
    """A run whose pytest was killed mid-execution: running run, running execution, no end."""
    opened.results.start_run(run_id, "threads")
    s = spec(run_id, "base", "one")
    opened.results.claim(s, "gone", "threads")
    return s.thread_id


def test_a_killed_run_is_marked_abandoned_only_after_the_timeout(opened: Store) -> None:
    dead = killed_run(opened, "dead")
    alive = killed_run(opened, "alive")
    write_run(opened.results, "done", {("base", "one"): {"answer": "x"}})
    age_run(opened, "dead", ABANDON_AFTER_S + 5)
    age_run(opened, "done", ABANDON_AFTER_S + 5)

    reaped = reap_abandoned(opened.results, by="later")
    assert reaped.runs == ("dead",) and reaped.executions == (dead,)
    statuses = status_of(opened)
    assert (statuses["dead"], statuses[dead]) == (ABANDONED, ABANDONED)
    assert (statuses["alive"], statuses[alive]) == (RUNNING, RUNNING)  # its heartbeat is fresh
    assert statuses["done"] == "passed"
    row = opened.results.find_thread(dead) or {}
    assert row["error_type"] == "Abandoned" and "marked abandoned by run later" in row["error_message"]
    assert reap_abandoned(opened.results).runs == ()  # once


def test_two_processes_reaping_at_once_mark_and_event_each_row_once(store: StoreUnderTest, opened: Store) -> None:
    threads = [killed_run(opened, f"dead{i}") for i in range(3)]
    for i in range(3):
        age_run(opened, f"dead{i}", ABANDON_AFTER_S + 5)
    other = open_store(parse_store_url(store.url, Path(".")))
    try:
        first, second = reap_abandoned(opened.results), reap_abandoned(other.results)
    finally:
        other.close()
    assert sorted(first.executions + second.executions) == sorted(threads)
    with opened.results.read() as conn:
        kinds = [r.event_type for r in conn.execute(select(schema.outbox.c.event_type))]
    assert kinds.count("execution.abandoned") == 3 and kinds.count("run.abandoned") == 3


def test_a_live_session_beats_and_stops(opened: Store) -> None:
    opened.results.start_run("live", "threads")
    age_run(opened, "live", 100)
    manager = SessionLifecycleManager(opened.results, "live", heartbeat_s=0.02)
    manager.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with opened.results.read() as conn:
                beat = conn.execute(select(schema.runs.c.heartbeat_at)).scalar_one()
            if beat > time.time() - 50:
                break
            time.sleep(0.02)
        assert beat > time.time() - 50, "no heartbeat within 10 s"
    finally:
        manager.stop()
    assert manager._thread is None


class State(TypedDict):
    q: str
    answer: str


def checkpoint_threads(opened: Store, thread_ids: list[str]) -> None:
    """Real LangGraph checkpoints in the store for these threads."""
    builder = StateGraph(State)
    builder.add_node("answer", lambda s: {"answer": s["q"].upper()})
    builder.add_edge(START, "answer")
    builder.add_edge("answer", END)
    graph = builder.compile(checkpointer=opened.checkpoints.new())
    for thread_id in thread_ids:
        graph.invoke({"q": thread_id}, {"configurable": {"thread_id": thread_id}})


def has_checkpoints(opened: Store, thread_id: str) -> bool:
    return opened.checkpoints.new().get_tuple({"configurable": {"thread_id": thread_id}}) is not None


def test_prune_deletes_old_runs_with_their_rows_and_checkpoints(opened: Store) -> None:
    results = opened.results
    old = write_run(results, "old", {("base", "one"): {"answer": "a"}, ("fast", "one"): {"answer": "b"}})
    new = write_run(results, "new", {("base", "one"): {"answer": "a"}})
    running = killed_run(opened, "running")
    results.record_parity(run_id="old", nodeid="t", variant="fast", baseline="base", case_id="one", passed=True)
    results.record_dead_letter("old", old["base", "one"].key, old["base", "one"].thread_id, ["lost"])
    all_threads = [s.thread_id for s in (*old.values(), *new.values())] + [running]
    checkpoint_threads(opened, all_threads)
    for run_id in ("old", "running"):
        age_run(opened, run_id, 40 * DAY)
    age_run(opened, "new", 2 * DAY)

    dry = prune(opened, keep_days=30, dry_run=True)
    assert dry.dry_run and dry.runs == ("old",) and dry.executions == 2
    assert all(has_checkpoints(opened, t) for t in all_threads)  # a dry run deletes nothing

    report = prune(opened, keep_days=30)
    # "running" was killed 40 days ago: it is marked abandoned first, then pruned as well
    assert set(report.runs) == {"old", "running"} and report.threads == 3
    assert not any(has_checkpoints(opened, s.thread_id) for s in old.values())
    assert not has_checkpoints(opened, running)
    assert has_checkpoints(opened, new["base", "one"].thread_id)
    with opened.results.read() as conn:
        for table in (schema.runs, schema.executions, schema.parity_outcomes, schema.dead_letters, schema.outbox):
            left = {r.run_id for r in conn.execute(select(table.c.run_id))}
            assert left <= {"new"}, (table.name, left)
    assert prune(opened, keep_days=30).runs == ()


def test_prune_keeps_a_run_that_is_still_running(opened: Store) -> None:
    killed_run(opened, "slow")
    age_run(opened, "slow", 40 * DAY)
    with opened.results.write() as conn:  # ... but alive: it beat a moment ago
        conn.execute(update(schema.runs).values(heartbeat_at=time.time()))
    assert prune(opened, keep_days=30).runs == ()
    assert status_of(opened)["slow"] == RUNNING
