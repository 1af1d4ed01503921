"""The SQLite saver of async executions (write_behind.py): the same rows as LangGraph's SqliteSaver,
reads that see every write before them, values taken when LangGraph hands them over, a failed write
reported to its own thread only, and nothing queued lost at close."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any, TypedDict

import pytest
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph

from pytest_wtb.errors import StoreError
from pytest_wtb.execute.aio import ThreadedAsyncSaver
from pytest_wtb.execute.write_behind import WriteBehindSqliteSaver
from pytest_wtb.store.checkpoints import CheckpointerSource
from pytest_wtb.store.urls import parse_store_url


class S(TypedDict, total=False):
    q: str
    steps: list[str]


async def first(s: S) -> dict[str, Any]:
    await asyncio.sleep(0.001)
    return {"steps": [*s.get("steps", []), "first"]}


async def second(s: S) -> dict[str, Any]:
    return {"steps": [*s["steps"], "second"]}


def graph(checkpointer: Any) -> Any:
    g = StateGraph(S)
    g.add_node("first", first)
    g.add_node("second", second)
    g.add_edge(START, "first")
    g.add_edge("first", "second")
    g.add_edge("second", END)
    return g.compile(checkpointer=checkpointer)


@pytest.fixture
def source(tmp_path: Path) -> Any:
    src = CheckpointerSource(parse_store_url("sqlite:///wtb.db", tmp_path))
    yield src
    src.close()


def _rows(path: Path) -> tuple[list[Any], list[Any]]:
    conn = sqlite3.connect(path)
    try:
        checkpoints = conn.execute(
            "SELECT thread_id, checkpoint_ns, parent_checkpoint_id IS NULL, type, metadata FROM checkpoints "
            "ORDER BY thread_id, checkpoint_id").fetchall()
        writes = conn.execute("SELECT thread_id, task_path, idx, channel, type, value FROM writes "
                              "ORDER BY thread_id, checkpoint_id, task_path, idx").fetchall()
    finally:
        conn.close()
    return checkpoints, writes


def test_many_concurrent_threads_store_what_sqlite_saver_stores(source: Any, tmp_path: Path) -> None:
    saver = WriteBehindSqliteSaver(source.new)

    async def run_all() -> list[Any]:
        g = graph(saver)
        return await asyncio.gather(*(g.ainvoke({"q": str(i)}, {"configurable": {"thread_id": f"t{i:02}"}},
                                                durability="sync") for i in range(40)))

    try:
        outs = asyncio.run(run_all())
    finally:
        saver.close()
    assert all(o["steps"] == ["first", "second"] for o in outs)

    reference = tmp_path / "reference.db"  # the same runs through LangGraph's SqliteSaver, one write at a time
    conn = sqlite3.connect(reference, check_same_thread=False)
    plain = ThreadedAsyncSaver([SqliteSaver(conn)])

    async def one_by_one() -> None:
        g = graph(plain)
        for i in range(40):
            await g.ainvoke({"q": str(i)}, {"configurable": {"thread_id": f"t{i:02}"}}, durability="sync")

    asyncio.run(one_by_one())
    plain.close()
    conn.close()
    ours, theirs = _rows(tmp_path / "wtb.db"), _rows(reference)
    assert len(ours[0]) == len(theirs[0]) == 40 * 4
    assert ours == theirs  # same rows, same serialized values, same metadata


def test_a_read_sees_every_write_queued_before_it(source: Any) -> None:
    saver = WriteBehindSqliteSaver(source.new)

    async def run() -> Any:
        g = graph(saver)
        await g.ainvoke({"q": "x"}, {"configurable": {"thread_id": "t"}}, durability="sync")
        return await g.aget_state({"configurable": {"thread_id": "t"}})

    try:
        state = asyncio.run(run())
    finally:
        saver.close()
    assert state.values["steps"] == ["first", "second"] and state.next == ()


def test_values_are_taken_when_langgraph_hands_them_over(source: Any) -> None:
    saver = WriteBehindSqliteSaver(source.new)
    config: Any = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    value = ["before"]
    checkpoint: Any = {"v": 4, "id": "1f000000-0000-6000-8000-000000000001", "ts": "2026-12-01T00:00:00+00:00",
                       "channel_values": {"steps": value}, "channel_versions": {}, "versions_seen": {}}

    async def run() -> Any:
        stored = await saver.aput(config, checkpoint, {"source": "input", "step": -1}, {})
        value.append("after")  # a node mutating its state in place once LangGraph moved on
        return await saver.aget_tuple(stored)

    try:
        found = asyncio.run(run())
    finally:
        saver.close()
    assert found.checkpoint["channel_values"]["steps"] == ["before"]


def test_a_failed_write_fails_its_own_thread_and_no_other(source: Any, tmp_path: Path) -> None:
    source.setup()
    conn = sqlite3.connect(tmp_path / "wtb.db")
    conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON checkpoints WHEN NEW.thread_id = 'bad' "
                 "BEGIN SELECT RAISE(ABORT, 'disk says no'); END")
    conn.commit()
    conn.close()
    saver = WriteBehindSqliteSaver(source.new)

    async def run(thread_id: str) -> Any:
        config: Any = {"configurable": {"thread_id": thread_id}}
        g = graph(saver)
        await g.ainvoke({"q": "x"}, config, durability="sync")
        return (await g.aget_state(config)).values  # the read after its writes reports a write that failed

    async def both() -> list[Any]:
        return await asyncio.gather(run("good"), run("bad"), return_exceptions=True)

    try:
        good, bad = asyncio.run(both())
    finally:
        saver.close()
    assert good["steps"] == ["first", "second"]
    assert isinstance(bad, StoreError) and "IntegrityError: disk says no" in str(bad)
    checkpoints, _ = _rows(tmp_path / "wtb.db")
    assert {row[0] for row in checkpoints} == {"good"}


def test_close_commits_what_is_still_queued(source: Any, tmp_path: Path) -> None:
    saver = WriteBehindSqliteSaver(source.new)
    config: Any = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    for i in range(200):
        checkpoint: Any = {"v": 4, "id": f"1f000000-0000-6000-8000-{i:012}", "ts": "2026-12-01T00:00:00+00:00",
                           "channel_values": {}, "channel_versions": {}, "versions_seen": {}}
        saver.put(config, checkpoint, {"source": "loop", "step": i}, {})
    saver.close()
    checkpoints, _ = _rows(tmp_path / "wtb.db")
    assert len(checkpoints) == 200


def test_a_store_that_cannot_be_opened_is_an_error_at_once(tmp_path: Path) -> None:
    def broken() -> Any:
        raise sqlite3.OperationalError("unable to open database file")

    with pytest.raises(sqlite3.OperationalError, match="unable to open"):
        WriteBehindSqliteSaver(broken)
