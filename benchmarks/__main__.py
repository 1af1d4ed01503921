"""Every benchmark family, one after the other (replaces ``benchmarks/run.py`` + ``benchmarks/extended.py``).

    python -m benchmarks                               # threads, ray, postgres, prefix, verdicts; 3 reps each
    python -m benchmarks --only threads,prefix --reps 1 --json /tmp/wtb-all.json
    python -m benchmarks --quick                       # every family's smoke sizes, 1 repetition

The shared options go to every family; a family's own options (threads: --workers, --only 1,2,3;
prefix: --prefix-sleep-ms) need ``python -m benchmarks.<family>``. A family whose step fails is
reported and the next one runs; the exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.common.cli import execute
from benchmarks.common.table import Row, table

FAMILIES = {"threads": "threads", "ray": "ray_backend", "postgres": "postgres", "prefix": "prefix",
            "verdicts": "verdicts"}
FAMILIES["async"] = "async_llm"  # issue 10: async graphs and --wtb-concurrency
FAMILIES["recordings"] = "recordings"  # --wtb-record: replayed model calls vs live


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=",".join(FAMILIES), help=f"comma-separated families ({', '.join(FAMILIES)})")
    ap.add_argument("--reps", type=int, default=None, help="measured repetitions per configuration, median")
    ap.add_argument("--json", type=Path, default=None, help="one file with every family's figures")
    ap.add_argument("--quick", action="store_true", help="small sizes and 1 repetition (a smoke run)")
    ap.add_argument("--scale", type=float, default=None, help="multiply case counts (at least 2 cases)")
    ap.add_argument("--keep", action="store_true", help="keep the generated temp dirs")
    ap.add_argument("--bytecode-cache", action="store_true", help="a private bytecode cache for the subprocesses")
    args = ap.parse_args(argv)
    names = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in names if s not in FAMILIES]
    if unknown:
        ap.error(f"unknown famil{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}; have {', '.join(FAMILIES)}")
    forward = [*(["--reps", str(args.reps)] if args.reps is not None else []),
               *(["--scale", str(args.scale)] if args.scale is not None else []),
               *[f"--{flag.replace('_', '-')}" for flag in ("quick", "keep", "bytecode_cache") if getattr(args, flag)]]
    results: dict[str, dict[str, Any]] = {}
    worst = 0
    for name in names:
        rc, data = execute(importlib.import_module(f"benchmarks.{FAMILIES[name]}").FAMILY, forward)
        results[name] = data
        worst = max(worst, rc)
        print()
    print("every family:")
    for name, data in results.items():
        state = "" if data["rc"] == 0 else " (INCOMPLETE: a step failed)"
        print(f"\n{name}: {data['title']}, medians of {data['reps']} run(s){state}")
        print(table([Row(**r) for r in data["rows"]]))
    if args.json:
        args.json.write_text(json.dumps({"families": results}, indent=1, default=str))
    return worst


if __name__ == "__main__":
    sys.exit(main())
