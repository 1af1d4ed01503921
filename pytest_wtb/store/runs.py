"""Reading the store as a history: recent runs, per-variant counts, one run's executions, run ids."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import func, select

from pytest_wtb.errors import StoreError
from pytest_wtb.model import PREFIX_LABEL, RUNNING, SUCCEEDED
from pytest_wtb.store import schema
from pytest_wtb.store.owners import owner_is_dead, owner_pid
from pytest_wtb.store.results import ResultStore

# the key that matches one execution across runs
MatchKey = tuple[str, str, str]  # (scope, variant, case_id)
_LAST = re.compile(r"^last(?:~(\d+))?$")
MIN_PREFIX: Final = 4


def wtb_version() -> str:
    """This pytest-wtb's version, as runs record it."""
    from importlib import metadata

    try:
        return metadata.version("pytest-wtb")
    except metadata.PackageNotFoundError:
        return "-"


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    started_at: float
    ended_at: float | None
    status: str
    backend: str
    host: str | None
    git_commit: str | None
    git_branch: str | None
    args: str | None
    heartbeat_at: float | None
    owner: str | None = None  # host:pid:worker@invocation of the process that started or rejoined it
    parent_run: str | None = None  # set on a --wtb-compare-backends second leg
    wtb_version: str | None = None  # the pytest-wtb that ran it (None: recorded before schema 5)

    @classmethod
    def from_row(cls, row: Any) -> RunInfo:
        m = row._mapping if hasattr(row, "_mapping") else row
        return cls(**{name: m[name] for name in cls.__dataclass_fields__ if name in m})

    @property
    def git(self) -> str:
        if not self.git_commit:
            return "-"
        return f"{self.git_branch or '?'}@{self.git_commit[:8]}"


@dataclass(frozen=True)
class VariantCount:
    scope: str
    variant: str
    passed: int = 0  # executions that succeeded
    failed: int = 0  # executions that failed, timed out, were lost or abandoned
    running: int = 0
    parity_failed: int = 0  # parity checks (against the baseline or a stored run) that failed


def list_runs(results: ResultStore, limit: int = 10) -> list[RunInfo]:
    with results.read() as conn:
        rows = conn.execute(select(schema.runs).order_by(schema.runs.c.started_at.desc()).limit(limit)).all()
    return [RunInfo.from_row(r) for r in rows]


def variant_counts(results: ResultStore, run_ids: list[str]) -> dict[str, list[VariantCount]]:
    """Per run, per (scope, variant): how many executions passed or failed, and parity failures."""
    ex, par = schema.executions.c, schema.parity_outcomes.c
    with results.read() as conn:
        by_status = conn.execute(
            select(ex.run_id, ex.scope, ex.variant, ex.status, func.count())
            .where(ex.run_id.in_(run_ids), ex.variant != PREFIX_LABEL)
            .group_by(ex.run_id, ex.scope, ex.variant, ex.status)
        ).all()
        parity = conn.execute(
            select(par.run_id, ex.scope, par.variant, func.count())
            .select_from(schema.parity_outcomes.join(schema.executions, par.thread_id == ex.thread_id))
            .where(par.run_id.in_(run_ids), par.passed.is_(False))
            .group_by(par.run_id, ex.scope, par.variant)
        ).all()
    counts: dict[str, dict[tuple[str, str], dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for run_id, scope, variant, status, n in by_status:
        bucket = "passed" if status == SUCCEEDED else "running" if status == RUNNING else "failed"
        slot = counts[run_id][(scope, variant)]
        slot[bucket] = slot.get(bucket, 0) + n
    for run_id, scope, variant, n in parity:
        slot = counts[run_id][(scope, variant)]
        slot["parity_failed"] = slot.get("parity_failed", 0) + n
    return {
        run_id: [VariantCount(scope, variant, **c) for (scope, variant), c in sorted(per_run.items())]
        for run_id, per_run in counts.items()
    }


def resolve_run(results: ResultStore, ref: str, exclude: str | None = None, finished: bool = False) -> RunInfo:
    """A run by name (``bless``), id, unique id prefix, ``last`` or ``last~N`` (N runs before the last).

    ``exclude`` leaves out a run (the current one); ``finished`` only counts runs that ended. The
    second leg of a --wtb-compare-backends run is part of its run: never ``last``, named by its id.
    """
    from pytest_wtb.store.names import named_run

    runs_c = schema.runs.c
    named = None if _LAST.match(ref.strip()) else named_run(results, ref.strip())
    if named is not None:  # a name given with `bless` names its run, whatever ran since
        ref = named
    query = select(schema.runs).order_by(runs_c.started_at.desc())
    if _LAST.match(ref.strip()):
        query = query.where(runs_c.parent_run.is_(None))
    if exclude is not None:
        query = query.where(runs_c.run_id != exclude)
    if finished:
        query = query.where(runs_c.ended_at.is_not(None), runs_c.status != RUNNING)
    last = _LAST.match(ref.strip())
    with results.read() as conn:
        if last:
            back = int(last.group(1) or 0)
            row = conn.execute(query.offset(back).limit(1)).first()
            if row is None:
                what = "finished run" if finished else "run"
                raise StoreError(f"no {what} '{ref}' in store {results.url.display}: it holds fewer runs")
            return RunInfo.from_row(row)
        exact = conn.execute(query.where(runs_c.run_id == ref)).first()
        if exact is not None:
            return RunInfo.from_row(exact)
        matches = conn.execute(query.where(runs_c.run_id.startswith(ref, autoescape=True)).limit(5)).all()
        if len(ref) >= MIN_PREFIX and len(matches) == 1:
            return RunInfo.from_row(matches[0])
        recent = [RunInfo.from_row(r).run_id for r in conn.execute(query.limit(5)).all()]
    if len(matches) > 1 and len(ref) >= MIN_PREFIX:
        ids = ", ".join(RunInfo.from_row(m).run_id for m in matches)
        raise StoreError(f"run id prefix '{ref}' is ambiguous in store {results.url.display}: {ids}")
    hint = f"; recent runs: {', '.join(recent)}" if recent else "; the store holds no runs yet"
    raise StoreError(
        f"no run '{ref}' in store {results.url.display} (give a run id, a prefix of at least "
        f"{MIN_PREFIX} characters, last or last~N){hint}"
    )


def dead_local(results: ResultStore) -> tuple[dict[str, int | None], list[str]]:
    """Processes visibly gone (this host, pid gone) that own running executions or runs, with their
    pids; and the running runs whose owner is such a process and that no live process writes into."""
    runs_c, ex = schema.runs.c, schema.executions.c
    with results.read() as conn:
        running = conn.execute(select(runs_c.run_id, runs_c.owner).where(runs_c.status == RUNNING)).all()
        owners = conn.execute(select(ex.run_id, ex.owner).where(ex.status == RUNNING).distinct()).all()
    candidates = {o for _, o in owners if o} | {o for _, o in running if o}
    dead = {o: owner_pid(o) for o in sorted(candidates) if owner_is_dead(o)}
    written = {run_id for run_id, o in owners if o not in dead}  # a live (or unknown) process runs some
    return dead, [run_id for run_id, o in running if o in dead and run_id not in written]


def run_executions(results: ResultStore, run_id: str) -> list[dict[str, Any]]:
    """The run's executions of user variants (not the shared-prefix executions they forked from)."""
    ex = schema.executions.c
    with results.read() as conn:
        rows = conn.execute(
            select(schema.executions).where(ex.run_id == run_id, ex.variant != PREFIX_LABEL)
        ).all()
    return [dict(r._mapping) for r in rows]


def match_key(row: dict[str, Any]) -> MatchKey:
    return (row["scope"], row["variant"], row["case_id"])


def pair_executions(
    rows_a: list[dict[str, Any]], rows_b: list[dict[str, Any]]
) -> tuple[list[tuple[dict[str, Any], dict[str, Any]]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Match two runs' executions: the same exec_key (same scope, variant, case id and input) first,
    then the same (scope, variant, case_id) where that is unique on both sides (the input changed).
    Returns (pairs, only in a, only in b)."""
    by_key_b = {r["exec_key"]: r for r in rows_b}
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    rest_a: list[dict[str, Any]] = []
    for row in rows_a:
        other = by_key_b.pop(row["exec_key"], None)
        if other is None:
            rest_a.append(row)
        else:
            pairs.append((row, other))
    groups_a: dict[MatchKey, list[dict[str, Any]]] = defaultdict(list)
    groups_b: dict[MatchKey, list[dict[str, Any]]] = defaultdict(list)
    for row in rest_a:
        groups_a[match_key(row)].append(row)
    for row in by_key_b.values():
        groups_b[match_key(row)].append(row)
    only_a: list[dict[str, Any]] = []
    only_b: list[dict[str, Any]] = []
    for key in sorted(set(groups_a) | set(groups_b)):
        left, right = groups_a.get(key, []), groups_b.get(key, [])
        if len(left) == 1 and len(right) == 1:
            pairs.append((left[0], right[0]))
        else:
            only_a.extend(left)
            only_b.extend(right)
    pairs.sort(key=lambda p: (match_key(p[1]), p[1]["exec_key"]))
    return pairs, only_a, only_b


def matching_execution(results: ResultStore, run_id: str, key: MatchKey, exec_key: str) -> dict[str, Any] | None:
    """The execution of (scope, variant, case_id) in ``run_id``: the same exec_key if that run had
    it, else the only one with that (scope, variant, case_id); None when absent or ambiguous."""
    ex = schema.executions.c
    scope, variant, case_id = key
    with results.read() as conn:
        rows = conn.execute(
            select(schema.executions).where(
                ex.run_id == run_id, ex.scope == scope, ex.variant == variant, ex.case_id == case_id
            )
        ).all()
    found = [dict(r._mapping) for r in rows]
    same = [r for r in found if r["exec_key"] == exec_key]
    if same:
        return same[0]
    return found[0] if len(found) == 1 else None
