"""canonical_input: total and stable (same text in every process), failing only for inputs with no stable form."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import decimal
import enum
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage
from pydantic import BaseModel

from pytest_wtb.declare.variants import Case
from pytest_wtb.plan.canonical import InputError, canonical_input
from pytest_wtb.plan.executions import execution_key


class Color(enum.Enum):
    RED = 1
    BLUE = 2


class Level(enum.IntEnum):
    LOW = 1


@dataclasses.dataclass(frozen=True)
class Doc:
    title: str
    tags: frozenset[str]


class Query(BaseModel):
    text: str
    filters: set[str]


Point = collections.namedtuple("Point", "x y")

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]


def rich_input() -> dict[str, Any]:
    """Every kind of value the canonical form promises to handle, in one input."""
    return {
        "words": set(WORDS),
        "frozen": frozenset(WORDS[:5]),
        "mixed": {1: "a", "b": 2, (3, 4): {"x"}},
        "nested": [{"s": {"p", "q", "r"}}, (1, 2)],
        "bytes": b"\x00ab",
        "nan": float("nan"),
        "inf": float("-inf"),
        "when": dt.datetime(2026, 3, 1, 12, 30, tzinfo=ZoneInfo("Europe/Paris")),
        "day": dt.date(2026, 1, 2),
        "at": dt.time(8, 15),
        "span": dt.timedelta(days=2, seconds=5),
        "price": decimal.Decimal("1.10"),
        "id": uuid.UUID(int=7),
        "color": Color.RED,
        "level": Level.LOW,
        "doc": Doc("t", frozenset(WORDS)),
        "query": Query(text="q", filters=set(WORDS)),
        "point": Point(1, 2),
        "messages": [HumanMessage("hi"), AIMessage("hello")],
    }


def text_and_key() -> str:
    value = rich_input()
    return f"{canonical_input(value)} {execution_key('m', 'v', Case('c', value))}"


def in_fresh_process(seed: str) -> str:
    """text_and_key() computed by a new interpreter whose set order comes from ``seed``."""
    # import this module under the name pytest gave it, so its classes keep their names
    code = f"from {__name__} import text_and_key\nprint(text_and_key())\n"
    env = {**os.environ, "PYTHONHASHSEED": seed}
    root = Path(__file__).parents[3]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, cwd=root)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_the_same_input_gets_the_same_text_and_key_under_any_hash_seed() -> None:
    # set order follows string hashes, which PYTHONHASHSEED changes: the text must not
    assert {in_fresh_process(seed) for seed in ("1", "2", "3")} == {text_and_key()}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text().filter(lambda k: not k.startswith("\x00")), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_json_native_inputs_keep_the_plain_json_text_earlier_runs_stored(value: Any) -> None:
    # stored input hashes of earlier runs stay comparable (--wtb-against, `diff`)
    assert canonical_input(value) == json.dumps(value, sort_keys=True, separators=(",", ":"))


def test_dicts_with_mixed_key_types_are_ordered_by_their_keys_own_text() -> None:
    assert canonical_input({1: "a", "b": 2}) == canonical_input({"b": 2, 1: "a"})
    assert canonical_input({1: "a"}) != canonical_input({"1": "a"})  # the checkpoint keeps int keys
    assert canonical_input({(1, 2): "a", None: 0}) == canonical_input({None: 0, (1, 2): "a"})


def test_sets_are_ordered_by_their_elements_text_whatever_their_types() -> None:
    assert canonical_input({"s": {3, "a", (1, 2), None}}) == canonical_input({"s": {None, (1, 2), "a", 3}})
    assert canonical_input({1, 2}) != canonical_input(frozenset({1, 2})) != canonical_input([1, 2])


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (1, 1.0),
        (1, True),
        (1, "1"),
        (b"ab", "ab"),
        (b"ab", bytearray(b"ab")),
        (float("inf"), float("-inf")),
        (decimal.Decimal("1.1"), decimal.Decimal("1.10")),
        (decimal.Decimal("1.1"), 1.1),
        (dt.datetime(2026, 1, 1, tzinfo=ZoneInfo("Europe/Paris")), dt.datetime(2026, 1, 1, tzinfo=dt.timezone(
            dt.timedelta(hours=1)))),
        (dt.datetime(2026, 1, 1), dt.date(2026, 1, 1)),
        (Color.RED, 1),
        (Level.LOW, 1),
        (Point(1, 2), (1, 2)),
        (Doc("t", frozenset()), {"title": "t", "tags": frozenset()}),
        ({"\x00set": [1]}, {1}),  # a key cannot imitate a tag
        (uuid.UUID(int=7), str(uuid.UUID(int=7))),
    ],
)
def test_values_of_different_kinds_or_values_never_share_a_text(one: Any, other: Any) -> None:
    assert canonical_input({"v": one}) != canonical_input({"v": other})


def test_tuples_read_as_lists_as_the_checkpoint_serializer_returns_them() -> None:
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    serde = JsonPlusSerializer()
    assert serde.loads_typed(serde.dumps_typed({"x": (1, 2)})) == {"x": [1, 2]}
    assert canonical_input({"x": (1, 2)}) == canonical_input({"x": [1, 2]})


def test_equal_rich_values_built_twice_get_one_text() -> None:
    assert canonical_input(rich_input()) == canonical_input(rich_input())
    assert canonical_input(float("nan")) == "NaN"


class Opaque:
    pass


class Described:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Described({self.name!r})"


def test_an_object_with_a_repr_of_its_own_is_identified_by_it() -> None:
    assert canonical_input({"d": Described("a")}) == canonical_input({"d": Described("a")})
    assert canonical_input({"d": Described("a")}) != canonical_input({"d": Described("b")})


def cyclic() -> list[Any]:
    loop: list[Any] = []
    loop.append(loop)
    return loop


def deep() -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(500):
        value = {"x": value}
    return value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"client": Opaque()}, r"input\['client'\] \(Opaque\): its repr names a memory address \(<.*Opaque object at 0x"),
        ({"tools": [len, lambda s: s]}, r"input\['tools'\]\[1\] \(function\): its repr names a memory address"),
        ({"s": {Opaque()}}, r"an element of input\['s'\] \(Opaque\)"),
        ({Opaque(): 1, "b": 2}, r"a key of input \(Opaque\)"),
        ({"run": (x for x in ())}, r"input\['run'\] \(generator\)"),
        (cyclic(), r"input\[0\] contains itself"),
        (deep(), r"input is nested more than 100 levels deep"),
    ],
    ids=["object", "lambda", "in-a-set", "as-a-key", "generator", "cycle", "deep"],
)
def test_inputs_with_no_stable_form_raise_naming_where(value: Any, message: str) -> None:
    with pytest.raises(InputError, match=message):
        canonical_input(value)
