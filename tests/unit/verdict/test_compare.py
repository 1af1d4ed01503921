from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage

from pytest_wtb.declare.parity import ParitySpec
from pytest_wtb.verdict.compare import MISSING, compare, short, unknown_keys


def paths(a: dict, b: dict, **kw: object) -> list[str]:  # type: ignore[type-arg]
    return [d.path for d in compare(a, b, ParitySpec(**kw))]  # type: ignore[arg-type]


def test_equal_states_have_no_differences_and_tuples_equal_lists() -> None:
    assert paths({"a": [1, (2, 3)], "b": {"c": "x"}}, {"a": [1, [2, 3]], "b": {"c": "x"}}) == []


def test_nested_paths_and_missing_keys() -> None:
    diffs = compare({"a": {"b": [1, 2]}, "gone": 1}, {"a": {"b": [1, 3, 4]}, "new": 2}, ParitySpec())
    assert [(d.path, d.baseline, d.other) for d in diffs] == [
        ("a.b[1]", 2, 3), ("a.b[2]", MISSING, 4), ("gone", 1, MISSING), ("new", MISSING, 2)]


def test_float_tolerances_and_types() -> None:
    assert paths({"x": 1.0}, {"x": 1.0 + 1e-12}) == []
    assert paths({"x": 1.0}, {"x": 1.001}) == ["x"]
    assert paths({"x": 1.0}, {"x": 1.001}, rel_tol=1e-2) == []
    assert paths({"x": 0.0}, {"x": 1e-4}, abs_tol=1e-3) == []
    assert paths({"x": float("nan")}, {"x": float("nan")}) == []
    assert paths({"x": 1}, {"x": 1.0}) == []
    assert paths({"x": True}, {"x": 1}) == ["x"]
    assert paths({"x": "1"}, {"x": 1}) == ["x"]


def test_keys_limit_the_comparison_and_typos_are_reported() -> None:
    a, b = {"answer": "x", "log": [1]}, {"answer": "x", "log": [2]}
    assert paths(a, b, keys=("answer",)) == []
    assert unknown_keys(a, b, ParitySpec(keys=("answr", "answer"))) == ["answr"]


def test_messages_compare_by_type_and_content_only() -> None:
    a = {"m": [HumanMessage("hi"), AIMessage("hello", id="1")]}
    assert paths(a, {"m": [HumanMessage("hi", id="9"), AIMessage("hello", response_metadata={"t": 1})]}) == []
    assert paths(a, {"m": [HumanMessage("hi"), HumanMessage("hello")]}) == ["m[1]"]
    assert short(AIMessage("hello")) == "ai: 'hello'"
    assert short("x" * 300, width=10) == "'xxxxxx..."
