"""--wtb-compare-backends: the same executions on two backends; items fail where the results differ."""

from __future__ import annotations

import pytest

from tests.plugin.graphs_src import GRAPH

MODULE = GRAPH + '''

@wtb.variant(baseline=True)
def base():
    return build()


def shaky(state):
    if state["q"] == "boom":
        raise ValueError("no answer")
    return {"answer": f"answer to {state['q']}", "score": 0.5, "log": ["answer"]}


other = base.with_nodes({"answer": shaky}, name="other")


@wtb.cases({"a": {"q": "a"}, "b": {"q": "b"}})
def test_x(wtb_run):
    pass
'''

SKEWED_BACKEND = '''
import dataclasses

from pytest_wtb.execute.backends.threads import ThreadsBackend


class Skewed(ThreadsBackend):
    """Threads, except that variant 'other' on case 'b' comes back with another score."""

    name = "skewed"

    def submit(self, spec, done):
        def skew(result):
            if result.variant == "other" and result.case_id == "b" and result.state:
                result = dataclasses.replace(result, state={**result.state, "score": 0.75})
            done(result)

        super().submit(spec, skew)


def pytest_wtb_make_backend(config, name):
    return Skewed(2) if name == "skewed" else None
'''


def test_items_fail_where_the_second_backend_disagrees(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(SKEWED_BACKEND)
    pytester.makepyfile(test_cmp=MODULE)
    result = pytester.runpytest("--wtb-compare-backends=threads,skewed", "-v")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_x[[]other-b[]] FAILED*",
            "E   AssertionError: backend parity: threads and skewed differ on variant 'other' case 'b'",
            "*  score",
            "*    threads:  0.5",
            "*    skewed:   0.75",
            "*  threads:  thread_id=wtb-*-other-b-* checkpoint_id=*",
            "*  skewed:   thread_id=wtb-*-skewed-other-b-* checkpoint_id=*",
        ]
    )


def test_unknown_backend_in_the_comparison_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_cmp=MODULE)
    result = pytester.runpytest("--wtb-compare-backends=threads,gpu")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--wtb-compare-backends: 'gpu' is not a known backend; valid choices: threads, ray*"])


@pytest.mark.services
def test_threads_and_ray_agree_on_outcomes_and_states(pytester: pytest.Pytester, ray_address: str) -> None:
    pytester.makepyfile(test_cmp=MODULE.replace('"b": {"q": "b"}', '"b": {"q": "b"}, "boom": {"q": "boom"}'))
    result = pytester.runpytest_subprocess("--wtb-compare-backends=threads,ray", "-v", "-p", "no:cacheprovider",
                                           timeout=240)
    # 'other' raises on 'boom' on both backends: an execution failure, not a backend difference
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines(["*test_x[[]other-boom[]] FAILED*",
                                 "*execution of variant 'other' on case 'boom' failed: ValueError in node 'answer'*"])
    assert "backend parity" not in result.stdout.str()


def test_xdist_with_a_local_ray_per_worker_is_refused(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("xdist")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    pytester.makepyfile(test_cmp=MODULE)
    result = pytester.runpytest("-n", "2", "--wtb-backend=ray")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*-n with --wtb-backend=ray would start one Ray cluster per xdist worker*"])
