"""Repetitions: configurations interleaved (A B A B ...) so drifting load hits all alike, then medians."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from benchmarks.common.info import log

Result = dict[str, Any]
Show = Callable[[str, int, Result], None]  # (configuration, repetition from 0, its result)


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def medians(runs: list[Result]) -> dict[str, Any]:
    """The median of every numeric field over runs (over the runs that have it), in first-seen order."""
    keys = dict.fromkeys(k for r in runs for k, v in r.items() if isinstance(v, int | float))
    return {k: statistics.median(r[k] for r in runs if k in r) for k in keys}


def show_fields(name: str, i: int, r: Result) -> None:
    print(f"  {name} #{i + 1}: " + ", ".join(f"{k}={v:.3f}" for k, v in r.items()), flush=True)


class _Fields(dict[str, Any]):
    def __missing__(self, key: str) -> Any:
        return 0  # a field this run did not record (ray_connect on threads)


def log_reps(lines: dict[str, str], **values: Any) -> Show:
    """A Show that logs the line of the configuration's kind (its name up to the first space), filled by
    str.format from the result (0 for a field it lacks), ``values``, ``name``, ``rest`` (the name after
    the kind) and ``rep`` (counted from 1)."""

    def show(name: str, i: int, r: Result) -> None:
        kind, _, rest = name.partition(" ")
        log(lines[kind].format_map(_Fields(r, **values, name=name, rest=rest, rep=i + 1)))

    return show


def interleave(fns: dict[str, Callable[[], Result]], reps: int, show: Show = show_fields) -> dict[str, list[Result]]:
    """``reps`` rounds of every configuration in turn; each result is shown as it comes."""
    runs: dict[str, list[Result]] = {name: [] for name in fns}
    for i in range(reps):
        for name, fn in fns.items():
            runs[name].append(fn())
            show(name, i, runs[name][-1])
    return runs


def repeat(fns: dict[str, Callable[[], Result]], reps: int, warmup: bool = True) -> dict[str, dict[str, Any]]:
    """Median of each field over ``reps`` interleaved runs of each configuration, after one discarded
    warm-up run of each (unless ``warmup`` is False); ``wall_min`` and ``wall_max`` beside the medians."""
    if warmup:
        for fn in fns.values():
            fn()
    out = {}
    for name, rs in interleave(fns, reps).items():
        out[name] = medians(rs) | {"wall_min": min(r["wall"] for r in rs), "wall_max": max(r["wall"] for r in rs)}
    return out
