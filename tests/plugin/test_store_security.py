"""A hostile store: rows crafted by anyone who can write to it never run code in whoever reads them
(`show`, `diff`, `replay`, --wtb-against, a CI shard reading another's result), and the user is told
what was refused; what pytest-wtb itself stores (messages, standard types, declared user types)
still reads back equal."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ormsgpack
import pytest
from langgraph.checkpoint.serde import jsonplus
from sqlalchemy import update

from pytest_wtb.store import open_store, parse_store_url, schema
from tests.plugin.graphs_src import GRAPH

if TYPE_CHECKING:
    from tests.store_support import StoreUnderTest

pytest.importorskip("psycopg")
pytest.importorskip("psycopg_pool")
pytest_plugins = ["tests.store_support"]

MODULE = GRAPH + '''

@wtb.variant(baseline=True)
def base():
    return build()


@wtb.cases({"reset": {"q": "reset"}})
def test_answer(wtb_run):
    assert wtb_run.state["answer"] == "answer to reset"
'''

HOSTILE = '''
from pathlib import Path

MARKER = Path({marker!r})
MARKER.write_text("imported")


def boom(*args, **kwargs):
    MARKER.write_text("called")
'''


@dataclass(frozen=True)
class Hostile:
    module: str
    folder: Path
    marker: Path

    def ext(self) -> ormsgpack.Ext:
        """What a crafted row holds: LangGraph's default decoder would import the module and call boom."""
        return ormsgpack.Ext(jsonplus.EXT_CONSTRUCTOR_KW_ARGS, ormsgpack.packb((self.module, "boom", {"a": 1})))

    def env(self) -> dict[str, str]:
        """For a subprocess: the module is importable, so only refusing it keeps the marker away."""
        return {**os.environ, "PYTHONPATH": os.pathsep.join([str(self.folder), os.environ.get("PYTHONPATH", "")])}

    def assert_untouched(self) -> None:
        assert not self.marker.exists(), f"stored data ran code: {self.marker.read_text()}"


@pytest.fixture
def hostile(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hostile]:
    folder = tmp_path_factory.mktemp("hostile")
    name = f"wtb_hostile_{uuid.uuid4().hex[:10]}"
    marker = folder / "marker"
    (folder / f"{name}.py").write_text(HOSTILE.format(marker=str(marker)))
    monkeypatch.syspath_prepend(str(folder))  # importable in this process too (pytester runs in-process)
    yield Hostile(name, folder, marker)
    sys.modules.pop(name, None)


def _open(store: StoreUnderTest) -> Any:
    return open_store(parse_store_url(store.url, Path(".")), create=False)


def executions(store: StoreUnderTest) -> list[dict[str, Any]]:
    s = _open(store)
    try:
        with s.results.read() as conn:
            return [dict(r._mapping) for r in conn.execute(schema.executions.select())]
    finally:
        s.close()


def craft_state(store: StoreUnderTest, run_id: str, value: Any) -> None:
    """Overwrite the stored final states of ``run_id`` with ``value``, as a hostile writer would."""
    s = _open(store)
    try:
        ex = schema.executions.c
        with s.results.write() as conn:
            conn.execute(
                update(schema.executions)
                .where(ex.run_id == run_id)
                .values(state_type="msgpack", state_blob=ormsgpack.packb(value))
            )
    finally:
        s.close()


def craft_checkpoint(store: StoreUnderTest, thread_id: str, value: Any) -> None:
    """A new latest checkpoint of ``thread_id`` whose 'answer' channel holds ``value``."""
    s = _open(store)
    try:
        saver = s.checkpoints.new()
        config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
        latest = next(iter(saver.list(config, limit=1)))
        checkpoint = dict(latest.checkpoint)
        checkpoint["id"] = str(uuid.uuid4())
        checkpoint["channel_values"] = {**checkpoint["channel_values"], "answer": value}
        checkpoint["channel_versions"] = {**checkpoint["channel_versions"], "answer": "99"}
        saver.put(latest.config, checkpoint, {"source": "loop", "step": 9}, {"answer": "99"})
    finally:
        s.close()


def cli(hostile: Hostile, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m pytest_wtb ARGS`` as a user types it, with the hostile module importable."""
    return subprocess.run([sys.executable, "-m", "pytest_wtb", *args], capture_output=True, text=True,
                          env=hostile.env(), timeout=120, cwd=cwd)


def assert_refused(text: str, hostile: Hostile, shown: bool = False) -> None:
    said = " (shown as the data it was stored as)" if shown else ""
    assert f"refused to revive {hostile.module}.boom from the store{said}: " in text, text
    assert "README's Security section" in text and f"wtb_allowed_types = {hostile.module}:boom" in text
    assert "Traceback" not in text, text


def test_show_prints_a_crafted_checkpoint_as_data_and_replay_refuses_it_and_nothing_runs(
    pytester: pytest.Pytester, store: StoreUnderTest, hostile: Hostile
) -> None:
    pytester.makepyfile(test_mod=MODULE)
    pytester.runpytest(store.option).assert_outcomes(passed=1)
    (row,) = executions(store)
    craft_checkpoint(store, row["thread_id"], hostile.ext())

    shown = cli(hostile, "show", row["thread_id"], "--store", store.url)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert f"thread_id {row['thread_id']}" in shown.stdout
    assert shown.stderr.startswith("pytest-wtb: note: ")
    assert_refused(shown.stderr, hostile, shown=True)
    hostile.assert_untouched()

    # replay would run the graph on it: there it is an error
    replayed = cli(hostile, "replay", row["thread_id"], "--store", store.url, cwd=pytester.path)
    assert replayed.returncode == 2, replayed.stdout + replayed.stderr
    assert_refused(replayed.stderr, hostile)
    hostile.assert_untouched()
    if store.secret:
        assert store.secret not in shown.stdout + shown.stderr + replayed.stdout + replayed.stderr


def test_diff_shows_a_crafted_final_state_as_data_and_wtb_against_fails_on_it_and_nothing_runs(
    pytester: pytest.Pytester, store: StoreUnderTest, hostile: Hostile
) -> None:
    pytester.makepyfile(test_mod=MODULE)
    pytester.runpytest(store.option).assert_outcomes(passed=1)
    pytester.runpytest(store.option).assert_outcomes(passed=1)
    first, second = sorted(executions(store), key=lambda r: r["started_at"])
    craft_state(store, first["run_id"], {"answer": hostile.ext()})

    diffed = cli(hostile, "diff", first["run_id"], second["run_id"], "--store", store.url)
    assert diffed.returncode == 1, diffed.stdout + diffed.stderr  # the crafted state differs, as data
    assert "test_mod::base [reset]: final state differs at " in diffed.stdout
    assert "    answer: {'a': 1} -> 'answer to reset'" in diffed.stdout, diffed.stdout
    assert_refused(diffed.stderr, hostile, shown=True)
    hostile.assert_untouched()

    # --wtb-against judges the current run by it: there it fails the item, naming the stored thread
    against = pytester.runpytest(store.option, f"--wtb-against={first['run_id']}")
    against.assert_outcomes(failed=1)
    against.stdout.fnmatch_lines(
        [f"*the stored final state of thread_id {first['thread_id']}: refused to revive {hostile.module}.boom*"]
    )
    assert "INTERNALERROR" not in against.stdout.str()
    hostile.assert_untouched()


def test_a_shard_reading_a_crafted_result_row_fails_the_item_and_runs_nothing(
    pytester: pytest.Pytester, store: StoreUnderTest, hostile: Hostile
) -> None:
    # CI shards write into one run (--wtb-run-id) and read each other's result rows, as xdist workers do
    pytester.makepyfile(test_mod=MODULE)
    pytester.runpytest(store.option, "--wtb-run-id=shared-run").assert_outcomes(passed=1)
    craft_state(store, "shared-run", {"answer": hostile.ext()})

    second = pytester.runpytest(store.option, "--wtb-run-id=shared-run")
    second.assert_outcomes(failed=1)
    second.stdout.fnmatch_lines(["*StoredDataRefused*refused to revive*"])
    assert f"refused to revive {hostile.module}.boom" in second.stdout.str()
    hostile.assert_untouched()


TYPES_MODULE = '''
import datetime
import decimal
import enum
import uuid
from dataclasses import dataclass
from typing import Annotated, TypedDict

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

import pytest_wtb as wtb


class Priority(enum.Enum):
    LOW = 1
    HIGH = 2


@dataclass
class Ticket:
    title: str
    priority: Priority


@dataclass
class Note:  # held in an untyped list: only wtb_allowed_types lets it come back as a Note
    text: str


class State(TypedDict, total=False):
    q: str
    messages: Annotated[list, add_messages]
    ticket: Ticket
    extras: list
    when: datetime.datetime
    tags: set
    price: decimal.Decimal
    ref: uuid.UUID


def agent(state):
    call = {"name": "lookup", "args": {"q": state["q"]}, "id": "call_1"}
    return {
        "messages": [HumanMessage(state["q"]), AIMessage("", tool_calls=[call]),
                     ToolMessage("found", tool_call_id="call_1", name="lookup"), AIMessage("done")],
        "ticket": Ticket(state["q"], Priority.HIGH),
        "extras": [Note("n1")],
        "when": datetime.datetime(2026, 1, 2, 3, 4, tzinfo=datetime.timezone.utc),
        "tags": {"a", "b"},
        "price": decimal.Decimal("9.99"),
        "ref": uuid.UUID(int=7),
    }


@wtb.variant(baseline=True)
def base():
    g = StateGraph(State)
    g.add_node("agent", agent)
    g.add_edge(START, "agent")
    g.add_edge("agent", END)
    return g


@wtb.parity()
@wtb.cases({"refund": {"q": "refund"}, "reset": {"q": "reset"}})
def test_types(wtb_run):
    state = wtb_run.state
    assert isinstance(state["ticket"], Ticket) and state["ticket"].priority is Priority.HIGH
    assert isinstance(state["extras"][0], Note)
    assert state["messages"][1].tool_calls[0]["args"] == {"q": wtb_run.case_id}
    assert state["messages"][2].tool_call_id == "call_1"
    assert state["tags"] == {"a", "b"} and state["price"] == decimal.Decimal("9.99")
    assert state["ref"] == uuid.UUID(int=7) and state["when"].tzinfo is not None


@wtb.cases({"refund": {"q": "refund"}, "reset": {"q": "reset"}})
def test_types_again(wtb_run):  # shares the executions: under -n 2 one worker reads the other's rows
    assert isinstance(wtb_run.state["ticket"], Ticket)
'''


def test_messages_standard_types_and_allowed_user_types_read_back_equal(
    pytester: pytest.Pytester, hostile: Hostile
) -> None:
    pytester.makepyfile(test_types=TYPES_MODULE)
    pytester.makeini("[pytest]\nwtb_allowed_types = test_types:Note\n")
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=4)
    # the stored states compared with fresh ones: equal only if every value read back as it was
    again = pytester.runpytest("-p", "no:cacheprovider", "--wtb-against=last")
    again.assert_outcomes(passed=4)
    again.stdout.fnmatch_lines(["pytest-wtb: compared executions with stored run *"])
    dist = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider", "--wtb-against=last")
    dist.assert_outcomes(passed=4)

    conn = sqlite3.connect(pytester.path / ".wtb" / "wtb.db")
    try:
        (thread_id,) = conn.execute("select thread_id from wtb_executions limit 1").fetchone()
    finally:
        conn.close()
    store = ["--store", f"sqlite:///{pytester.path / '.wtb' / 'wtb.db'}"]
    env = {**hostile.env(), "PYTHONPATH": os.pathsep.join([str(pytester.path), hostile.env()["PYTHONPATH"]])}
    # the CLI imports no test module and reads no pytest ini: it shows those types as stored data ...
    shown = subprocess.run([sys.executable, "-m", "pytest_wtb", "show", thread_id, *store],
                           capture_output=True, text=True, env=env, timeout=120)
    assert shown.returncode == 0 and f"thread_id {thread_id}" in shown.stdout, shown.stderr
    assert "WTB_ALLOWED_TYPES=test_types:Note,test_types:Priority,test_types:Ticket" in shown.stderr
    # ... unless they are allowed there too
    allowed = "test_types:Note,test_types:Priority,test_types:Ticket"
    shown = subprocess.run([sys.executable, "-m", "pytest_wtb", "show", thread_id, *store], capture_output=True,
                           text=True, env={**env, "WTB_ALLOWED_TYPES": allowed}, timeout=120)
    assert shown.returncode == 0 and shown.stderr == "", shown.stderr


def test_allowed_user_types_reach_ray_actors(pytester: pytest.Pytester, ray_address: str) -> None:
    # the actors decode their own checkpoints (get_state): they must allow what the ini allows
    pytester.makepyfile(test_types=TYPES_MODULE)
    pytester.makeini("[pytest]\nwtb_allowed_types = test_types:Note\n")
    result = pytester.runpytest_subprocess("--wtb-backend=ray", "--wtb-ray-address=auto", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
