"""wtb.case, @wtb.cases with cases in it, @wtb.allow_status and the run settings (context/config) helpers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

import pytest

import pytest_wtb as wtb
from pytest_wtb.declare.cases import ALLOW_ATTR, CASES_ATTR, Case, CaseSet
from pytest_wtb.declare.run_settings import build_context, config_problem, merge_config, merge_context
from pytest_wtb.errors import DeclarationError


@dataclass
class Ctx:
    model: str = "base-model"
    user: str = "nobody"


class TypedCtx(TypedDict, total=False):
    model: str


def case_set(*args: Any, **kwargs: Any) -> CaseSet:
    def test() -> None: ...

    found: CaseSet = getattr(wtb.cases(*args, **kwargs)(test), CASES_ATTR)
    return found


def test_a_case_in_a_list_keeps_its_id_context_config_and_resumes() -> None:
    found = case_set([
        wtb.case({"q": "a"}, id="a", context={"user": "u1"}, config={"recursion_limit": 8}, resume=["yes", "no"]),
        {"q": "b"},
    ])
    assert found.error is None
    assert found.cases == (
        Case("a", {"q": "a"}, {"user": "u1"}, {"recursion_limit": 8}, ("yes", "no")),
        Case("case1", {"q": "b"}),
    )


def test_a_case_takes_its_id_from_ids_or_the_dict_key_and_may_repeat_it() -> None:
    listed = case_set([wtb.case({"q": "a"}), wtb.case({"q": "b"}, id="b")], ids=["a", "b"])
    assert listed.error is None and [c.id for c in listed.cases] == ["a", "b"]
    keyed = case_set({"x": wtb.case({"q": "x"}, context=Ctx(user="k")), "y": wtb.case({"q": "y"}, id="y")})
    assert keyed.error is None
    assert [(c.id, c.context) for c in keyed.cases] == [("x", Ctx(user="k")), ("y", None)]


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        (([wtb.case({"q": "a"}, id="a")],), {"ids": ["other"]},
         "input 0 of @wtb.cases is a wtb.case(id='a') but ids= names it 'other': give it one id"),
        (({"k": wtb.case({"q": "a"}, id="a")},), {},
         "case 'k' of @wtb.cases is a wtb.case(id='a'): give it one id, not two"),
        (([wtb.case({"q": "a"}, id="a"), wtb.case({"q": "b"}, id="a")],), {}, "case id 'a' appears twice"),
        (([wtb.case({"q": "a"}, id="has space")],), {}, "case id 'has space' of @wtb.cases is not usable in a test id*"),
    ],
    ids=["ids-clash", "dict-key-clash", "twice", "unusable-id"],
)
def test_id_mistakes_are_recorded_on_the_case_set(args: Any, kwargs: Any, expected: str) -> None:
    import fnmatch

    found = case_set(*args, **kwargs)
    assert found.cases == ()
    assert found.error is not None and fnmatch.fnmatchcase(found.error, expected), found.error


@pytest.mark.parametrize("resume", ["x", b"x", {"a": 1}])
def test_resume_must_be_a_list(resume: Any) -> None:
    found = case_set([wtb.case({"q": "a"}, id="a", resume=resume)])
    assert found.error is not None
    assert found.error.startswith("case 'a': resume= takes a list of values (one per pause), got ")
    assert "wrap it in [...]" in found.error


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"resume": 3}, "case 'a': resume= takes a list of values (one per pause), got int: wrap it in [...]"),
    ({"config": "x"}, "case 'a': config= takes a dict (a RunnableConfig), got str"),
], ids=["resume-int", "config-str"])
def test_a_non_list_resume_or_non_dict_config_is_recorded_not_raised(kwargs: Any, expected: str) -> None:
    assert case_set([wtb.case({"q": "a"}, id="a", **kwargs)]).error == expected


def test_resume_may_be_a_tuple_or_empty() -> None:
    assert wtb.case(1, resume=("a",)).resume == ("a",)
    assert wtb.case(1, resume=[]).resume == () and wtb.case(1).resume == ()


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"configurable": {"thread_id": "t"}}, ["'thread_id'", "pytest-wtb owns them", "wtb_run.thread_id"]),
        ({"configurable": {"checkpoint_id": "c"}}, ["'checkpoint_id'", "pytest-wtb owns them"]),
        ({"callbacks": []}, ["'callbacks'", "allowed keys: configurable, max_concurrency, metadata"]),
        ({"configurable": "x"}, ["config['configurable'] takes a dict, got str"]),
        ({"recursion_limit": 0}, ["config['recursion_limit'] takes a whole number >= 1, got 0"]),
        ({"recursion_limit": True}, ["whole number"]),
    ],
)
def test_config_problems_say_what_is_wrong(config: Any, words: list[str]) -> None:
    problem = config_problem(config)
    assert problem is not None
    for word in words:
        assert word in problem, problem
    assert f"case 'c': {problem}" == case_set([wtb.case(1, id="c", config=config)]).error


def test_a_variant_with_a_bad_config_is_a_declaration_error() -> None:
    with pytest.raises(DeclarationError, match="variant 'v': config= sets 'thread_id': pytest-wtb owns them"):
        wtb.variant(name="v", config={"configurable": {"thread_id": "t"}})(lambda: None)


def test_allowed_config_keys_pass() -> None:
    config = {"configurable": {"style": "terse"}, "recursion_limit": 5, "tags": ["a"], "metadata": {"m": 1},
              "run_name": "r", "max_concurrency": 2}
    assert config_problem(config) is None and config_problem(None) is None


def test_merge_config_lets_the_case_win_key_by_key() -> None:
    variant = {"configurable": {"style": "terse", "tone": "dry"}, "recursion_limit": 20, "tags": ["v"]}
    case = {"configurable": {"style": "long"}, "recursion_limit": 8, "tags": ["c"]}
    merged = merge_config(variant, case)
    assert merged == {"configurable": {"style": "long", "tone": "dry"}, "recursion_limit": 8, "tags": ["c"]}
    assert variant["configurable"] == {"style": "terse", "tone": "dry"}, "the variant's dict is not mutated"
    assert merge_config(None, None) == {} and merge_config(variant, None) == variant


def test_merge_context_merges_a_dataclass_and_a_dict_field_by_field() -> None:
    assert merge_context(Ctx(model="small"), {"user": "u1"}) == {"model": "small", "user": "u1"}
    assert merge_context(Ctx(model="small"), None) == Ctx(model="small")
    assert merge_context(None, {"user": "u1"}) == {"user": "u1"}
    opaque = object()
    assert merge_context(Ctx(), opaque) is opaque, "an object with no fields wins whole"


def test_build_context_makes_the_schema_instance_or_says_why_not() -> None:
    assert build_context(Ctx, {"model": "m"}) == Ctx(model="m")
    assert build_context(Ctx, {"model": "m", "user": "u"}) == Ctx("m", "u")
    same = Ctx()
    assert build_context(Ctx, same) is same
    assert build_context(None, {"anything": 1}) == {"anything": 1}
    with pytest.raises(ValueError, match="does not fit context_schema Ctx"):
        build_context(Ctx, {"modle": "m"})
    with pytest.raises(ValueError, match="is a int, but the graph's context_schema is Ctx"):
        build_context(Ctx, 3)


def test_build_context_checks_a_typed_dict_schema() -> None:
    assert build_context(TypedCtx, {"model": "m"}) == {"model": "m"}
    with pytest.raises(ValueError, match="'extra', which context_schema TypedCtx does not declare"):
        build_context(TypedCtx, {"model": "m", "extra": 1})


def test_build_context_validates_a_pydantic_schema() -> None:
    from pydantic import BaseModel

    class PCtx(BaseModel):
        model: str
        temperature: float = 0.0

    assert build_context(PCtx, {"model": "m", "temperature": "0.5"}) == PCtx(model="m", temperature=0.5)
    with pytest.raises(ValueError, match="does not fit context_schema PCtx"):
        build_context(PCtx, {"temperature": "hot"})


def test_allow_status_stacks_and_refuses_unknown_names() -> None:
    @wtb.allow_status("failed")
    @wtb.allow_status("interrupted", "timed_out")
    def test() -> None: ...

    assert getattr(test, ALLOW_ATTR) == frozenset({"failed", "interrupted", "timed_out"})
    valid = "'failed', 'timed_out', 'lost', 'interrupted'"
    with pytest.raises(DeclarationError, match=f"takes one or more of {valid}; got 'paused'"):
        wtb.allow_status("paused")
    with pytest.raises(DeclarationError, match="got 'succeeded'"):
        wtb.allow_status("succeeded")
    with pytest.raises(DeclarationError, match="got nothing"):
        wtb.allow_status()
