"""What every family's command line does: options, a temp dir, the header, the table, notes and JSON."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import platform
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common.info import code_state, git_state, machine, versions
from benchmarks.common.proc import PLAIN_OPTS, STEAL, RunOpts
from benchmarks.common.table import Row, table


@dataclass
class Ctx:
    """One family's run: its options, temp dir and run options, and what it measured."""

    args: argparse.Namespace
    reps: int
    quick: bool
    scale: float
    tmp: Path
    opts: RunOpts
    raw: dict[str, Any] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # printed after the table, each as "- note"
    lines: list[str] = field(default_factory=list)  # printed after the notes as they are

    def size(self, full: int, quick: int | None = None) -> int:
        """A case count: ``quick`` under --quick (when given), times --scale, at least 2."""
        n = quick if self.quick and quick is not None else full
        return max(2, round(n * self.scale))


@dataclass
class Family:
    name: str
    module: str  # python -m benchmarks.<module>
    title: str
    doc: str
    run: Callable[[Ctx], None]
    opts: RunOpts = PLAIN_OPTS
    packages: tuple[str, ...] = ()  # versions reported beside pytest, langgraph, ...
    add_args: Callable[[argparse.ArgumentParser], None] | None = None
    quick_scale: float = 1.0  # --scale under --quick when the family has no quick sizes of its own


def parser(family: Family) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=f"python -m benchmarks.{family.module}",
                                 description=family.doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=None, help="measured repetitions per configuration, median "
                    "(default 3, 1 with --quick)")
    ap.add_argument("--json", type=Path, default=None, help="also write every raw figure here")
    ap.add_argument("--quick", action="store_true", help="small sizes and 1 repetition (a smoke run)")
    ap.add_argument("--scale", type=float, default=None, help="multiply case counts (at least 2 cases)")
    ap.add_argument("--keep", action="store_true", help="keep the generated temp dir")
    ap.add_argument("--bytecode-cache", action="store_true",
                    help="give the subprocesses a private bytecode cache (the environment may set "
                         "PYTHONDONTWRITEBYTECODE=1, which makes pytest re-rewrite plugin modules every run)")
    if family.add_args is not None:
        family.add_args(ap)
    return ap


def execute(family: Family, argv: list[str] | None = None) -> tuple[int, dict[str, Any]]:
    """Run one family; (0 when every measurement ran, goals met or not, else 1; what it printed, as JSON)."""
    ap = parser(family)
    args = ap.parse_args(argv)
    reps = args.reps or (1 if args.quick else 3)
    if reps < 1:
        ap.error("--reps must be >= 1")
    scale = args.scale if args.scale is not None else (family.quick_scale if args.quick else 1.0)
    tmp = Path(tempfile.mkdtemp(prefix=f"wtb-{family.name}-"))
    opts = dataclasses.replace(family.opts, bytecode_cache=str(tmp / "pycache") if args.bytecode_cache else None)
    ctx = Ctx(args, reps, args.quick, scale, tmp, opts)
    started = dt.datetime.now().astimezone()
    steal_from, code0 = len(STEAL), code_state()
    data: dict[str, Any] = {
        "family": family.name, "title": family.title, "started": started.isoformat(timespec="seconds"),
        "args": vars(args), "reps": reps, "machine_start": machine(), "versions": versions(family.packages),
        "git": git_state(), "code_state": code0,
    }
    print(f"pytest-wtb benchmarks: {family.name} ({family.title}), generated projects in {tmp}\n"
          f"{data['machine_start']}\n{data['versions']}\n{data['git']}\n"
          f"reps {reps}, scale {scale:g}{' (quick)' if args.quick else ''}, bytecode cache "
          f"{'private' if args.bytecode_cache else 'as the environment has it'}; "
          + ", ".join(f"{k}={v}" for k, v in vars(args).items() if k not in ("reps", "json", "quick", "scale")),
          flush=True)
    rc = 0
    try:
        family.run(ctx)
    except SystemExit as exc:  # a failed step: say which, and let a caller (python -m benchmarks) carry on
        print(exc, file=sys.stderr)
        rc = 1
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    data["git_end"], data["machine_end"], steal = git_state(), machine(), STEAL[steal_from:]
    if code_state() != code0:
        ctx.notes.insert(0, f"WARNING: pytest_wtb/ changed during the run: {data['git']} -> {data['git_end']} "
                            f"(the package is installed editable)")
    print(f"\npytest-wtb benchmarks: {family.name}, {started:%Y-%m-%d %H:%M %Z}, {platform.node()}, "
          f"medians of {reps} run(s){'' if rc == 0 else ', INCOMPLETE (a step failed)'}")
    print(table(ctx.rows))
    for note in ctx.notes:
        print("- " + note)
    if ctx.lines:
        print("\n" + "\n".join(ctx.lines))
    print(f"\n{data['machine_end']}")
    if steal:
        print(f"CPU steal (time the hypervisor gave to other VMs) during the measured commands: median "
              f"{statistics.median(steal):.0f}%, max {max(steal):.0f}% (0% on a machine of one's own)")
    data |= {"rows": [dataclasses.asdict(r) for r in ctx.rows], "notes": ctx.notes, "raw": ctx.raw,
             "steal_pct": steal, "rc": rc}
    if args.json:
        args.json.write_text(json.dumps(data, indent=1, default=str))
    return rc, data


def main(family: Family) -> None:
    sys.exit(execute(family)[0])
