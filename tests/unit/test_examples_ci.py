"""The CI workflow and Grafana dashboard under examples/ stay in step with the plugin and the examples."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import yaml

from pytest_wtb.declare.variants import variants_in
from pytest_wtb.model import ExecutionResult, NodeRun
from pytest_wtb.pytest.settings import OPTIONS
from pytest_wtb.report.records import RunRecords

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_ci_matrix_names_real_variants_and_real_options() -> None:
    workflow = yaml.safe_load((EXAMPLES / "ci" / "wtb-variants.yml").read_text())
    job = workflow["jobs"]["variants"]
    matrix = job["strategy"]["matrix"]
    assert matrix["backend"] == ["threads", "ray"]
    declared = {v.name for mod in ("test_rag", "test_agent", "test_parity_demo")
                for v in variants_in(vars(importlib.import_module(f"examples.{mod}")))}
    named = {name for subset in matrix["variants"] for name in subset.split(",")}
    assert named <= declared, named - declared
    assert job["services"]["postgres"]["image"].startswith("postgres:")
    assert "matrix.backend" in job["env"]["WTB_RUN_ID"] and "github.run_id" in job["env"]["WTB_RUN_ID"]
    command = next(s["run"] for s in job["steps"] if "pytest examples" in str(s.get("run", "")))
    flags = {opt.flag for opt in OPTIONS}
    used = set(re.findall(r"--wtb-[a-z-]+", command))
    assert used <= flags and {"--wtb-variants", "--wtb-backend", "--wtb-store", "--wtb-report"} <= used


def test_dashboard_queries_only_metrics_the_plugin_writes() -> None:
    from prometheus_client import generate_latest

    from pytest_wtb.report.metrics import registry

    records = RunRecords()
    records.note_run_id("r")
    result = ExecutionResult(key="k", thread_id="t", variant="v", case_id="c", status="succeeded", duration_s=0.1,
                             backend="threads", nodes=(NodeRun(0, "n", 0.1),))
    records.note_execution(result, "m", True, None)
    records.note_item("t::x", "k", None)
    records.note_report("t::x", "call", "passed", False, None)
    written = set(re.findall(r"^(wtb_[a-z_]+)", generate_latest(registry(records)).decode(), re.M))
    dashboard = json.loads((EXAMPLES / "grafana" / "pytest-wtb-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    queried = {m for e in exprs for m in re.findall(r"\bwtb_[a-z_]+", e)}
    assert queried and queried <= written, queried - written
