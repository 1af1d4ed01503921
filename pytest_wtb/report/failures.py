"""Failure texts: name the variants, the case, each key path with both values, and the thread_ids."""

from __future__ import annotations

import difflib
import textwrap
from collections.abc import Sequence

from pytest_wtb.declare.parity import ParitySpec
from pytest_wtb.errors import ComparatorError
from pytest_wtb.model import INTERRUPTED, LOST, TIMED_OUT, ExecutionResult
from pytest_wtb.store.urls import mask
from pytest_wtb.verdict.compare import Difference, compare, short, unknown_keys
from pytest_wtb.verdict.trajectory import Divergence, TrajectoryStep

MAX_PATHS = 25


def show_hint(thread_id: str, store_display: str | None) -> str:
    store = f" --store '{store_display}'" if store_display else ""
    return f"inspect: python -m pytest_wtb show {thread_id}{store}"


def _where(result: ExecutionResult) -> str:
    forked = result.extra.get("forked_from")
    lineage = f" (forked from shared prefix {forked})" if forked else ""
    return f"thread_id={result.thread_id} checkpoint_id={result.checkpoint_id or '-'}{lineage}"


def parity_text(
    *,
    baseline: ExecutionResult,
    other: ExecutionResult,
    diffs: list[Difference],
    store_display: str | None = None,
) -> str:
    b, o = f"{baseline.variant} (baseline)", other.variant
    width = max(len(b), len(o)) + 1
    lines = [
        f"parity: variant '{o}' differs from baseline '{baseline.variant}' on case '{other.case_id}' "
        f"at {len(diffs)} key path{'s' if len(diffs) != 1 else ''}",
    ]
    for diff in diffs[:MAX_PATHS]:
        lines.append(f"  {diff.path}")
        lines.append(f"    {b + ':':<{width}} {short(diff.baseline)}")
        lines.append(f"    {o + ':':<{width}} {short(diff.other)}")
        if diff.reason:
            lines.append(f"    {'reason:':<{width}} {diff.reason}")
    if len(diffs) > MAX_PATHS:
        lines.append(f"  ... and {len(diffs) - MAX_PATHS} more key paths")
    lines.append(f"  {b + ':':<{width}} {_where(baseline)}")
    lines.append(f"  {o + ':':<{width}} {_where(other)}")
    lines.append(f"  {show_hint(other.thread_id, store_display)}")
    return "\n".join(lines)


def comparator_failure(exc: ComparatorError, baseline: ExecutionResult, other: ExecutionResult) -> ComparatorError:
    """``exc`` (which names the key and the comparator) with the executions it was comparing."""
    b, o = f"{baseline.variant} (baseline)", other.variant
    width = max(len(b), len(o)) + 1
    return ComparatorError(
        f"{exc}\n  while comparing variant '{o}' with baseline '{baseline.variant}' on case '{other.case_id}'\n"
        f"  {b + ':':<{width}} {_where(baseline)}\n  {o + ':':<{width}} {_where(other)}"
    )


def parity_properties(diffs: Sequence[Difference]) -> list[tuple[str, str]]:
    """JUnit properties of an item's parity verdict: its outcome and the differing key paths."""
    if not diffs:
        return [("wtb_parity", "passed")]
    return [("wtb_parity", "failed"), ("wtb_parity_diff", ", ".join(d.path for d in diffs))]


def _did_you_mean(keys: Sequence[str], present: Sequence[str]) -> str:
    hints = []
    for key in keys:
        close = difflib.get_close_matches(key, present, n=1)
        if close:
            hints.append(f"{key!r}: did you mean {close[0]!r}?")
        else:
            hints.append(f"{key!r}: no key of the final state is close")
    return "\n".join(f"  {h}" for h in hints)


def unknown_keys_text(other: ExecutionResult, baseline: ExecutionResult, keys: list[str], present: list[str]) -> str:
    """Parity keys in neither final state (or, for the baseline's own item, not in its state):
    almost always a typo that would make the check vacuous."""
    whose = (f"baseline '{baseline.variant}'" if other is baseline
             else f"'{other.variant}' or baseline '{baseline.variant}'")
    lines = [
        f"parity: key{'s' if len(keys) > 1 else ''} {', '.join(map(repr, keys))} of @wtb.parity(keys=...) "
        f"not in the final state of {whose} on case '{other.case_id}'; keys present: {', '.join(present) or '(none)'}",
        _did_you_mean(keys, present),
        f"  {baseline.variant} (baseline): {_where(baseline)}",
    ]
    if other is not baseline:
        lines.append(f"  {other.variant}: {_where(other)}")
    return "\n".join(lines)


def baseline_keys_text(baseline: ExecutionResult, spec: ParitySpec) -> str | None:
    """For an item of the baseline itself: parity keys its own final state lacks. Its variants' items
    would catch such a typo, but not in a run where only the baseline's items run (--wtb-variants, or a
    module with one variant)."""
    if not baseline.ok or baseline.state is None:
        return None
    missing = unknown_keys(baseline.state, baseline.state, spec)
    return unknown_keys_text(baseline, baseline, missing, sorted(baseline.state)) if missing else None


def execution_failure_text(result: ExecutionResult, store_display: str | None = None, role: str = "") -> str:
    err = result.error
    subject = f"{role}variant '{result.variant}' on case '{result.case_id}'"
    if result.status == INTERRUPTED:
        return mask(interrupted_text(result, subject, store_display))
    if result.status == TIMED_OUT:
        head = f"execution of {subject} timed out: {err.message if err else ''}"
    elif result.status == LOST:
        head = (
            f"execution of {subject} was lost: the worker died "
            f"({result.attempts} attempt{'s' if result.attempts != 1 else ''}): {err.message if err else ''}"
        )
    else:
        head = f"execution of {subject} failed: {err.headline() if err else 'unknown error'}"
    lines = [head, f"  {_where(result)}"]
    if err and err.traceback and result.status not in (TIMED_OUT, LOST):
        lines.append("  traceback (your code):")
        lines.append(textwrap.indent(err.traceback, "    "))
    if result.store_error:
        lines.append(f"  note: this result could not be saved to the store: {result.store_error}")
    lines.append(f"  {show_hint(result.thread_id, store_display)}")
    if result.status not in (TIMED_OUT, LOST) and result.checkpoint_id:
        store = f" --store '{store_display}'" if store_display else ""
        lines.append(f"  after a fix: python -m pytest_wtb replay {result.thread_id}{store}")
    return mask("\n".join(lines))  # errors held in memory were not masked yet (stored copies are)


def interrupted_text(result: ExecutionResult, subject: str, store_display: str | None) -> str:
    """A paused execution: where it waits, on what, and how to script the answer."""
    pending = result.extra.get("interrupts") or [{"node": n, "before": True} for n in result.pending_nodes]
    used = result.extra.get("resumes", 0)
    after = f" after {used} scripted resume{'s' if used != 1 else ''}" if used else ""
    lines = [f"execution of {subject} is interrupted{after}: the graph paused and waits for input"]
    for p in pending:
        if p.get("before"):
            lines.append(f"  paused before node '{p['node']}' (interrupt_before/interrupt_after)")
        else:
            lines.append(f"  node '{p['node']}' called interrupt({short(p.get('value'))})")
    lines += [
        f"  {_where(result)}",
        f"  to continue it, script the answers: wtb.case(input, id='{result.case_id}', resume=[<value>, ...])",
        "  (each value is sent as Command(resume=value) after a pause), or accept the pause with "
        "@wtb.allow_status(\"interrupted\") and assert on wtb_run.interrupts",
        f"  {show_hint(result.thread_id, store_display)}",
    ]
    return "\n".join(lines)


def parity_failures(
    base: ExecutionResult, others: Sequence[ExecutionResult], spec: ParitySpec, store_display: str | None
) -> list[str]:
    """One text per variant whose final state differs from the baseline's (or lacks a parity key)."""
    if not others:  # only the baseline ran: its own state must still hold every key
        typo = baseline_keys_text(base, spec)
        return [typo] if typo else []
    texts = []
    base_state = base.state or {}
    for other in others:
        own_state = other.state or {}
        missing = unknown_keys(base_state, own_state, spec)
        if missing:
            present = sorted(set(base_state) | set(own_state))
            texts.append(unknown_keys_text(other, base, missing, present))
            continue
        try:
            diffs = compare(base_state, own_state, spec)
        except ComparatorError as exc:
            raise comparator_failure(exc, base, other) from None
        if diffs:
            texts.append(parity_text(baseline=base, other=other, diffs=diffs, store_display=store_display))
    return texts


def _step_text(step: TrajectoryStep | None) -> str:
    if step is None:
        return "(no such step: its trajectory had ended)"
    return f"step {step.step} node {step.describe()}  checkpoint_id {step.checkpoint_id}"


def trajectory_lines(found: Divergence, labels: tuple[str, str], threads: tuple[str, str],
                     store_display: str | None) -> list[str]:
    """Where two trajectories part: why, both sides' step (nodes, tool calls, checkpoint id), and the
    command that shows the two executions side by side. ``labels``/``threads``: (baseline, other)."""
    width = max(map(len, labels)) + 1
    store = f" --store '{store_display}'" if store_display else ""
    return [
        f"  {found.why}",
        f"    {labels[0] + ':':<{width}} {_step_text(found.baseline)}",
        f"    {labels[1] + ':':<{width}} {_step_text(found.other)}",
        f"  step by step: python -m pytest_wtb show {threads[1]} --diff {threads[0]}{store}",
    ]


def parted_at(found: Divergence) -> int:
    where = found.other or found.baseline
    return where.step if where is not None else found.index


def trajectory_text(*, baseline: ExecutionResult, other: ExecutionResult, found: Divergence,
                    store_display: str | None = None) -> str:
    b, o = f"{baseline.variant} (baseline)", other.variant
    width = max(len(b), len(o)) + 1
    lines = [
        f"parity: variant '{o}' takes a different trajectory from baseline '{baseline.variant}' on case "
        f"'{other.case_id}' (trajectory=\"{found.mode}\"): they part at step {parted_at(found)}",
        *trajectory_lines(found, (b, o), (baseline.thread_id, other.thread_id), store_display),
        f"  {b + ':':<{width}} {_where(baseline)}",
        f"  {o + ':':<{width}} {_where(other)}",
    ]
    return "\n".join(lines)
