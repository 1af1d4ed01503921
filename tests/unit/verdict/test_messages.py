"""Messages compare by what they say and do; ids and provider metadata never make a diff."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage

from pytest_wtb.declare.parity import ParitySpec
from pytest_wtb.errors import ComparatorError
from pytest_wtb.verdict.compare import MISSING, compare, short


def diffs(a: Any, b: Any, **kw: Any) -> list[tuple[str, Any, Any]]:
    return [(d.path, d.baseline, d.other) for d in compare({"messages": a}, {"messages": b}, ParitySpec(**kw))]


def ai_call(name: str = "search", call_id: str = "call_1", **args: Any) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id}])


def conversation(q: str = "weather", *, call_id: str = "call_1", msg_id: str | None = None,
                 status: str = "success") -> list[Any]:
    return [
        HumanMessage("what is the weather?", id=msg_id),
        ai_call(q=q, call_id=call_id),
        ToolMessage("sunny", name="search", tool_call_id=call_id, status=status, id=msg_id),
        AIMessage("It is sunny.", id=msg_id),
    ]


def test_an_empty_ai_message_with_other_args_or_tool_differs_at_the_arg() -> None:
    assert diffs(conversation("weather"), conversation("stocks")) == [
        ("messages[1].tool_calls[0].args.q", "weather", "stocks")]
    assert diffs([ai_call("search", q="x")], [ai_call("lookup", q="x")]) == [
        ("messages[0].tool_calls[0].name", "search", "lookup")]


def test_ids_and_metadata_are_not_differences() -> None:
    b = conversation(call_id="call_ZZ", msg_id="m-9")
    b[1].response_metadata = {"model_name": "other", "finish_reason": "tool_calls"}
    b[1].usage_metadata = {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}
    b[1].additional_kwargs = {"refusal": None, "tool_calls": [{"id": "call_ZZ"}]}
    assert diffs(conversation(), b) == []
    assert diffs([AIMessage("hi")], [AIMessageChunk(content="hi")]) == []
    assert diffs([AIMessage("hi")], [AIMessage([{"type": "text", "text": "hi", "id": "b1"}])]) == []


def test_tool_messages_status_name_and_which_call_they_answer() -> None:
    assert diffs(conversation(), conversation(status="error")) == [
        ("messages[2].status", "success", "error")]
    two = [AIMessage("", tool_calls=[{"name": "a", "args": {}, "id": "x"}, {"name": "a", "args": {}, "id": "y"}])]
    first = [*two, ToolMessage("r", name="a", tool_call_id="x")]
    second = [*two, ToolMessage("r", name="a", tool_call_id="y")]
    assert diffs(first, second) == [
        ("messages[1].answers", "messages[0].tool_calls[0]", "messages[0].tool_calls[1]")]
    renamed = [*two, ToolMessage("r", name="b", tool_call_id="x")]
    assert [p for p, _, _ in diffs(first, renamed)] == ["messages[1].name"]


def test_content_blocks_invalid_calls_and_extra_messages() -> None:
    a = [AIMessage([{"type": "text", "text": "x"}, {"type": "image", "url": "u1", "id": "1"}])]
    b = [AIMessage([{"type": "text", "text": "x"}, {"type": "image", "url": "u2", "id": "2"}])]
    assert diffs(a, b) == [("messages[0].content[1].url", "u1", "u2")]
    bad = [AIMessage("", invalid_tool_calls=[{"name": "s", "args": "{q", "id": "1", "error": "bad json"}])]
    worse = [AIMessage("", invalid_tool_calls=[{"name": "s", "args": "{r", "id": "2", "error": "bad json"}])]
    assert diffs(bad, worse) == [("messages[0].invalid_tool_calls[0].args", "{q", "{r")]
    extra = ai_call(q="more")
    (path, base, other), = diffs(conversation(), [*conversation(), extra])
    assert (path, base, other) == ("messages[4]", MISSING, extra)
    assert short(extra) == "ai: '' tool_calls=[search(q='more')]"
    (path, _, _), = diffs([HumanMessage("hi")], [AIMessage("hi")])
    assert path == "messages[0]"  # a type change is one whole-message difference


def test_float_args_within_tolerance_and_tuples_agree() -> None:
    assert diffs([ai_call(x=1.0, ys=(1, 2))], [ai_call(x=1.0 + 1e-12, ys=[1, 2])]) == []
    assert [p for p, _, _ in diffs([ai_call(x=1.0)], [ai_call(x=1.1)])] == ["messages[0].tool_calls[0].args.x"]


def comparing(fn: Any, a: Any = "a", b: Any = "b", **state: Any) -> list[Any]:
    spec = ParitySpec(comparators=(("answer", fn),))
    return compare({"answer": a, **state}, {"answer": b, **state}, spec)


def test_comparator_hook_true_false_and_reasons() -> None:
    assert comparing(lambda x, y: True) == []
    (d,) = comparing(lambda x, y: "too far apart")
    assert (d.path, d.baseline, d.other, d.reason) == ("answer", "a", "b", "too far apart")
    (d,) = comparing(lambda x, y: False)
    assert d.reason is not None and "said they differ" in d.reason
    (d,) = compare({"answer": "a"}, {}, ParitySpec(comparators=(("answer", lambda x, y: True),)))
    assert (d.other, d.reason) == (MISSING, "missing on one side")


def test_a_comparator_that_raises_or_returns_junk_is_named() -> None:
    def picky(x: Any, y: Any) -> bool:
        raise ValueError("cannot read")

    with pytest.raises(ComparatorError, match=r"comparator .*picky for key 'answer' raised ValueError: cannot read"):
        comparing(picky)
    with pytest.raises(ComparatorError, match=r"returned 3; a comparator returns True"):
        comparing(lambda x, y: 3)


def test_a_comparator_that_handles_missing_is_asked() -> None:
    class Ignore:
        handles_missing = True

        def __call__(self, a: Any, b: Any) -> bool:
            return True

    assert compare({"answer": 1}, {}, ParitySpec(comparators=(("answer", Ignore()),))) == []
