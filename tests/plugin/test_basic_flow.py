"""A user's view of the basic flow: items, ids, markers, selection, JUnit, shared executions."""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET

import pytest

from tests.plugin.graphs_src import GRAPH

VARIANTS = GRAPH + '''

@wtb.variant(baseline=True)
def bm25():
    return build()


@wtb.variant(name="dense")
def dense_retriever():
    return build().compile()


@wtb.variant
def plain():
    return build()


def hybrid_retrieve(state):
    return {"docs": [f"hybrid-{state['q']}"], "log": ["hybrid"]}


hybrid = bm25.with_nodes({"retrieve": hybrid_retrieve}, name="hybrid")
'''


def executions(pytester: pytest.Pytester) -> list[tuple[str, str, str, str]]:
    conn = sqlite3.connect(pytester.path / ".wtb" / "wtb.db")
    try:
        return conn.execute(
            "select variant, case_id, status, thread_id from wtb_executions where variant != '(shared-prefix)' "
            "order by 1, 2"
        ).fetchall()
    finally:
        conn.close()


def test_variants_times_cases_become_items_with_readable_ids(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_rag=VARIANTS
        + '''

@wtb.cases([{"q": "reset"}, {"q": "refund"}], ids=["reset", "refund"])
def test_answers(wtb_run):
    assert wtb_run.state["answer"] == "answer to " + wtb_run.input["q"]
    assert wtb_run.error is None
    assert wtb_run.thread_id.startswith("wtb-")
    assert wtb_run.checkpoint_id
    assert wtb_run.backend == "threads"
    assert wtb_run.duration_s > 0


@wtb.cases({"short": {"q": "a"}})
def test_node_variant_really_replaces_the_node(wtb_run):
    expected = "hybrid-a" if wtb_run.variant == "hybrid" else "doc-a"
    assert wtb_run.state["docs"] == [expected]
'''
    )
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=12)
    result.stdout.fnmatch_lines(
        [
            "*test_answers[[]bm25-reset[]] PASSED*",
            "*test_answers[[]dense-refund[]] PASSED*",
            "*test_answers[[]plain-refund[]] PASSED*",
            "*test_answers[[]hybrid-reset[]] PASSED*",
            "*test_node_variant_really_replaces_the_node[[]hybrid-short[]] PASSED*",
        ]
    )
    rows = executions(pytester)
    assert len(rows) == 12 and all(r[2] == "succeeded" for r in rows)


def test_selection_with_k_and_m_and_lf(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_sel=VARIANTS
        + '''

@wtb.cases([{"q": "a"}, {"q": "b"}], ids=["a", "b"])
def test_one(wtb_run):
    assert wtb_run.variant != "plain" or wtb_run.case_id != "b", "plain fails on b"


def test_not_wtb():
    pass
'''
    )
    result = pytester.runpytest("-k", "dense-a")
    result.assert_outcomes(passed=1, deselected=8)
    assert len(executions(pytester)) == 1  # only what the selected item needs ran

    result = pytester.runpytest("-m", "wtb")
    result.assert_outcomes(passed=7, failed=1, deselected=1)
    result.stdout.fnmatch_lines(["*AssertionError: plain fails on b*"])

    result = pytester.runpytest("--lf", "-v")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test_one[[]plain-b[]] FAILED*"])


def test_junitxml_carries_wtb_properties(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_junit=VARIANTS
        + '''

@wtb.cases({"only": {"q": "x"}})
def test_x(wtb_run):
    pass
'''
    )
    result = pytester.runpytest("--junitxml=out.xml")
    result.assert_outcomes(passed=4)
    tree = ET.parse(pytester.path / "out.xml")
    case = next(tc for tc in tree.iter("testcase") if tc.get("name") == "test_x[dense-only]")
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["wtb_variant"] == "dense"
    assert props["wtb_case"] == "only"
    assert props["wtb_backend"] == "threads"
    assert props["wtb_thread_id"].startswith("wtb-") and "-dense-only-" in props["wtb_thread_id"]
    assert props["wtb_checkpoint_id"]
    assert float(props["wtb_duration_s"]) > 0


def test_an_execution_shared_by_tests_runs_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_shared=VARIANTS
        + '''

CASES = {"one": {"q": "1"}, "two": {"q": "2"}}
SEEN = {}


@wtb.cases(CASES)
def test_a(wtb_run):
    SEEN.setdefault((wtb_run.variant, wtb_run.case_id), set()).add(wtb_run.thread_id)


@wtb.cases(CASES)
def test_b(wtb_run):
    SEEN.setdefault((wtb_run.variant, wtb_run.case_id), set()).add(wtb_run.thread_id)


def test_zz_same_thread_ids():
    assert len(SEEN) == 8 and all(len(ids) == 1 for ids in SEEN.values())
'''
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=17)
    assert len(executions(pytester)) == 8


def test_collect_only_runs_nothing_and_plain_projects_get_no_store(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_co=VARIANTS
        + '''

@wtb.cases({"x": {"q": "x"}})
def test_x(wtb_run):
    pass
'''
    )
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(["test_co.py::test_x[[]bm25-x[]]"])
    assert not (pytester.path / ".wtb").exists()

    plain = pytester.mkdir("plain")
    (plain / "test_plain.py").write_text("def test_ok():\n    pass\n")
    result = pytester.runpytest(str(plain), "--rootdir", str(plain))
    result.assert_outcomes(passed=1)
    assert not (plain / ".wtb").exists()
