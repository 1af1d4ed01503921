"""One text per case input, the same in every process: what execution keys and input hashes are made of.

xdist workers, reruns and ``--wtb-against`` compare inputs by this text, so it may depend on nothing
a process picks for itself: not set order (the hash seed), not memory addresses, not insertion
order of dict keys. JSON-native inputs (dicts with string keys, lists, strings, numbers, booleans,
None) keep the plain ``json.dumps(sort_keys=True)`` text they always had, so hashes stored by
earlier runs stay comparable. Everything else becomes a one-key object whose key starts with NUL
(a tag); user keys that themselves start with NUL get one more NUL, so no input can imitate a tag.

Tuples read as lists because LangGraph's checkpoint serializer turns them into lists: a forked or
resumed execution sees a list either way. Sets, frozensets, namedtuples and mappings with keys of
other types keep their kind, as the serializer does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import json
import uuid
from collections import deque
from collections.abc import Mapping
from typing import Any, Final

from pytest_wtb.errors import WtbError

_TAG: Final = "\x00"
_PLAIN: Final = (str, int, float, type(None))  # bool is an int
_MAX_DEPTH: Final = 100  # well inside Python's recursion limit, three frames a level
ADVICE: Final = (
    "give the case plain data (dicts, lists, strings, numbers, sets, dataclasses, pydantic models) "
    "and build other objects inside the graph, or give the type a __repr__ that shows its contents"
)


class InputError(WtbError):
    """A case input has no form that is the same in every process, so it cannot name an execution."""


def canonical_input(value: Any) -> str:
    """The input's canonical text; raises InputError naming where in the input the problem is."""
    return _dumps(_Canon().tree(value, "input", 0))


def _dumps(tree: Any) -> str:
    return json.dumps(tree, sort_keys=True, separators=(",", ":"))


def _type_name(value: Any) -> str:
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}"


def _tagged(tag: str, body: Any) -> dict[str, Any]:
    return {_TAG + tag: body}


class _Canon:
    """Turns a value into a JSON tree; ``active`` holds the containers on the current path (cycles)."""

    def __init__(self) -> None:
        self.active: set[int] = set()

    def tree(self, value: Any, path: str, depth: int) -> Any:
        if isinstance(value, enum.Enum):  # before int and str: IntEnum and StrEnum members are both
            return _tagged("enum", [_type_name(value), value.name])
        if isinstance(value, _PLAIN):
            return value
        if depth > _MAX_DEPTH:
            raise InputError(f"input is nested more than {_MAX_DEPTH} levels deep")
        if id(value) in self.active:
            raise InputError(f"{path} contains itself")
        self.active.add(id(value))
        try:
            return self._container(value, path, depth + 1)
        finally:
            self.active.discard(id(value))

    def _container(self, value: Any, path: str, depth: int) -> Any:
        if isinstance(value, Mapping):
            return self._mapping(value, path, depth)
        names = getattr(type(value), "_fields", None)
        if isinstance(value, tuple) and isinstance(names, tuple):  # a namedtuple
            fields = {f: self.tree(v, f"{path}.{f}", depth) for f, v in zip(names, value, strict=True)}
            return _tagged("namedtuple", [_type_name(value), fields])
        if isinstance(value, list | tuple):
            return [self.tree(v, f"{path}[{i}]", depth) for i, v in enumerate(value)]
        if isinstance(value, set | frozenset):
            items = sorted((self.tree(v, f"an element of {path}", depth) for v in value), key=_dumps)
            return _tagged("frozenset" if isinstance(value, frozenset) else "set", items)
        if isinstance(value, deque):
            return _tagged("deque", [self.tree(v, f"{path}[{i}]", depth) for i, v in enumerate(value)])
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = {f.name: self.tree(getattr(value, f.name), f"{path}.{f.name}", depth)
                      for f in dataclasses.fields(value)}
            return _tagged("dataclass", [_type_name(value), fields])
        if _is_model(value):  # pydantic v2, LangChain messages among them
            try:
                dumped = value.model_dump()
            except Exception:  # a model that cannot dump itself is judged by its repr
                return _scalar(value, path)
            return _tagged("model", [_type_name(value), self.tree(dumped, path, depth)])
        return _scalar(value, path)

    def _mapping(self, value: Mapping[Any, Any], path: str, depth: int) -> Any:
        if all(isinstance(k, str) and not isinstance(k, enum.Enum) for k in value):
            return {(_TAG + k if k.startswith(_TAG) else k): self.tree(v, f"{path}[{k!r}]", depth)
                    for k, v in value.items()}
        # keys of other types (or of several types) are kept apart from their string forms and
        # ordered by their own canonical text, which every process computes alike
        pairs = [[self.tree(k, f"a key of {path}", depth), self.tree(v, f"{path}[{k!r}]", depth)]
                 for k, v in value.items()]
        return _tagged("dict", sorted(pairs, key=lambda kv: (_dumps(kv[0]), _dumps(kv[1]))))


def _is_model(value: Any) -> bool:
    fields = getattr(type(value), "model_fields", None)
    return isinstance(fields, Mapping) and callable(getattr(value, "model_dump", None))


def _scalar(value: Any, path: str) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return _tagged("bytearray" if isinstance(value, bytearray) else "bytes", bytes(value).hex())
    if isinstance(value, dt.datetime | dt.time):
        zone = None if value.tzinfo is None else _scalar(value.tzinfo, f"the time zone of {path}")
        kind = "datetime" if isinstance(value, dt.datetime) else "time"
        return _tagged(kind, [value.isoformat(), zone])
    if isinstance(value, dt.date):
        return _tagged("date", value.isoformat())
    if isinstance(value, dt.timedelta):
        return _tagged("timedelta", [value.days, value.seconds, value.microseconds])
    if isinstance(value, decimal.Decimal):
        return _tagged("decimal", str(value))
    if isinstance(value, uuid.UUID):
        return _tagged("uuid", str(value))
    try:
        text = repr(value)
    except Exception as exc:
        raise InputError(f"{path} ({type(value).__name__}): its repr() raised {type(exc).__name__}: {exc}") from None
    if " at 0x" in text:  # object.__repr__, functions, generators, ...
        raise InputError(
            f"{path} ({type(value).__name__}): its repr names a memory address ({_clip(text)}), "
            "which differs in every process"
        )
    return _tagged("repr", [_type_name(value), text])


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."

