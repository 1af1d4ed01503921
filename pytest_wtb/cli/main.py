"""Read the pytest-wtb store: show follows up a thread_id from a failure message; runs, diff and
prune treat the store as a history of runs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pytest_wtb.cli import replay as replay_cli
from pytest_wtb.cli import runs as history_cli
from pytest_wtb.cli.runs import default_store_url, open_cli_store
from pytest_wtb.errors import WtbError
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
        origin = fork_origin(saver, args.thread_id)
        if origin is not None:
            print(f"  forked from shared prefix thread_id {origin[0]} at checkpoint {origin[1]} "
                  "(the steps up to there ran once for all variants of this case)")
        print(f"  store {store.url.display}")
        print()
        for line in format_history(steps):
            print(line)
        return 0
    finally:
        store.close()


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

