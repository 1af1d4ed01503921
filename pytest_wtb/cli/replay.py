"""``python -m pytest_wtb replay THREAD_ID`` and ``show THREAD_ID --diff OTHER``: checkpoint-native follow-up."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pytest_wtb.cli.replay_calls import keep_recordings, replay_call_lines, replay_record_mode
from pytest_wtb.cli.runs import STORE_HELP, open_cli_store
from pytest_wtb.report.failures import show_hint
from pytest_wtb.verdict.compare import short

WIDTH = 100


def _unknown(thread_id: str, store: Any, saver: Any) -> int:
    """Exit 1 with a message for a thread_id the store has no execution row for."""
    has_checkpoints = saver.get_tuple({"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}) is not None
    if has_checkpoints:
        why = "has checkpoints but no execution row, so its test module and variant are unknown"
    else:
        why = "is not an execution in this store (is it from another --store?)"
    print(f"pytest-wtb: thread_id {thread_id} {why}: {store.url.display}", file=sys.stderr)
    return 1


def cmd_replay(args: argparse.Namespace) -> int:
    from pytest_wtb.execute.replay import origin_row, replay
    from pytest_wtb.pytest.replay_project import run_in_project  # pytest: only when replaying

    store = open_cli_store(args.store)
    try:
        saver = store.checkpoints.new()
        row = origin_row(store.results, args.thread_id)
        if row is None:
            return _unknown(args.thread_id, store, saver)
        record = replay_record_mode(store, row, args.record)
        outcome = run_in_project(
            row.get("module_path"),
            str(row["scope"]),
            lambda module: replay(saver, row, module, from_id=args.from_checkpoint, before=args.before,
                                  record=record),
        )
        keep_recordings(store, row, outcome.result)
    finally:
        store.close()
    result, chosen = outcome.result, outcome.chosen
    print(f"replay of {outcome.original}")
    print(f"  module {row['scope']}  variant {row['variant']}  case {row['case_id']}  (code as it is now)")
    nxt = ", ".join("START" if n == "__start__" else n for n in chosen.next) or "-"
    print(f"  from checkpoint {chosen.checkpoint_id} (step {chosen.step}, next: {nxt}): {chosen.why}")
    ran = ", ".join(dict.fromkeys(n.node for n in result.nodes)) or "-"
    print(f"  new thread_id {outcome.thread_id}: {result.status} in {result.duration_s:.3f}s, ran {ran}")
    print(f"  store {store.url.display}")
    print(*replay_call_lines(record, result), sep="\n")
    print()
    if not result.ok:
        err = result.error
        print(f"the replay failed: {err.headline() if err else result.status}")
        if err and err.traceback:
            print("  traceback (your code):")
            for line in err.traceback.splitlines():
                print(f"    {line}")
        print(f"  {show_hint(outcome.thread_id, store.url.display)}")
        return 1
    print("final state")
    for key, value in (result.state or {}).items():
        print(f"  {key} = {short(value, WIDTH)}")
    print()
    if not outcome.diffs:
        print("same final state as the original")
    else:
        n = len(outcome.diffs)
        print(f"diff to the original final state: {n} key path{'s' if n != 1 else ''}")
        for diff in outcome.diffs:
            print(f"  {diff.path}")
            print(f"    original: {short(diff.baseline, WIDTH)}")
            print(f"    replay:   {short(diff.other, WIDTH)}")
    print(f"  {show_hint(outcome.thread_id, store.url.display)} --diff {outcome.original}")
    return 0


def _label(thread_id: str, row: dict[str, Any] | None) -> str:
    if row is None:
        return "no execution row"
    if row["thread_id"] != thread_id:
        return f"a replay of variant {row['variant']}, case {row['case_id']}"
    return f"variant {row['variant']}, case {row['case_id']}, {row['status']}"


def cmd_show_diff(args: argparse.Namespace) -> int:
    from pytest_wtb.execute.replay import origin_row
    from pytest_wtb.verdict.divergence import format_divergence
    from pytest_wtb.verdict.history import checkpoint_history

    store = open_cli_store(args.store)
    try:
        saver = store.checkpoints.new()
        histories, rows = [], []
        for thread_id in (args.thread_id, args.diff):
            row = origin_row(store.results, thread_id)
            steps = checkpoint_history(saver, thread_id, row["error_node"] if row else None)
            if not steps:
                print(f"pytest-wtb: no checkpoints for thread_id {thread_id} in {store.url.display}", file=sys.stderr)
                return 1
            histories.append(steps)
            rows.append(row)
    finally:
        store.close()
    print(f"this:  {args.thread_id} ({_label(args.thread_id, rows[0])})")
    print(f"other: {args.diff} ({_label(args.diff, rows[1])})")
    print(f"  store {store.url.display}")
    print()
    for line in format_divergence(histories[0], histories[1]):
        print(line)
    return 0


def register(sub: Any) -> None:
    """Add ``replay`` to the ``python -m pytest_wtb`` parser."""
    replay = sub.add_parser(
        "replay",
        help="re-run an execution from a checkpoint with the code as it is now, in a new thread",
        description="Default checkpoint: where a failed execution stopped, else the input. "
        "Exit 0 when the replay succeeds, 1 when it fails, 2 when it cannot be replayed.",
    )
    replay.add_argument("thread_id")
    start = replay.add_mutually_exclusive_group()
    start.add_argument("--from", dest="from_checkpoint", metavar="CHECKPOINT_ID",
                       help="resume from this checkpoint (an id, or a unique prefix of one)")
    start.add_argument("--before", metavar="NODE", help="resume from the first checkpoint whose next task is NODE")
    replay.add_argument("--store", help=STORE_HELP)
    replay.add_argument("--record", choices=("off", "none", "new"), default=None,
                        help="model and tool calls: none replays them from the store's recordings (the default when "
                        "the original execution recorded or replayed any), new also records what has none, off calls "
                        "them live")
    replay.set_defaults(func=cmd_replay)
