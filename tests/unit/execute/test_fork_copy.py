"""The SQLite fast path of copy_thread copies exactly what the saver-API copy does."""

from __future__ import annotations

import operator
import sqlite3
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph

from pytest_wtb.execute.fork import FORKED_FROM, _copy_through_api, copy_thread


class S(TypedDict, total=False):
    q: str
    log: Annotated[list[str], operator.add]


def _node(name: str) -> Any:
    def run(state: S) -> dict[str, Any]:
        return {"log": [name]}

    return run


def _graph(saver: SqliteSaver) -> Any:
    g = StateGraph(S)
    for name in ("a", "left", "right", "join", "last"):
        g.add_node(name, _node(name))
    g.add_edge(START, "a")
    g.add_edge("a", "left")
    g.add_edge("a", "right")  # a parallel step: its pending writes must be copied too
    g.add_edge(["left", "right"], "join")
    g.add_edge("join", "last")
    g.add_edge("last", END)
    return g.compile(checkpointer=saver, interrupt_before=["last"])


def _snapshot(saver: SqliteSaver, thread_id: str) -> list[tuple[Any, ...]]:
    rows = []
    for t in saver.list({"configurable": {"thread_id": thread_id}}):
        conf = t.config["configurable"]
        parent = t.parent_config["configurable"]["checkpoint_id"] if t.parent_config else None
        # compared by equality, not repr: a deserialized set (a join's seen-branches) has no fixed order
        writes = sorted(t.pending_writes or (), key=lambda w: (w[0], w[1]))
        rows.append((conf["checkpoint_ns"], conf["checkpoint_id"], parent, t.checkpoint,
                     sorted(t.metadata.items()), writes))
    return rows


def test_sqlite_copy_equals_the_api_copy_and_resumes_alike(tmp_path: Path) -> None:
    saver = SqliteSaver(sqlite3.connect(tmp_path / "c.db", check_same_thread=False))
    graph = _graph(saver)
    graph.invoke({"q": "x", "log": []}, {"configurable": {"thread_id": "src"}})
    assert graph.get_state({"configurable": {"thread_id": "src"}}).next == ("last",)

    fast = copy_thread(saver, "src", "fast")
    slow = _copy_through_api(saver, "src", "slow")
    assert fast == slow == graph.get_state({"configurable": {"thread_id": "src"}}).config["configurable"][
        "checkpoint_id"
    ]
    assert _snapshot(saver, "fast") == _snapshot(saver, "slow")
    assert all(dict(row[4])[FORKED_FROM] == "src" for row in _snapshot(saver, "fast"))
    assert len(_snapshot(saver, "fast")) == len(_snapshot(saver, "src"))
    assert any(row[5] for row in _snapshot(saver, "fast")), "pending writes were copied"
    for thread_id in ("fast", "slow"):
        final = graph.invoke(None, {"configurable": {"thread_id": thread_id}})
        assert final["log"] == ["a", "left", "right", "join", "last"]
    assert copy_thread(saver, "nothing-here", "empty") is None
