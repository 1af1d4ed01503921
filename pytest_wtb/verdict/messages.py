"""What of a LangChain message a parity verdict judges, as a plain view that compare.py diffs by path.

A message's identity (its id, its tool calls' ids) and what the provider says about the call
(response_metadata, usage_metadata, provider fields in additional_kwargs) differ between two runs
of the same agent, so a verdict that saw them would always differ; what the message says and does
(type, content, the tools it calls with which args, which call a tool result answers) is compared.
A tool result is tied to its call by the call's position in the conversation, because tool-call ids
are generated afresh on every run.

Duck-typed, no langchain import: a state read back from the store holds the same message classes,
and a run without langchain never pays for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

# streaming yields chunk classes; a chunk and the message it adds up to say the same thing
_CHUNK_TYPES: Final = {
    "AIMessageChunk": "ai",
    "HumanMessageChunk": "human",
    "SystemMessageChunk": "system",
    "ToolMessageChunk": "tool",
    "ChatMessageChunk": "chat",
    "FunctionMessageChunk": "function",
}
# keys of a content block that identify it or say how it streamed, not what it says
_BLOCK_IDENTIFIERS: Final = frozenset({"id", "index"})
UNANSWERED: Final = "<no such call in this conversation>"


def is_message(value: Any) -> bool:
    return (
        isinstance(getattr(value, "type", None), str)
        and hasattr(value, "content")
        and hasattr(value, "additional_kwargs")
    )


def message_type(value: Any) -> str:
    kind: str = value.type
    return _CHUNK_TYPES.get(kind, kind)


def _block(block: Any) -> Any:
    if isinstance(block, Mapping):
        return {k: v for k, v in block.items() if k not in _BLOCK_IDENTIFIERS}
    return block


def content_view(content: Any) -> Any:
    """Text as text; a list of content blocks without their ids. Blocks that are only text read as
    the joined text, so ``"hi"`` and ``[{"type": "text", "text": "hi"}]`` agree."""
    if not isinstance(content, list):
        return content
    blocks = [_block(b) for b in content]
    if all(isinstance(b, str) or (isinstance(b, Mapping) and b.get("type") == "text" and set(b) == {"type", "text"})
           for b in blocks):
        return "".join(b if isinstance(b, str) else str(b["text"]) for b in blocks)
    return blocks


def _call(call: Any) -> dict[str, Any]:
    return {"name": call.get("name"), "args": call.get("args")} if isinstance(call, Mapping) else {"call": call}


def _invalid_call(call: Any) -> dict[str, Any]:
    if not isinstance(call, Mapping):
        return {"call": call}
    return {"name": call.get("name"), "args": call.get("args"), "error": call.get("error")}


def view(message: Any, answers: str | None = None) -> dict[str, Any]:
    """The meaningful fields of ``message``; ``answers`` is where (in the conversation) the tool call a
    tool message answers stands, UNANSWERED when its id matches no earlier call."""
    kind = message_type(message)
    out: dict[str, Any] = {"type": kind, "content": content_view(message.content)}
    if kind == "ai":
        out["tool_calls"] = [_call(c) for c in getattr(message, "tool_calls", None) or ()]
        out["invalid_tool_calls"] = [_invalid_call(c) for c in getattr(message, "invalid_tool_calls", None) or ()]
    elif kind == "tool":
        out["name"] = getattr(message, "name", None)
        out["status"] = getattr(message, "status", None) or "success"
        out["answers"] = answers if answers is not None else UNANSWERED
    elif kind == "chat":
        out["role"] = getattr(message, "role", None)
    elif kind == "function":
        out["name"] = getattr(message, "name", None)
    kwargs = getattr(message, "additional_kwargs", None)
    if isinstance(kwargs, Mapping) and isinstance(kwargs.get("function_call"), Mapping):
        # legacy OpenAI function calling keeps the call only here: it is what the model did
        fc = kwargs["function_call"]
        out["function_call"] = {"name": fc.get("name"), "arguments": fc.get("arguments")}
    return out


def conversation_views(path: str, seq: Sequence[Any]) -> list[Any]:
    """Each message of ``seq`` as its view (other items as they are), tool messages tied to their call
    by position: the latest earlier call with the same id, as ``path[i].tool_calls[j]``."""
    calls: dict[Any, str] = {}
    out: list[Any] = []
    for i, item in enumerate(seq):
        if not is_message(item):
            out.append(item)
            continue
        kind = message_type(item)
        answers = None
        if kind == "tool":
            answers = calls.get(getattr(item, "tool_call_id", None))
        out.append(view(item, answers))
        if kind == "ai":
            for field in ("tool_calls", "invalid_tool_calls"):
                for j, call in enumerate(getattr(item, field, None) or ()):
                    call_id = call.get("id") if isinstance(call, Mapping) else None
                    if call_id is not None:
                        calls[call_id] = f"{path}[{i}].{field}[{j}]"
    return out


def _call_text(call: Any) -> str:
    if not isinstance(call, Mapping):
        return repr(call)
    args = call.get("args")
    inner = ", ".join(f"{k}={v!r}" for k, v in args.items()) if isinstance(args, Mapping) else repr(args)
    return f"{call.get('name')}({inner})"


def describe(message: Any) -> str:
    """One line for a whole message (an extra or missing one): type, content and the calls it makes."""
    kind = message_type(message)
    text = f"{kind}: {message.content!r}"
    calls = getattr(message, "tool_calls", None) or ()
    if calls:
        text += " tool_calls=[" + ", ".join(_call_text(c) for c in calls) + "]"
    if kind == "tool":
        text += f" (tool {getattr(message, 'name', None)!r}, status {getattr(message, 'status', None) or 'success'})"
    return text
