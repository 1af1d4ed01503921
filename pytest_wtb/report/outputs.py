"""What a run leaves behind besides test outcomes: the options that ask for it, and writing it.

``--wtb-report`` (HTML and/or JSON), ``--wtb-metrics`` (Prometheus text file), ``--wtb-pushgateway``,
plus the CI options ``--wtb-variants`` and ``--wtb-run-id`` (or ``WTB_RUN_ID``). Everything is
written once, by the process that has every worker's records: the only process, or xdist's controller.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from pytest_wtb.errors import ConfigError
from pytest_wtb.store.urls import mask

if TYPE_CHECKING:
    from pytest_wtb.report.records import RunRecords
    from pytest_wtb.store.urls import StoreURL

REPORT_SUFFIXES: Final = (".html", ".htm", ".json")
RUN_ID: Final = re.compile(r"[A-Za-z0-9_.-]{1,40}")
RUN_ID_ENV: Final = "WTB_RUN_ID"
FAILED_PREFIX: Final = "NOT WRITTEN: "

Get = Callable[[str], tuple[str | None, Path]]


def _paths(raw: str, base: Path) -> list[Path]:
    return [(base / p.strip()).resolve() for p in raw.split(",") if p.strip()]


def parse_outputs(get: Get) -> dict[str, Any]:
    """The Settings fields of these options; bad values raise ConfigError saying what is valid."""
    reports: list[Path] = []
    raw, base = get("wtb_report")
    for path in _paths(raw, base) if raw else []:
        if path.suffix.lower() not in REPORT_SUFFIXES:
            raise ConfigError(
                f"--wtb-report={path.name!r}: the file name must end in .html or .json "
                "(both: --wtb-report=report.html,report.json)"
            )
        reports.append(path)
    variants_raw = get("wtb_variants")[0]
    variants = tuple(dict.fromkeys(v.strip() for v in (variants_raw or "").split(",") if v.strip()))
    if variants_raw and not variants:
        raise ConfigError(f"--wtb-variants={variants_raw!r} names no variant; use e.g. --wtb-variants=dense,hybrid")
    run_id = get("wtb_run_id")[0] or os.environ.get(RUN_ID_ENV, "").strip() or None
    if run_id is not None and not RUN_ID.fullmatch(run_id):
        raise ConfigError(
            f"--wtb-run-id / {RUN_ID_ENV}={run_id!r} is not a valid run id; use 1-40 letters, digits, '_', '.' or '-'"
        )
    metrics_raw, metrics_base = get("wtb_metrics")
    pushgateway = get("wtb_pushgateway")[0]
    if metrics_raw or pushgateway:
        from pytest_wtb.report.metrics import check_available

        check_available("--wtb-metrics" if metrics_raw else "--wtb-pushgateway")
    return {
        "reports": tuple(reports),
        "variants": variants,
        "run_id": run_id,
        "metrics_path": (metrics_base / metrics_raw).resolve() if metrics_raw else None,
        "pushgateway": pushgateway,
    }


def write_outputs(settings: Any, records: RunRecords, store: StoreURL | None) -> list[str]:
    """Write every output the settings ask for; one line per output, for the terminal summary.

    A failure to write is reported, not raised: the test outcomes stand on their own."""
    lines: list[str] = []
    if not records:
        return lines
    if settings.reports:
        from pytest_wtb.report import html as html_report
        from pytest_wtb.report import json_report

        timelines, note = json_report.read_timelines(store, [r["thread_id"] for r in records.executions.values()]) \
            if store is not None else ({}, "checkpoints not read: no store")
        report = json_report.build(records, store.display if store else None, timelines, note)
        for path in settings.reports:
            writer: Callable[[Path, Any], None] = (
                json_report.write if path.suffix.lower() == ".json" else html_report.write
            )
            lines.append(_attempt(f"report: {path}", f"report {path}", partial(writer, path, report)))
    if settings.metrics_path or settings.pushgateway:
        from pytest_wtb.report import metrics

        if settings.metrics_path:
            path = settings.metrics_path
            lines.append(_attempt(f"metrics: {path}", f"metrics {path}", lambda: metrics.write_textfile(path, records)))
        if settings.pushgateway:
            url, shown = settings.pushgateway, mask(settings.pushgateway)
            lines.append(_attempt(f"metrics pushed to {shown}", f"metrics push to {shown}",
                                  lambda: metrics.push(url, records)))
    return lines


def _attempt(done: str, what: str, action: Callable[[], None]) -> str:
    try:
        action()
    except Exception as exc:
        return f"{FAILED_PREFIX}{what} failed: {type(exc).__name__}: {exc}"
    return done
