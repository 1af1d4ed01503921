"""The call phase of ``@wtb.repeat`` items (the body once per repetition, judged by pass rate) and of
``@wtb.gate`` items (the body scores every execution of a variant and of the baseline; a paired test
judges them). The texts live in report/gates.py, the statistics in verdict/stats.py."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pytest

from pytest_wtb.errors import WtbError
from pytest_wtb.pytest.gates import GateParam
from pytest_wtb.pytest.items import FIXTURE, ItemParam
from pytest_wtb.pytest.outcomes import mark_complete
from pytest_wtb.pytest.run_view import WtbRun, as_run
from pytest_wtb.report.failures import execution_failure_text
from pytest_wtb.report.gates import Failed, Scored, gate_text, repeat_text, score_problem
from pytest_wtb.verdict.stats import UNDECIDED, WORSE, mean_interval, paired_gate, pass_rate

if TYPE_CHECKING:
    from pytest_wtb.pytest.session import WtbSession


def _call(item: pytest.Function, run: WtbRun) -> Any:
    args = {name: item.funcargs[name] for name in item._fixtureinfo.argnames}
    args[FIXTURE] = run
    return item.obj(**args)


def run_repeated(item: pytest.Function, param: ItemParam, wtb: WtbSession) -> None:
    """Every repetition runs the checks and the body; the item fails below min_pass_rate."""
    __tracebackhide__ = True
    passed, failed = 0, []
    for n in range(param.repeats):
        view = param.at(n)
        run = wtb.run_for(view)
        wtb.note_item(item.nodeid, view, run)
        try:
            wtb.check(item, run)
            _call(item, run)
            passed += 1
        except (Exception, pytest.fail.Exception) as exc:  # a failed repetition, counted (skips still skip)
            failed.append(Failed(n, run.thread_id, exc))
    rate = pass_rate(passed, param.repeats)
    item.user_properties.append(("wtb_pass_rate", f"{passed}/{param.repeats}"))
    if rate.rate + 1e-12 < param.min_pass_rate:
        raise mark_complete(AssertionError(repeat_text(param.variant.name, param.case.id, rate,
                                                       param.min_pass_rate, failed, wtb.store_display)))


def run_gate(item: pytest.Function, param: GateParam, wtb: WtbSession) -> None:
    """Score both sides of every (case, repetition) pair and judge the variant against the baseline. An
    adaptive gate scores round by round, asks for the next round only while undecided, and splits alpha
    over its looks (Bonferroni), so stopping early keeps the chance of a wrong "worse" within alpha."""
    __tracebackhide__ = True
    against = wtb.history.against if wtb.history is not None and param.against_stored else None
    if param.against_stored and against is None:
        pytest.skip("gate: --wtb-against names no stored run to compare with yet (see the summary)")
    base_label = param.baseline.name if against is None else f"run {against.run.run_id}"
    looks = math.ceil(param.repeats / param.round) if param.round else 1
    alpha = param.spec.alpha / looks
    tally = _Tally()
    done = 0
    while True:
        upto = min(param.repeats, done + param.round) if param.round else param.repeats
        wtb.release([r.key for r in param.requests() if done <= r.repetition < upto])
        for base_req, own_req in param.pairs:
            if done <= base_req.repetition < upto:
                _score_pair(item, param, wtb, against, base_label, base_req, own_req, tally)
        done = upto
        if tally.problems or done >= param.repeats:
            break
        if tally.scored and paired_gate(*tally.sides(), param.spec.margin, alpha).decision != UNDECIDED:
            break
    if tally.problems:
        raise mark_complete(AssertionError("gate: cannot judge, executions did not succeed:\n\n"
                                           + "\n\n".join(tally.problems)))
    if not tally.scored:
        raise mark_complete(AssertionError(f"gate: no (case, repetition) pair of variant '{param.variant.name}' "
                                           "could be scored: " + "; ".join(tally.excluded)))
    verdict = paired_gate(*tally.sides(), param.spec.margin, alpha)
    text = gate_text(param.variant.name, base_label, verdict, tally.scored, tally.excluded, wtb.store_display)
    row = _gate_row(param, verdict, len(tally.excluded))
    if param.round:
        sides = 1 if against is not None else 2
        row.update(repetitions=done, max_repetitions=param.repeats, looks=looks, declared_alpha=param.spec.alpha,
                   saved_executions=(param.repeats - done) * len(param.cases) * sides)
        text += (f"\n  adaptive: {done} of at most {param.repeats} repetitions ({looks} looks at alpha "
                 f"{param.spec.alpha:g}/{looks} each)")
    for side, values in (("base", tally.sides()[0]), ("", tally.sides()[1])):
        _, low, high = mean_interval(values)
        row[f"{side}_mean_ci" if side else "mean_ci"] = [low, high]
    wtb.records.note_gate(item.nodeid, row)
    item.user_properties += [("wtb_gate", verdict.decision), ("wtb_gate_p", f"{verdict.p_value:.6g}")]
    if verdict.decision == WORSE:
        raise mark_complete(AssertionError(text))


class _Tally:
    def __init__(self) -> None:
        self.scored: list[Scored] = []
        self.problems: list[str] = []
        self.excluded: list[str] = []

    def sides(self) -> tuple[list[float], list[float]]:
        return [s.base for s in self.scored], [s.other for s in self.scored]


def _score_pair(item: pytest.Function, param: GateParam, wtb: WtbSession, against: Any, base_label: str,
                base_req: Any, own_req: Any, tally: _Tally) -> None:
    __tracebackhide__ = True
    own = _run_of(wtb, own_req)
    wtb.records.note_execution(own.result, param.scope, own.variant == param.baseline.name, None)
    if against is None:
        base = _run_of(wtb, base_req)
        wtb.records.note_execution(base.result, param.scope, True, None)
    else:  # the same execution as the stored run made it; its result is not this run's to note
        stored = stored_result(against, param.scope, own_req.key, own.result)
        if stored is None:
            tally.excluded.append(f"{own_req.case.id} r{own_req.repetition}: not in {base_label}")
            return
        base = as_run(stored, own_req.case.input, None, own.context, own.config, own_req.repetition)
    runs = [base, own]
    broken = [r for r in runs if not r.result.ok]
    if broken:  # no score for an execution that did not finish: the gate would judge the rest only
        tally.problems += [execution_failure_text(r.result, wtb.store_display) for r in broken]
        return
    scores = []
    for run in runs:
        try:
            value = _call(item, run)
        except Exception as exc:
            tally.excluded.append(f"{run.variant} on {run.case_id} r{base_req.repetition} ({run.thread_id}): "
                                  f"{type(exc).__name__}: {exc}")
            return
        problem = score_problem(value)
        if problem:
            raise mark_complete(WtbError(f"gate: {item.name} returned {problem} for variant '{run.variant}' "
                                         f"on case '{run.case_id}': return a bool or a number (higher is better)"))
        scores.append(float(value))
    tally.scored.append(Scored(base_req.case.id, base_req.repetition, scores[0], scores[1], runs[0].thread_id,
                               runs[1].thread_id))


def _run_of(wtb: WtbSession, req: Any) -> WtbRun:
    return as_run(wtb.result(req.key), req.case.input, None, wtb.checks.built_context(req.variant, req.context),
                  req.config, req.repetition)


def stored_result(against: Any, scope: str, key: str, now: Any) -> Any:
    """The stored run's execution of the same (scope, variant, case, repetition), or None."""
    from pytest_wtb.store.runs import matching_execution

    row = matching_execution(against.results, against.run.run_id, (scope, now.variant, now.case_id), key)
    return against.results.result_from_row(row) if row is not None and row["exec_key"] == key else None


def _gate_row(param: GateParam, verdict: Any, excluded: int) -> dict[str, Any]:
    def num(x: float) -> float | None:
        return x if math.isfinite(x) else None

    return {"variant": param.variant.name, "baseline": param.baseline.name, "test": verdict.test,
            "pairs": verdict.n, "base_mean": num(verdict.base_mean), "mean": num(verdict.other_mean),
            "diff": num(verdict.diff), "low": num(verdict.low), "high": num(verdict.high),
            "p_value": num(verdict.p_value), "margin": verdict.margin, "alpha": verdict.alpha,
            "decision": verdict.decision, "more_pairs": verdict.more_pairs, "excluded": excluded}
