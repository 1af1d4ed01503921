"""--wtb-record: a suite replayed from its recordings against the same suite calling its model live.

    python -m benchmarks.recordings                    # 2 variants x 200 cases = 400 executions, 3 repetitions
    python -m benchmarks.recordings --quick            # 2 x 20 cases, 1 repetition
    python -m benchmarks.recordings --reps 5 --cases 200 --flavours sync --json /tmp/wtb-rec.json
    python -m benchmarks.recordings --workers 1 --flavours sync --reps 1   # calls one at a time

One generated project, a graph agent -> finish whose agent node calls a fake BaseChatModel (``_generate``
sleeps 250 ms: the network; ``_agenerate`` awaits it) and returns an AIMessage built from the model name
and the question; two variants (model-a, model-b: 400 distinct recordings) x N cases. Per flavour (sync:
sync nodes on the threads backend, default --wtb-workers; async: async nodes, default --wtb-concurrency):
  live     --wtb-record=off, a fresh store;
  record   --wtb-record=once on an empty store (the cost of recording every call);
  replay   --wtb-record=none on a copy of a store recorded once beforehand (every call replays);
  nomodel  the twin graph whose agent node returns the same message with no model call, off.

Every run is a fresh ``python -m pytest -q`` subprocess; configurations interleaved after one discarded
warm-up each (the record warm-up writes the store the replays copy). Wall: the pytest process. Batch:
the test loop's start (generated conftest) to the last execution's end (store). Goals (the issue):
live / replay >= 10 end to end, and (replay - nomodel) / model calls <= 1 ms. To measure a fixed commit while
others edit the tree: PYTHONPATH=<dir holding `git archive HEAD pytest_wtb`> python -m benchmarks.recordings.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common.cli import Ctx, Family, main
from benchmarks.common.info import log
from benchmarks.common.proc import PY, RunOpts, pytest_cmd, require_ok, run_proc
from benchmarks.common.project import timing_conftest, write_project
from benchmarks.common.stats import interleave, medians
from benchmarks.common.table import Row, fmt_s, phases, ratio_row
from benchmarks.common.threads_runs import plugin_options

OPTS = RunOpts(timeout_s=900)  # a hung batch must not hang the benchmark
SPEEDUP_GOAL, PER_CALL_GOAL_MS = 10.0, 1.0
MODES = {"live": "off", "record": "once", "replay": "none", "nomodel": "off"}
RACE = "KeyError: 'PYTEST_CURRENT_TEST'"
RACES: list[str] = []  # runs failed by that race and made again
WORKERS: list[str] = []  # --workers N: --wtb-workers and --wtb-concurrency for every run

TEST_MODULE = '''\
import asyncio
import time
from typing import Annotated, Any, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

import pytest_wtb as wtb

N_CASES, SLEEP_S, ASYNC, MODEL = {n_cases}, {sleep_s!r}, {is_async}, {model}


def reply(model_name: str, messages: list[Any]) -> AIMessage:
    return AIMessage(f"{{model_name}}: {{messages[-1].content}}")


class Fake(BaseChatModel):
    model_name: str

    @property
    def _llm_type(self) -> str:
        return "bench-fake"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {{"model_name": self.model_name}}

    def _generate(self, messages, stop=None, run_manager=None, **kw):
        time.sleep(SLEEP_S)  # the network
        return ChatResult(generations=[ChatGeneration(message=reply(self.model_name, messages))])

    async def _agenerate(self, messages, stop=None, run_manager=None, **kw):
        await asyncio.sleep(SLEEP_S)
        return ChatResult(generations=[ChatGeneration(message=reply(self.model_name, messages))])


class S(TypedDict, total=False):
    messages: Annotated[list, add_messages]
    q: int
    done: bool


def build(model_name: str) -> StateGraph:
    model = Fake(model_name=model_name)
    if ASYNC:  # every node async: the execution takes the plugin's asyncio path
        async def agent(s):
            return {{"messages": [await model.ainvoke(s["messages"]) if MODEL else reply(model_name, s["messages"])]}}

        async def finish(s):
            return {{"done": True}}
    else:
        def agent(s):
            return {{"messages": [model.invoke(s["messages"]) if MODEL else reply(model_name, s["messages"])]}}

        def finish(s):
            return {{"done": True}}
    g = StateGraph(S)
    g.add_node("agent", agent)
    g.add_node("finish", finish)
    g.add_edge(START, "agent")
    g.add_edge("agent", "finish")
    g.add_edge("finish", END)
    return g


@wtb.variant(baseline=True)
def a():
    return build("model-a")


@wtb.variant
def b():
    return build("model-b")


@wtb.cases({{f"c{{i}}": {{"messages": [("user", f"question {{i}}")], "q": i}} for i in range(N_CASES)}})
def test_agent(wtb_run):
    assert wtb_run.error is None, wtb_run.error
    assert wtb_run.state["done"] is True
    last = wtb_run.state["messages"][-1].content
    assert last == f"model-{{wtb_run.variant}}: question {{wtb_run.input['q']}}", last
'''


def write(root: Path, n_cases: int, sleep_s: float) -> Path:
    files = {f"test_{fl}{'' if model else '_nomodel'}.py": TEST_MODULE.format(
        n_cases=n_cases, sleep_s=sleep_s, is_async=fl == "async", model=model)
        for fl in ("sync", "async") for model in (True, False)}
    return write_project(root, files, timing_conftest())


def span(db: Path, since: float) -> dict[str, float]:
    """This run's executions only (a replayed store holds the recording run's rows too)."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT started_at, ended_at, duration_s, status FROM wtb_executions WHERE started_at >= ?",
                            (since,)).fetchall()
    finally:
        conn.close()
    durations = sorted(r[2] for r in rows)
    return {"first_start": min(r[0] for r in rows), "last_end": max(r[1] for r in rows), "min_duration": durations[0],
            "median_duration": durations[len(durations) // 2], "succeeded": sum(r[3] == "succeeded" for r in rows)}


def call_counts(out: str) -> dict[str, int]:
    """The summed rows of the terminal summary's "model and tool calls (--wtb-record):" table."""
    counts = dict.fromkeys(("replayed", "recorded", "live", "missing"), 0)
    _, found, rest = out.partition("model and tool calls (--wtb-record):")
    if not found:
        return counts
    for line in rest.splitlines()[2:]:
        m = re.fullmatch(r"\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*", line)
        if not m:
            break
        for k, v in zip(counts, m.groups(), strict=True):
            counts[k] += int(v)
    return counts


def run_one(root: Path, module: str, config: str, n: int, sleep_s: float, *, copy_from: Path | None = None,
            keep_as: Path | None = None) -> dict[str, Any]:
    """One pytest run of ``module`` under the configuration's record mode, checked: n passed, calls as meant."""
    load = os.getloadavg()[0]
    for _ in range(3):
        store_dir = Path(tempfile.mkdtemp(prefix="store-", dir=root))
        db = store_dir / "wtb.db"
        if copy_from is not None:
            shutil.copy(copy_from, db)
        cmd = pytest_cmd(module, f"--wtb-store=sqlite:///{db}", f"--wtb-record={MODES[config]}", *WORKERS)
        what = " ".join(cmd).replace(PY, "python")
        proc = run_proc(cmd, root, opts=OPTS)
        if proc.rc == 0 or RACE not in proc.out:
            break
        # pytest_wtb/execute/secrets.py iterates os.environ in a worker while pytest's main thread sets and
        # deletes PYTEST_CURRENT_TEST: a product race, counted and reported, and the run made again on a new store
        RACES.append(what)
        log(f"  the os.environ race failed an execution, run again: {what}")
        shutil.rmtree(store_dir, ignore_errors=True)
    require_ok(proc, what, f"{n} passed")
    s = span(db, proc.t0)
    calls = call_counts(proc.out)
    want = {"record": ("recorded", n), "replay": ("replayed", n)}.get(config)
    if s["succeeded"] != n or (want and calls[want[0]] != want[1]) or (want and sum(calls.values()) != n):
        raise SystemExit(f"benchmark step failed: {what}: {s['succeeded']} succeeded executions, calls {calls}")
    if config in ("live", "record") and s["min_duration"] < sleep_s:
        raise SystemExit(f"benchmark step failed: {what}: an execution took {s['min_duration']:.3f} s, "
                         f"under the model's {sleep_s} s: the model was not called")
    if keep_as is not None:
        shutil.copy(db, keep_as)
    shutil.rmtree(store_dir, ignore_errors=True)
    t = proc.times
    return {"wall": proc.wall_s, "batch": s["last_end"] - t["loop_start"], "exec_span": s["last_end"] -
            s["first_start"], "startup": t["collect_start"] - proc.t0, "collect": t["collect_end"] -
            t["collect_start"], "after_loop": proc.t0 + proc.wall_s - t["loop_end"], "loop_cpu":
            t["loop_cpu_end"] - t["loop_cpu_start"], "cpu": proc.cpu_s, "median_duration": s["median_duration"],
            "maxrss_mb": proc.maxrss_mb, "steal_pct": proc.steal_pct or 0.0, "load1": load,
            **{f"calls_{k}": v for k, v in calls.items()}}


def default_of(help_text: str, option: str, fallback: int) -> int:
    """The plugin's default workers / concurrency as its --help states them (the live floor depends on it)."""
    m = re.search(re.escape(option) + r"=\S+\s+[^-]*?default (\d+)", help_text)
    return int(m.group(1)) if m else fallback


def flavour_rows(fl: str, r: dict[str, dict[str, Any]], n: int, parallel: int, sleep_s: float) -> list[Row]:
    live, rec, rep, nom = (r[f"{fl} {c}"] for c in MODES)
    floor, knob = math.ceil(n / parallel) * sleep_s, "--wtb-workers" if fl == "sync" else "--wtb-concurrency"
    rows = []
    for what in ("wall", "batch"):
        x = live[what] / rep[what]
        rows.append(ratio_row(f"{fl}: live (off) / replay (none), {what}{' end to end' if what == 'wall' else ''}",
                              fmt_s(live[what]), fmt_s(rep[what]), x, f">= {SPEEDUP_GOAL:g}",
                              x >= SPEEDUP_GOAL if what == "wall" else None))
    for what in ("wall", "batch", "loop_cpu"):
        per = (rep[what] - nom[what]) / n * 1000
        rows.append(ratio_row(f"{fl}: (replay - no model) / {n} calls, {what.replace('_', ' ')}",
                              f"{per:.2f} ms", f"{nom[what]:.2f} s no model", None,
                              f"<= {PER_CALL_GOAL_MS:g} ms" if what != "loop_cpu" else "info",  # wall alone is noisy
                              per <= PER_CALL_GOAL_MS if what != "loop_cpu" else None))
    rows += [
        ratio_row(f"{fl}: record (once, empty store) / live, wall", fmt_s(rec["wall"]), fmt_s(live["wall"]),
                  rec["wall"] / live["wall"], "info", None),
        ratio_row(f"{fl}: live batch vs its floor ceil({n}/{parallel}) x {sleep_s:g} s ({knob} default)",
                  fmt_s(live["batch"]), fmt_s(floor), live["batch"] / floor, "info", None),
    ]
    return rows


def run(ctx: Ctx) -> None:
    a = ctx.args
    cases = a.cases or ctx.size(200, 20)
    n, sleep_s = 2 * cases, a.sleep_ms / 1000
    flavours = [f.strip() for f in a.flavours.split(",") if f.strip()]
    root = write(ctx.tmp / "rec", cases, sleep_s)
    help_text = plugin_options(root)
    if "--wtb-record" not in help_text:
        raise SystemExit("this pytest-wtb has no --wtb-record option: nothing to measure")
    parallel = {"sync": default_of(help_text, "--wtb-workers", 16),
                "async": default_of(help_text, "--wtb-concurrency", 64)}
    if a.workers:  # calls one (or N) at a time: a provider's rate limit, or a suite that does not batch
        WORKERS[:] = [f"--wtb-workers={a.workers}", f"--wtb-concurrency={a.workers}"]
        parallel = {"sync": a.workers, "async": a.workers}
    print(f"{n} executions (2 variants x {cases} cases), model call {sleep_s * 1000:.0f} ms; flavours "
          f"{', '.join(flavours)}; defaults --wtb-workers {parallel['sync']}, --wtb-concurrency "
          f"{parallel['async']}", flush=True)
    configs: dict[str, Callable[[], dict[str, Any]]] = {}
    for fl in flavours:
        recorded = root / f"recorded-{fl}.db"
        log(f"{fl}: warm-up (discarded), the record warm-up keeps its store for the replays")
        for config in MODES:
            module = f"test_{fl}{'_nomodel' if config == 'nomodel' else ''}.py"
            kw: dict[str, Any] = {"copy_from": recorded} if config == "replay" else {}
            run_one(root, module, config, n, sleep_s, **kw, **({"keep_as": recorded} if config == "record" else {}))
            configs[f"{fl} {config}"] = (lambda m=module, c=config, k=kw: run_one(root, m, c, n, sleep_s, **k))
    runs = interleave(configs, ctx.reps)
    r = {name: medians(rs) | {"wall_min": min(x["wall"] for x in rs), "wall_max": max(x["wall"] for x in rs)}
         for name, rs in runs.items()}
    ctx.raw.update(races=RACES, executions=n, cases=cases, sleep_s=sleep_s, parallel=parallel, runs=runs, medians=r)
    # a --quick run (1 repetition, 40 calls) cannot resolve 1 ms per call: figures without verdicts
    ctx.rows += [dataclasses.replace(row, met="-") if ctx.quick else row
                 for fl in flavours for row in flavour_rows(fl, r, n, parallel[fl], sleep_s)]
    snap = [d for d in os.environ.get("PYTHONPATH", "").split(os.pathsep) if d and (Path(d) / "pytest_wtb").is_dir()]
    ctx.notes += [f"measured the pytest_wtb in {snap[0]} (PYTHONPATH), not the repository's" for _ in snap[:1]] + [
        f"{n} model calls per run (one per execution); replay runs replayed all {n} (terminal summary), record "
        f"runs recorded all {n}, live and record executions each took >= {sleep_s:g} s (checked every run)",
        "commands (in the generated project, a fresh store each, the replay's a copy of a recorded one): "
        + "; ".join(f"{c}: python -m pytest test_<flavour>{'_nomodel' if c == 'nomodel' else ''}.py -q -p "
                    f"no:cacheprovider --wtb-store=sqlite:///<tmp>/wtb.db --wtb-record={m}" for c, m in MODES.items()),
        f"runs an os.environ race failed and that were made again: {len(RACES)} (KeyError 'PYTEST_CURRENT_TEST' "
        "from pytest_wtb/execute/secrets.py's os.environ.items() in a worker thread)",
        "per-call rows subtract the no-model twin's median from the replay's; the CPU row (the whole pytest "
        "process's CPU in the test loop) is the least sensitive to the machine's load",
    ]
    ctx.lines += [phases(name, {k: v for k, v in d.items() if not k.startswith("calls_")}) for name, d in r.items()]


def add_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--cases", type=int, default=None, help="cases per variant, 2 variants (default 200, 20 --quick)")
    ap.add_argument("--sleep-ms", type=float, default=250.0, help="the fake model's call (default 250)")
    ap.add_argument("--flavours", default="sync,async", help="sync, async or both (default sync,async)")
    ap.add_argument("--workers", type=int, default=None,
                    help="pass --wtb-workers/--wtb-concurrency N to every run (default: the plugin's defaults)")


FAMILY = Family("recordings", "recordings", "--wtb-record: replayed model calls vs live, record cost, per-call "
                "overhead", __doc__ or "", run, add_args=add_args)

if __name__ == "__main__":
    main(FAMILY)
