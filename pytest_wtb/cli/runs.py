"""``python -m pytest_wtb runs | diff | prune``: the store read as a history of runs."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from pytest_wtb.errors import WtbError
from pytest_wtb.store import Store, open_store, parse_store_url

STORE_HELP = "store URL: sqlite:///path or postgresql://... (default: the nearest .wtb/wtb.db)"


def default_store_url(start: Path) -> str:
    """The nearest .wtb/wtb.db from ``start`` upwards: where pytest puts it by default."""
    for folder in (start, *start.parents):
        candidate = folder / ".wtb" / "wtb.db"
        if candidate.is_file():
            return f"sqlite:///{candidate}"
    raise WtbError(f"no .wtb/wtb.db in {start} or above; pass --store URL (the store the failure message names)")


def open_cli_store(url_text: str | None) -> Store:
    url = parse_store_url(url_text or default_store_url(Path.cwd()), Path.cwd())
    return open_store(url, max_connections=2, create=False)


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) if ts else "-"


def _took(start: float, end: float | None) -> str:
    return f"{end - start:.1f}s" if end else "-"


# (header, minimum width, right-aligned): widths grow to the longest cell, so a long run id (up to 40
# characters) stays whole and copy-pasteable instead of running into the next column
RUNS_COLUMNS: tuple[tuple[str, int, bool], ...] = (
    ("run", 12, False), ("started (UTC)", 19, False), ("took", 6, True), ("status", 8, False),
    ("backend", 7, False), ("git", 20, False), ("host", 0, False),
)


def table(columns: tuple[tuple[str, int, bool], ...], rows: list[list[str]]) -> list[str]:
    """Header and rows, two spaces between columns, each as wide as its widest cell; the last one unpadded."""
    widths = [max(minimum, len(head), *(len(r[i]) for r in rows)) for i, (head, minimum, _) in enumerate(columns)]

    def line(cells: list[str]) -> str:
        out = [
            (cell.rjust(width) if right else cell.ljust(width)) if i < len(cells) - 1 else cell
            for i, (cell, width, (_, _, right)) in enumerate(zip(cells, widths, columns, strict=True))
        ]
        return "  ".join(out)

    return [line([head for head, _, _ in columns]), *(line(r) for r in rows)]


def cmd_runs(args: argparse.Namespace) -> int:
    from pytest_wtb.store.owners import owner_pid
    from pytest_wtb.store.runs import dead_local, list_runs, variant_counts

    store = open_cli_store(args.store)
    try:
        runs = list_runs(store.results, args.limit)
        counts = variant_counts(store.results, [r.run_id for r in runs])
        dead = set(dead_local(store.results)[1])  # shown as what the next pytest run will mark them
    finally:
        store.close()
    if not runs:
        print(f"no runs in {store.url.display}")
        return 0
    print(f"{len(runs)} most recent run{'s' if len(runs) != 1 else ''} in {store.url.display}, newest first")
    cells = [
        [run.run_id, _when(run.started_at), _took(run.started_at, run.ended_at),
         "abandoned" if run.run_id in dead else run.status, run.backend, run.git, run.host or "-"]
        for run in runs
    ]
    lines = table(RUNS_COLUMNS, cells)
    print(lines[0])
    for run, line in zip(runs, lines[1:], strict=True):
        print(line)
        if run.run_id in dead:
            print(f"    its pytest process {owner_pid(run.owner)} on this host is gone: it stopped without finishing")
        if run.parent_run:
            print(f"    the second backend of run {run.parent_run} (--wtb-compare-backends)")
        for c in counts.get(run.run_id, []):
            extra = f", {c.running} running" if c.running else ""
            es = "es" if c.parity_failed != 1 else ""
            parity = f", {c.parity_failed} parity mismatch{es}" if c.parity_failed else ""
            print(f"    {c.scope}::{c.variant}: {c.passed} passed, {c.failed} failed{extra}{parity}")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from pytest_wtb.cli.rundiff import diff_runs, format_diff
    from pytest_wtb.store.runs import resolve_run, run_executions

    store = open_cli_store(args.store)
    try:
        before = resolve_run(store.results, args.run_a)
        after = resolve_run(store.results, args.run_b)
        diff = diff_runs(
            run_executions(store.results, before.run_id),
            run_executions(store.results, after.run_id),
            store.results.load_state,
        )
    finally:
        store.close()
    print(f"diff {before.run_id} ({_when(before.started_at)}) -> {after.run_id} ({_when(after.started_at)})")
    for line in format_diff(diff, before.run_id, after.run_id):
        print(line)
    return 1 if diff.changed else 0


def cmd_prune(args: argparse.Namespace) -> int:
    from pytest_wtb.store.lifecycle import prune

    store = open_cli_store(args.store)
    try:
        report = prune(store, args.keep_days, dry_run=args.dry_run)
    finally:
        store.close()
    verb = "would delete" if report.dry_run else "deleted"
    print(
        f"{verb} {len(report.runs)} run{'s' if len(report.runs) != 1 else ''} started more than "
        f"{args.keep_days:g} days ago, {report.executions} executions and "
        f"{report.executions if report.dry_run else report.threads} checkpoint threads from {store.url.display}"
    )
    for run_id in report.runs:
        print(f"  {run_id}")
    return 0


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: days must be >= 0")
    return value


def register(sub: Any) -> None:
    """Add the history subcommands to the ``python -m pytest_wtb`` parser."""
    runs = sub.add_parser("runs", help="list recent runs with pass/fail counts per variant")
    runs.add_argument("--limit", type=int, default=10, help="how many runs (default 10)")
    runs.add_argument("--store", help=STORE_HELP)
    runs.set_defaults(func=cmd_runs)

    diff = sub.add_parser(
        "diff",
        help="which (variant, case) changed outcome or final state between two runs (exit 1 if any)",
        description="Runs are named by id, a unique id prefix, last, or last~N (N runs before the last).",
    )
    diff.add_argument("run_a", help="the earlier run")
    diff.add_argument("run_b", help="the later run")
    diff.add_argument("--store", help=STORE_HELP)
    diff.set_defaults(func=cmd_diff)

    prune = sub.add_parser("prune", help="delete runs older than --keep-days, with their checkpoints")
    prune.add_argument("--keep-days", type=_non_negative, default=30.0, help="keep runs this recent (default 30)")
    prune.add_argument("--dry-run", action="store_true", help="only list what would be deleted")
    prune.add_argument("--store", help=STORE_HELP)
    prune.set_defaults(func=cmd_prune)
    register_bless(sub)


def cmd_bless(args: argparse.Namespace) -> int:
    """Name a stored run: gates and --wtb-against compare with it until it is blessed again."""
    from pytest_wtb.store.names import bless
    from pytest_wtb.store.runs import resolve_run

    store = open_cli_store(args.store)
    try:
        run = resolve_run(store.results, args.run_id)
        before = bless(store.results, args.name, run.run_id)
    finally:
        store.close()
    moved = f" (it named run {before} before)" if before and before != run.run_id else ""
    started = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.started_at))
    print(f"run {run.run_id} is now '{args.name}'{moved}: started {started}, status {run.status}, git {run.git}, "
          f"pytest-wtb {run.wtb_version or '-'}")
    print(f"  compare with it: python -m pytest --wtb-against={args.name}")
    return 0


def register_bless(sub: Any) -> None:
    bless = sub.add_parser("bless", help="name a stored run (a baseline for --wtb-against=NAME and gates)")
    bless.add_argument("run_id", help="a run id, a unique prefix, last or last~N")
    bless.add_argument("--name", required=True, help="the name: a letter, then letters, digits, '_', '.' or '-'")
    bless.add_argument("--store", help=STORE_HELP)
    bless.set_defaults(func=cmd_bless)
