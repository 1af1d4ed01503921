"""RayBackend against the session's real Ray head (tests/conftest.py: ray_cluster, ray_driver).

The head runs from a directory without test code: the graphs below reach the workers through the
shipped PYTHONPATH, and a module outside every path through pickling by value.
"""

from __future__ import annotations

import importlib.util
import operator
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph

import pytest_wtb as wtb
from pytest_wtb.declare.variants import Case, Variant
from pytest_wtb.errors import ConfigError
from pytest_wtb.execute.backends.base import BackendContext
from pytest_wtb.execute.backends.ray import RayBackend
from pytest_wtb.model import FAILED, LOST, SUCCEEDED, TIMED_OUT, ExecutionResult, ExecutionSpec
from pytest_wtb.plan.executions import execution_key, thread_id_for
from pytest_wtb.report.failures import execution_failure_text
from pytest_wtb.store import Store, open_store, parse_store_url

RUN = "rayunit"


class State(TypedDict, total=False):
    q: str
    marker: str
    env: str | None
    log: Annotated[list[str], operator.add]


def step_a(state: State) -> dict[str, Any]:
    return {"log": ["a"], "env": os.environ.get("WTB_FLAVOR")}


def crash_once(state: State) -> dict[str, Any]:
    marker = Path(state["marker"])
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        os._exit(1)  # the worker process dies mid-execution
    return {"log": ["crash"]}


def crash_always(state: State) -> dict[str, Any]:
    os._exit(1)


def slow(state: State) -> dict[str, Any]:
    time.sleep(60)
    return {"log": ["slow"]}


def step_c(state: State) -> dict[str, Any]:
    return {"log": ["c"]}


def chain(*nodes: Any) -> StateGraph[Any]:
    g = StateGraph(State)
    names = []
    for fn in nodes:
        g.add_node(fn.__name__, fn)
        names.append(fn.__name__)
    for a, b in zip([START, *names], [*names, END], strict=True):
        g.add_edge(a, b)
    return g


@wtb.variant(baseline=True)
def plain() -> StateGraph[Any]:
    return chain(step_a, step_c)


flaky = wtb.variant(name="flaky")(lambda: chain(step_a, crash_once, step_c))
doomed = wtb.variant(name="doomed")(lambda: chain(step_a, crash_always))
stuck = wtb.variant(name="stuck")(lambda: chain(step_a, slow))
flavoured = wtb.variant(name="flavoured", env={"env_vars": {"WTB_FLAVOR": "mint"}})(plain.factory)


def make_spec(variant: Variant, case_id: str, inp: Any, timeout_s: float | None = None) -> ExecutionSpec:
    key = execution_key(__name__, variant.name, Case(case_id, {"case": case_id}))
    return ExecutionSpec(key, RUN, thread_id_for(RUN, variant.name, case_id, key), __name__, variant,
                         case_id, inp, timeout_s)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(parse_store_url(f"sqlite:///{tmp_path / 'wtb.db'}", tmp_path))
    yield s
    s.close()


@pytest.fixture
def start(ray_driver: Any, store: Store) -> Iterator[Any]:
    """Start a RayBackend with the given options; closed (actors killed) after the test."""
    started: list[RayBackend] = []

    def go(retries: int = 2, timeout_s: float | None = None, **options: Any) -> RayBackend:
        backend = RayBackend(**{"workers": 2, **options})
        backend.start(BackendContext(RUN, store.url, store.checkpoints, timeout_s, retries))
        started.append(backend)
        return backend

    yield go
    for backend in started:
        backend.close()


def run_all(backend: RayBackend, specs: list[ExecutionSpec], within_s: float = 120) -> dict[str, ExecutionResult]:
    """Submit everything, wait for every result, and check each came exactly once."""
    results: dict[str, ExecutionResult] = {}
    calls: Counter[str] = Counter()
    all_in = threading.Event()

    def done(result: ExecutionResult) -> None:
        calls[result.key] += 1
        results[result.key] = result
        if len(results) == len(specs):
            all_in.set()

    for spec in specs:
        backend.submit(spec, done)
    assert all_in.wait(within_s), f"only {len(results)} of {len(specs)} results arrived"
    backend.close()  # joins the driver loop: a late second delivery would show below
    assert set(calls.values()) == {1}, calls
    return results


def test_runs_executions_in_actors_and_checkpoints_reach_the_driver_store(start: Any, store: Store) -> None:
    backend = start()
    specs = [make_spec(plain, f"c{i}", {"q": str(i)}) for i in range(6)]
    results = run_all(backend, specs)
    for spec in specs:
        r = results[spec.key]
        assert r.status == SUCCEEDED, r.error
        assert r.state is not None and r.state["log"] == ["a", "c"] and r.state["q"] == spec.input["q"]
        assert r.backend == "ray" and r.thread_id == spec.thread_id and r.checkpoint_id
        assert r.worker.split(":")[1] != str(os.getpid())  # ran in another process
    saver = store.checkpoints.new()
    history = list(saver.list({"configurable": {"thread_id": specs[0].thread_id}}))
    assert len(history) == 4  # input, start, a, c: written by the actor, read here


def test_backpressure_keeps_ray_tasks_in_flight_bounded(start: Any) -> None:
    backend = start(max_pending=3)
    assert backend.capacity == 3
    specs = [make_spec(plain, f"bp{i}", {"q": str(i)}) for i in range(30)]
    results = run_all(backend, specs)
    assert all(r.ok for r in results.values())
    assert 1 <= backend.max_in_flight <= 4  # 2 actors x (1 running + 1 queued), however many specs wait


def test_a_worker_that_dies_is_retried_on_a_fresh_actor_from_a_clean_thread(start: Any, tmp_path: Path) -> None:
    backend = start(retries=2)
    spec = make_spec(flaky, "once", {"q": "x", "marker": str(tmp_path / "crashed")})
    ok = make_spec(plain, "bystander", {"q": "y"})
    results = run_all(backend, [spec, ok])
    r = results[spec.key]
    assert r.status == SUCCEEDED, r.error
    assert r.attempts == 2
    assert r.state is not None and r.state["log"] == ["a", "crash", "c"]  # not a resumed, doubled log
    assert results[ok.key].ok


def test_a_worker_that_always_dies_is_lost_after_the_retries_and_the_rest_goes_on(start: Any) -> None:
    backend = start(retries=1)
    lost = make_spec(doomed, "boom", {"q": "x"})
    others = [make_spec(plain, f"fine{i}", {"q": str(i)}) for i in range(3)]
    results = run_all(backend, [lost, *others])
    r = results[lost.key]
    assert r.status == LOST and r.attempts == 2
    assert len(r.extra["attempt_errors"]) == 2
    assert all("attempt" in e for e in r.extra["attempt_errors"])
    text = execution_failure_text(r)
    assert "was lost: the worker died (2 attempts)" in text
    assert lost.thread_id in text
    assert all(results[s.key].ok for s in others)


def test_calls_queued_behind_a_crash_on_one_actor_do_not_spend_their_retries(start: Any) -> None:
    # one actor: every bystander is pipelined behind the doomed execution on each fresh actor it dies on
    backend = start(workers=1, retries=1)
    lost = make_spec(doomed, "boom-alone", {"q": "x"})
    others = [make_spec(plain, f"queued{i}", {"q": str(i)}) for i in range(3)]
    results = run_all(backend, [lost, *others])
    assert results[lost.key].status == LOST and results[lost.key].attempts == 2
    assert all(results[s.key].ok for s in others), [results[s.key].error for s in others]
    assert all(results[s.key].attempts == 1 for s in others), [(results[s.key].attempts, results[s.key].extra) for s in others]


def test_timeout_kills_the_actor_and_the_pool_carries_on(start: Any) -> None:
    backend = start(timeout_s=1.5)
    hung = make_spec(stuck, "hang", {"q": "x"}, timeout_s=1.5)
    after = [make_spec(plain, f"after{i}", {"q": str(i)}, timeout_s=1.5) for i in range(3)]
    t0 = time.monotonic()
    results = run_all(backend, [hung, *after], within_s=60)
    r = results[hung.key]
    assert r.status == TIMED_OUT
    assert r.error is not None and "--wtb-timeout=1.5" in r.error.message and "'slow'" in r.error.message
    assert all(results[s.key].ok for s in after)
    assert time.monotonic() - t0 < 30


def test_state_ray_cannot_serialize_fails_naming_the_key(start: Any) -> None:
    backend = start()
    bad = make_spec(plain, "lock", {"q": "x", "extra": {"handle": threading.Lock()}})
    results = run_all(backend, [bad])
    r = results[bad.key]
    assert r.status == FAILED and r.error is not None
    assert "'extra.handle'" in r.error.message and "lock" in r.error.message


def test_variant_env_and_resources_make_their_own_pools(start: Any) -> None:
    backend = start()
    greedy = wtb.variant(name="greedy", resources={"num_cpus": 64})(plain.factory)
    odd = wtb.variant(name="odd", resources={"cpus": 1})(plain.factory)
    specs = [make_spec(v, "e", {"q": "x"}) for v in (plain, flavoured, greedy, odd)]
    results = run_all(backend, specs)
    base, env, too_big, unknown = (results[s.key] for s in specs)
    assert base.ok and base.state is not None and base.state["env"] is None
    assert env.ok and env.state is not None and env.state["env"] == "mint"
    assert too_big.status == FAILED and too_big.error is not None
    assert "asks for CPU=64 but the Ray cluster has CPU=" in too_big.error.message
    assert unknown.error is not None and "unknown resources cpus" in unknown.error.message


def test_a_pool_bigger_than_the_cluster_is_a_clear_error(ray_driver: Any, store: Store) -> None:
    backend = RayBackend(workers=8, num_cpus=1)
    with pytest.raises(ConfigError, match=r"asks for 8 actors x CPU=1 but the Ray cluster has CPU="):
        backend.start(BackendContext(RUN, store.url, store.checkpoints))
    backend.close()


def test_code_outside_every_import_path_is_shipped_by_value(start: Any, tmp_path: Path) -> None:
    source = tmp_path / "hidden" / "wtb_hidden_graphs.py"
    source.parent.mkdir()
    source.write_text(
        "from langgraph.graph import END, START, StateGraph\n"
        "from typing import TypedDict\n"
        "class S(TypedDict, total=False):\n    q: str\n    out: str\n"
        "def shout(state):\n    return {'out': state['q'].upper()}\n"
        "def build():\n    g = StateGraph(S)\n    g.add_node('shout', shout)\n"
        "    g.add_edge(START, 'shout')\n    g.add_edge('shout', END)\n    return g\n"
    )
    spec_ = importlib.util.spec_from_file_location("wtb_hidden_graphs", source)
    assert spec_ is not None and spec_.loader is not None
    module = importlib.util.module_from_spec(spec_)
    sys.modules["wtb_hidden_graphs"] = module
    try:
        spec_.loader.exec_module(module)
        hidden = wtb.variant(name="hidden")(module.build)
        results = run_all(start(), [make_spec(hidden, "h", {"q": "quiet"})])
    finally:
        del sys.modules["wtb_hidden_graphs"]
    (r,) = results.values()
    assert r.ok, r.error
    assert r.state is not None and r.state["out"] == "QUIET"
