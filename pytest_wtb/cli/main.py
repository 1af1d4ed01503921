"""Read the pytest-wtb store: show follows up a thread_id from a failure message; runs, diff and
prune treat the store as a history of runs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from pytest_wtb.cli import recordings as recordings_cli
from pytest_wtb.cli import replay as replay_cli
from pytest_wtb.cli import runs as history_cli
from pytest_wtb.cli.runs import default_store_url, open_cli_store
from pytest_wtb.errors import WtbError
from pytest_wtb.model import PREFIX_LABEL
from pytest_wtb.report.calls import call_lines
from pytest_wtb.store import Store
from pytest_wtb.verdict.history import checkpoint_history, fork_origin, format_history

__all__ = ["default_store_url", "main"]


def cmd_show(args: argparse.Namespace) -> int:
    if args.diff:
        return replay_cli.cmd_show_diff(args)
    store = open_cli_store(args.store)
    try:
        row = store.results.find_thread(args.thread_id)
        saver = store.checkpoints.new()
        steps = checkpoint_history(saver, args.thread_id, row['error_node'] if row else None)
        if row is None and not steps:
            print(f"no execution or checkpoints for thread_id {args.thread_id} in {store.url.display}",
                  file=sys.stderr)
            return 1
        if row is not None:
            took = f", {row['duration_s']:.3f}s" if row["duration_s"] is not None else ""
            print(f"thread_id {args.thread_id}")
            print(f"  variant {row['variant']}  case {row['case_id']}  status {row['status']}{took}"
                  f"  run {row['run_id']}  backend {row['backend'] or '-'}  module {row['scope']}")
            if row["error_type"]:
                node = f" in node '{row['error_node']}'" if row["error_node"] else ""
                print(f"  error: {row['error_type']}{node}: {row['error_message']}")
            for line in _ran_with(store, row):
                print(f"  {line}")
        for line in _lineage(store, saver, args.thread_id, row):
            print(f"  {line}")
        print(f"  store {store.url.display}")
        print()
        for line in format_history(steps):
            print(line)
        return 0
    finally:
        store.close()


def _lineage(store: Store, saver: Any, thread_id: str, row: dict[str, Any] | None) -> list[str]:
    """Whether the execution was forked from a shared prefix, and which executions really were."""
    origin = fork_origin(saver, thread_id)
    if origin is not None:
        return [f"forked from shared prefix thread_id {origin[0]} at checkpoint {origin[1]}: the steps up to "
                f"there ran once, {_shared_by(_forks(store, saver, origin[0]))}"]
    if row is None:
        return []
    if row["variant"] == PREFIX_LABEL:
        return [f"the shared prefix of this case: its steps ran once, {_shared_by(_forks(store, saver, thread_id))}"]
    served = [(p, forks) for p in _case_prefixes(store, row) if (forks := _forks(store, saver, p))]
    return [f"not forked: every step ran in this execution; shared prefix thread_id {p} was {_shared_by(forks)}"
            for p, forks in served]


def _ran_with(store: Store, row: dict[str, Any]) -> list[str]:
    """Context, config and resumes it ran with, and what an interrupted execution waits on."""
    result = store.results.result_from_row(row)
    extra = result.extra if result is not None else {}
    lines = [f"{k} {v}" for k, v in (extra.get("ran_with") or {}).items()]
    if "resumes" in extra:
        lines.append(f"resumed {extra['resumes']} time{'s' if extra['resumes'] != 1 else ''} (scripted resume=[...])")
    for pending in extra.get("interrupts") or ():
        if pending.get("before"):
            lines.append(f"waiting: paused before node '{pending['node']}'")
        else:
            lines.append(f"waiting: node '{pending['node']}' called interrupt({pending.get('value')!r})")
    return lines + call_lines(extra.get("calls") or [])


def _forks(store: Store, saver: Any, prefix: str) -> list[dict[str, Any]]:
    """The execution rows whose threads were forked from ``prefix`` (their checkpoints are copies of
    it). Replays copy a checkpoint without that mark and have no row of their own."""
    from pytest_wtb.execute.fork import FORKED_FROM

    copies = saver.list(None, filter={FORKED_FROM: prefix})
    threads = dict.fromkeys(str(t.config["configurable"]["thread_id"]) for t in copies)
    return [r for r in map(store.results.find_thread, threads) if r is not None]


def _shared_by(forks: list[dict[str, Any]]) -> str:
    if not forks:
        return "shared by no execution this store still holds"
    names = sorted({str(r["variant"]) for r in forks})
    n, s = len(forks), "s" if len(names) != 1 else ""
    return f"shared by {n} execution{'s' if n != 1 else ''} of this case (variant{s} {', '.join(names)})"


def _case_prefixes(store: Store, row: dict[str, Any]) -> list[str]:
    """The shared prefix executions of the row's run and case (one per context/config)."""
    from sqlalchemy import select

    from pytest_wtb.store import schema

    ex = schema.executions.c
    query = select(ex.thread_id).where(
        ex.run_id == row["run_id"], ex.scope == row["scope"], ex.case_id == row["case_id"],
        ex.variant == PREFIX_LABEL,
    ).order_by(ex.thread_id)
    with store.results.read() as conn:
        return [str(t) for (t,) in conn.execute(query)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_wtb", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    show = sub.add_parser("show", help="print an execution's checkpoint history (step, node, changed keys)")
    show.add_argument("thread_id")
    show.add_argument("--store", help="store URL (default: the nearest .wtb/wtb.db)")
    show.add_argument("--diff", metavar="OTHER_THREAD_ID",
                      help="the first step where this execution and OTHER diverge, and what each wrote there")
    show.set_defaults(func=cmd_show)
    history_cli.register(sub)
    replay_cli.register(sub)
    recordings_cli.register(sub)
    args = parser.parse_args(argv)
    from pytest_wtb.store.serde import reading_for_display

    try:
        if args.command == "replay":  # it runs the graph on what it reads: a refused value is an error
            return int(args.func(args))
        with reading_for_display() as refused:  # the others only print what they read
            code = int(args.func(args))
        for note in dict.fromkeys(refused):
            print(f"pytest-wtb: note: {note}", file=sys.stderr)
        return code
    except BrokenPipeError:  # `... | head` closed the pipe: not an error worth a traceback
        sys.stderr.close()
        return 0
    except WtbError as exc:
        print(f"pytest-wtb: {exc}", file=sys.stderr)
        return 2

