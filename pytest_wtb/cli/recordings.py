"""``python -m pytest_wtb recordings [--prune]``: the store's recorded model and tool calls, per test
module, variant, node and model or tool, with how often runs replayed them."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from pytest_wtb.cli.runs import open_cli_store, table
from pytest_wtb.store import recordings


def cmd_recordings(args: argparse.Namespace) -> int:
    store = open_cli_store(args.store)
    try:
        if args.export:
            return _export(store, args.export, args.module)
        if args.prune:
            with store.results.write() as conn:
                gone = recordings.prune(conn)
            print(f"pruned {gone} recording{'s' if gone != 1 else ''} the newest run of their test module did not "
                  f"use ({store.url.display})")
        with store.results.read() as conn:
            rows = recordings.listing(conn)
        if not rows:
            print(f"no recordings in {store.url.display}: run pytest with --wtb-record=once (or new) to make some")
            return 0
        columns = (("module", 0, False), ("variant", 0, False), ("node", 0, False), ("kind", 0, False),
                   ("model or tool", 0, False), ("recordings", 0, True), ("hits", 0, True),
                   ("recorded", 0, False))
        cells = [[str(r["scope"]), str(r["variant"]), str(r["node"]), str(r["kind"]), str(r["name"]),
                  str(r["recordings"]), str(r["hits"] or 0), _when(r["recorded_at"])] for r in rows]
        for line in table(columns, cells):
            print(line)
        total = sum(int(r["recordings"]) for r in rows)
        print(f"{total} recording{'s' if total != 1 else ''} in {store.url.display}")
        return 0
    finally:
        store.close()


def _export(store: Any, path: str, module: str | None) -> int:
    with store.results.read() as conn:
        data = recordings.export(conn, module)
    Path(path).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    n = len(data["recordings"])
    print(f"exported {n} recording{'s' if n != 1 else ''}{f' of {module}' if module else ''} to {path}: "
          "commit it and mark the tests @pytest.mark.wtb_record(\"none\", file=...) to replay from it")
    return 0


def _when(ts: Any) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(float(ts))) if ts else "-"


def register(sub: Any) -> None:
    parser = sub.add_parser("recordings", help="list recorded model and tool calls (--wtb-record) with hit counts")
    parser.add_argument("--store", help="store URL (default: the nearest .wtb/wtb.db)")
    parser.add_argument("--prune", action="store_true",
                        help="first delete recordings the newest run of their test module did not replay or record")
    parser.add_argument("--export", metavar="FILE", help="write the recordings to FILE (JSON) instead of listing them")
    parser.add_argument("--module", help="with --export: only this test module's recordings (e.g. tests.test_agent)")
    parser.set_defaults(func=cmd_recordings)
