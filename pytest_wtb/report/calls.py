"""--wtb-record in the reports: per variant, how many model and tool calls replayed, were recorded,
ran live without a recording, or had no recording where one was required."""

from __future__ import annotations

from typing import Any

from pytest_wtb.report.records import RunRecords
from pytest_wtb.statuses import CALL_STATUSES as STATUSES
from pytest_wtb.statuses import count_calls

Line = list[tuple[str, dict[str, bool]]]


def call_rows(records: RunRecords) -> list[dict[str, Any]]:
    by_variant: dict[str, dict[str, Any]] = {}
    for rec in records.executions.values():
        calls = rec.get("calls") or []
        if not calls:
            continue
        row = by_variant.setdefault(rec["variant"], {"variant": rec["variant"], **dict.fromkeys(STATUSES, 0)})
        for status, n in count_calls(calls).items():
            row[status] += n
    return sorted(by_variant.values(), key=lambda r: str(r["variant"]))


def summary_lines(records: RunRecords) -> list[Line]:
    rows = call_rows(records)
    if not rows:
        return []
    width = max(len("variant"), *(len(str(r["variant"])) for r in rows))
    lines: list[Line] = [[("model and tool calls (--wtb-record):", {})],
                         [(f"  {'variant':<{width}}  " + "  ".join(f"{s:>8}" for s in STATUSES), {})]]
    for row in rows:
        cells = "  ".join(f"{row[s]:>8}" for s in STATUSES)
        lines.append([(f"  {row['variant']:<{width}}  {cells}", {"red": True} if row["missing"] else {})])
    return lines


def call_lines(calls: list[dict[str, Any]]) -> list[str]:
    """For ``show``: the execution's model and tool calls, each marked replayed, recorded, live or missing."""
    if not calls:
        return []
    counts = count_calls(calls)
    lines = ["calls (--wtb-record): " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)]
    for call in calls:
        why = f"  ({call['why']})" if call.get("why") else ""
        lines.append(f"  {call.get('status', '?'):<8}  {call.get('kind', '?'):<4}  {call.get('name', '?')}"
                     f"  in node {call.get('node', '?')!r}  recording {str(call.get('key', ''))[:12]}{why}")
    return lines
