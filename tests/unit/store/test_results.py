"""ResultStore on SQLite and PostgreSQL: claims, records, outbox events in the same transaction."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select

from pytest_wtb.errors import StoreError
from pytest_wtb.model import LOST, RUNNING, ErrorInfo
from pytest_wtb.store import Store, open_store, parse_store_url, schema
from pytest_wtb.store.results import ResultStore
from pytest_wtb.store.rows import ABANDONED
from tests.unit.store.builders import result, spec

if TYPE_CHECKING:
    from tests.store_support import StoreUnderTest

pytest_plugins = ["tests.store_support"]


@pytest.fixture
def opened(store: StoreUnderTest) -> Iterator[Store]:
    s = open_store(parse_store_url(store.url, Path(".")))
    yield s
    s.close()


def rows(results: ResultStore, table: Any) -> list[dict[str, Any]]:
    with results.read() as conn:
        return [dict(r._mapping) for r in conn.execute(select(table))]


def events(results: ResultStore, event_type: str | None = None) -> list[dict[str, Any]]:
    found = sorted(rows(results, schema.outbox), key=lambda e: e["id"])
    return [e for e in found if event_type is None or e["event_type"] == event_type]


def test_each_execution_is_claimed_once_across_processes_and_threads(store: StoreUnderTest, opened: Store) -> None:
    # a second Store is what a second pytest process (an xdist worker) holds
    other = open_store(parse_store_url(store.url, Path(".")))
    try:
        opened.results.start_run("race", "threads")
        specs = [spec("race", "base", f"c{i}") for i in range(12)]
        start = threading.Barrier(8)

        def claim_all(results: ResultStore) -> list[str]:
            start.wait(timeout=30)
            return [s.key for s in specs if results.claim(s, threading.current_thread().name, "threads")]

        stores = [opened.results, other.results] * 4
        with ThreadPoolExecutor(8) as pool:
            won = [key for keys in pool.map(claim_all, stores) for key in keys]
    finally:
        other.close()
    assert sorted(won) == sorted(s.key for s in specs)  # every one claimed, none twice
    assert len(rows(opened.results, schema.executions)) == 12
    assert sorted(e["exec_key"] for e in events(opened.results, "execution.claimed")) == sorted(won)


def test_claims_in_overlapping_chunks_are_won_once_each(store: StoreUnderTest, opened: Store) -> None:
    # how the dispatchers of two xdist workers claim: whole chunks per transaction, in any order
    other = open_store(parse_store_url(store.url, Path(".")))
    try:
        opened.results.start_run("chunks", "threads")
        specs = [spec("chunks", "base", f"c{i}") for i in range(40)]
        start = threading.Barrier(4)

        def claim_chunks(args: tuple[ResultStore, int]) -> set[str]:
            results, offset = args
            start.wait(timeout=30)
            won: set[str] = set()
            for i in range(0, 40, 7):
                chunk = specs[(i + offset) % 40 :] + specs[: (i + offset) % 40]
                won |= results.claim_many(chunk[:7], f"w{offset}", "threads")
            return won

        with ThreadPoolExecutor(4) as pool:
            wins = list(pool.map(claim_chunks, [(opened.results, 0), (other.results, 3),
                                                (opened.results, 11), (other.results, 29)]))
    finally:
        other.close()
    everything = [key for won in wins for key in won]
    assert len(everything) == len(set(everything)), "no execution won twice"
    rows_by_key = {r["exec_key"]: r for r in rows(opened.results, schema.executions)}
    assert set(everything) == set(rows_by_key)
    for i, won in enumerate(wins):
        owner = f"w{[0, 3, 11, 29][i]}"
        assert all(rows_by_key[k]["owner"] == owner for k in won)
    assert sorted(e["exec_key"] for e in events(opened.results, "execution.claimed")) == sorted(everything)


def test_a_group_of_results_is_recorded_in_one_transaction(opened: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    results = opened.results
    results.start_run("g", "threads")
    specs = [spec("g", "base", f"c{i}") for i in range(5)]
    assert results.claim_many(specs, "me", "threads") == {s.key for s in specs}
    assert results.claim_many(specs, "other", "threads") == set()  # already ours
    group = [result(s, state={"i": i}) for i, s in enumerate(specs)]
    results.record_many("g", group)
    for i, s in enumerate(specs):
        row = results.execution_row("g", s.key) or {}
        assert row["status"] == "succeeded" and results.load_state(row) == {"i": i}
    assert len(events(results, "execution.succeeded")) == 5

    more = [spec("g", "base", f"d{i}") for i in range(3)]
    results.claim_many(more, "me", "threads")

    def broken_outbox(*args: Any, **kwargs: Any) -> None:
        raise StoreError("outbox unavailable")

    monkeypatch.setattr(results, "outbox_events", broken_outbox)
    with pytest.raises(StoreError):
        results.record_many("g", [result(s) for s in more])
    monkeypatch.undo()
    assert all((results.execution_row("g", s.key) or {})["status"] == RUNNING for s in more), "all or none"


def test_a_recorded_result_reads_back_as_it_was_written(opened: Store) -> None:
    results = opened.results
    results.start_run("r1", "threads")
    ok, bad = spec("r1", "base", "one"), spec("r1", "base", "two")
    results.claim(ok, "me", "threads")
    results.claim(bad, "me", "threads")
    assert results.result_from_row(results.execution_row("r1", ok.key) or {}) is None  # still running
    results.record("r1", result(ok, state={"answer": "a", "pair": (1, 2.5), "nested": {"k": [1]}}))
    results.record("r1", result(bad, "failed", error=ErrorInfo("ValueError", "boom", "retrieve", "tb")))

    got = results.result_from_row(results.execution_row("r1", ok.key) or {})
    assert got is not None and got.ok
    assert got.state == {"answer": "a", "pair": [1, 2.5], "nested": {"k": [1]}}  # serde: tuples become lists
    assert (got.thread_id, got.checkpoint_id) == (ok.thread_id, "ckpt-" + ok.key[:6])
    assert (got.variant, got.case_id) == ("base", "one")
    failed = results.result_from_row(results.execution_row("r1", bad.key) or {})
    assert failed is not None and failed.error == ErrorInfo("ValueError", "boom", "retrieve", "tb")
    assert results.find_thread(bad.thread_id)["status"] == "failed"  # type: ignore[index]

    kinds = [(e["event_type"], e["thread_id"]) for e in events(results) if e["exec_key"] == ok.key]
    assert kinds == [("execution.claimed", ok.thread_id), ("execution.succeeded", ok.thread_id)]
    payload = json.loads(events(results, "execution.failed")[0]["payload_json"])
    assert payload["error_type"] == "ValueError"


def test_an_event_and_the_change_it_describes_commit_or_roll_back_together(
    opened: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = opened.results
    results.start_run("r1", "threads")
    s = spec("r1", "base", "one")
    results.claim(s, "me", "threads")

    def broken_outbox(*args: Any, **kwargs: Any) -> None:
        raise StoreError("outbox unavailable")

    monkeypatch.setattr(results, "outbox_events", broken_outbox)
    with pytest.raises(StoreError, match="outbox unavailable"):
        results.record("r1", result(s))
    monkeypatch.undo()
    assert (results.execution_row("r1", s.key) or {})["status"] == RUNNING  # the update was rolled back
    assert [e["event_type"] for e in events(results) if e["exec_key"] == s.key] == ["execution.claimed"]


def test_xdist_workers_share_one_run_and_a_failure_wins(opened: Store) -> None:
    results = opened.results
    results.start_run("shared", "threads", host="a")
    results.start_run("shared", "threads", host="b")  # the second worker: same run, no second row
    results.end_run("shared", "failed")
    results.end_run("shared", "passed")
    (run,) = rows(results, schema.runs)
    assert (run["run_id"], run["status"], run["host"]) == ("shared", "failed", "a")
    assert [e["event_type"] for e in events(results)] == ["run.started", "run.ended", "run.ended"]


def test_passwords_in_error_texts_are_masked_before_they_are_stored(opened: Store) -> None:
    results = opened.results
    results.start_run("r1", "threads")
    s = spec("r1", "base", "one")
    results.claim(s, "me", "threads")
    leak = "could not reach postgresql://app:hunter2@db/x (password=hunter2)"
    results.record("r1", result(s, "failed", error=ErrorInfo("OperationalError", leak, "n", leak)))
    results.record_dead_letter("r1", s.key, s.thread_id, [leak])
    stored = json.dumps([rows(results, t) for t in schema.metadata.sorted_tables], default=str)
    assert "hunter2" not in stored
    assert "postgresql://app:***@db/x (password=***)" in stored


def test_an_abandoned_execution_reads_as_lost(opened: Store) -> None:
    results = opened.results
    results.start_run("r1", "threads")
    s = spec("r1", "base", "one")
    results.claim(s, "me", "threads")
    with results.write() as conn:
        conn.execute(schema.executions.update().values(status=ABANDONED, error_type="Abandoned", error_message="x"))
    got = results.result_from_row(results.execution_row("r1", s.key) or {})
    assert got is not None and got.status == LOST and got.error is not None and got.error.type == "Abandoned"


def test_a_dead_owner_is_taken_over_once(opened: Store) -> None:
    results = opened.results
    results.start_run("r1", "threads")
    s = spec("r1", "base", "one")
    results.claim(s, "dead", "threads")
    assert results.take_over("r1", s.key, "dead", "me") is True
    assert results.take_over("r1", s.key, "dead", "you") is False
    assert (results.execution_row("r1", s.key) or {})["owner"] == "me"
    assert len(events(results, "execution.taken_over")) == 1
