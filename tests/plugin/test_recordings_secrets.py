"""No secret a model holds or a prompt carries reaches the store under --wtb-record, as a user meets it:
an API key field (from OPENAI_API_KEY), an Authorization header, a plain field holding a token, and a
prompt that quotes the key. Every byte of the SQLite file (and its -wal) and every row of every
PostgreSQL table is searched; the model's name and ordinary params are there, the secrets are not.
A rotated key still replays: masking keeps the recording keys stable.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

# loaded before pytester's in-process runs: the recording hooks are installed once per process, on
# the classes and the tape module that are loaded then (tests/plugin/test_recordings_async_stream.py)
import langchain_core.globals  # isort: skip
import langchain_core.language_models  # noqa: F401  isort: skip
import pytest_wtb.execute.record_hooks  # noqa: F401  isort: skip
from tests.store_support import StoreUnderTest, throwaway_database

ENV_KEY = "sk-envKEY-Rot1-93kd8QpZ"
ROTATED_KEY = "sk-envKEY-Rot2-51mv0TcY"
HEADER_TOKEN = "sk-live-HdrSecret-5521aa"
PLAIN_TOKEN = "ghp_PlainFieldToken1234567890abcd"
SECRETS = (ENV_KEY, ROTATED_KEY, HEADER_TOKEN, PLAIN_TOKEN)

MODULE = f'''
import os

from typing_extensions import TypedDict
from pydantic import Field, SecretStr
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langgraph.graph import END, START, StateGraph

import pytest_wtb as wtb

HERE = os.path.dirname(__file__)


class Keyed(BaseChatModel):
    """A provider model as they are written: a key from the environment, auth headers, a stray token."""

    model_name: str = "keyed-1"
    temperature: float = 0.25
    api_key: SecretStr = Field(default_factory=lambda: SecretStr(os.environ["OPENAI_API_KEY"]))
    default_headers: dict = {{"Authorization": "Bearer {HEADER_TOKEN}"}}
    org_hint: str = "{PLAIN_TOKEN}"

    @property
    def _llm_type(self): return "keyed"

    def _generate(self, messages, stop=None, run_manager=None, **kw):
        with open(os.path.join(HERE, "live_calls.txt"), "a") as f:
            f.write(f"model {{self.model_name}}\\n")
        assert self.api_key.get_secret_value() == os.environ["OPENAI_API_KEY"]
        return ChatResult(generations=[ChatGeneration(message=AIMessage(f"answer about {{messages[-1].content}}"))])


class Serial(Keyed):
    """lc-serializable, like ChatOpenAI: LangChain writes api_key as a reference to OPENAI_API_KEY."""

    @classmethod
    def is_lc_serializable(cls): return True

    @property
    def lc_secrets(self): return {{"api_key": "OPENAI_API_KEY"}}


class Handmade(Keyed):
    """Not serializable, and careless: its identifying params hold the key's value."""

    @property
    def _identifying_params(self):
        return {{"model_name": self.model_name, "temperature": self.temperature,
                "api_key": self.api_key.get_secret_value(), "default_headers": self.default_headers,
                "org_hint": self.org_hint}}


class S(TypedDict):
    messages: list


def build(model):
    def agent(state):
        # the prompt quotes the key; only the answer goes into the state (and the checkpoints)
        prompt = [SystemMessage(f"internal key {{os.environ['OPENAI_API_KEY']}}"), *state["messages"]]
        return {{"messages": [model.invoke(prompt)]}}

    g = StateGraph(S)
    g.add_node("agent", agent)
    g.add_edge(START, "agent")
    g.add_edge("agent", END)
    return g


@wtb.variant(baseline=True)
def serial():
    return build(Serial(model_name="keyed-serial-1"))


@wtb.variant
def handmade():
    return build(Handmade(model_name="keyed-plain-1"))


@wtb.cases({{"paris": {{"messages": [("user", "paris")]}}}})
def test_answer(wtb_run):
    assert wtb_run.output["messages"][-1].content == "answer about paris"
'''


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def where(request: pytest.FixtureRequest) -> Iterator[StoreUnderTest | None]:
    """None: the default SQLite file under the rootdir; else a throwaway PostgreSQL database."""
    if request.param == "sqlite":
        yield None
    else:
        yield from throwaway_database()


def stored_text(pytester: pytest.Pytester, where: StoreUnderTest | None) -> str:
    """Everything the store holds, blobs included (latin-1 keeps every byte as one character)."""
    if where is None:
        files = sorted((pytester.path / ".wtb").glob("wtb.db*"))  # the file, its -wal and -shm
        assert files, "no store file"
        text = "".join(f.read_bytes().decode("latin-1") for f in files)
        with sqlite3.connect(files[0]) as conn:  # and each table's rows, in case pages are compressed
            text += "\n".join(conn.iterdump())
        return text
    import psycopg

    parts = []
    with psycopg.connect(where.url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        tables = [r[0] for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = 'public'")]
        assert "wtb_recordings" in tables
        for table in tables:
            for row in conn.execute(f'select * from "{table}"'):
                parts.extend(_text(v) for v in row)
    return "\n".join(parts)


def _text(value: Any) -> str:
    if isinstance(value, memoryview | bytes):
        return bytes(value).decode("latin-1")
    return json.dumps(value, default=str) if not isinstance(value, str) else value


def live_calls(pytester: pytest.Pytester) -> list[str]:
    path = pytester.path / "live_calls.txt"
    calls = path.read_text().splitlines() if path.exists() else []
    path.unlink(missing_ok=True)
    return calls


def test_no_secret_reaches_the_store_and_a_rotated_key_still_replays(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, where: StoreUnderTest | None
) -> None:
    pytester.makepyfile(test_keyed=MODULE)
    store = [where.option] if where is not None else []
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    first = pytester.runpytest("--wtb-record=once", "--wtb-report=r.json", "-p", "no:randomly", *store)
    first.assert_outcomes(passed=2)
    assert sorted(live_calls(pytester)) == ["model keyed-plain-1", "model keyed-serial-1"]
    report = json.loads((pytester.path / "r.json").read_text())
    assert {r["variant"]: r["recorded"] for r in report["recordings"]} == {"serial": 1, "handmade": 1}

    stored = stored_text(pytester, where)
    for secret in SECRETS:
        assert secret not in stored, secret
    for kept in ("keyed-serial-1", "keyed-plain-1", "0.25", "internal key ***", "answer about paris"):
        assert kept in stored, kept  # what the key depends on, and the answer to replay, are there
    shown = first.stdout.str() + first.stderr.str() + (pytester.path / "r.json").read_text()
    assert not [s for s in SECRETS if s in shown]

    monkeypatch.setenv("OPENAI_API_KEY", ROTATED_KEY)  # a rotated key: same identities, same prompts' keys
    second = pytester.runpytest("--wtb-record=none", "--wtb-report=r.json", "-p", "no:randomly", *store)
    second.assert_outcomes(passed=2)
    assert live_calls(pytester) == []
    report = json.loads((pytester.path / "r.json").read_text())
    assert {r["variant"]: (r["replayed"], r["missing"]) for r in report["recordings"]} == {
        "serial": (1, 0), "handmade": (1, 0)}
    stored = stored_text(pytester, where)
    assert not [s for s in SECRETS if s in stored]
    if where is not None and where.secret:
        assert where.secret not in stored and where.secret not in second.stdout.str()


def test_the_store_search_finds_a_secret_that_is_stored(pytester: pytest.Pytester) -> None:
    """The search itself can fail: a secret written into a blob of the store file is found."""
    (pytester.path / ".wtb").mkdir()
    with sqlite3.connect(pytester.path / ".wtb" / "wtb.db") as conn:
        conn.execute("pragma journal_mode=wal")
        conn.execute("create table t (b blob)")
        conn.execute("insert into t values (?)", (f"x{HEADER_TOKEN}y".encode(),))
    assert HEADER_TOKEN in stored_text(pytester, None)
