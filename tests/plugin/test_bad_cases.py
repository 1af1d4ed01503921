"""Case inputs and names as a careless user writes them: an input with no stable identity fails only
its own items, set inputs get one identity in every process, names with control characters are
collection errors."""

from __future__ import annotations

import re

import pytest

from tests.plugin.graphs_src import GRAPH

TWO_VARIANTS = GRAPH + '''

@wtb.variant(baseline=True)
def base():
    return build()


other = base.with_nodes({"answer": answer}, name="other")


class Client:  # only object's repr: its memory address
    pass
'''


def test_an_input_with_no_stable_identity_fails_only_its_own_items(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_cases=TWO_VARIANTS
        + '''

@wtb.parity(keys=["answer"])
@wtb.cases({
    "plain": {"q": "plain"},
    "mixed_keys": {"q": "mixed", "meta": {1: "a", "b": 2}},
    "with_set": {"q": "set", "tags": {"x", "y", "z"}},
    "client": {"q": "client", "client": Client()},
})
def test_answers(wtb_run):
    assert wtb_run.state["answer"] == "answer to " + wtb_run.input["q"]
'''
    )
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=6, failed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*test_answers[[]base-mixed_keys[]] PASSED*",
            "*test_answers[[]other-client[]] FAILED*",
            "E   pytest_wtb.InputError: case 'client' of test_answers (variant 'other') did not run: pytest-wtb "
            "names each execution by its input, and this input has no form that is the same in every process",
            "      input[[]'client'[]] (Client): its repr names a memory address (<test_cases.Client object at 0x*>), "
            "which differs in every process",
            "      to fix: give the case plain data (dicts, lists, strings, numbers, sets, dataclasses, pydantic "
            "models) and build other objects inside the graph, or give the type a __repr__ that shows its contents",
        ]
    )
    out = result.stdout.str()
    assert "INTERNALERROR" not in out and "Traceback" not in out
    assert "test_answers[base-client] FAILED" in out


def test_only_unidentifiable_inputs_still_end_in_failed_items(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_only=TWO_VARIANTS + '''

@wtb.cases({"fn": {"q": "x", "tool": lambda s: s}})
def test_x(wtb_run):
    pass
'''
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*input[[]'tool'[]] (function): its repr names a memory address (<function <lambda> at*"])
    assert "INTERNALERROR" not in result.stdout.str()


SET_CASE = TWO_VARIANTS + '''

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]


@wtb.cases({"tags": {"q": "tags", "tags": set(WORDS), "frozen": frozenset(WORDS)}})
def test_tags(wtb_run):
    print("THREAD", wtb_run.variant, wtb_run.thread_id)
'''


def test_a_set_input_has_one_execution_key_under_any_hash_seed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_sets=SET_CASE)
    keys = []
    for seed in ("1", "2"):  # set order follows string hashes: these two seeds order WORDS apart
        monkeypatch.setenv("PYTHONHASHSEED", seed)
        result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider")
        result.assert_outcomes(passed=2)
        # thread_ids end in the first characters of the execution key
        keys.append(sorted(re.findall(r"THREAD (\w+) wtb-\w+-\w+-tags-(\w+)", result.stdout.str())))
    assert keys[0] == keys[1] and len(keys[0]) == 2, keys


def test_a_set_input_shared_by_tests_on_two_xdist_workers_runs_once(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("xdist")
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)  # each worker orders sets its own way
    log = pytester.path / "ran.log"
    tests = "".join(
        f'''

@wtb.cases(CASES)
def test_{n}(wtb_run):
    with open({str(log)!r}, "a") as fh:
        fh.write("seen " + wtb_run.thread_id + "\\n")
'''
        for n in range(4)
    )
    pytester.makepyfile(
        test_shared=GRAPH
        + f'''

def counted_answer(state):
    with open({str(log)!r}, "a") as fh:
        fh.write("ran\\n")
    return answer(state)


@wtb.variant
def only():
    return build(answer_fn=counted_answer)


WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]
CASES = {{"tags": {{"q": "tags", "tags": set(WORDS)}}}}
'''
        + tests
    )
    result = pytester.runpytest_subprocess("-n", "2", "--dist=load", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    lines = log.read_text().splitlines()
    assert lines.count("ran") == 1, lines
    seen = {line for line in lines if line.startswith("seen ")}
    assert len(seen) == 1, f"every item that uses the execution sees one thread_id: {seen}"


def test_a_drawn_input_with_no_stable_identity_fails_its_property_item_clearly(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_drawn=TWO_VARIANTS
        + '''
from hypothesis import strategies as st


@wtb.cases(strategy=st.builds(Client).map(lambda c: {"q": "x", "client": c}), max_examples=3)
def test_drawn(wtb_run):
    pass
'''
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "E   pytest_wtb.InputError: a drawn input has no form that is the same in every process, and "
            "pytest-wtb names each execution by its input",
            "      input[[]'client'[]] (Client): its repr names a memory address*",
            "      input: {'q': 'x', 'client': <test_drawn.Client object at 0x*>}",
            "      to fix: give the case plain data*",
        ]
    )
    assert "INTERNALERROR" not in result.stdout.str()


@pytest.mark.parametrize(
    ("declaration", "expected"),
    [
        (
            "@wtb.variant(name='fast\\n')\ndef fast():\n    return build()\n",
            "*variant name 'fast\\n' (of @wtb.variant on 'fast') is not usable in a test id: use letters, digits, "
            "'_', '.' or '-' (no spaces, newlines or other control characters)",
        ),
        (
            "late = base.with_nodes({'answer': answer}, name='late\\r\\n')\n",
            "*variant name 'late\\r\\n' (from base.with_nodes) is not usable in a test id*",
        ),
        (
            "@wtb.cases([{'q': 'x'}], ids=['x\\n'])\ndef test_x(wtb_run):\n    pass\n",
            "*pytest-wtb: test_x: case id 'x\\n' of @wtb.cases is not usable in a test id: use letters*",
        ),
        (
            "@wtb.cases({'tab\\there': {'q': 'x'}})\ndef test_x(wtb_run):\n    pass\n",
            "*pytest-wtb: test_x: case id 'tab\\there' of @wtb.cases is not usable in a test id*",
        ),
    ],
    ids=["variant-newline", "with-nodes-crlf", "case-id-newline", "case-id-tab"],
)
def test_names_and_case_ids_with_control_characters_are_collection_errors(
    pytester: pytest.Pytester, declaration: str, expected: str
) -> None:
    pytester.makepyfile(
        test_names=GRAPH + "\n\n@wtb.variant(baseline=True)\ndef base():\n    return build()\n\n\n" + declaration
        + "\n\n@wtb.cases({'ok': {'q': 'ok'}})\ndef test_ok(wtb_run):\n    pass\n"
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ERROR collecting test_names.py*", expected])
    out = result.stdout.str()
    assert "INTERNALERROR" not in out and "pytest_wtb/declare" not in out
