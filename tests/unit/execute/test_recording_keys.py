"""What a recorded call is looked up by, and what a miss shows: the key's input (prompts.py), the
readable rendering and model label, and how one execution's Tape replays, records or misses (tape.py).

A key must ignore what LangChain attaches about a previous call (message ids, token usage, response
metadata: a replayed answer even gains usage_metadata) or every replay would miss on the next call,
and must not ignore anything the model's answer depends on (content, tool calls, message order).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from langchain_core.load import dumps
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from pytest_wtb.execute.prompts import key_input, model_label, plain_fields, render, tool_identity
from pytest_wtb.execute.tape import Pending, RecordingMissing, Snapshot, Stored, Tape, call_key, cassette_of
from pytest_wtb.model import ExecutionSpec
from tests.unit.store.builders import spec

IDENT = "[('_type', 'fake-rec'), ('model_name', 'fake-1'), ('stop', None)]"


def prompt(*messages: BaseMessage) -> str:
    """The prompt string LangChain hands its llm cache for a chat model call."""
    return dumps(list(messages))


def asked(q: str, call_id: str = "c1", msg_id: str | None = None, **meta: Any) -> AIMessage:
    return AIMessage("", tool_calls=[{"name": "lookup", "args": {"q": q}, "id": call_id}], id=msg_id, **meta)


def test_key_input_ignores_message_ids_usage_and_response_metadata() -> None:
    plain = prompt(HumanMessage("paris"), asked("paris"), ToolMessage("fact", tool_call_id="c1", name="lookup"))
    decorated = prompt(
        HumanMessage("paris", id="h-1"),
        asked("paris", msg_id="run-42", usage_metadata={"input_tokens": 3, "output_tokens": 4, "total_tokens": 7},
              response_metadata={"model_name": "fake-1", "finish_reason": "tool_calls"}),
        ToolMessage("fact", tool_call_id="c1", name="lookup", id="t-9"),
    )
    assert plain != decorated
    assert key_input(plain, "chat") == key_input(decorated, "chat")


@pytest.mark.parametrize(
    "changed",
    [
        [HumanMessage("rome"), asked("paris")],  # content
        [HumanMessage("paris"), asked("lyon")],  # tool call args
        [HumanMessage("paris"), AIMessage("", tool_calls=[{"name": "search", "args": {"q": "paris"}, "id": "c1"}])],
        [asked("paris"), HumanMessage("paris")],  # order
        [SystemMessage("paris"), asked("paris")],  # role
    ],
    ids=["content", "tool-args", "tool-name", "order", "role"],
)
def test_key_input_keeps_what_the_answer_depends_on(changed: list[BaseMessage]) -> None:
    base = prompt(HumanMessage("paris"), asked("paris"))
    assert key_input(base, "chat") != key_input(prompt(*changed), "chat")


def test_key_input_of_an_llm_prompt_is_the_text_with_secrets_masked() -> None:
    assert key_input("tell me about paris", "llm") == "tell me about paris"
    assert "sk-abcdef123456" not in key_input("key sk-abcdef123456 here", "llm")


def test_render_shows_one_line_per_message_with_roles_and_tool_calls() -> None:
    text = render(prompt(
        SystemMessage("be brief"), HumanMessage("paris"), asked("paris"),
        ToolMessage("fact about paris", tool_call_id="c1", name="lookup"), AIMessage("answer: fact\nmore"),
    ), "chat")
    assert text.splitlines() == [
        "system: be brief",
        "human: paris",
        'ai:  [tool calls: lookup({"q": "paris"})]',
        "tool lookup: fact about paris",
        "ai: answer: fact\\nmore",  # a message is one line: a diff shows one line per message
    ]


def test_model_label_of_a_serializable_model_and_of_a_repr_identity() -> None:
    serialized = ('{"id": ["langchain_openai", "chat_models", "ChatOpenAI"], "kwargs": {"model": "gpt-4o"}, '
                  '"lc": 1, "type": "constructor"}---[(\'stop\', None)]')
    assert model_label(serialized) == "ChatOpenAI(gpt-4o)"
    assert model_label('{"id": ["pkg", "ChatY"], "kwargs": {}, "lc": 1}---[]') == "ChatY"
    assert model_label(IDENT) == "fake-rec(fake-1)"
    assert model_label("[('_type', 'fake-rec'), ('stop', None)]") == "fake-rec"


def test_a_tool_key_names_its_code_so_a_swapped_tool_misses() -> None:
    from langchain_core.tools import tool

    def make(answer: str) -> Any:
        @tool
        def lookup(q: str) -> str:
            """look up"""
            return answer + q

        return lookup

    @tool("lookup")
    def other(q: str) -> str:
        """look up, differently"""
        return "other " + q

    assert tool_identity(make("a")) == tool_identity(make("b"))  # the same code, two instances
    assert tool_identity(make("a")) != tool_identity(other)  # same name, other code
    assert tool_identity(None) == "(not registered with the ToolNode)"


def test_plain_fields_keep_data_and_leave_out_secrets_and_clients() -> None:
    from pydantic import BaseModel, SecretStr

    class Model(BaseModel):
        model_name: str = "m-1"
        top_k: int = 3
        stops: list[str] = ["x"]
        api_key: SecretStr = SecretStr("sk-field-secret-1234")
        client: object = object()

    assert plain_fields(Model(), frozenset({"top_k"})) == '{"model_name": "m-1", "stops": ["x"]}'


# -- the tape ------------------------------------------------------------------------------------


def exec_spec(record: str, repetition: int = 0, case_id: str = "paris") -> ExecutionSpec:
    return dataclasses.replace(spec("run-now", "base", case_id), record=record, repetition=repetition)


def stored(key: str, cassette: str = "other-cassette", node: str = "agent") -> Stored:
    return Stored(key=key, kind="chat", name="fake-rec(fake-1)", node=node, identity=IDENT,
                  input_text="human: paris", output_type="msgpack", output_blob=b"x", cassette=cassette,
                  variant="base", case_id="paris")


def look(tape: Tape, input_key: str = "paris", identity: str = IDENT) -> Stored | Pending:
    return tape.lookup("chat", "fake-rec(fake-1)", "agent", identity, input_key, f"human: {input_key}")


def test_call_key_differs_by_each_of_its_parts() -> None:
    base = call_key("chat", IDENT, "paris", 0, 0)
    assert base == call_key("chat", IDENT, "paris", 0, 0)
    others = [call_key("chat", IDENT, "paris", 1, 0), call_key("chat", IDENT, "paris", 0, 1),
              call_key("chat", IDENT.replace("fake-1", "fake-2"), "paris", 0, 0),
              call_key("chat", IDENT, "rome", 0, 0), call_key("llm", IDENT, "paris", 0, 0)]
    assert len({base, *others}) == 6


def test_a_hit_replays_and_marks_the_call_replayed() -> None:
    key = call_key("chat", IDENT, "paris", 0, 0)
    tape = Tape(exec_spec("none"), Snapshot({key: stored(key)}))
    hit = look(tape)
    assert isinstance(hit, Stored) and hit.key == key
    assert tape.calls == [{"kind": "chat", "name": "fake-rec(fake-1)", "node": "agent", "key": key,
                           "status": "replayed"}]
    assert tape.counts() == {"replayed": 1, "recorded": 0, "live": 0}
    assert tape.miss is None


def test_a_miss_under_none_raises_and_fails_the_execution() -> None:
    key = call_key("chat", IDENT, "paris", 0, 0)
    tape = Tape(exec_spec("none"), Snapshot({key: stored(key)}))
    with pytest.raises(RecordingMissing) as raised:
        look(tape, "rome")
    assert tape.miss == str(raised.value)
    assert tape.miss_node == "agent"
    assert str(raised.value).startswith("no recording of chat model 'fake-rec(fake-1)' called in node 'agent' of "
                                        "variant 'base', case 'paris', and --wtb-record=none does not record it")
    assert "  -human: paris" in tape.miss and "  +human: rome" in tape.miss
    assert tape.calls[-1]["status"] == "missing"


def test_once_records_a_new_execution_and_refuses_new_calls_of_one_that_recorded() -> None:
    fresh = Tape(exec_spec("once"), Snapshot())
    pending = look(fresh)
    assert isinstance(pending, Pending) and pending.key == call_key("chat", IDENT, "paris", 0, 0)
    fresh.record(pending, "msgpack", b"answer")
    assert [(c.key, c.cassette, c.occurrence) for c in fresh.new] == [(pending.key, fresh.cassette, 0)]
    assert fresh.calls[-1]["status"] == "recorded"

    recorded = Tape(exec_spec("once"), Snapshot(cassettes=frozenset({cassette_of(exec_spec("once"))})))
    with pytest.raises(RecordingMissing, match="under once an execution that has recordings records nothing new"):
        look(recorded)
    # another execution's cassette does not count: this one never recorded
    other = Tape(exec_spec("once", case_id="rome"), Snapshot(cassettes=frozenset({recorded.cassette})))
    assert isinstance(look(other), Pending)


def test_all_re_records_a_call_that_has_a_recording() -> None:
    key = call_key("chat", IDENT, "paris", 0, 0)
    tape = Tape(exec_spec("all"), Snapshot({key: stored(key)}, frozenset({cassette_of(exec_spec("all"))})))
    found = look(tape)
    assert isinstance(found, Pending) and found.key == key
    assert tape.calls[-1]["status"] == "live"  # until its answer is recorded


def test_new_replays_what_it_has_and_records_the_rest() -> None:
    key = call_key("chat", IDENT, "paris", 0, 0)
    tape = Tape(exec_spec("new"), Snapshot({key: stored(key)}, frozenset({cassette_of(exec_spec("new"))})))
    assert isinstance(look(tape), Stored)
    assert isinstance(look(tape, "rome"), Pending)


def test_identical_calls_get_occurrences_in_order_and_repetitions_get_keys_of_their_own() -> None:
    tape = Tape(exec_spec("all"), Snapshot())
    found = [look(tape) for _ in range(3)] + [look(tape, "rome")]
    assert [f.occurrence for f in found if isinstance(f, Pending)] == [0, 1, 2, 0]
    assert [f.key for f in found] == [call_key("chat", IDENT, "paris", 0, n) for n in range(3)] + [
        call_key("chat", IDENT, "rome", 0, 0)]
    second = Tape(exec_spec("all", repetition=1), Snapshot())
    assert look(second).key == call_key("chat", IDENT, "paris", 1, 0) != found[0].key
    assert second.cassette != tape.cassette


def test_the_second_identical_call_misses_when_only_the_first_was_recorded() -> None:
    key = call_key("chat", IDENT, "paris", 0, 0)
    tape = Tape(exec_spec("none"), Snapshot({key: stored(key)}))
    assert isinstance(look(tape), Stored)
    with pytest.raises(RecordingMissing, match=r"\(identical call #2 of this execution\)"):
        look(tape)
