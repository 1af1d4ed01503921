"""The one serializer for everything pytest-wtb writes to a store and reads back from it.

A store is data, never code. Anyone who can write to a shared store (any CI job holding its URL)
must not be able to make a reader (``show``, ``diff``, ``--wtb-against``, an xdist worker, a CI
shard, ``replay``, a report, a fork copy) import a module or call a function. LangGraph's default
JsonPlusSerializer revives any ``module.callable`` a msgpack extension names; this one revives only
``allowlist.allowed_types()`` and refuses anything else: another type in a msgpack extension, a
method call outside LangGraph's own safe set, a LangChain envelope in a "json" blob other than a
message, a "pickle" blob, an unknown format. Nothing is imported to find that out: LangGraph checks
the allow-list before it imports, and hands back the raw payload.

A refusal is an error (StoredDataRefused, naming the type and how to allow it) for every read that
runs or judges something: a state whose types silently changed (a dict where a dataclass was) would
make parity and ``--wtb-against`` verdicts lie. Commands that only print (``show``, ``diff``) read
inside ``reading_for_display()``: there a refused value is shown as the data it was stored as, and
the user is told what was refused.
"""

from __future__ import annotations

import contextvars
import json
import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

from pytest_wtb.errors import StoreError
from pytest_wtb.store.allowlist import ALLOWED_TYPES_ENV, ALLOWED_TYPES_INI, TypeKey, allowed_types

if TYPE_CHECKING:
    from langgraph.checkpoint.serde.event_hooks import SerdeEvent
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

_BLOCKED_KINDS: Final = ("msgpack_blocked", "msgpack_method_blocked")


class StoredDataRefused(StoreError):
    """A stored value names a type (or a blob format) that pytest-wtb does not revive."""


# (what the stored value names, the allow-list entry that would revive it, if there is one)
_Refused = list[tuple[str, str | None]]
# LangGraph reports a blocked type through a process-wide event; the decode that caused it runs
# synchronously in this thread and context, so a context variable tells which read it belongs to.
_blocked_sink: contextvars.ContextVar[_Refused | None] = contextvars.ContextVar("wtb_blocked", default=None)
_display_notes: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("wtb_display", default=None)
_listening = False
_listen_lock = threading.Lock()


def _on_serde_event(event: SerdeEvent) -> None:
    sink = _blocked_sink.get()
    if sink is not None and event.get("kind") in _BLOCKED_KINDS:
        module, name, method = event.get("module"), event.get("name"), event.get("method")
        if method:  # only LangGraph's own safe methods are ever called: nothing to allow
            sink.append((f"{module}.{name}.{method}()", None))
        else:
            sink.append((f"{module}.{name}", f"{module}:{name}"))


def _listen() -> None:
    global _listening
    if _listening:
        return
    with _listen_lock:
        if not _listening:
            from langgraph.checkpoint.serde.event_hooks import register_serde_event_listener

            register_serde_event_listener(_on_serde_event)
            logging.getLogger("langgraph.checkpoint.serde.jsonplus").addFilter(_already_reported)
            _listening = True


def _already_reported(record: logging.LogRecord) -> bool:
    """Drop LangGraph's own warning for a block we report (its advice names its constructor argument,
    not our setting); everything else it logs, and blocks outside our reads, pass."""
    return not (_blocked_sink.get() is not None and str(record.msg).startswith("Blocked deserialization"))


@contextmanager
def _collect_blocked() -> Iterator[_Refused]:
    sink: _Refused = []
    token = _blocked_sink.set(sink)
    try:
        yield sink
    finally:
        _blocked_sink.reset(token)


@contextmanager
def reading_for_display() -> Iterator[list[str]]:
    """Reads inside that cannot revive a value return the data it was stored as instead of failing
    (for commands that only print it); yields the notes that say what was refused, to show the user."""
    notes: list[str] = []
    token = _display_notes.set(notes)
    try:
        yield notes
    finally:
        _display_notes.reset(token)


def refused_message(refused: Iterable[tuple[str, str | None]], shown_raw: bool = False) -> str:
    found = dict(sorted(set(refused)))
    entries = ",".join(sorted(e for e in found.values() if e))
    text = (
        f"refused to revive {', '.join(found)} from the store{' (shown as the data it was stored as)' * shown_raw}: "
        "pytest-wtb revives only an allow-list of types from stored data, so that a crafted row cannot run "
        "code (see the README's Security section)"
    )
    if not entries:
        return text + "; pytest-wtb never writes such values (was this row written by something else?)"
    return (
        f"{text}. If it is a type of yours, declare it in the graph's state schema or allow it: "
        f"{ALLOWED_TYPES_INI} = {entries} in the pytest ini, or {ALLOWED_TYPES_ENV}={entries}"
    )


def _refuse(refused: _Refused, raw: Any) -> Any:
    """Raise, or inside reading_for_display() note the refusal and hand back ``raw``."""
    notes = _display_notes.get()
    if notes is None:
        raise StoredDataRefused(refused_message(refused))
    notes.append(refused_message(refused, shown_raw=True))
    return raw


def strict_serde() -> JsonPlusSerializer:
    """The serializer every saver and result store of pytest-wtb uses."""
    return _strict_class()()


_STRICT: type[JsonPlusSerializer] | None = None


def _strict_class() -> type[JsonPlusSerializer]:
    """Built on first use: LangGraph is imported only by runs that touch a store."""
    global _STRICT
    if _STRICT is not None:
        return _STRICT
    from langchain_core.load.load import Reviver
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    # LangChain documents allowed_objects="messages" as the setting safe for untrusted input
    messages_reviver = Reviver(allowed_objects="messages")

    class StrictSerializer(JsonPlusSerializer):
        """JsonPlusSerializer reviving only ``allowed_types()``; refusals raise StoredDataRefused."""

        def __init__(self) -> None:
            super().__init__(pickle_fallback=False, allowed_json_modules=None, allowed_msgpack_modules=())
            self._lock = threading.Lock()
            self._decoder: JsonPlusSerializer | None = None
            self._decoder_types: frozenset[TypeKey] = frozenset()
            self._extra: frozenset[TypeKey] = frozenset()

        def with_msgpack_allowlist(self, extra_allowlist: Iterable[tuple[str, ...] | type]) -> StrictSerializer:
            # LangGraph's compile calls this (through saver.with_allowlist) in its strict mode
            clone = StrictSerializer()
            keys = {(t.__module__, t.__name__) if isinstance(t, type) else (t[0], t[1]) for t in extra_allowlist}
            clone._extra = self._extra | frozenset(keys)
            return clone

        def _msgpack_decoder(self) -> JsonPlusSerializer:
            types = allowed_types() | self._extra if self._extra else allowed_types()
            decoder = self._decoder
            if decoder is None or (types is not self._decoder_types and types != self._decoder_types):
                with self._lock:
                    decoder = JsonPlusSerializer(
                        pickle_fallback=False, allowed_json_modules=None, allowed_msgpack_modules=sorted(types)
                    )
                    self._decoder, self._decoder_types = decoder, types
            return decoder

        def loads_typed(self, data: tuple[str, bytes]) -> Any:
            type_, blob = data
            if type_ in ("null", "bytes", "bytearray"):
                return super().loads_typed(data)
            if type_ == "msgpack":
                _listen()
                with _collect_blocked() as blocked:
                    try:
                        value = self._msgpack_decoder().loads_typed(data)
                    except ValueError as exc:  # ormsgpack's decode error: a corrupt or crafted blob
                        raise StoredDataRefused(f"a stored value is not valid msgpack: {exc}") from None
                return _refuse(blocked, value) if blocked else value
            if type_ == "json":
                return self._loads_json(blob)
            # unpickling runs code, and pytest-wtb never writes pickles
            what = "a pickled value (unpickling runs code)" if type_ == "pickle" else f"a value of format {type_!r}"
            return _refuse([(what, None)], f"<{type_} value not read>")

        def _loads_json(self, blob: bytes) -> Any:
            """Legacy "json" blobs (LangGraph writes msgpack): LangChain messages revive, any other
            constructor, secret or not-implemented envelope is refused."""
            refused: _Refused = []

            def hook(value: dict[str, Any]) -> Any:
                if value.get("lc") not in (1, 2) or "type" not in value or "id" not in value:
                    return value
                ident = value.get("id")
                dotted = ".".join(map(str, ident)) if isinstance(ident, list) else repr(ident)
                if value.get("lc") == 1 and value.get("type") == "constructor":
                    try:
                        return messages_reviver(value)
                    except Exception:  # LangChain refuses what is not a message
                        pass
                refused.append((f"{dotted} (a {value.get('type')} envelope)", None))
                return value

            try:
                value = json.loads(blob, object_hook=hook)
            except ValueError as exc:
                raise StoredDataRefused(f"a stored \"json\" value is not JSON: {exc}") from None
            return _refuse(refused, value) if refused else value

    _STRICT = StrictSerializer
    return _STRICT
