"""@wtb.allow_status as a user writes it: failed and timed-out executions reach the bodies that accept them
(which assert on wtb_run.error), every other item still fails before its body, and a typo is a clean
collection error."""

from __future__ import annotations

import pytest

from tests.plugin.graphs_src import GRAPH

MODULE = GRAPH + '''
import asyncio


@wtb.variant(baseline=True)
def base():
    return build()


def broken(state):
    raise ValueError("retriever offline")


async def stalled(state):
    await asyncio.sleep(30)  # cancelled by --wtb-timeout long before
    return {}


down = base.with_nodes({"retrieve": broken}, name="down")
stuck = base.with_nodes({"answer": stalled}, name="stuck")


@wtb.allow_status("failed", "timed_out")
@wtb.cases({"q": {"q": "q"}})
def test_allowed(wtb_run):
    err = wtb_run.error
    if wtb_run.variant == "base":
        assert wtb_run.status == "succeeded" and err is None
        assert wtb_run.output == wtb_run.state and wtb_run.state["answer"] == "answer to q"
    elif wtb_run.variant == "down":
        assert wtb_run.status == "failed"
        assert (err.type, err.node, err.message) == ("ValueError", "retrieve", "retriever offline")
        assert "raise ValueError" in err.traceback
        assert wtb_run.interrupts == []
    else:
        assert wtb_run.status == "timed_out"
        assert "--wtb-timeout=1" in err.message and "answer" in err.message, err.message
    print("SAW", wtb_run.variant, wtb_run.status, err and err.type, wtb_run.backend)


@wtb.cases({"q": {"q": "q"}})
def test_strict(wtb_run):
    assert wtb_run.variant == "base", "the body ran for a failed execution"


@wtb.allow_status("interrupted")  # allows pauses, not failures
@wtb.cases({"q": {"q": "q"}})
def test_other_allowance(wtb_run):
    assert wtb_run.variant == "base", "the body ran for a failed execution"
'''


def _check(result: pytest.RunResult, backend: str) -> None:
    result.assert_outcomes(passed=5, failed=4)
    out = result.stdout.str()
    assert "the body ran for a failed execution" not in out and "INTERNALERROR" not in out
    saw = sorted(line.split("SAW ", 1)[1] for line in result.stdout.lines if "SAW " in line)
    assert saw == [f"base succeeded None {backend}", f"down failed ValueError {backend}",
                   f"stuck timed_out Timeout {backend}"], saw
    down = "execution of variant 'down' on case 'q' failed: ValueError in node 'retrieve': retriever offline"
    # in the failure sections (under CI=true pytest also prints the summary lines unabridged)
    sections = [line for line in result.stdout.lines if not line.startswith("FAILED")]
    assert sum(down in line for line in sections) == 2
    stuck = "execution of variant 'stuck' on case 'q' timed out: execution timed out after "
    assert sum(stuck in line for line in sections) == 2
    for line in ("PASSED test_allow.py::test_allowed?down-q?", "PASSED test_allow.py::test_allowed?stuck-q?",
                 "FAILED test_allow.py::test_strict?down-q?*", "FAILED test_allow.py::test_other_allowance?stuck-q?*"):
        result.stdout.fnmatch_lines([f"*{line}*"])  # one by one: -v and -rA order them differently under xdist


def test_allowed_statuses_reach_the_body_and_others_fail_before_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_allow=MODULE)
    _check(pytester.runpytest("-v", "-rA", "--wtb-timeout=1", "-p", "no:cacheprovider"), "threads")


def test_the_same_outcomes_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_allow=MODULE)
    _check(pytester.runpytest_subprocess("-v", "-rA", "-n", "2", "--wtb-timeout=1", "-p", "no:cacheprovider"),
           "threads")


def test_the_same_outcomes_on_ray(pytester: pytest.Pytester, ray_address: str) -> None:
    pytester.makepyfile(test_allow=MODULE)
    _check(pytester.runpytest_subprocess("-v", "-rA", "--wtb-timeout=1", "--wtb-backend=ray",
                                         "--wtb-ray-address=auto", "-p", "no:cacheprovider"), "ray")


@pytest.mark.parametrize("statuses", ["'paused'", "'failed', 'succeeded'", ""])
def test_an_unknown_status_is_a_collection_error_listing_the_valid_ones(
    pytester: pytest.Pytester, statuses: str
) -> None:
    pytester.makepyfile(test_typo=GRAPH + f'''

@wtb.variant
def base():
    return build()


@wtb.allow_status({statuses})
@wtb.cases({{"q": {{"q": "q"}}}})
def test_x(wtb_run):
    pass
''')
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.assert_outcomes(errors=1)
    got = {"'paused'": "'paused'", "'failed', 'succeeded'": "'succeeded'", "": "nothing"}[statuses]
    result.stdout.fnmatch_lines([
        "*ERROR collecting test_typo.py*",
        f"*@wtb.allow_status takes one or more of 'failed', 'timed_out', 'lost', 'interrupted'; got {got}",
    ])
    assert "INTERNALERROR" not in result.stdout.str()


OUTPUT = GRAPH + '''

class Answer(TypedDict):
    answer: str


@wtb.variant
def viewed():
    g = StateGraph(State, output_schema=Answer)
    g.add_node("retrieve", retrieve)
    g.add_node("answer", answer)
    g.add_edge(START, "retrieve")
    g.add_edge("retrieve", "answer")
    g.add_edge("answer", END)
    return g


@wtb.cases({"q": {"q": "q"}})
def test_output(wtb_run):
    assert wtb_run.output == {"answer": "answer to q"}
    assert wtb_run.state == {"q": "q", "docs": ["doc-q"], "answer": "answer to q", "score": 0.5,
                             "log": ["retrieve", "answer"]}
'''


def test_output_is_the_output_schema_view_and_state_the_full_state(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_output=OUTPUT)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
