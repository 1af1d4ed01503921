"""Texts of repeated items and gates: pass counts with their interval, and a gate's means, difference,
interval, p-value, test and the cases that got worse, each with thread_ids."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from pytest_wtb.report.failures import show_hint
from pytest_wtb.verdict.stats import UNDECIDED, WORSE, GateVerdict, Rate

MAX_LISTED = 10


@dataclass(frozen=True)
class Failed:
    repetition: int
    thread_id: str
    error: BaseException


@dataclass(frozen=True)
class Scored:
    case_id: str
    repetition: int
    base: float
    other: float
    base_thread: str
    other_thread: str


def score_problem(value: Any) -> str | None:
    """Why ``value`` is no score (a bool or a finite number), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and math.isfinite(value):
        return None
    return f"{value!r} ({type(value).__name__})"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:200]


def repeat_text(variant: str, case_id: str, rate: Rate, min_rate: float, failed: list[Failed],
                store_display: str | None) -> str:
    lines = [f"repeat: variant '{variant}' on case '{case_id}' passed {rate.text()}, below "
             f"min_pass_rate={min_rate:g}", "  failed repetitions:"]
    for f in failed[:MAX_LISTED]:
        lines.append(f"    r{f.repetition}: {_first_line(f.error)}  thread_id={f.thread_id}")
    if len(failed) > MAX_LISTED:
        lines.append(f"    ... and {len(failed) - MAX_LISTED} more")
    lines.append(f"  {show_hint(failed[0].thread_id, store_display)}" if failed else "")
    return "\n".join(line for line in lines if line)


def verdict_line(v: GateVerdict) -> str:
    level = 1 - 2 * v.alpha
    return (f"difference {v.diff:+.3g} ({level:.0%} CI {v.low:+.3g} to {v.high:+.3g}), p={v.p_value:.3g} "
            f"({v.test}, margin={v.margin:g}, alpha={v.alpha:g}, {v.n} pairs)")


def gate_text(variant: str, baseline: str, v: GateVerdict, scored: list[Scored], excluded: list[str],
              store_display: str | None) -> str:
    if v.decision == WORSE:
        head = f"gate: variant '{variant}' is worse than baseline '{baseline}' by more than margin={v.margin:g}"
    elif v.decision == UNDECIDED:
        head = (f"gate: undecided whether variant '{variant}' is worse than baseline '{baseline}' with {v.n} "
                f"pairs; about {v.more_pairs} pairs would decide (more cases or --wtb-repeat)")
    else:
        head = f"gate: variant '{variant}' is not worse than baseline '{baseline}' by more than {v.margin:g}"
    b, o = f"{baseline} (baseline):", f"{variant}:"
    width = max(len(b), len(o))
    lines = [head, f"  {b:<{width}} mean {v.base_mean:.3g}", f"  {o:<{width}} mean {v.other_mean:.3g}",
             f"  {verdict_line(v)}"]
    worse = _worse_cases(scored)
    if worse:
        lines.append("  cases that got worse:")
        for case_id, rows in worse[:MAX_LISTED]:
            base_mean = sum(r.base for r in rows) / len(rows)
            mean = sum(r.other for r in rows) / len(rows)
            first = next(r for r in rows if r.other < r.base)
            lines.append(f"    {case_id}: {base_mean:.3g} -> {mean:.3g} over {len(rows)} repetition"
                         f"{'s' if len(rows) != 1 else ''}; e.g. r{first.repetition} thread_id={first.other_thread} "
                         f"(baseline {first.base_thread})")
        lines.append(f"  {show_hint(worse[0][1][0].other_thread, store_display)}")
    if excluded:
        lines.append(f"  excluded ({len(excluded)} pairs whose score raised):")
        lines += [f"    {e}" for e in excluded[:MAX_LISTED]]
    return "\n".join(lines)


def _worse_cases(scored: list[Scored]) -> list[tuple[str, list[Scored]]]:
    by_case: dict[str, list[Scored]] = defaultdict(list)
    for s in scored:
        by_case[s.case_id].append(s)
    worse = [(c, rows) for c, rows in by_case.items() if sum(r.other - r.base for r in rows) < 0]
    return sorted(worse, key=lambda cr: sum(r.other - r.base for r in cr[1]))
