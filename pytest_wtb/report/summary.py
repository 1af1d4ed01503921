"""The end-of-run terminal summary: one row per variant, the slowest executions, where to look next.

Lines are lists of (text, markup) segments; the plugin writes them through pytest's terminal
writer, which drops the markup for NO_COLOR, dumb terminals and ``--color=no``.
"""

from __future__ import annotations

from typing import Any, Final

from pytest_wtb.report import calls
from pytest_wtb.report.failures import show_hint
from pytest_wtb.report.records import RunRecords, VariantRow, net_saved_nodes, slowest, unshared_reasons, variant_rows

Markup = dict[str, bool]
Line = list[tuple[str, Markup]]

SLOWEST: Final = {0: 5, 1: 10}  # verbosity -> slowest executions listed (-q lists none)
MAX_PROBLEMS: Final = 20
# per variant: nodes its forked executions took from a shared prefix instead of running them (gross);
# the "prefix sharing:" line under the table nets out the nodes the prefixes ran once themselves
FROM_PREFIX: Final = "from prefix"


def secs(value: float) -> str:
    return f"{value:.3f}s" if value < 10 else f"{value:.1f}s"


def title(records: RunRecords) -> str:
    n, variants = len(records.executions), len({r["variant"] for r in records.executions.values()})
    return f"pytest-wtb: {n} execution{'s' if n != 1 else ''} of {variants} variant{'s' if variants != 1 else ''}"


def _table(rows: list[VariantRow]) -> list[Line]:
    show_skipped = any(r.skipped for r in rows)
    show_saved = any(r.saved_nodes for r in rows)
    head = ["variant", "executions", "passed", "failed"] + (["skipped"] if show_skipped else [])
    head += ["errors", "parity", "p50", "p95"] + ([FROM_PREFIX] if show_saved else [])
    body: list[list[tuple[str, Markup]]] = []
    for r in rows:
        name = r.name + (" (baseline)" if r.baseline else "")
        cells: list[tuple[str, Markup]] = [
            (name, {"bold": True}),
            (str(r.executions), {}),
            (str(r.passed), {"green": True} if r.passed and not r.failed else {}),
            (str(r.failed), {"red": True} if r.failed else {}),
        ]
        if show_skipped:
            cells.append((str(r.skipped), {"yellow": True} if r.skipped else {}))
        cells += [
            (str(r.errors), {"red": True} if r.errors else {}),
            ("-" if r.baseline and not r.parity else str(r.parity), {"red": True} if r.parity else {}),
            (secs(r.p50_s), {}),
            (secs(r.p95_s), {}),
        ]
        if show_saved:
            cells.append((str(r.saved_nodes), {"cyan": True} if r.saved_nodes else {}))
        body.append(cells)
    widths = [max(len(head[i]), *(len(row[i][0]) for row in body)) for i in range(len(head))]

    def line(cells: list[tuple[str, Markup]]) -> Line:
        out: Line = []
        for i, (text, markup) in enumerate(cells):
            pad = " " * (widths[i] - len(text))
            out.append(((text + pad) if i == 0 else (pad + text), markup))
            if i < len(cells) - 1:
                out.append(("  ", {}))
        return out

    return [line([(h, {}) for h in head]), *(line(cells) for cells in body)]


def _problems(records: RunRecords) -> list[Line]:
    lines: list[Line] = []
    for rec in records.executions.values():
        if rec["status"] != "succeeded":
            err = rec["error"] or {}
            where = f" in node '{err['node']}'" if err.get("node") else ""
            what = f"{err.get('type', rec['status'])}{where}: {err.get('message', '')}"
            lines.append([("  " + rec["status"].ljust(10), {"red": True}),
                          (f"{rec['variant']}/{rec['case_id']}  {rec['thread_id']}  {what}"[:200], {})])
    for item in records.items.values():
        owner = records.executions.get(item["key"])
        if item["parity"] and owner is not None:
            paths = ", ".join(d["path"] for d in item["parity"][:5])
            lines.append([("  " + "parity".ljust(10), {"red": True}),
                          (f"{owner['variant']}/{owner['case_id']}  {owner['thread_id']}  differs at {paths}", {})])
        parted = item.get("trajectory")
        if parted and owner is not None:
            at = parted["other"] or parted["baseline"] or {"step": parted["index"]}
            lines.append([("  trajectory ", {"red": True}),
                          (f"{owner['variant']}/{owner['case_id']}  {owner['thread_id']}  parts from the baseline's "
                           f"at step {at['step']} ({parted['mode']})", {})])
    if len(lines) > MAX_PROBLEMS:
        lines = [*lines[:MAX_PROBLEMS], [(f"  ... and {len(lines) - MAX_PROBLEMS} more", {})]]
    return [[("executions that failed or differ from the baseline:", {})], *lines] if lines else []


def _gate_lines(records: RunRecords) -> list[Line]:
    """Per gate item: both mean scores with their 95% intervals, the difference with its interval, the verdict."""
    lines: list[Line] = []
    for g in records.gates.values():
        def mean(value: float | None, ci: list[float] | None) -> str:
            low, high = ci or (None, None)
            span = f" [{low:.3g}, {high:.3g}]" if low is not None and high is not None else ""
            return f"{value:.3g}{span}" if value is not None else "-"

        level = 1 - 2 * g["alpha"]
        markup = {"red": True} if g["decision"] == "worse" else {"yellow": True} if g["decision"] == "undecided" else {}
        more = f"; about {g['more_pairs']} pairs would decide" if g.get("more_pairs") else ""
        if g.get("max_repetitions"):
            more += (f"; adaptive: {g['repetitions']} of {g['max_repetitions']} repetitions, "
                     f"{g['saved_executions']} executions saved")
        lines.append([(f"  {g['nodeid']}: ", {}), (g["decision"], markup),
                      (f"  {g['variant']} {mean(g['mean'], g.get('mean_ci'))} vs {g['baseline']} "
                       f"{mean(g['base_mean'], g.get('base_mean_ci'))}, diff {g['diff']:+.3g} ({level:.0%} CI "
                       f"{g['low']:+.3g} to {g['high']:+.3g}), p={g['p_value']:.3g} ({g['test']}, {g['pairs']} pairs)"
                       f"{more}", {})])
    return [[("gates (mean score [95% CI], paired difference from the baseline):", {})], *lines] if lines else []


def _sharing_line(saved: int, prefixes: int, taken: int) -> str:
    """Net node executions saved, said so that it adds up with the table's gross column."""
    def n(count: int, word: str) -> str:
        return f"{count} {word}{'s' if count != 1 else ''}"

    return (f"prefix sharing: {n(saved, 'node execution')} saved (net): forked executions took "
            f"{n(taken, 'node')} from {n(prefixes, 'shared prefix execution')} (the '{FROM_PREFIX}' column) "
            f"that ran {n(taken - saved, 'node')}")


def _unshared_lines(records: RunRecords) -> list[Line]:
    """Said once per kind: executions that could have forked from a shared prefix but ran in full."""
    reasons = unshared_reasons(records)
    lines: list[Line] = []
    if "fallback" in reasons:
        n, example = reasons["fallback"]
        lines.append([(f"prefix sharing: {n} execution{'s' if n != 1 else ''} ran from scratch because "
                       f"their shared prefix did not finish ({example})", {"yellow": True})])
    if "cheap" in reasons:
        n, example = reasons["cheap"]
        lines.append([(f"prefix sharing: {n} execution{'s' if n != 1 else ''} ran in full, not forked: "
                       f"{example} (a fork costs more)", {})])
    return lines


def summary_lines(
    records: RunRecords, *, verbosity: int, store_display: str | None, outputs: list[str] | None = None
) -> list[Line]:
    """What to print under the title; nothing at -qq or when no wtb execution ran."""
    if not records or verbosity <= -2:
        return []
    rows = variant_rows(records)
    lines = _table(rows) + _gate_lines(records) + calls.summary_lines(records)
    if verbosity < 0:
        return lines
    saved, prefixes = net_saved_nodes(records)
    if saved:
        lines.append([(_sharing_line(saved, prefixes, sum(r.saved_nodes for r in rows)), {"cyan": True})])
    lines += _unshared_lines(records)
    top = slowest(records, SLOWEST[min(verbosity, 1)])
    if top:
        lines.append([("slowest executions:", {})])
        width = max(len(f"{r['variant']}/{r['case_id']}") for r in top)
        for rec in top:
            label = f"{rec['variant']}/{rec['case_id']}"
            lines.append([(f"  {secs(rec['duration_s']):>8}  {label:<{width}}  {rec['thread_id']}", {})])
    if verbosity >= 1:
        lines += _problems(records)
    runs = ", ".join(records.run_ids)
    if store_display:
        lines.append([(f"store: {store_display}" + (f"  run: {runs}" if runs else ""), {})])
        lines.append([(show_hint("THREAD_ID", store_display), {})])
    for out in outputs or []:
        lines.append([(out, {})])
    return lines


def write(terminalreporter: Any, records: RunRecords, store_display: str | None, outputs: list[str]) -> None:
    lines = summary_lines(
        records, verbosity=terminalreporter.config.get_verbosity(), store_display=store_display, outputs=outputs
    )
    if not lines:
        return
    terminalreporter.write_sep("-", title(records))
    for line in lines:
        for text, markup in line:
            terminalreporter.write(text, **markup)
        terminalreporter.write("\n")
