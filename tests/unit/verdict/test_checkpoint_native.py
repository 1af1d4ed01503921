"""Pure parts of replay, show --diff and property-based cases: no pytester, no store."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypedDict

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langgraph.graph import END, START, StateGraph

import pytest_wtb as wtb
from pytest_wtb.declare.variants import CASES_ATTR, CaseSet
from pytest_wtb.errors import DeclarationError, WtbError
from pytest_wtb.execute.replay import ReplayError, choose, origin_row
from pytest_wtb.pytest.bench import ModuleVariants, case_id_for
from pytest_wtb.pytest.properties import examples_dir
from pytest_wtb.store.urls import parse_store_url
from pytest_wtb.verdict.divergence import first_divergence, format_divergence
from pytest_wtb.verdict.history import Step


def case_set(decorator: Any) -> CaseSet:
    def test() -> None: ...

    result: CaseSet = getattr(decorator(test), CASES_ATTR)
    return result


# -- @wtb.cases(strategy=...) ---------------------------------------------------------------------


def test_cases_takes_a_strategy_and_keeps_its_list_and_dict_forms() -> None:
    strategy = st.just({"q": "a"})
    found = case_set(wtb.cases(strategy=strategy, max_examples=5))
    assert (found.strategy, found.max_examples, found.cases, found.error) == (strategy, 5, (), None)
    assert [c.id for c in case_set(wtb.cases([{"q": 1}, {"q": 2}], ids=["a", "b"])).cases] == ["a", "b"]
    assert [c.id for c in case_set(wtb.cases({"x": {"q": 1}})).cases] == ["x"]
    assert case_set(wtb.cases([{"q": 1}])).strategy is None


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: wtb.cases([{"q": 1}], strategy=st.just({})), "takes either graph inputs (with ids=) or strategy="),
        (lambda: wtb.cases(strategy=st.just({}), ids=["a"]), "takes either graph inputs (with ids=) or strategy="),
        (lambda: wtb.cases(max_examples=3), "@wtb.cases(max_examples=...) needs strategy="),
        (lambda: wtb.cases(strategy=st.just({}), max_examples=True), "takes a whole number >= 1, got True"),
        (lambda: wtb.cases(strategy="text"), "takes a Hypothesis strategy, got str"),
        (lambda: wtb.cases(), "needs graph inputs (a list or a dict) or strategy="),
    ],
)
def test_cases_mistakes_are_recorded_for_collection(call: Any, error: str) -> None:
    found = case_set(call())
    assert found.error is not None and error in found.error


# -- wtb.strategies.inputs ------------------------------------------------------------------------


class Question(TypedDict):
    question: str
    top_k: int


class Extra(TypedDict, total=False):
    lang: str


class RagIn(Question, Extra):
    pass


def _graph() -> StateGraph[Any]:
    g: StateGraph[Any] = StateGraph(RagIn)
    g.add_node("n", lambda state: {})
    g.add_edge(START, "n")
    g.add_edge("n", END)
    return g


rag = wtb.variant(_graph, name="rag")


@given(wtb.strategies.inputs(rag))
def test_inputs_follow_required_and_optional_keys(value: dict[str, Any]) -> None:
    assert {"question", "top_k"} <= set(value) <= {"question", "top_k", "lang"}
    assert isinstance(value["question"], str) and -(2**63) <= value["top_k"] < 2**63


@given(wtb.strategies.inputs(rag, keys=["question"], question=st.sampled_from(["a", "b"])))
def test_inputs_with_keys_and_a_field_strategy(value: dict[str, Any]) -> None:
    assert value in ({"question": "a"}, {"question": "b"})


def test_inputs_name_unknown_keys() -> None:
    with pytest.raises(DeclarationError, match="'nope' not in the input schema RagIn; its keys: question, top_k, lang"):
        wtb.strategies.inputs(rag, keys=["nope"]).validate()
    with pytest.raises(DeclarationError, match="takes a list of state keys"):
        wtb.strategies.inputs(rag, keys="question")


# -- bench helpers ----------------------------------------------------------------------------------


def test_case_ids_are_stable_per_input_and_variants_are_found_by_name() -> None:
    assert case_id_for({"b": 1, "a": [2]}) == case_id_for({"a": [2], "b": 1}) != case_id_for({"a": 1})
    base = wtb.variant(_graph, name="base", baseline=True)
    other = wtb.variant(_graph, name="other")
    module = ModuleVariants("m", (base, other), base)
    assert module.named(None) is base and module.named("other") is other
    with pytest.raises(WtbError, match="m declares no variant named 'x'; its variants: base, other"):
        module.named("x")
    with pytest.raises(WtbError, match="2 variants and no baseline: pass variant=NAME"):
        ModuleVariants("m", (base, other), None).named(None)


def test_the_examples_database_lives_beside_the_store(tmp_path: Path) -> None:
    sqlite = parse_store_url(f"sqlite:///{tmp_path}/s/wtb.db", tmp_path)
    assert examples_dir(sqlite, tmp_path / "root") == tmp_path / "s" / "hypothesis"
    postgres = parse_store_url("postgresql://u@h/db", tmp_path)
    assert examples_dir(postgres, tmp_path / "root") == tmp_path / "root" / ".wtb" / "hypothesis"


# -- replay: checkpoint choice, replay threads (which files it imports: tests/unit/execute/test_replay_files.py)


def snap(step: int, cid: str, nxt: tuple[str, ...]) -> Any:
    return SimpleNamespace(config={"configurable": {"checkpoint_id": cid}}, metadata={"step": step}, next=nxt)


HISTORY = [snap(-1, "c0", ("__start__",)), snap(0, "c1", ("retrieve",)), snap(1, "c2", ("answer",)), snap(2, "c3", ())]
NODES = ["retrieve", "answer"]


def test_choose_a_checkpoint() -> None:
    assert choose(HISTORY, None, None, NODES).checkpoint_id == "c0"  # finished: from the input
    assert choose(HISTORY[:3], None, None, NODES).checkpoint_id == "c2"  # stopped: where it stopped
    assert choose(HISTORY, None, "answer", NODES).checkpoint_id == "c2"
    assert choose(HISTORY, "c1", None, NODES).checkpoint_id == "c1"
    with pytest.raises(ReplayError, match="2 checkpoints matching --from c; its checkpoints: step -1 c0;"):
        choose(HISTORY[:2], "c", None, NODES)
    with pytest.raises(ReplayError, match="the graph has no node 'rerank'; its nodes: retrieve, answer"):
        choose(HISTORY, None, "rerank", NODES)
    with pytest.raises(ReplayError, match="was about to run 'answer': it never got there"):
        choose(HISTORY[:2], None, "answer", NODES)


def test_a_replay_thread_leads_back_to_its_execution() -> None:
    rows = {"wtb-r-v-c-abc": {"thread_id": "wtb-r-v-c-abc"}}
    results = SimpleNamespace(find_thread=rows.get)
    assert origin_row(results, "wtb-r-v-c-abc-replay-2-replay-1") == rows["wtb-r-v-c-abc"]
    assert origin_row(results, "wtb-other") is None


# -- show --diff ------------------------------------------------------------------------------------


def step(n: int, nodes: tuple[str, ...], source: str = "loop", **changed: Any) -> Step:
    return Step(n, source, nodes, f"id{n}", changed)


A = [step(-1, ("(input)",), "input", q="a"), step(0, ("START",), q="a"), step(1, ("retrieve",), docs=["d"])]


def test_first_divergence_by_step() -> None:
    assert first_divergence(A, A) == ([-1, 0, 1], None)
    other = [*A[:2], step(1, ("retrieve",), docs=["h"])]
    same, found = first_divergence(A, other)
    assert same == [-1, 0] and found is not None and found.step == 1
    assert [(d.path, d.baseline, d.other) for d in found.diffs] == [("docs[0]", "d", "h")]
    same, found = first_divergence([*A, step(2, ("answer",), answer="x")], A)
    assert found is not None and found.step == 2 and found.other is None


def test_a_replay_history_lines_up_with_its_original() -> None:
    replayed = [step(0, ("START", "retrieve"), q="a"), step(1, ("retrieve",), docs=["d"])]  # copied at step 0
    assert first_divergence(replayed, A) == ([0, 1], None)
    lines = format_divergence(A, [*A[:2], step(1, ("retrieve",), docs=["h"])])
    assert lines == [
        "same values for steps -1..0 (2 checkpoints)",
        "first divergence at step 1",
        "  this:  node retrieve  checkpoint_id id1",
        "  other: node retrieve  checkpoint_id id1",
        "  docs[0]",
        "    this:  'd'",
        "    other: 'h'",
    ]
