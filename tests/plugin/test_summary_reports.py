"""What the user sees after a run: the terminal summary, the JSON and HTML reports, CI options."""

from __future__ import annotations

import json
import re
import sqlite3
from importlib.resources import files

import pytest

from tests.plugin.graphs_src import THREE_VARIANTS

MODULE = THREE_VARIANTS + '''

CASES = {"reset": {"q": "reset"}, "refund": {"q": "refund </script><b>x</b>"}}


@wtb.parity(keys=["answer"])
@wtb.cases(CASES)
def test_parity(wtb_run):
    pass


@wtb.cases(CASES)
def test_docs(wtb_run):
    assert wtb_run.state["docs"]
'''

# base and loud share their retrieve node per case, so a "from prefix" column may follow
ROWS = [
    r"variant +executions +passed +failed +errors +parity +p50 +p95( +from prefix)?$",
    r"base \(baseline\) +2 +4 +0 +0 +- +\d+\.\d{3}s +\d+\.\d{3}s( +\d+)?$",
    r"down +2 +0 +4 +2 +0 +\d+\.\d{3}s +\d+\.\d{3}s( +\d+)?$",
    r"loud +2 +2 +2 +0 +2 +\d+\.\d{3}s +\d+\.\d{3}s( +\d+)?$",
]


def test_summary_has_a_row_per_variant_the_slowest_executions_and_the_store(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_flow=MODULE)
    result = pytester.runpytest()
    result.assert_outcomes(passed=6, failed=6)
    result.stdout.fnmatch_lines(["*- pytest-wtb: 6 executions of 3 variants -*"])
    result.stdout.re_match_lines(ROWS, consecutive=True)
    result.stdout.re_match_lines([r"slowest executions:", r" +\d+\.\d{3}s  \w+/\w+ +wtb-\w+-\w+-\w+-\w+$"])
    db = pytester.path / ".wtb" / "wtb.db"
    result.stdout.fnmatch_lines([f"store: sqlite:///{db}  run: *", f"inspect: python -m pytest_wtb show THREAD_ID --store 'sqlite:///{db}'"])
    assert "executions that failed" not in result.stdout.str()


def test_quiet_shows_only_the_table_and_very_quiet_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_flow=MODULE)
    quiet = pytester.runpytest("-q")
    quiet.stdout.re_match_lines(ROWS, consecutive=True)
    assert "slowest executions" not in quiet.stdout.str() and "show THREAD_ID" not in quiet.stdout.str()
    very_quiet = pytester.runpytest("-qq")
    assert very_quiet.ret == pytest.ExitCode.TESTS_FAILED
    assert "executions of 3 variants" not in very_quiet.stdout.str()
    assert not re.search(ROWS[0], very_quiet.stdout.str(), re.M)


def test_verbose_lists_failed_and_differing_executions_by_thread_id(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_flow=MODULE)
    result = pytester.runpytest("-v")
    result.stdout.fnmatch_lines([
        "executions that failed or differ from the baseline:",
        "  failed    down/re* wtb-*-down-re*  ValueError in node 'retrieve': retriever offline",
        "  failed    down/re* wtb-*-down-re*  ValueError in node 'retrieve': retriever offline",
        "  parity    loud/re* wtb-*-loud-re*  differs at answer",
    ])


def test_colour_follows_pytest_and_no_color(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_flow=MODULE)
    monkeypatch.delenv("PY_COLORS", raising=False)  # pytester sets it to 0; it would override both below
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    coloured = pytester.runpytest().stdout.str()
    table = coloured[coloured.index("pytest-wtb: 6 executions"):]
    assert "\x1b[31m" in table and "\x1b[1m" in table
    monkeypatch.setenv("NO_COLOR", "1")
    plain = pytester.runpytest().stdout.str()
    assert "\x1b[" not in plain
    assert re.search(ROWS[2], plain, re.M)


def test_xdist_summary_adds_up_every_workers_executions(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_flow=MODULE)
    result = pytester.runpytest_subprocess("-n", "2", "-p", "xdist", "--wtb-report=r.json")
    result.assert_outcomes(passed=6, failed=6)
    result.stdout.re_match_lines(ROWS, consecutive=True)
    report = json.loads((pytester.path / "r.json").read_text())
    assert len(report["executions"]) == 6 and report["totals"]["items"] == 12
    assert len(report["run_ids"]) == 1


def schema() -> dict[str, object]:
    return dict(json.loads(files("pytest_wtb").joinpath("report/assets/report.schema.json").read_text()))


def test_json_report_follows_its_schema_with_states_diffs_and_timelines(pytester: pytest.Pytester) -> None:
    import jsonschema

    pytester.makepyfile(test_flow=MODULE)
    # every node in its own timeline: a forked execution's upstream nodes ran in the shared prefix
    result = pytester.runpytest("--wtb-report=out/run.json", "--wtb-no-share-prefix")
    result.stdout.fnmatch_lines([f"report: {pytester.path / 'out' / 'run.json'}"])
    report = json.loads((pytester.path / "out" / "run.json").read_text())
    jsonschema.validate(report, schema())
    cells = {(e["variant"], e["case_id"]): e for e in report["executions"]}
    loud = cells["loud", "reset"]
    assert loud["outcome"] == "parity" and loud["baseline_key"] == cells["base", "reset"]["key"]
    verdict = next(i["parity"] for i in loud["items"] if i["parity"])
    assert verdict == [{"path": "answer", "baseline": "'answer to reset'", "other": "'ANSWER TO reset'"}]
    assert loud["state"]["answer"] == "ANSWER TO reset"
    assert [(t["nodes"][0]["name"], t["keys"]) for t in loud["timeline"]] == [
        ("(input)", ["q"]), ("START", ["q"]), ("retrieve", ["docs", "log"]), ("answer", ["answer", "log", "score"])]
    assert all(t["nodes"][0]["duration_s"] for t in loud["timeline"][2:])
    down = cells["down", "refund"]
    assert down["outcome"] == "error" and down["error"]["node"] == "retrieve" and down["state"] is None
    assert down["timeline"][-1]["nodes"][0]["name"] == "retrieve" and "retriever offline" in str(down["timeline"])
    assert {v["name"]: v["errors"] for v in report["variants"]} == {"base": 0, "loud": 0, "down": 2}


def test_html_report_is_one_file_that_fetches_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_flow=MODULE)
    pytester.runpytest("--wtb-report=run.html")
    page = (pytester.path / "run.html").read_text()
    assert "default-src 'none'" in page  # the page's own policy forbids every fetch
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    data = page.split('<script id="wtb-data" type="application/json">', 1)[1].split("</script>", 1)[0]
    report = json.loads(data)  # a state value holding "</script>" did not end the data element
    assert any("</script>" in json.dumps(e["state"]) for e in report["executions"] if e["state"])


def test_wtb_variants_runs_only_those_variants_and_the_baseline_parity_needs(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_flow=MODULE)
    result = pytester.runpytest("-v", "--wtb-variants=loud")
    result.assert_outcomes(passed=2, failed=2, deselected=8)
    result.stdout.fnmatch_lines(["*test_parity[[]loud-reset[]] FAILED*", "*parity: variant 'loud' differs*"])
    conn = sqlite3.connect(pytester.path / ".wtb" / "wtb.db")
    ran = sorted(r[0] for r in conn.execute("select distinct variant from wtb_executions where variant != '(shared-prefix)'"))
    conn.close()
    assert ran == ["base", "loud"]  # base ran only because loud's parity items compare with it


def test_wtb_variants_with_an_unknown_name_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_flow=MODULE)
    result = pytester.runpytest("--wtb-variants=loud,lodu")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--wtb-variants names 'lodu', which no collected test declares; "
                                 "declared variants: base, down, loud*"])


def test_jobs_sharing_a_run_id_write_into_one_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_flow=MODULE)
    first = pytester.runpytest("--wtb-variants=loud", "--wtb-run-id=ci-7-threads")
    first.assert_outcomes(passed=2, failed=2, deselected=8)
    monkeypatch.setenv("WTB_RUN_ID", "ci-7-threads")
    second = pytester.runpytest("--wtb-variants=down,base")
    second.assert_outcomes(passed=4, failed=4, deselected=4)
    second.stdout.fnmatch_lines(["store: * run: ci-7-threads"])
    conn = sqlite3.connect(pytester.path / ".wtb" / "wtb.db")
    runs = [r[0] for r in conn.execute("select run_id from wtb_runs")]
    rows = conn.execute("select variant, thread_id from wtb_executions where run_id = 'ci-7-threads' "
                        "and variant != '(shared-prefix)'").fetchall()
    conn.close()
    assert runs == ["ci-7-threads"]
    assert sorted(v for v, _ in rows) == ["base", "base", "down", "down", "loud", "loud"]  # base ran once
    assert all(t.startswith("wtb-ci-7-threads-") for _, t in rows)


def test_bad_run_id_and_report_name_are_usage_errors(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_flow=MODULE)
    result = pytester.runpytest("--wtb-run-id=a b")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--wtb-run-id / WTB_RUN_ID='a b' is not a valid run id*"])
    result = pytester.runpytest("--wtb-report=r.pdf")
    result.stderr.fnmatch_lines(["*--wtb-report='r.pdf': the file name must end in .html or .json*"])
