"""``python -m pytest_wtb show THREAD_ID [--store URL]``: follow up a thread_id from a failure."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pytest_wtb.errors import WtbError
from pytest_wtb.history import checkpoint_history, format_history
from pytest_wtb.store import Store, open_store, parse_store_url


def default_store_url(start: Path) -> str:
    """The nearest .wtb/wtb.db from ``start`` upwards: where pytest puts it by default."""
    for folder in (start, *start.parents):
        candidate = folder / ".wtb" / "wtb.db"
        if candidate.is_file():
            return f"sqlite:///{candidate}"
    raise WtbError(
        f"no .wtb/wtb.db in {start} or above; pass --store URL (the store the failure message names)"
    )


def _open(url_text: str | None) -> Store:
    url = parse_store_url(url_text or default_store_url(Path.cwd()), Path.cwd())
    return open_store(url, max_connections=2, create=False)


def cmd_show(args: argparse.Namespace) -> int:
    store = _open(args.store)
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
    show.set_defaults(func=cmd_show)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except WtbError as exc:
        print(f"pytest-wtb: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
