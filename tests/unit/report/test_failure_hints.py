"""Failure texts that point at the fix: the closest parity key, and the report's script hash."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from pytest_wtb.declare.parity import ParitySpec
from pytest_wtb.model import ExecutionResult
from pytest_wtb.report import html as html_report
from pytest_wtb.report.failures import baseline_keys_text, unknown_keys_text


def result(variant: str, state: dict[str, object] | None, status: str = "succeeded") -> ExecutionResult:
    return ExecutionResult(key=variant, thread_id=f"wtb-r-{variant}-c", variant=variant, case_id="c", status=status,
                           duration_s=0.1, backend="threads", state=state, checkpoint_id="cp")


STATE = {"answer": "a", "sources": ["s"], "score": 1.0}


def test_a_baseline_state_without_a_parity_key_names_it_and_the_closest_key() -> None:
    base = result("base", STATE)
    text = baseline_keys_text(base, ParitySpec(keys=("anwser", "sources", "zzz")))
    assert text is not None
    lines = text.splitlines()
    assert lines[0] == ("parity: keys 'anwser', 'zzz' of @wtb.parity(keys=...) not in the final state of baseline "
                        "'base' on case 'c'; keys present: answer, score, sources")
    assert lines[1:3] == ["  'anwser': did you mean 'answer'?", "  'zzz': no key of the final state is close"]
    assert lines[3] == "  base (baseline): thread_id=wtb-r-base-c checkpoint_id=cp"


@pytest.mark.parametrize("spec", [ParitySpec(keys=("answer",)), ParitySpec(keys=None)])
def test_keys_the_baseline_has_or_no_keys_at_all_need_no_text(spec: ParitySpec) -> None:
    assert baseline_keys_text(result("base", STATE), spec) is None


def test_a_failed_baseline_is_not_blamed_for_missing_keys() -> None:
    assert baseline_keys_text(result("base", None, status="failed"), ParitySpec(keys=("anwser",))) is None


def test_a_variant_item_names_both_executions_and_suggests_the_key() -> None:
    text = unknown_keys_text(result("new", STATE), result("base", STATE), ["scroe"], sorted(STATE))
    assert "not in the final state of 'new' or baseline 'base'" in text
    assert "  'scroe': did you mean 'score'?" in text.splitlines()
    assert text.splitlines()[-1] == "  new: thread_id=wtb-r-new-c checkpoint_id=cp"


def test_the_report_policy_allows_exactly_the_template_script() -> None:
    template = "<head>CSP __WTB_SCRIPT_HASH__</head><script id=d type=application/json>{}</script><script>go();</script>"
    digest = base64.b64encode(hashlib.sha256(b"go();").digest()).decode()
    assert html_report.script_hash(template) == f"'sha256-{digest}'"
    with pytest.raises(ValueError, match="exactly one plain <script> element"):
        html_report.script_hash("<script>a()</script><script>b()</script>")
    page = html_report.render({"run_ids": ["r"], "executions": []})
    script_src = re.search(r"script-src ([^;\"]*)", page).group(1)  # type: ignore[union-attr]
    assert script_src.startswith("'sha256-") and "unsafe" not in script_src
