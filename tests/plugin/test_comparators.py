"""Comparators per key as a user sees them: @wtb.parity(compare={key: comparator}) passes the variants
it should, fails the others with the comparator's reason, and a comparator that raises fails the item
naming it."""

from __future__ import annotations

import pytest

# base is the baseline; near changes each key a little (a comparator should let it pass), far a lot
THREE_ANSWERS = '''
from typing import TypedDict

from langgraph.graph import END, START, StateGraph

import pytest_wtb as wtb

RESET = ("To reset your password, open Settings, choose Security and click Reset password. "
         "We will email you a link that is valid for 24 hours.")


class State(TypedDict, total=False):
    q: str
    answer: str
    sources: list
    score: float
    debug: str


def build(**values):
    def respond(state):
        return dict(values)

    g = StateGraph(State)
    g.add_node("respond", respond)
    g.add_edge(START, "respond")
    g.add_edge("respond", END)
    return g


@wtb.variant(baseline=True)
def base():
    return build(answer=RESET, sources=["faq#3", "kb#12", "kb#40"], score=0.50, debug="took 1.2 s")


@wtb.variant
def near():
    return build(answer=RESET.replace("24 hours", "one day"), sources=["kb#40", "faq#3", "kb#12"],
                 score=0.53, debug="took 0.8 s")


@wtb.variant
def far():
    # no debug key at all: ignore() must cover a key one side lacks
    return build(answer="I cannot help with passwords.", sources=["faq#3", "blog#1"], score=0.70)

'''


def _run(pytester: pytest.Pytester, tests: str) -> pytest.RunResult:
    pytester.makepyfile(test_cmp=THREE_ANSWERS + tests)
    return pytester.runpytest("-v")


def test_text_similarity(pytester: pytest.Pytester) -> None:
    result = _run(pytester, '''
@wtb.parity(keys=["answer"], compare={"answer": wtb.text_similarity(0.85)})
@wtb.cases({"reset": {"q": "reset"}})
def test_answer(wtb_run):
    pass
''')
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        "*test_answer[[]near-reset[]] PASSED*",
        "*test_answer[[]far-reset[]] FAILED*",
        "E   AssertionError: parity: variant 'far' differs from baseline 'base' on case 'reset' at 1 key path",
        "*  answer",
        "*    far:  * 'I cannot help with passwords.'",
        "*    reason: * similarity 0.2* < 0.85",
    ])


def test_unordered(pytester: pytest.Pytester) -> None:
    result = _run(pytester, '''
@wtb.parity(keys=["sources"], compare={"sources": wtb.unordered()})
@wtb.cases({"reset": {"q": "reset"}})
def test_sources(wtb_run):
    pass


@wtb.parity(keys=["sources"])
@wtb.cases({"reset": {"q": "reset"}})
def test_sources_in_order(wtb_run):
    pass
''')
    # without the comparator the reordered list of near differs too
    result.assert_outcomes(passed=3, failed=3)
    result.stdout.fnmatch_lines([
        "*test_sources[[]near-reset[]] PASSED*",
        "*test_sources[[]far-reset[]] FAILED*",
        "*test_sources_in_order[[]near-reset[]] FAILED*",
        "*test_sources_in_order[[]far-reset[]] FAILED*",
        "*reason: * missing [[]'kb#12', 'kb#40'[]]; extra [[]'blog#1'[]] (lengths 3 vs 2)",
    ])


def test_close(pytester: pytest.Pytester) -> None:
    result = _run(pytester, '''
@wtb.parity(keys=["score"], compare={"score": wtb.close(abs_tol=0.05)})
@wtb.cases({"reset": {"q": "reset"}})
def test_score(wtb_run):
    pass
''')
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        "*test_score[[]near-reset[]] PASSED*",
        "*test_score[[]far-reset[]] FAILED*",
        "*reason: * 0.5 vs 0.7: |difference| 0.2 is beyond wtb.close(rel_tol=1e-09, abs_tol=0.05)",
    ])


def test_ignore_also_covers_a_key_one_side_lacks(pytester: pytest.Pytester) -> None:
    result = _run(pytester, '''
@wtb.parity(keys=["debug", "score"], compare={"debug": wtb.ignore(), "score": wtb.close(abs_tol=0.5)})
@wtb.cases({"reset": {"q": "reset"}})
def test_ignored(wtb_run):
    pass


@wtb.parity(keys=["debug"])
@wtb.cases({"reset": {"q": "reset"}})
def test_not_ignored(wtb_run):
    pass
''')
    result.assert_outcomes(passed=4, failed=2)
    result.stdout.fnmatch_lines([
        "*test_ignored[[]near-reset[]] PASSED*",
        "*test_ignored[[]far-reset[]] PASSED*",
        "*test_not_ignored[[]near-reset[]] FAILED*",
        "*test_not_ignored[[]far-reset[]] FAILED*",
    ])


def test_embedding_distance(pytester: pytest.Pytester) -> None:
    result = _run(pytester, '''
def letters(text):
    """A stand-in for a real embedding model: a bag-of-letters vector."""
    return [text.lower().count(ch) for ch in "abcdefghijklmnopqrstuvwxyz"]


@wtb.parity(keys=["answer"], compare={"answer": wtb.embedding_distance(embed=letters, max=0.02)})
@wtb.cases({"reset": {"q": "reset"}})
def test_answer(wtb_run):
    pass
''')
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        "*test_answer[[]near-reset[]] PASSED*",
        "*test_answer[[]far-reset[]] FAILED*",
        "*reason: * cosine distance 0.* > 0.02",
    ])


def test_judge_with_a_reason_and_with_a_score(pytester: pytest.Pytester) -> None:
    result = _run(pytester, '''
def cites_the_baselines_sources(baseline, value):
    """A stand-in for an LLM judge that explains itself."""
    dropped = sorted(set(baseline) - set(value))
    return not dropped or f"the variant no longer cites {', '.join(dropped)}"


def helpfulness(baseline, value):
    return 0.9 if "Settings" in value else 0.1


@wtb.parity(keys=["sources"], compare={"sources": wtb.judge(cites_the_baselines_sources)})
@wtb.cases({"reset": {"q": "reset"}})
def test_sources(wtb_run):
    pass


@wtb.parity(keys=["answer"], compare={"answer": wtb.judge(helpfulness, min=0.5)})
@wtb.cases({"reset": {"q": "reset"}})
def test_answer(wtb_run):
    pass
''')
    result.assert_outcomes(passed=4, failed=2)
    result.stdout.fnmatch_lines([
        "*test_sources[[]near-reset[]] PASSED*",
        "*test_sources[[]far-reset[]] FAILED*",
        "*test_answer[[]near-reset[]] PASSED*",
        "*test_answer[[]far-reset[]] FAILED*",
        "*reason: * the variant no longer cites kb#12, kb#40",
        "*reason: * judge helpfulness scored 0.1 < 0.5",
    ])


def test_a_plain_lambda_is_a_comparator(pytester: pytest.Pytester) -> None:
    result = _run(pytester, '''
@wtb.parity(keys=["score"], compare={"score": lambda b, v: abs(v - b) < 0.1 or f"score moved by {v - b:+.2f}"})
@wtb.cases({"reset": {"q": "reset"}})
def test_score(wtb_run):
    pass
''')
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        "*test_score[[]near-reset[]] PASSED*",
        "*test_score[[]far-reset[]] FAILED*",
        "*reason: * score moved by +0.20",
    ])


def test_a_comparator_that_raises_fails_the_item_naming_it(pytester: pytest.Pytester) -> None:
    result = _run(pytester, '''
def flaky_judge(baseline, value):
    raise RuntimeError("judge model unreachable")


def score_only(baseline, value):
    return 0.3


@wtb.parity(keys=["answer"], compare={"answer": flaky_judge})
@wtb.cases({"reset": {"q": "reset"}})
def test_raises(wtb_run):
    pass


@wtb.parity(keys=["answer"], compare={"answer": wtb.judge(score_only)})
@wtb.cases({"reset": {"q": "reset"}})
def test_score_without_threshold(wtb_run):
    pass
''')
    result.assert_outcomes(passed=2, failed=4)
    result.stdout.fnmatch_lines([
        "*comparator flaky_judge for key 'answer' raised RuntimeError: judge model unreachable*",
        "*while comparing variant 'near' with baseline 'base' on case 'reset'*",
        "*comparator wtb.judge(score_only) for key 'answer' raised TypeError: the judge returned the score 0.3: "
        "give it a threshold, wtb.judge(score_only, min=...)*",
    ])
    assert "Traceback" not in result.stdout.str()


def test_comparators_give_the_same_verdicts_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_cmp=THREE_ANSWERS + '''
@wtb.parity(keys=["answer", "sources", "score", "debug"], compare={
    "answer": wtb.text_similarity(0.85), "sources": wtb.unordered(), "score": wtb.close(abs_tol=0.05),
    "debug": wtb.ignore()})
@wtb.cases({"reset": {"q": "reset"}})
def test_all(wtb_run):
    pass
''')
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider", "-rf")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        "*parity: variant 'far' differs from baseline 'base' on case 'reset' at 3 key paths*",
        "*reason: * similarity 0.2* < 0.85",
        "*reason: * missing [[]'kb#12', 'kb#40'[]]; extra [[]'blog#1'[]] (lengths 3 vs 2)",
        "*reason: * 0.5 vs 0.7: |difference| 0.2 is beyond wtb.close(rel_tol=1e-09, abs_tol=0.05)",
    ])
