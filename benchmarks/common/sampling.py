"""Who used the CPU during a run: the process tree sampled from /proc, PostgreSQL's backends, the machine."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from benchmarks.common.stats import med

_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Sample:
    t: float
    procs: dict[int, tuple[str, float, int]]  # pid -> (name, cpu seconds so far, rss bytes), the tree only
    machine_busy_s: float  # every CPU's non-idle time so far (/proc/stat)
    postgres: dict[int, float] = field(default_factory=dict)  # PostgreSQL server processes: pid -> CPU s


def proc_files(name: str) -> Iterator[tuple[int, bytes]]:
    """(pid, the bytes of /proc/<pid>/<name>) for every process we can read."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/{name}", "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        yield int(entry), data


def _proc_table() -> dict[int, tuple[int, str, float, int]]:
    """pid -> (ppid, comm, user+system CPU seconds, rss bytes) for every process we can read."""
    out: dict[int, tuple[int, str, float, int]] = {}
    for pid, stat in proc_files("stat"):
        comm = stat[stat.find(b"(") + 1:stat.rfind(b")")].decode(errors="replace")
        rest = stat[stat.rfind(b")") + 2:].split()
        out[pid] = (int(rest[1]), comm, (int(rest[11]) + int(rest[12])) / _TICK, int(rest[21]) * _PAGE)
    return out


def _machine_busy_s() -> float:
    with open("/proc/stat") as fh:
        f = [int(x) for x in fh.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal
    return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / _TICK


def _serves(pid: int, db: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return f" {db} ".encode() in fh.read()  # "postgres: USER DB HOST(PORT) STATE"
    except OSError:
        return False


def sample_tree(root: int, pg_db: str | None = None) -> Sample:
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for pid, row in table.items():
        children.setdefault(row[0], []).append(pid)
    procs: dict[int, tuple[str, float, int]] = {}
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            _, comm, cpu, rss = table[pid]
            procs[pid] = ("pytest driver" if pid == root else comm, cpu, rss)
        todo.extend(children.get(pid, []))
    postgres = {} if pg_db is None else {
        pid: row[2] for pid, row in table.items() if row[1] == "postgres" and pid not in procs and _serves(pid, pg_db)
    }
    return Sample(time.time(), procs, _machine_busy_s(), postgres)


def cpu_breakdown(samples: list[Sample], t_from: float, t_to: float) -> dict[str, float]:
    """Cores used on average in [t_from, t_to] by each kind of process in the tree, and by the rest
    of the machine (other agents' work): CPU seconds / window seconds, from the nearest samples."""
    if len(samples) < 2:
        return {}
    before = [s for s in samples if s.t <= t_from] or samples[:1]
    after = [s for s in samples if s.t >= t_to] or samples[-1:]
    s0, s1 = before[-1], after[0]
    window = s1.t - s0.t
    if window <= 0:
        return {}
    inside = [s for s in samples if s0.t <= s.t <= s1.t]
    last: dict[int, tuple[str, float]] = {}  # a process may end inside the window (actors, pooled
    pg_last: dict[int, float] = {}  # connections): its last sample counts
    for s in inside:
        last.update({pid: (name, cpu) for pid, (name, cpu, _) in s.procs.items()})
        pg_last.update(s.postgres)
    out: dict[str, float] = {}
    for pid, (name, cpu) in last.items():
        old = s0.procs.get(pid)
        used = cpu - (old[1] if old else 0.0)
        key = "ray actor" if name.startswith("ray::Execution") else name
        out[key] = out.get(key, 0.0) + used / window
    ours = sum(out.values())
    pg = sum(cpu - s0.postgres.get(pid, 0.0) for pid, cpu in pg_last.items()) / window
    if pg > 0.005:
        out["(postgres server)"] = pg
        ours += pg
    out["(ours)"] = ours
    out["(whole machine)"] = (s1.machine_busy_s - s0.machine_busy_s) / window
    out["(other processes)"] = out["(whole machine)"] - ours
    out["(window s)"] = window
    return {k: round(v, 3) for k, v in out.items()}


def cores(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Median over runs of the cores each kind of process used during the execution span."""
    keys = {k for r in runs for k in r.get("cores_in_span", {})}
    out = {k: med([r["cores_in_span"].get(k, 0.0) for r in runs if r.get("cores_in_span")]) for k in keys}
    return dict(sorted(out.items(), key=lambda kv: (kv[0].startswith("("), -kv[1])))


def fmt_cores(c: dict[str, float], top: int = 4) -> str:
    named = [(k, v) for k, v in c.items() if not k.startswith("(")]
    shown = ", ".join(f"{k} {v:.2f}" for k, v in named[:top])
    rest = sum(v for _, v in named[top:])
    if rest:
        shown += f", rest of the tree {rest:.2f}"
    if "(postgres server)" in c:
        shown += f", postgres server {c['(postgres server)']:.2f}"
    return (f"{shown}; other processes on the machine {c.get('(other processes)', 0):.2f}; "
            f"whole machine {c.get('(whole machine)', 0):.2f} of 2")
