"""Where ``--wtb-record`` meets LangChain: its language-model cache interface, its ``stream`` entry points
and ToolNode's tool-call wrappers. Nothing below the LangChain layer (provider SDKs, HTTP) is touched.

- Chat models and LLMs: a global ``BaseCache`` (``set_llm_cache``). LangChain consults it for every
  ``invoke``/``generate`` (sync and async, and for calls that stream inside ``invoke``) of a model
  whose ``cache`` is left at ``None`` or ``True``; outside an execution it hands over to the cache that
  was set before. A model with ``cache=False`` or a cache object of its own is not captured.
- ``model.stream()``/``astream()`` skip LangChain's cache, so while an execution records they go
  through ``invoke`` and yield its message as one chunk.
- Tools: every ``ToolNode`` of the compiled graph (subgraphs included) gets a ``wrap_tool_call``
  innermost, under any wrapper the user set, so user middleware still runs on replay.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from pytest_wtb.execute import prompts, secrets
from pytest_wtb.execute.tape import Pending, RecordingsNotLoaded, Stored, Tape, current, snapshot_for
from pytest_wtb.model import ExecutionSpec

_installed = False
_install_lock = threading.Lock()
_serde: Any = None
_HOOKED = "_wtb_record_hooks"


def serde() -> Any:
    global _serde
    if _serde is None:
        from pytest_wtb.store.serde import strict_serde

        _serde = strict_serde()
    return _serde


def install() -> None:
    """Once per process, before the first execution that records or replays."""
    global _installed
    if _installed:
        return
    with _install_lock:
        if _installed:
            return
        from langchain_core.globals import get_llm_cache, set_llm_cache
        from langchain_core.language_models import BaseChatModel

        # the hooks outlive this module: a process that imports it again (pytester's in-process runs
        # drop modules between runs) must not hook twice, or keys would change between runs
        if not getattr(get_llm_cache(), _HOOKED, False):
            set_llm_cache(_recording_cache_class()(get_llm_cache()))
        if not getattr(BaseChatModel, _HOOKED, False):
            _wrap_streams()
            BaseChatModel._wtb_record_hooks = True  # type: ignore[attr-defined]
        _installed = True


def open_tape(spec: ExecutionSpec, graph: Any) -> Tape | None:
    """The execution's tape, with LangChain's hooks in place; None under --wtb-record=off."""
    if spec.record == "off":
        return None
    snapshot = snapshot_for(spec.run_id)
    if snapshot is None:
        raise RecordingsNotLoaded(f"the recordings of run {spec.run_id} were not loaded in this worker (--wtb-record="
                         f"{spec.record}); this is a pytest-wtb bug, please report it")
    install()
    hook_tool_nodes(graph)
    return Tape(spec, snapshot)


def current_node() -> str:
    from langchain_core.runnables.config import var_child_runnable_config

    config = var_child_runnable_config.get() or {}
    return str((config.get("metadata") or {}).get("langgraph_node") or "?")


def _recording_cache_class() -> type:
    from langchain_core.caches import BaseCache

    class RecordingCache(BaseCache):
        """Replays and records under an execution's tape; elsewhere it is the cache that was set before."""

        _wtb_record_hooks = True

        def __init__(self, fallback: BaseCache | None) -> None:
            self.fallback = fallback

        def lookup(self, prompt: str, llm_string: str) -> Any:
            tape = current()
            if tape is None or tape.mode == "off":
                return self.fallback.lookup(prompt, llm_string) if self.fallback is not None else None
            kind = "chat" if prompts.is_chat_prompt(prompt) else "llm"
            env = tape.env
            identity = secrets.identity(llm_string, env)
            found = tape.lookup(kind, prompts.model_label(identity), current_node(), identity,
                                prompts.key_input(prompt, kind, env), lambda: prompts.render(prompt, kind, env))
            if isinstance(found, Stored):
                return prompts.generations(serde().loads_typed((found.output_type, found.output_blob)), kind)
            tape.stash((prompt, llm_string), found)
            return None

        def update(self, prompt: str, llm_string: str, return_val: Any) -> None:
            tape = current()
            if tape is None or tape.mode == "off":
                if self.fallback is not None:
                    self.fallback.update(prompt, llm_string, return_val)
                return
            pending = tape.take((prompt, llm_string))
            if pending is not None:
                _record(tape, pending, lambda: prompts.generations_payload(return_val))

        def clear(self, **kwargs: Any) -> None:
            if self.fallback is not None:
                self.fallback.clear(**kwargs)

        # in memory and quick: no thread hop for the async API
        async def alookup(self, prompt: str, llm_string: str) -> Any:
            if current() is None and self.fallback is not None:
                return await self.fallback.alookup(prompt, llm_string)
            return self.lookup(prompt, llm_string)

        async def aupdate(self, prompt: str, llm_string: str, return_val: Any) -> None:
            if current() is None and self.fallback is not None:
                await self.fallback.aupdate(prompt, llm_string, return_val)
                return
            self.update(prompt, llm_string, return_val)

    return RecordingCache


def _record(tape: Tape, pending: Pending, payload: Callable[[], Any]) -> None:
    try:
        output_type, blob = serde().dumps_typed(payload())
    except Exception as exc:  # the call happened; only its recording is lost, and the tape says so
        tape.unrecordable(pending, f"its output cannot be stored: {type(exc).__name__}: {exc}")
        return
    tape.record(pending, output_type, blob)


def _captured(model: Any) -> bool:
    tape = current()
    cache = getattr(model, "cache", None)
    return tape is not None and tape.mode != "off" and (cache is None or cache is True)


def _wrap_streams() -> None:
    from langchain_core.language_models import BaseChatModel, BaseLLM

    for cls, to_chunk in ((BaseChatModel, prompts.message_chunk), (BaseLLM, str)):
        _wrap_stream(cls, to_chunk)
    _widen_identity(BaseChatModel)


def _widen_identity(cls: Any) -> None:
    """LangChain's cache key of a model that is not serializable holds only its ``_identifying_params``:
    two instances differing in a field it leaves out (a hand-written model's ``model_name``) would replay
    each other's answers. While an execution records, the key also holds the model's plain fields."""
    original = cls._get_llm_string
    generic = frozenset(cls.model_fields)

    def _get_llm_string(self: Any, stop: Any = None, **kwargs: Any) -> str:
        base = str(original(self, stop=stop, **kwargs))
        if current() is None or self.is_lc_serializable():  # a serializable model's key has its fields
            return base
        return base + prompts.FIELDS_MARK + prompts.plain_fields(self, generic)

    cls._get_llm_string = _get_llm_string


def _wrap_stream(cls: type, to_chunk: Callable[[Any], Any]) -> None:
    original_stream, original_astream = cls.stream, cls.astream  # type: ignore[attr-defined]

    def stream(self: Any, input: Any, config: Any = None, *, stop: Any = None, **kwargs: Any) -> Iterator[Any]:
        if not _captured(self):
            yield from original_stream(self, input, config, stop=stop, **kwargs)
            return
        yield to_chunk(self.invoke(input, config, stop=stop, **kwargs))

    async def astream(self: Any, input: Any, config: Any = None, *, stop: Any = None,
                      **kwargs: Any) -> AsyncIterator[Any]:
        if not _captured(self):
            async for chunk in original_astream(self, input, config, stop=stop, **kwargs):
                yield chunk
            return
        yield to_chunk(await self.ainvoke(input, config, stop=stop, **kwargs))

    stream.__doc__, astream.__doc__ = original_stream.__doc__, original_astream.__doc__
    cls.stream, cls.astream = stream, astream  # type: ignore[attr-defined]


def hook_tool_nodes(graph: Any, depth: int = 0) -> None:
    """Give every ToolNode of ``graph`` (and of its subgraph nodes) the recording wrapper, once."""
    from langgraph.prebuilt import ToolNode
    from langgraph.pregel import Pregel

    if depth > 8:
        return
    for name, node in getattr(graph, "nodes", {}).items():
        if name.startswith("__"):
            continue
        for runnable in _runnables(node.bound, 0):
            if isinstance(runnable, ToolNode) and not getattr(runnable, _HOOKED, False):
                _hook(runnable)
            elif isinstance(runnable, Pregel):
                hook_tool_nodes(runnable, depth + 1)


def _runnables(runnable: Any, depth: int) -> Iterator[Any]:
    yield runnable
    if depth < 8:
        steps = getattr(runnable, "steps", None) or list(getattr(runnable, "steps__", {}).values())
        for step in steps:
            yield from _runnables(step, depth + 1)


def _hook(node: Any) -> None:
    user_sync, user_async = node._wrap_tool_call, node._awrap_tool_call

    def sync_wrapper(request: Any, execute: Callable[[Any], Any]) -> Any:
        recorded = _sync_tool(execute)
        return user_sync(request, recorded) if user_sync is not None else recorded(request)

    async def async_wrapper(request: Any, execute: Callable[[Any], Any]) -> Any:
        recorded = _async_tool(execute)
        return await user_async(request, recorded) if user_async is not None else await recorded(request)

    node._wrap_tool_call = sync_wrapper
    if user_sync is None or user_async is not None:  # a user's sync-only wrapper serves async calls too
        node._awrap_tool_call = async_wrapper
    setattr(node, _HOOKED, True)


def _tool_lookup(request: Any) -> tuple[Tape, Stored | Pending] | None:
    tape = current()
    if tape is None or tape.mode == "off":
        return None
    call = request.tool_call
    name = str(call.get("name"))
    args = json.dumps(call.get("args"), sort_keys=True, default=str)
    text = secrets.scrub(f"{name}({args})", env=tape.env)
    return tape, tape.lookup("tool", name, current_node(), prompts.tool_identity(request.tool), text, text)


def _replayed_tool(hit: Stored, request: Any) -> Any:
    return prompts.tool_output(serde().loads_typed((hit.output_type, hit.output_blob)), request)


def _sync_tool(execute: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def recorded(request: Any) -> Any:
        found = _tool_lookup(request)
        if found is None:
            return execute(request)
        tape, hit = found
        if isinstance(hit, Stored):
            return _replayed_tool(hit, request)
        output = execute(request)
        _record(tape, hit, lambda: output)
        return output

    return recorded


def _async_tool(execute: Callable[[Any], Any]) -> Callable[[Any], Any]:
    async def recorded(request: Any) -> Any:
        found = _tool_lookup(request)
        if found is None:
            return await execute(request)
        tape, hit = found
        if isinstance(hit, Stored):
            return _replayed_tool(hit, request)
        output = await execute(request)
        _record(tape, hit, lambda: output)
        return output

    return recorded
