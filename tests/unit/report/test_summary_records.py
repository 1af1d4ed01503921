"""Run records, the terminal summary's lines, report timelines and the output options, without pytest runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_wtb.errors import ConfigError
from pytest_wtb.model import ErrorInfo, ExecutionResult, NodeRun
from pytest_wtb.report import json_report
from pytest_wtb.report.outputs import parse_outputs
from pytest_wtb.report.progress import Counts, eta, line_text
from pytest_wtb.report.records import RunRecords, item_outcome, jsonable, net_saved_nodes, percentile, variant_rows
from pytest_wtb.report.summary import summary_lines
from pytest_wtb.verdict.history import Step


def result(key: str, variant: str, case: str, duration: float, status: str = "succeeded", **kw: Any) -> ExecutionResult:
    return ExecutionResult(key=key, thread_id=f"wtb-r-{variant}-{case}", variant=variant, case_id=case,
                           status=status, duration_s=duration, backend="threads", **kw)


def sample() -> RunRecords:
    rec = RunRecords(with_state=True)
    rec.note_run_id("r1")
    rec.note_execution(result("b1", "base", "c1", 0.1, state={"a": 1}), "m", True, None)
    rec.note_execution(result("b2", "base", "c2", 0.3, state={"a": 2}), "m", True, None)
    rec.note_execution(result("v1", "new", "c1", 0.2, state={"a": 9}, extra={"forked_from": "p"}), "m", False, "b1", 1)
    rec.note_execution(result("v2", "new", "c2", 2.0, status="failed",
                              error=ErrorInfo("ValueError", "boom", "answer"),
                              nodes=(NodeRun(0, "retrieve", 0.5), NodeRun(1, "answer", 1.5, "ValueError: boom")),
                              extra={"forked_from": "p"}), "m", False, "b2", 1)
    for nodeid, key, outcome in (("t[base-c1]", "b1", "passed"), ("t[base-c2]", "b2", "passed"),
                                 ("t[new-c1]", "v1", "failed"), ("t[new-c2]", "v2", "failed")):
        rec.note_item(nodeid, key, None)
        rec.note_report(nodeid, "setup", "passed", False, None)
        rec.note_report(nodeid, "call", outcome, False, "AssertionError: parity" if outcome == "failed" else None)
        rec.note_report(nodeid, "teardown", "passed", False, None)
    rec.note_parity("t[new-c1]", [{"path": "a", "baseline": "1", "other": "9"}])
    return rec


def test_variant_rows_count_items_executions_parity_and_percentiles() -> None:
    rows = {r.name: r for r in variant_rows(sample())}
    assert [r.name for r in variant_rows(sample())] == ["base", "new"]
    base, new = rows["base"], rows["new"]
    assert (base.baseline, base.executions, base.passed, base.failed, base.errors, base.parity) == (True, 2, 2, 0, 0, 0)
    assert (new.baseline, new.executions, new.passed, new.failed, new.errors, new.parity) == (False, 2, 0, 2, 1, 1)
    assert (new.p50_s, new.p95_s, new.saved_nodes) == (0.2, 2.0, 2)
    assert net_saved_nodes(sample()) == (1, 1)  # the shared prefix's one node ran once instead of twice


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 95), percentile([3.0], 95)) == (50.0, 95.0, 3.0)


@pytest.mark.parametrize(
    ("when", "outcome", "wasxfail", "expected"),
    [("call", "passed", False, "passed"), ("call", "failed", False, "failed"), ("call", "skipped", True, "xfailed"),
     ("call", "passed", True, "xpassed"), ("setup", "failed", False, "error"), ("setup", "skipped", False, "skipped"),
     ("setup", "passed", False, None), ("teardown", "failed", False, "error")],
)
def test_item_outcome_from_phase_reports(when: str, outcome: str, wasxfail: bool, expected: str | None) -> None:
    assert item_outcome(when, outcome, wasxfail) == expected


def test_merge_keeps_one_record_per_execution_and_item() -> None:
    a, b = sample(), RunRecords()
    b.merge(a.export())
    b.merge(a.export())
    assert len(b.executions) == 4 and len(b.items) == 4 and b.run_ids == ["r1"]


def test_jsonable_turns_messages_and_odd_values_into_json() -> None:
    from langchain_core.messages import AIMessage

    value = {"m": [AIMessage(content="hi", id="x")], "t": (1, 2), "f": float("nan"), "o": object(), "s": "x" * 5000}
    out = jsonable(value)
    assert out["m"] == [{"type": "ai", "content": "hi"}]
    assert out["t"] == [1, 2] and out["f"] == "nan" and out["o"].startswith("<object")
    assert len(out["s"]) < 4100 and out["s"].endswith("(5000 chars)")


def text(lines: list[list[tuple[str, dict[str, bool]]]]) -> list[str]:
    return ["".join(t for t, _ in line) for line in lines]


def test_summary_lines_follow_verbosity() -> None:
    rec = sample()
    normal = text(summary_lines(rec, verbosity=0, store_display="sqlite:///x.db"))
    assert normal[0].split() == ["variant", "executions", "passed", "failed", "errors", "parity", "p50", "p95",
                                 "from", "prefix"]
    assert normal[1].split() == ["base", "(baseline)", "2", "2", "0", "0", "-", "0.100s", "0.300s", "0"]
    assert normal[2].split() == ["new", "2", "0", "2", "1", "1", "0.200s", "2.000s", "2"]
    assert normal[3] == ("prefix sharing: 1 node execution saved (net): forked executions took 2 nodes from 1 shared "
                         "prefix execution (the 'from prefix' column) that ran 1 node")
    assert "slowest executions:" in normal
    assert any(line.split() == ["2.000s", "new/c2", "wtb-r-new-c2"] for line in normal)
    assert "store: sqlite:///x.db  run: r1" in normal
    assert "inspect: python -m pytest_wtb show THREAD_ID --store 'sqlite:///x.db'" in normal
    assert text(summary_lines(rec, verbosity=-1, store_display=None)) == normal[:3]
    assert summary_lines(rec, verbosity=-2, store_display=None) == []
    verbose = "\n".join(text(summary_lines(rec, verbosity=1, store_display=None)))
    assert "failed    new/c2  wtb-r-new-c2  ValueError in node 'answer': boom" in verbose
    assert "parity    new/c1  wtb-r-new-c1  differs at a" in verbose


def test_summary_marks_failures_red() -> None:
    line = summary_lines(sample(), verbosity=0, store_display=None)[2]
    assert ("2", {"red": True}) in [(t.strip(), m) for t, m in line]


def test_timeline_joins_checkpoint_keys_with_node_timings() -> None:
    rec = sample().executions["v2"]
    steps = [Step(-1, "input", ("(input)",), "c0", {"q": "x"}), Step(1, "loop", ("retrieve",), "c1", {"docs": []}),
             Step(2, "error", ("answer (failed)",), "-", {"error": "ValueError('boom')"})]
    tl = json_report.timeline(rec, steps)
    assert tl[0] == {"step": -1, "nodes": [{"name": "(input)", "duration_s": None, "error": None}], "keys": ["q"],
                     "checkpoint_id": "c0"}
    assert tl[1]["nodes"] == [{"name": "retrieve", "duration_s": 0.5, "error": None}] and tl[1]["keys"] == ["docs"]
    assert tl[2]["nodes"] == [{"name": "answer", "duration_s": 1.5, "error": "ValueError: boom"}]
    no_store = json_report.timeline(rec, None)
    assert [(t["nodes"][0]["name"], t["keys"]) for t in no_store] == [("retrieve", None), ("answer", None)]


def test_json_report_diffs_each_execution_against_its_baseline() -> None:
    report = json_report.build(sample(), "sqlite:///x.db")
    by_key = {e["key"]: e for e in report["executions"]}
    assert by_key["v1"]["diff"] == [{"path": "a", "baseline": "1", "other": "9"}]
    assert by_key["v1"]["outcome"] == "parity" and by_key["v2"]["outcome"] == "error"
    assert by_key["b1"]["diff"] is None and by_key["b1"]["outcome"] == "passed"
    assert report["totals"] == {"executions": 4, "items": 4, "passed": 2, "failed": 2, "skipped": 0, "errors": 1,
                                "parity": 1}
    assert report["show_command"] == "python -m pytest_wtb show {thread_id} --store 'sqlite:///x.db'"


def options(**values: str) -> dict[str, Any]:
    def get(name: str) -> tuple[str | None, Path]:
        return values.get(name), Path("/base")

    return parse_outputs(get)


def test_output_options_parse_and_reject_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WTB_RUN_ID", raising=False)
    parsed = options(wtb_report="out/r.html, r.json", wtb_variants="a, b,a", wtb_run_id="ci-1.2_x")
    assert parsed["reports"] == (Path("/base/out/r.html"), Path("/base/r.json"))
    assert parsed["variants"] == ("a", "b") and parsed["run_id"] == "ci-1.2_x"
    monkeypatch.setenv("WTB_RUN_ID", "from-env")
    assert options()["run_id"] == "from-env"
    assert options(wtb_run_id="cli")["run_id"] == "cli"
    with pytest.raises(ConfigError, match=r"must end in \.html or \.json"):
        options(wtb_report="r.txt")
    with pytest.raises(ConfigError, match="not a valid run id"):
        options(wtb_run_id="has space")
    with pytest.raises(ConfigError, match="names no variant"):
        options(wtb_variants=",")


def test_progress_text_shrinks_to_the_room_left() -> None:
    counts = Counts(total=100, done=25, running=8, failed=2)
    assert eta(10.0, counts) == "30s" and eta(1.0, Counts(10, 0, 1, 0)) == "?"
    full = line_text(counts, 10.0, 200)
    assert full == " [wtb: 25/100 executions done, 8 running, 2 failed, ETA 30s]"
    assert line_text(counts, 10.0, 40) == " [wtb 25/100, 2 failed, ETA 30s]"
    assert line_text(counts, 10.0, 15) == " [wtb 25/100]"
    assert line_text(counts, 10.0, 5) == ""


def test_summary_shows_the_store_url_with_its_password_masked() -> None:
    from pytest_wtb.store.urls import parse_store_url

    url = parse_store_url("postgresql://wtb:s3cret@db.example:5432/wtb", Path("/"))
    lines = text(summary_lines(sample(), verbosity=0, store_display=url.display))
    store = [line for line in lines if line.startswith(("store:", "inspect:"))]
    assert len(store) == 2 and all("s3cret" not in line and "db.example:5432/wtb" in line for line in store)
