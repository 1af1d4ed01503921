"""Each comparator on both sides (agrees / differs with a reason), its repr, pickling, and bad arguments."""

from __future__ import annotations

import math
import pickle
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.embeddings import Embeddings
from langchain_core.messages import AIMessage

import pytest_wtb as wtb
from pytest_wtb.declare.parity import ParitySpec
from pytest_wtb.errors import DeclarationError
from pytest_wtb.verdict.comparators import cosine_distance
from pytest_wtb.verdict.compare import compare
from pytest_wtb.verdict.multiset import multiset_difference


def test_close_agrees_within_tolerance_and_names_the_gap_beyond_it() -> None:
    c = wtb.close(abs_tol=0.05)
    assert c(0.50, 0.54) is True
    assert c(1, 1) is True
    reason = c(0.50, 0.60)
    assert isinstance(reason, str) and "0.5 vs 0.6" in reason and reason.endswith("is beyond wtb.close(rel_tol=1e-09, abs_tol=0.05)")
    assert wtb.close(rel_tol=0.1)(100.0, 109.0) is True
    assert wtb.close(rel_tol=0.1)(100.0, 120.0) is not True
    assert wtb.close()(math.nan, math.nan) is True


def test_close_walks_lists_and_dicts_and_names_the_path() -> None:
    c = wtb.close(abs_tol=0.01)
    assert c({"p": [0.1, 0.2]}, {"p": (0.105, 0.2)}) is True
    reason = c({"p": [0.1, 0.2]}, {"p": [0.1, 0.3]})
    assert isinstance(reason, str) and reason.startswith("at p[1]: 0.2 vs 0.3")
    assert "lengths differ: 2 vs 1" in str(c([1.0, 2.0], [1.0]))
    assert "keys differ" in str(c({"a": 1.0}, {"b": 1.0}))
    assert "not numbers" in str(c("x", "y"))
    assert c(True, 1) is not True, "a bool is no number: True vs 1 differs as values"
    assert c({"m": AIMessage("ok", id="1"), "s": 1.0}, {"m": AIMessage("ok", id="2"), "s": 1.001}) is True


def test_unordered_agrees_on_any_order_and_names_what_is_missing_and_extra() -> None:
    u = wtb.unordered()
    assert u(["a", "b", "c"], ["c", "a", "b"]) is True
    assert u([{"id": 1}, {"id": 2}], [{"id": 2}, {"id": 1}]) is True, "unhashable elements"
    assert u([[1, 2], "x"], ["x", (1, 2)]) is True, "tuples read back from the store are lists"
    assert u({"a", "b"}, ["b", "a"]) is True
    reason = u(["doc1", "doc2", "doc3"], ["doc3", "doc9", "doc1"])
    assert reason == "missing ['doc2']; extra ['doc9']"
    assert u(["a", "a", "b"], ["a", "b", "b"]) == "missing ['a']; extra ['b']", "counts matter"
    assert u(["a", "b"], ["a"]) == "missing ['b'] (lengths 2 vs 1)"
    assert "compares lists or sets, got str and list" in str(u("ab", ["a", "b"]))


def test_unordered_compares_messages_by_meaning_not_by_id() -> None:
    a = [AIMessage(content="one", id="1"), AIMessage(content="two", id="2")]
    b = [AIMessage(content="two", id="x"), AIMessage(content="one", id="y")]
    assert wtb.unordered()(a, b) is True
    assert wtb.unordered()(a, [AIMessage(content="one"), AIMessage(content="three")]) is not True


PARAGRAPH = ("To reset your password, open Settings, choose Security and click 'Reset password'. "
             "We will email you a link that is valid for 24 hours.")


def test_text_similarity_agrees_on_a_small_edit_and_gives_the_score_when_it_differs() -> None:
    t = wtb.text_similarity(0.85)
    assert t(PARAGRAPH, PARAGRAPH.replace("24 hours", "one day")) is True
    assert t("refund issued", "I cannot help with that") == "similarity 0.17 < 0.85"
    assert t(AIMessage(content=PARAGRAPH), AIMessage(content=[{"type": "text", "text": PARAGRAPH}])) is True
    assert t(None, None) is True
    assert "compares texts, got NoneType and str" in str(t(None, "x"))


def test_text_similarity_scorers() -> None:
    assert wtb.text_similarity(0.99, scorer="token_sort")("red green blue", "blue red green") is True
    assert wtb.text_similarity(0.99)("red green blue", "blue red green") is not True
    assert wtb.text_similarity(0.99, scorer="token_set")("red green", "red green blue") is True
    assert repr(wtb.text_similarity(0.9, scorer="token_set")) == "wtb.text_similarity(0.9, scorer='token_set')"


def test_ignore_agrees_on_anything_also_a_missing_key() -> None:
    assert wtb.ignore()(1, "two") is True
    assert getattr(wtb.ignore(), "handles_missing", False) is True


def _toy_embed(text: str) -> list[float]:
    """A deterministic bag-of-letters vector: close texts get close vectors."""
    return [float(text.lower().count(ch)) for ch in "abcdefghijklmnopqrstuvwxyz"]


class ToyEmbeddings(Embeddings):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls.append("documents")
        return [_toy_embed(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        self.calls.append("query")
        return _toy_embed(text)


def test_embedding_distance_with_a_callable() -> None:
    e = wtb.embedding_distance(embed=_toy_embed, max=0.05)
    assert e("the refund was issued", "the refund was issued today") is True
    reason = e("the refund was issued", "xyz qqq")
    assert isinstance(reason, str) and reason.startswith("cosine distance ") and reason.endswith(" > 0.05")
    assert repr(e) == "wtb.embedding_distance(embed=_toy_embed, max=0.05)"


def test_embedding_distance_with_langchain_embeddings_batches_one_call() -> None:
    model = ToyEmbeddings()
    e = wtb.embedding_distance(embed=model, max=0.05)
    assert e("the refund was issued", "the refund was issued today") is True
    assert model.calls == ["documents"]
    assert e("same", "same") is True and model.calls == ["documents"], "equal texts need no model call"
    assert repr(e) == "wtb.embedding_distance(embed=ToyEmbeddings, max=0.05)"


def test_embedding_distance_with_a_query_only_object_and_bad_vectors() -> None:
    class QueryOnly:
        def embed_query(self, text: str) -> list[float]:
            return _toy_embed(text)

    assert wtb.embedding_distance(embed=QueryOnly(), max=0.5)("abc", "abd") is True
    with pytest.raises(ValueError, match="zero vector"):
        wtb.embedding_distance(embed=lambda s: [0.0, 0.0], max=0.5)("a", "b")
    with pytest.raises(ValueError, match="different lengths"):
        cosine_distance([1.0], [1.0, 2.0])
    assert cosine_distance([1.0, 0.0], [0.0, 1.0]) == pytest.approx(1.0)


def test_judge_bool_reason_and_score() -> None:
    def llm_judge(baseline: str, value: str) -> Any:
        return {"same": True, "worse": "the variant drops the refund amount", "no": False}[value]

    j = wtb.judge(llm_judge)
    assert j("x", "same") is True
    assert j("x", "worse") == "the variant drops the refund amount"
    assert j("x", "no") is False
    assert repr(j) == "wtb.judge(test_judge_bool_reason_and_score.<locals>.llm_judge)"

    def score(baseline: str, value: str) -> float:
        return 0.4 if value == "bad" else 0.9

    s = wtb.judge(score, min=0.7)
    assert s("x", "good") is True
    assert s("x", "bad") == "judge test_judge_bool_reason_and_score.<locals>.score scored 0.4 < 0.7"
    with pytest.raises(TypeError, match="give it a threshold"):
        wtb.judge(score)("x", "bad")
    with pytest.raises(TypeError, match="it must return a bool, a str"):
        wtb.judge(lambda a, b: None)("x", "y")
    assert wtb.judge(lambda a, b: "")("x", "y") is False, "an empty reason still differs"


@pytest.mark.parametrize(
    ("declare", "message"),
    [
        (lambda: wtb.close(rel_tol=-1e-3), r"wtb.close\(rel_tol=...\) must be a number >= 0, got -0.001"),
        (lambda: wtb.close(abs_tol=-1), r"abs_tol=...\) must be a number >= 0"),
        (lambda: wtb.close(abs_tol="0.1"), r"must be a number >= 0, got '0.1'"),
        (lambda: wtb.close(abs_tol=math.nan), r"must be a number >= 0, got nan"),
        (lambda: wtb.text_similarity(1.5), r"wtb.text_similarity\(min\) must be a number in \[0, 1\], got 1.5"),
        (lambda: wtb.text_similarity(-0.1), r"in \[0, 1\]"),
        (lambda: wtb.text_similarity(True), r"in \[0, 1\], got True"),
        (lambda: wtb.text_similarity(0.8, scorer="jaro"), r"scorer='jaro'\): use one of ratio, token_sort, token_set"),
        (lambda: wtb.embedding_distance(embed="text-embedding-3-small", max=0.2),
         r"takes a callable str -> vector or a LangChain Embeddings, got str"),
        (lambda: wtb.embedding_distance(embed=_toy_embed, max=3), r"max=...\) must be a number in \[0, 2\]"),
        (lambda: wtb.judge("gpt-4o"), r"wtb.judge\(fn\) takes a callable"),
        (lambda: wtb.judge(len, min="high"), r"wtb.judge\(min=...\) must be a number"),
    ],
)
def test_bad_arguments_are_declaration_errors(declare: Any, message: str) -> None:
    with pytest.raises(DeclarationError, match=message):
        declare()


def test_comparators_pickle_and_keep_their_repr() -> None:
    for c in (wtb.close(abs_tol=0.05), wtb.unordered(), wtb.text_similarity(0.85), wtb.ignore(),
              wtb.embedding_distance(embed=_toy_embed, max=0.2), wtb.judge(_toy_embed, min=0.5)):
        back = pickle.loads(pickle.dumps(c))
        assert back == c and repr(back) == repr(c)


def test_importing_pytest_wtb_does_not_import_rapidfuzz() -> None:
    code = "import sys, pytest_wtb as wtb; wtb.text_similarity(0.5); print('rapidfuzz' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


def _pairwise_reference(a: list[Any], b: list[Any]) -> tuple[list[Any], list[Any]]:
    """The obvious quadratic matching by the parity verdict, that the fast paths must agree with."""
    left, missing = list(b), []
    for x in a:
        i = next((j for j, y in enumerate(left) if not compare({"": x}, {"": y}, ParitySpec())), None)
        if i is None:
            missing.append(x)
        else:
            del left[i]
    return missing, left


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([0.5, 0.5 + 1e-12, 1.0, 2.5]),
                     st.sampled_from(["a", "b"]))
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.tuples(inner, inner),
    st.dictionaries(st.sampled_from(["k", "v"]), inner, max_size=2)), max_leaves=6)


@settings(max_examples=300, deadline=None)
@given(st.lists(_values, max_size=8), st.lists(_values, max_size=4), st.randoms(use_true_random=False))
def test_unordered_matching_agrees_with_the_pairwise_verdict(base: list[Any], other: list[Any], rnd: Any) -> None:
    shuffled = base + other
    rnd.shuffle(shuffled)
    fast = multiset_difference(base, shuffled)
    slow = _pairwise_reference(base, shuffled)
    # which partner an element gets may differ, so compare the counts of unmatched elements
    assert (len(fast[0]), len(fast[1])) == (len(slow[0]), len(slow[1]))
    assert not fast[0], "every element of base has a partner in a shuffled superset"


@settings(max_examples=300, deadline=None)
@given(st.lists(_values, max_size=6), st.lists(_values, max_size=6))
def test_unordered_finds_what_the_pairwise_verdict_finds(a: list[Any], b: list[Any]) -> None:
    fast, slow = multiset_difference(a, b), _pairwise_reference(a, b)
    assert (len(fast[0]), len(fast[1])) == (len(slow[0]), len(slow[1]))
    assert (wtb.unordered()(a, b) is True) == (not slow[0] and not slow[1])
