"""LangChain's cache-side view of a call (a serialized prompt, an llm_string) made readable, and model
outputs turned into what a recording stores and back: messages and plain data only, nothing that
names a class to import (the store's strict serializer revives messages and Commands)."""

from __future__ import annotations

import hashlib
import inspect
import json
import re
import textwrap
from functools import lru_cache
from typing import Any, Final

from pytest_wtb.execute.secrets import scrub

MAX_PART: Final = 2000
_TYPE = re.compile(r"\('_type', '([^']+)'\)")
_MODEL = re.compile(r"""\(?['"]model(?:_name|_id)?['"](?:, |: )['"]([^'"]+)['"]""")
FIELDS_MARK: Final = " fields="
_PLAIN = (str, int, float, bool, type(None))
_ROLES: Final = {"HumanMessage": "human", "AIMessage": "ai", "SystemMessage": "system", "ToolMessage": "tool",
                 "FunctionMessage": "function", "ChatMessage": "chat", "RemoveMessage": "remove"}


def plain_fields(model: Any, generic: frozenset[str]) -> str:
    """The model's own fields whose values are plain data (no clients, callables or secrets), as JSON."""
    fields = {}
    for name in sorted(type(model).model_fields):
        if name in generic:
            continue
        value = getattr(model, name, None)
        if _is_plain(value, 0):
            fields[name] = value
    return json.dumps(fields, sort_keys=True)


def _is_plain(value: Any, depth: int) -> bool:
    if isinstance(value, _PLAIN):
        return True
    if depth > 4:
        return False
    if isinstance(value, list | tuple):
        return all(_is_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v, depth + 1) for k, v in value.items())
    return False


def tool_identity(tool: Any) -> str:
    """What a tool's answer depends on besides its arguments: which code runs. A variant that swaps a
    tool for another of the same name, or edits its function, must not replay the old one's answers.
    Source text, not bytecode: a recording made on one Python replays on another."""
    if tool is None:
        return "(not registered with the ToolNode)"
    impl = getattr(tool, "func", None) or getattr(tool, "coroutine", None)
    if impl is None:  # a BaseTool subclass: its _run/_arun are the code
        impl = getattr(type(tool), "_arun" if type(tool)._run is _base_run() else "_run", None)
    where = f"{getattr(impl, '__module__', '?')}:{getattr(impl, '__qualname__', type(tool).__qualname__)}"
    return f"{type(tool).__name__} {where} source {_source_hash(impl)}"


def _base_run() -> Any:
    from langchain_core.tools import BaseTool

    return BaseTool._run


@lru_cache(maxsize=4096)
def _source_hash(fn: Any) -> str:
    target = inspect.unwrap(fn) if callable(fn) else fn
    try:
        text = inspect.getsource(target)
    except (OSError, TypeError):
        text = getattr(target, "__qualname__", repr(type(target)))
    return hashlib.sha256(textwrap.dedent(text).encode()).hexdigest()[:16]


def is_chat_prompt(prompt: str) -> bool:
    return prompt.startswith("[") and '"lc"' in prompt[:40]


# what LangChain and providers attach to a message about the call that made it, never sent to a model
# (a replayed answer even gains usage_metadata={"total_cost": 0}): not part of a later call's key
_CALL_METADATA: Final = ("usage_metadata", "response_metadata", "id")


def key_input(prompt: str, kind: str, env: tuple[str, ...] | None = None) -> str:
    """The part of LangChain's serialized prompt a model's answer depends on, secrets masked."""
    if kind == "chat":
        try:
            messages = json.loads(prompt)
        except ValueError:
            return scrub(prompt, env=env)
        if isinstance(messages, list):
            for message in messages:
                kwargs = message.get("kwargs") if isinstance(message, dict) else None
                if isinstance(kwargs, dict):
                    for name in _CALL_METADATA:
                        kwargs.pop(name, None)
            prompt = json.dumps(messages, sort_keys=True)
    return scrub(prompt, env=env)


@lru_cache(maxsize=1024)
def model_label(identity: str) -> str:
    """'ChatOpenAI(gpt-4o)' from a model identity, as well as the identity allows."""
    head, sep, _ = identity.partition("---")
    if sep:
        try:
            data = json.loads(head)
        except ValueError:
            data = {}
        cls = str((data.get("id") or ["?"])[-1])
        kwargs = data.get("kwargs") or {}
        model = kwargs.get("model") or kwargs.get("model_name") or kwargs.get("model_id")
        return f"{cls}({model})" if model else cls
    kind, model = _TYPE.search(identity), _MODEL.search(identity)
    label = kind.group(1) if kind else "model"
    return f"{label}({model.group(1)})" if model else label


def render(prompt: str, kind: str, env: tuple[str, ...] | None = None) -> str:
    """One line per message (role: content, tool calls), secrets masked: what a miss diff shows."""
    if kind != "chat":
        return scrub(prompt, env=env)
    try:
        messages = json.loads(prompt)
    except ValueError:
        return scrub(prompt, env=env)
    lines = [_line(message) for message in (messages if isinstance(messages, list) else [messages])]
    return scrub("\n".join(lines), env=env)


def _line(message: Any) -> str:
    if not isinstance(message, dict):
        return repr(message)[:MAX_PART]
    kwargs = message.get("kwargs") or {}
    cls = str((message.get("id") or ["?"])[-1])
    role = _ROLES.get(cls, cls)
    content = kwargs.get("content")
    text = content if isinstance(content, str) else json.dumps(content, sort_keys=True, default=str)
    calls = kwargs.get("tool_calls") or []
    if calls:
        shown = ", ".join(f"{c.get('name')}({json.dumps(c.get('args'), sort_keys=True, default=str)})"
                          for c in calls if isinstance(c, dict))
        text += f" [tool calls: {shown}]"
    if role == "tool" and kwargs.get("name"):
        role = f"tool {kwargs['name']}"
    return f"{role}: {text}"[:MAX_PART].replace("\n", "\\n")


def generations_payload(generations: Any) -> list[dict[str, Any]]:
    out = []
    for gen in generations:
        item: dict[str, Any] = {"text": gen.text, "info": gen.generation_info}
        message = getattr(gen, "message", None)
        if message is not None:
            item["message"] = message
        out.append(item)
    return out


def generations(payload: Any, kind: str) -> list[Any]:
    from langchain_core.outputs import ChatGeneration, Generation

    if kind == "chat":
        return [ChatGeneration(message=g["message"], generation_info=g.get("info")) for g in payload]
    return [Generation(text=g["text"], generation_info=g.get("info")) for g in payload]


def message_chunk(message: Any) -> Any:
    """The chunk a streaming call yields for a whole message (a replayed or invoked one)."""
    from langchain_core.messages import AIMessage, AIMessageChunk
    from langchain_core.messages.tool import tool_call_chunk

    if not isinstance(message, AIMessage) or isinstance(message, AIMessageChunk):
        return message
    chunks = [tool_call_chunk(name=c["name"], args=json.dumps(c["args"]), id=c.get("id"), index=i)
              for i, c in enumerate(message.tool_calls)]
    # a cache hit's usage_metadata={"total_cost": 0} is LangChain's marker, not usage: a chunk refuses it
    usage = message.usage_metadata
    complete = usage is not None and all(k in usage for k in ("input_tokens", "output_tokens", "total_tokens"))
    return AIMessageChunk(
        content=message.content, additional_kwargs=message.additional_kwargs,
        response_metadata=message.response_metadata, id=message.id, usage_metadata=usage if complete else None,
        tool_call_chunks=chunks, chunk_position="last",
    )


def tool_output(output: Any, request: Any) -> Any:
    """A replayed tool answer, addressed to the tool call that asked for it now."""
    from langchain_core.messages import ToolMessage

    call_id = request.tool_call.get("id")
    if isinstance(output, ToolMessage) and call_id is not None:
        return output.model_copy(update={"tool_call_id": call_id, "id": None})
    return output
