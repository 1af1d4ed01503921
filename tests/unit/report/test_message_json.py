"""Messages in the reports' states: what the verdict judges, without ids, tool results tied to their call."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from pytest_wtb.report.records import jsonable


def test_messages_become_their_meaningful_fields_without_ids() -> None:
    state = {"messages": [
        HumanMessage("q", id="h1"),
        AIMessage("", id="a1", tool_calls=[{"name": "search", "args": {"q": "x"}, "id": "call_9"}],
                  response_metadata={"model_name": "m"}),
        ToolMessage("r", name="search", tool_call_id="call_9", id="t1"),
    ], "last": AIMessage("done", id="a2")}
    assert jsonable(state) == {
        "messages": [
            {"type": "human", "content": "q"},
            {"type": "ai", "content": "", "tool_calls": [{"name": "search", "args": {"q": "x"}}]},
            {"type": "tool", "content": "r", "name": "search", "status": "success",
             "answers": "messages[1].tool_calls[0]"},
        ],
        "last": {"type": "ai", "content": "done"},
    }
