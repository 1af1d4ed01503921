"""What the store's serializer revives: the allow-list round-trips, anything else is refused without
importing or calling it, for result rows and checkpoints on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import pickle
import re
import sys
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from ipaddress import IPv4Address, IPv6Network
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import ormsgpack
import pytest
from langchain_core.documents import Document
from langchain_core.load import dumpd
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.serde import jsonplus
from langgraph.types import Interrupt, Send
from sqlalchemy import update

from pytest_wtb.errors import ConfigError, StoreError
from pytest_wtb.model import FAILED
from pytest_wtb.store import Store, open_store, parse_store_url, schema
from pytest_wtb.store.allowlist import allow_graph_types, allow_types, configured_types_env, parse_type_names
from pytest_wtb.store.serde import StoredDataRefused, reading_for_display, strict_serde
from tests.unit.store.builders import result, spec

if TYPE_CHECKING:
    from tests.store_support import StoreUnderTest

pytest_plugins = ["tests.store_support"]

HOSTILE_SOURCE = '''
from pathlib import Path

MARKER = Path({marker!r})
MARKER.write_text("imported")  # importing this module is already running the attacker's code


def boom(*args, **kwargs):
    MARKER.write_text("called")
    return "boom"


class Boom:
    def __init__(self, *args, **kwargs):
        MARKER.write_text("constructed")

    @classmethod
    def run(cls, arg):
        MARKER.write_text("method")
'''

USER_TYPES_SOURCE = '''
import enum
from dataclasses import dataclass
from typing import TypedDict

import pydantic
from langgraph.graph import END, START, StateGraph


class Priority(enum.Enum):
    LOW = 1
    HIGH = 2


@dataclass
class Ticket:
    title: str
    priority: Priority


class Answer(pydantic.BaseModel):
    text: str
    score: float


class State(TypedDict, total=False):
    ticket: Ticket
    answer: Answer


def build():
    graph = StateGraph(State)
    graph.add_node("n", lambda state: {})
    graph.add_edge(START, "n")
    graph.add_edge("n", END)
    return graph
'''


@dataclass(frozen=True)
class Hostile:
    module: str
    marker: Path

    def assert_untouched(self) -> None:
        assert not self.marker.exists(), f"stored data ran code: {self.marker.read_text()}"
        assert self.module not in sys.modules, "stored data imported a module"


@pytest.fixture
def hostile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hostile]:
    """A module whose import, or a call into it, leaves a marker file; unique per test."""
    name = f"wtb_hostile_{uuid.uuid4().hex[:10]}"
    folder = tmp_path / "hostile"
    folder.mkdir()
    marker = tmp_path / "marker"
    (folder / f"{name}.py").write_text(HOSTILE_SOURCE.format(marker=str(marker)))
    monkeypatch.syspath_prepend(str(folder))
    yield Hostile(name, marker)
    sys.modules.pop(name, None)


@pytest.fixture
def user_types(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A user's own module of state types, under a name no other test allows."""
    import importlib

    name = f"wtb_user_types_{uuid.uuid4().hex[:10]}"
    folder = tmp_path / "user"
    folder.mkdir()
    (folder / f"{name}.py").write_text(USER_TYPES_SOURCE)
    monkeypatch.syspath_prepend(str(folder))
    yield importlib.import_module(name)
    sys.modules.pop(name, None)


def ext(code: int, *fields: Any) -> ormsgpack.Ext:
    return ormsgpack.Ext(code, ormsgpack.packb(fields))


def payloads(mod: str) -> dict[str, Any]:
    """Every msgpack extension LangGraph's decoder would import and call, pointed at ``mod``."""
    return {
        "single_arg": ext(jsonplus.EXT_CONSTRUCTOR_SINGLE_ARG, mod, "boom", "x"),
        "pos_args": ext(jsonplus.EXT_CONSTRUCTOR_POS_ARGS, mod, "boom", ["x"]),
        "kw_args": ext(jsonplus.EXT_CONSTRUCTOR_KW_ARGS, mod, "boom", {"a": "x"}),
        "method": ext(jsonplus.EXT_METHOD_SINGLE_ARG, mod, "Boom", "x", "run"),
        "pydantic_v1": ext(jsonplus.EXT_PYDANTIC_V1, mod, "Boom", {"a": "x"}),
        "pydantic_v2": ext(jsonplus.EXT_PYDANTIC_V2, mod, "Boom", {"a": "x"}, "model_validate_json"),
    }


def msgpack_blob(value: Any) -> tuple[str, bytes]:
    return "msgpack", ormsgpack.packb(value)


class _Reduces:
    """A pickle that calls a function of the hostile module when loaded."""

    def __init__(self, module: str) -> None:
        self.module = module

    def __reduce__(self) -> Any:
        import importlib

        return (importlib.import_module, (self.module,))


# -- the serializer alone ------------------------------------------------------------------------------


def test_states_of_messages_and_standard_types_round_trip() -> None:
    serde = strict_serde()
    state = {
        "messages": [
            SystemMessage("be brief"),
            HumanMessage("what is 6 x 7?", id="h1"),
            AIMessage("", tool_calls=[{"name": "calc", "args": {"expr": "6*7"}, "id": "call_1"}]),
            ToolMessage("42", tool_call_id="call_1", name="calc"),
            AIMessage("42", response_metadata={"model": "fake"}),
        ],
        "when": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        "naive": datetime(2026, 1, 2, 3, 4, 5),
        "day": date(2026, 1, 2),
        "at": time(3, 4, 5),
        "took": timedelta(days=1, seconds=2, microseconds=3),
        "zone": ZoneInfo("Europe/Paris"),
        "offset": timezone(timedelta(hours=2)),
        "tags": {"a", "b"},
        "frozen": frozenset({1, 2}),
        "queue": deque([1, 2]),
        "price": Decimal("10.10"),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "path": Path("/tmp/x"),
        "ip": IPv4Address("10.0.0.1"),
        "net": IPv6Network("2001:db8::/32"),
        "pattern": re.compile("a+b", re.IGNORECASE),
        "send": Send("node", {"x": 1}),
        "interrupt": Interrupt(value="approve?", id="i1"),
        "doc": Document(page_content="text", metadata={"source": "kb"}),
        "raw": b"\x00bytes",
        "nested": {"list": [1, 2.5, None, True], "tuple": (1, 2)},
    }
    back = serde.loads_typed(serde.dumps_typed(state))
    assert back == {**state, "nested": {"list": [1, 2.5, None, True], "tuple": [1, 2]}}
    assert back["messages"][2].tool_calls[0]["args"] == {"expr": "6*7"}
    assert type(back["tags"]) is set and type(back["queue"]) is deque


@pytest.mark.parametrize("kind", sorted(payloads("m")))
def test_a_msgpack_extension_naming_any_other_callable_is_refused_without_importing_it(
    hostile: Hostile, kind: str
) -> None:
    blob = msgpack_blob({"answer": payloads(hostile.module)[kind]})
    with pytest.raises(StoredDataRefused) as refused:
        strict_serde().loads_typed(blob)
    hostile.assert_untouched()
    text = str(refused.value)
    assert f"refused to revive {hostile.module}." in text and "README's Security section" in text
    if kind == "method":  # LangGraph calls only its own safe methods: there is nothing to allow
        assert f"{hostile.module}.Boom.run()" in text and "pytest-wtb never writes such values" in text
    else:
        assert f"wtb_allowed_types = {hostile.module}:" in text


def test_a_hostile_extension_nested_inside_an_allowed_message_is_refused(hostile: Hostile) -> None:
    message = ext(
        jsonplus.EXT_PYDANTIC_V2, "langchain_core.messages.human", "HumanMessage",
        {"content": "hi", "additional_kwargs": {"x": payloads(hostile.module)["kw_args"]}}, "model_validate_json",
    )
    with pytest.raises(StoredDataRefused, match=f"{hostile.module}.boom"):
        strict_serde().loads_typed(msgpack_blob({"messages": [message]}))
    hostile.assert_untouched()


def test_os_system_in_a_stored_value_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "shell-ran"
    blob = msgpack_blob({"x": ext(jsonplus.EXT_CONSTRUCTOR_SINGLE_ARG, "os", "system", f"touch {marker}")})
    with pytest.raises(StoredDataRefused, match=r"os\.system"):
        strict_serde().loads_typed(blob)
    assert not marker.exists()


def test_pickle_and_unknown_blob_formats_are_refused(hostile: Hostile) -> None:
    with pytest.raises(StoredDataRefused, match=r"refused to revive a pickled value \(unpickling runs code\)"):
        strict_serde().loads_typed(("pickle", pickle.dumps(_Reduces(hostile.module))))
    with pytest.raises(StoredDataRefused, match="refused to revive a value of format 'marshal'"):
        strict_serde().loads_typed(("marshal", b"\x00"))
    with pytest.raises(StoredDataRefused, match="a stored value is not valid msgpack"):
        strict_serde().loads_typed(("msgpack", b"\xc1"))
    hostile.assert_untouched()


def test_reading_for_display_shows_refused_values_as_stored_data_and_says_so(hostile: Hostile) -> None:
    serde = strict_serde()
    blob = msgpack_blob({"answer": payloads(hostile.module)["kw_args"], "ok": 1})
    with reading_for_display() as notes:
        assert serde.loads_typed(blob) == {"answer": {"a": "x"}, "ok": 1}
        assert serde.loads_typed(("pickle", pickle.dumps(_Reduces(hostile.module)))) == "<pickle value not read>"
    assert len(notes) == 2
    assert notes[0].startswith(f"refused to revive {hostile.module}.boom from the store (shown as the data it was")
    assert "pickled value" in notes[1]
    with pytest.raises(StoredDataRefused):  # outside, the same read is an error again
        serde.loads_typed(blob)
    hostile.assert_untouched()


def test_json_blobs_revive_messages_only(hostile: Hostile, monkeypatch: pytest.MonkeyPatch) -> None:
    serde = strict_serde()
    legacy = json.dumps({"m": dumpd(AIMessage("hi", tool_calls=[{"name": "t", "args": {}, "id": "1"}]))})
    assert serde.loads_typed(("json", legacy.encode()))["m"] == AIMessage(
        "hi", tool_calls=[{"name": "t", "args": {}, "id": "1"}]
    )
    monkeypatch.setenv("WTB_TEST_SECRET", "s3cret")
    envelopes = {
        "lc2": {"lc": 2, "type": "constructor", "id": [hostile.module, "boom"], "args": ["x"]},
        "core": {"lc": 1, "type": "constructor", "id": ["langchain_core", "prompts", "prompt", "PromptTemplate"],
                 "kwargs": {"template": "{x}", "input_variables": ["x"]}},
        "secret": {"lc": 1, "type": "secret", "id": ["WTB_TEST_SECRET"]},
    }
    for name, envelope in envelopes.items():
        with pytest.raises(StoredDataRefused, match=f"refused to revive .*{envelope['type']} envelope"):
            serde.loads_typed(("json", json.dumps({"x": envelope}).encode()))
        assert name  # each envelope kind on its own
    hostile.assert_untouched()


# -- allowing the user's own types ------------------------------------------------------------------


def test_user_types_are_refused_until_allowed(user_types: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    mod = user_types.__name__
    ticket = user_types.Ticket("refund", user_types.Priority.HIGH)
    blob = strict_serde().dumps_typed({"ticket": ticket})
    with pytest.raises(StoredDataRefused) as refused:
        strict_serde().loads_typed(blob)
    assert f"{mod}.Priority" in str(refused.value) and f"{mod}.Ticket" in str(refused.value)
    assert f"WTB_ALLOWED_TYPES={mod}:Priority,{mod}:Ticket" in str(refused.value)

    monkeypatch.setenv("WTB_ALLOWED_TYPES", f"{mod}:Ticket, {mod}:Priority")
    serde = strict_serde()
    assert serde.loads_typed(blob) == {"ticket": ticket}
    monkeypatch.delenv("WTB_ALLOWED_TYPES")
    with pytest.raises(StoredDataRefused):
        serde.loads_typed(blob)  # the same serializer follows the setting

    allow_types(parse_type_names(f"{mod}:Ticket\n{mod}:Priority"))
    assert serde.loads_typed(blob) == {"ticket": ticket}
    assert f"{mod}:Priority,{mod}:Ticket" in configured_types_env()["WTB_ALLOWED_TYPES"]


def test_types_a_graph_declares_in_its_schema_are_revived(user_types: Any) -> None:
    value = {"ticket": user_types.Ticket("t", user_types.Priority.LOW), "answer": user_types.Answer(text="a", score=1)}
    blob = strict_serde().dumps_typed(value)
    with pytest.raises(StoredDataRefused):
        strict_serde().loads_typed(blob)
    allow_graph_types(user_types.build().compile())  # what compiling a variant's graph does
    assert strict_serde().loads_typed(blob) == value


@pytest.mark.parametrize("bad", ["os.system", "myapp:", ":Ticket", "my-app:Ticket", "a:b:c"])
def test_a_malformed_allowed_type_is_a_config_error(bad: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"{bad!r} is not a type name; write module:Class")):
        parse_type_names(f"myapp.models:Ticket, {bad}")


# -- through the store, on SQLite and PostgreSQL ------------------------------------------------------


@pytest.fixture
def opened(store: StoreUnderTest) -> Iterator[Store]:
    s = open_store(parse_store_url(store.url, Path(".")))
    yield s
    s.close()


@pytest.mark.parametrize("kind", ["msgpack", "pickle"])
def test_a_crafted_result_row_fails_its_result_and_runs_nothing(opened: Store, hostile: Hostile, kind: str) -> None:
    s = spec("r1", "base", "c1")
    opened.results.start_run("r1", "threads")
    assert opened.results.claim(s, "me", "threads")
    opened.results.record("r1", result(s))
    blob = pickle.dumps(_Reduces(hostile.module)) if kind == "pickle" else ormsgpack.packb(
        {"answer": payloads(hostile.module)["kw_args"]}
    )
    ex = schema.executions.c
    with opened.results.write() as conn:
        conn.execute(update(schema.executions).where(ex.run_id == "r1").values(state_type=kind, state_blob=blob))
    row = opened.results.find_thread(s.thread_id)
    assert row is not None

    with pytest.raises(StoredDataRefused, match=f"stored final state of thread_id {s.thread_id}: refused"):
        opened.results.load_state(row)
    read = opened.results.result_from_row(row)  # what an xdist worker or a CI shard reads
    assert read is not None and read.status == FAILED and read.state is None
    assert read.error is not None and read.error.type == "StoredDataRefused"
    assert s.thread_id in read.error.message
    hostile.assert_untouched()


def test_a_crafted_checkpoint_is_refused_by_every_saver(opened: Store, hostile: Hostile) -> None:
    saver = opened.checkpoints.new()
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = {"answer": payloads(hostile.module)["single_arg"], "docs": ["d"]}
    checkpoint["channel_versions"] = {"answer": "1", "docs": "1"}
    config = {"configurable": {"thread_id": "planted", "checkpoint_ns": ""}}
    saver.put(config, checkpoint, {"source": "loop", "step": 0}, {"answer": "1", "docs": "1"})
    with pytest.raises(StoredDataRefused, match=f"refused to revive {hostile.module}.boom"):
        saver.get_tuple(config)
    with pytest.raises(StoredDataRefused):
        list(saver.list({"configurable": {"thread_id": "planted"}}))
    assert isinstance(StoredDataRefused("x"), StoreError)  # the CLI and the session report it as such
    hostile.assert_untouched()
