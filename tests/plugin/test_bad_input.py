"""Bad input never ends in an INTERNALERROR: usage errors, collection errors, or failed items that say why."""

from __future__ import annotations

import time

import pytest

from tests.plugin.graphs_src import GRAPH, ONE_VARIANT, SIMPLE_TEST


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--wtb-backend=thread"], "*--wtb-backend: 'thread' is not a known backend; valid choices: threads, ray*"),
        (["--wtb-workers=0"], "*--wtb-workers=0 is too small; use an integer >= 1*"),
        (["--wtb-workers=many"], "*--wtb-workers='many' is not a whole number*"),
        (["--wtb-timeout=-1"], "*--wtb-timeout=-1 must be a positive, finite number of seconds*"),
        (["--wtb-timeout=soon"], "*--wtb-timeout='soon' is not a number of seconds*"),
        (["--wtb-retries=-2"], "*--wtb-retries=-2 is too small*"),
        (["--wtb-store=mysql://x/y"], "*is not a store URL pytest-wtb knows; use sqlite:///*postgresql://*"),
        (["--wtb-store=sqlite://"], "*SQLite stores must be a file*"),
        (["--wtb-store=postgresql://u:hunter2@/db"], "*no host in the PostgreSQL URL*"),
        (["--wtb-compare-backends=threads"], "*needs two different backends, e.g. threads,ray*"),
    ],
)
def test_bad_option_values_are_usage_errors_listing_valid_choices(
    pytester: pytest.Pytester, args: list[str], expected: str
) -> None:
    pytester.makepyfile(test_u=ONE_VARIANT + SIMPLE_TEST)
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: pytest-wtb: *{expected.lstrip('*')}"])
    assert "hunter2" not in result.stderr.str() + result.stdout.str()
    assert "INTERNALERROR" not in result.stderr.str() + result.stdout.str()


def test_ini_keys_work_and_cli_wins(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nwtb_backend = nope\nwtb_workers = 3\n")
    pytester.makepyfile(test_ini=ONE_VARIANT + SIMPLE_TEST)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--wtb-backend: 'nope' is not a known backend*"])
    result = pytester.runpytest("--wtb-backend=threads")
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        (
            GRAPH + "\n@wtb.variant\ndef bad():\n    raise ImportError('no index')\n" + SIMPLE_TEST,
            "*pytest-wtb: test_x: variant 'bad': its factory raised ImportError: no index",
        ),
        (
            GRAPH + "\n@wtb.variant\ndef bad():\n    return 42\n" + SIMPLE_TEST,
            "*variant 'bad': its factory returned int, expected a langgraph StateGraph*",
        ),
        (
            ONE_VARIANT + "\n@wtb.variant(name='base')\ndef again():\n    return build()\n" + SIMPLE_TEST,
            "*two different variants are named 'base'*",
        ),
        (
            ONE_VARIANT + "\n@wtb.variant(baseline=True)\ndef second():\n    return build()\n" + SIMPLE_TEST,
            "*more than one baseline variant ('base', 'second')*",
        ),
        (
            GRAPH + "\n@wtb.variant\ndef v():\n    return build()\n"
            "\n@wtb.parity()\n@wtb.cases({'x': {'q': 'x'}})\ndef test_x(wtb_run):\n    pass\n",
            "*test_x: @wtb.parity needs a baseline variant*declare one with @wtb.variant(baseline=True)",
        ),
        (ONE_VARIANT + "\ndef test_x(wtb_run):\n    pass\n", "*test_x: takes wtb_run but has no cases*"),
        (
            ONE_VARIANT + "\nother = base.with_nodes({'rerank': len}, name='other')\n" + SIMPLE_TEST,
            "*variant 'other': with_nodes() replaces 'rerank', which the graph of 'base' does not have;"
            " its nodes are: answer, retrieve",
        ),
        (
            ONE_VARIANT + "\n@wtb.cases([{'q': 1}, {'q': 2}], ids=['one'])\ndef test_x(wtb_run):\n    pass\n",
            "*test_x: @wtb.cases got 2 inputs but 1 ids",
        ),
    ],
    ids=["factory-raises", "not-a-graph", "duplicate-names", "two-baselines", "parity-no-baseline",
         "no-cases", "unknown-node", "ids-mismatch"],
)
def test_declaration_mistakes_are_collection_errors_naming_the_culprit(
    pytester: pytest.Pytester, module: str, expected: str
) -> None:
    pytester.makepyfile(test_decl=module)
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ERROR collecting test_decl.py*", expected])
    assert "INTERNALERROR" not in result.stdout.str()
    assert "Traceback" not in result.stdout.str()


def test_a_node_that_raises_fails_only_its_items(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_node=ONE_VARIANT
        + '''

def flaky_retrieve(state):
    if state["q"] == "bad":
        raise KeyError("missing index")
    return {"docs": ["d"], "log": ["retrieve"]}


other = base.with_nodes({"retrieve": flaky_retrieve}, name="other")


@wtb.cases({"good": {"q": "good"}, "bad": {"q": "bad"}})
def test_x(wtb_run):
    pass
'''
    )
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_x[[]other-bad[]] FAILED*",
            "E   pytest_wtb.ExecutionFailed: execution of variant 'other' on case 'bad' failed: "
            "KeyError in node 'retrieve': 'missing index'",
            "*thread_id=wtb-*-other-bad-* checkpoint_id=*",
            "*traceback (your code):",
            '*raise KeyError("missing index")*',
            "*inspect: python -m pytest_wtb show wtb-*-other-bad-*",
        ]
    )


def test_timeout_fails_the_item_and_the_run_ends_on_time(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_slow=ONE_VARIANT
        + '''

def stuck(state):
    threading.Event().wait()  # never returns: only a timeout can end this execution


slow = base.with_nodes({"answer": stuck}, name="slow")


@wtb.cases({"x": {"q": "x"}})
def test_x(wtb_run):
    pass
'''
    )
    started = time.monotonic()
    result = pytester.runpytest_subprocess("--wtb-timeout=1", "-p", "no:cacheprovider", timeout=60)
    elapsed = time.monotonic() - started
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*execution of variant 'slow' on case 'x' timed out: execution timed out after 1.*s "
            "(--wtb-timeout=1); it was still running node 'answer'",
            "*thread_id=wtb-*-slow-x-*",
        ]
    )
    assert elapsed < 30, f"the run must not wait for the stuck thread (took {elapsed:.1f}s)"


def test_many_threads_writing_at_once_never_lock_the_database(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_many=GRAPH
        + '''

for i in range(4):
    globals()[f"v{i}"] = wtb.variant(name=f"v{i}", baseline=i == 0)(build)


@wtb.cases([{"q": str(i)} for i in range(40)])
def test_x(wtb_run):
    assert wtb_run.state["answer"] == "answer to " + wtb_run.input["q"]
'''
    )
    result = pytester.runpytest("--wtb-workers=64", "-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=160)
    assert "locked" not in result.stdout.str()


def test_a_variant_with_its_own_environment_needs_ray(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_env=GRAPH
        + '''

@wtb.variant(env={"env_vars": {"MODEL": "big"}})
def big():
    return build()
'''
        + SIMPLE_TEST
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*variant 'big' declare env=... (a Ray runtime_env), but threads share one process*--wtb-backend=ray"]
    )
