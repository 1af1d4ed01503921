"""Recordings in the results store (pytest_wtb/store/recordings.py), on SQLite and PostgreSQL: written in
the same transaction as the results that made them, replaced when recorded again, counted when
replayed, read as a snapshot that leaves out the reading run's own recordings, listed and pruned.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select, update

from pytest_wtb.execute.tape import Snapshot, cassette_of
from pytest_wtb.model import ExecutionResult, ExecutionSpec, RecordedCall
from pytest_wtb.store import Store, open_store, parse_store_url, schema
from pytest_wtb.store import recordings as rec_store
from tests.unit.store.builders import result, spec

if TYPE_CHECKING:
    from tests.store_support import StoreUnderTest

pytest_plugins = ["tests.store_support"]


@pytest.fixture
def opened(store: StoreUnderTest) -> Iterator[Store]:
    s = open_store(parse_store_url(store.url, Path(".")))
    yield s
    s.close()


def call(s: ExecutionSpec, key: str, answer: bytes = b"answer", node: str = "agent", kind: str = "chat",
         name: str = "fake-rec(fake-1)") -> RecordedCall:
    return RecordedCall(key=key, kind=kind, name=name, node=node, identity="ident", input_text=f"human: {key}",
                        output_type="msgpack", output_blob=answer, cassette=cassette_of(s), scope=s.scope,
                        variant=s.variant_name, case_id=s.case_id, repetition=0, occurrence=0)


def cassette_ref(s: ExecutionSpec) -> dict[str, str]:
    """What the worker puts in a result's extra under once/new/all: the execution is a cassette now."""
    return {"id": cassette_of(s), "scope": s.scope}


def finished(s: ExecutionSpec, new: tuple[RecordedCall, ...] = (), replayed: tuple[str, ...] = ()) -> ExecutionResult:
    """A result as the worker returns it: new recordings, and every call it made in extra['calls']."""
    calls = [{"kind": c.kind, "name": c.name, "node": c.node, "key": c.key, "status": "recorded"} for c in new]
    calls += [{"kind": "chat", "name": "m", "node": "agent", "key": k, "status": "replayed"} for k in replayed]
    plain = result(s)
    return ExecutionResult(**{**plain.__dict__, "extra": {"cassette": cassette_ref(s), "calls": calls},
                              "recordings": new})


def run(s: Store, run_id: str, results: list[ExecutionResult], started_at: float | None = None) -> None:
    s.results.start_run(run_id, "threads", host="test-host")
    if started_at is not None:  # runs a second apart, without sleeping
        with s.results.write() as conn:
            conn.execute(update(schema.runs).where(schema.runs.c.run_id == run_id).values(started_at=started_at))
    s.results.record_many(run_id, results)
    s.results.end_run(run_id, "passed")


def recordings(s: Store) -> dict[str, dict[str, Any]]:
    with s.results.read() as conn:
        return {r.rec_key: dict(r._mapping) for r in conn.execute(select(schema.recordings))}


def test_write_stores_each_new_recording_with_the_execution_that_made_it(opened: Store) -> None:
    paris, rome = spec("r1", "base", "paris"), spec("r1", "base", "rome")
    run(opened, "r1", [finished(paris, (call(paris, "k1"), call(paris, "k2", node="tools", kind="tool",
                                                                   name="lookup"))),
                       finished(rome, (call(rome, "k3"),))])
    rows = recordings(opened)
    assert sorted(rows) == ["k1", "k2", "k3"]
    assert rows["k2"]["kind"] == "tool" and rows["k2"]["name"] == "lookup" and rows["k2"]["node"] == "tools"
    assert rows["k1"]["cassette"] == cassette_of(paris) != rows["k3"]["cassette"]
    assert {r["created_run"] for r in rows.values()} == {"r1"} == {r["last_run"] for r in rows.values()}
    assert all(r["hits"] == 0 and r["variant"] == "base" and r["scope"] == "test_mod" for r in rows.values())
    assert bytes(rows["k1"]["output_blob"]) == b"answer"
    with opened.results.read() as conn:
        cassettes = {tuple(r) for r in conn.execute(select(schema.cassettes.c.cassette, schema.cassettes.c.scope))}
    assert cassettes == {(cassette_of(paris), "test_mod"), (cassette_of(rome), "test_mod")}


def test_a_key_recorded_again_replaces_the_old_answer(opened: Store) -> None:
    s1 = spec("r1", "base", "paris")
    run(opened, "r1", [finished(s1, (call(s1, "k1", b"old"),))])
    s2 = spec("r2", "other", "paris")  # another variant made the same call (--wtb-record=all)
    run(opened, "r2", [finished(s2, (call(s2, "k1", b"new"),))])
    (row,) = recordings(opened).values()
    assert bytes(row["output_blob"]) == b"new"
    assert (row["created_run"], row["last_run"], row["variant"]) == ("r2", "r2", "other")


def test_replayed_calls_count_hits_and_mark_the_run_that_used_them(opened: Store) -> None:
    s1 = spec("r1", "base", "paris")
    run(opened, "r1", [finished(s1, (call(s1, "k1"), call(s1, "k2")))])
    paris, rome = spec("r2", "base", "paris"), spec("r2", "base", "rome")
    run(opened, "r2", [finished(paris, replayed=("k1", "k1")), finished(rome, replayed=("k1",))])
    rows = recordings(opened)
    assert (rows["k1"]["hits"], rows["k1"]["last_run"], rows["k1"]["created_run"]) == (3, "r2", "r1")
    assert (rows["k2"]["hits"], rows["k2"]["last_run"]) == (0, "r1")


def test_snapshot_leaves_out_the_runs_own_recordings_and_cassettes(opened: Store) -> None:
    old, now = spec("r1", "base", "paris"), spec("r2", "base", "rome")
    run(opened, "r1", [finished(old, (call(old, "k-old", b"o"),))])
    run(opened, "r2", [finished(now, (call(now, "k-now", b"n"),))])
    snap = opened.results.recordings_snapshot("r2")
    assert set(snap.entries) == {"k-old"}
    assert snap.cassettes == frozenset({cassette_of(old)})
    entry = snap.entries["k-old"]
    assert (entry.kind, entry.node, entry.output_blob, entry.variant, entry.case_id) == (
        "chat", "agent", b"o", "base", "paris")
    later = opened.results.recordings_snapshot("r3")  # a run after both sees both
    assert set(later.entries) == {"k-old", "k-now"}
    assert later.cassettes == frozenset({cassette_of(old), cassette_of(now)})


def test_an_execution_without_calls_leaves_no_cassette(opened: Store) -> None:
    s1 = spec("r1", "base", "paris")
    run(opened, "r1", [result(s1)])
    assert opened.results.recordings_snapshot("r2") == Snapshot()


def test_listing_groups_by_module_variant_node_and_model(opened: Store) -> None:
    paris, rome = spec("r1", "base", "paris"), spec("r1", "base", "rome")
    run(opened, "r1", [finished(paris, (call(paris, "k1"), call(paris, "t1", node="tools", kind="tool",
                                                                   name="lookup"))),
                       finished(rome, (call(rome, "k2"),))])
    run(opened, "r2", [finished(spec("r2", "base", "paris"), replayed=("k1", "k2"))])
    with opened.results.read() as conn:
        listed = [{k: v for k, v in row.items() if k != "recorded_at"} for row in rec_store.listing(conn)]
    assert listed == [
        {"scope": "test_mod", "variant": "base", "node": "agent", "kind": "chat", "name": "fake-rec(fake-1)",
         "recordings": 2, "hits": 2},
        {"scope": "test_mod", "variant": "base", "node": "tools", "kind": "tool", "name": "lookup",
         "recordings": 1, "hits": 0},
    ]


def test_prune_deletes_what_the_newest_run_of_a_module_did_not_use(opened: Store) -> None:
    t0 = time.time() - 100
    a = spec("r1", "base", "paris")
    other_mod = spec("r1", "base", "paris", scope="test_other")
    run(opened, "r1", [finished(a, (call(a, "used"), call(a, "stale"))),
                       finished(other_mod, (call(other_mod, "elsewhere"),))], started_at=t0)
    b = spec("r2", "base", "rome")
    # the newest run of test_mod replays one recording and records another; test_other did not run again
    run(opened, "r2", [finished(b, (call(b, "fresh"),), replayed=("used",))], started_at=t0 + 10)
    with opened.results.write() as conn:
        assert rec_store.prune(conn) == 1
    assert sorted(recordings(opened)) == ["elsewhere", "fresh", "used"]
    with opened.results.write() as conn:
        assert rec_store.prune(conn) == 0  # nothing left that the newest runs did not use
