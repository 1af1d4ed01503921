"""What the plugin's fixtures hand out: ``wtb_run`` (an item's execution, or a property search) and the
runner behind ``wtb_bench``. ``plugin.py`` declares the fixtures; the work is here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_wtb.errors import WtbError
from pytest_wtb.pytest.gates import GateParam, gate_param
from pytest_wtb.pytest.items import FIXTURE, item_param
from pytest_wtb.pytest.keys import SESSION_KEY
from pytest_wtb.pytest.properties import CASE_ID, PropertySearch, examples_dir, property_param
from pytest_wtb.pytest.run_view import WtbRun
from pytest_wtb.pytest.variant_hints import variants_hint
from pytest_wtb.statuses import count_calls

if TYPE_CHECKING:
    from pytest_wtb.pytest.bench import BenchRunner, WtbBench

RUNNER_KEY = pytest.StashKey["BenchRunner"]()


def item_run(request: pytest.FixtureRequest) -> WtbRun | PropertySearch | GateParam:
    wtb = request.config.stash[SESSION_KEY]
    gate = gate_param(request.node)
    if gate is not None:  # the call phase scores every execution of the gate (repeats.run_gate)
        request.node.user_properties += [("wtb_variant", gate.variant.name), ("wtb_baseline", gate.baseline.name)]
        return gate
    prop = property_param(request.node)
    if prop is not None:  # @wtb.cases(strategy=...): the call phase runs a Hypothesis search
        runner = request.getfixturevalue("_wtb_bench_runner")
        request.node.user_properties += [("wtb_variant", prop.variant.name), ("wtb_case", CASE_ID)]
        return PropertySearch(prop, runner, examples_dir(wtb.settings.store, request.config.rootpath))
    param = item_param(request.node)
    if param is None:
        raise pytest.UsageError(
            f"{request.node.nodeid} uses {FIXTURE} without pytest-wtb parameters; "
            "declare @wtb.variant factories and @wtb.cases on the test"
        )
    run = wtb.run_for(param)
    wtb.note_item(request.node.nodeid, param, run)
    request.node.user_properties += [
        ("wtb_variant", run.variant),
        ("wtb_case", run.case_id),
        ("wtb_thread_id", run.thread_id),
        ("wtb_checkpoint_id", run.checkpoint_id or ""),
        ("wtb_backend", run.backend),
        ("wtb_duration_s", f"{run.duration_s:.6f}"),
    ]
    calls = run.result.extra.get("calls") or ()
    if calls:  # --wtb-record: how its model and tool calls went, for JUnit XML readers
        request.node.user_properties += [(f"wtb_calls_{s}", str(n)) for s, n in count_calls(calls).items()]
    return run


def call_many(item: pytest.Function) -> bool | None:
    """Run the body of an item that is more than one call (True), or leave it to pytest (None)."""
    __tracebackhide__ = True
    value = item.funcargs.get(FIXTURE)
    if isinstance(value, PropertySearch):
        value.run(item)
        return True
    from pytest_wtb.pytest import repeats

    wtb = item.config.stash[SESSION_KEY]
    if isinstance(value, GateParam):
        repeats.run_gate(item, value, wtb)
        return True
    param = item_param(item)
    if isinstance(value, WtbRun) and param is not None and param.repeats > 1:
        repeats.run_repeated(item, param, wtb)
        return True
    return None


def bench_runner(request: pytest.FixtureRequest) -> BenchRunner:
    from pytest_wtb.pytest.bench import BenchRunner

    wtb = request.config.stash[SESSION_KEY]
    try:
        runner = BenchRunner(wtb, wtb.ensure_store())
    except WtbError as exc:
        pytest.fail(f"pytest-wtb: {exc}", pytrace=False)
    request.config.stash[RUNNER_KEY] = runner
    return runner


def calling(item: pytest.Item) -> None:
    """The call phase of ``item`` begins: executions the runner makes now are its own (the summary
    table counts property items and ``wtb_bench`` tests with the variants they ran)."""
    runner = item.config.stash.get(RUNNER_KEY, None)
    if runner is not None:
        runner.item = item.nodeid


def bench(request: pytest.FixtureRequest, runner: Any) -> WtbBench:
    from pytest_wtb.pytest.bench import WtbBench, module_variants

    try:
        return WtbBench(runner, module_variants(request.module, variants_hint(request.config, request.module)))
    except WtbError as exc:
        pytest.fail(f"pytest-wtb: {exc}", pytrace=False)
