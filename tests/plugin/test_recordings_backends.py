"""Recordings where they live and run: the store-side commands (`recordings` with --prune, `show`, the JSON
report), and the record-then-replay proof on Ray workers, under pytest-xdist and on a PostgreSQL store, where
the recordings made in one process must be what another process replays."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.plugin.test_recordings import AGENT, calls, live, run
from tests.store_support import FAKE_PASSWORD, throwaway_database

with contextlib.suppress(ImportError):  # loaded before in-process runs, which would drop and re-import them
    import psycopg  # noqa: F401
    import psycopg_pool  # noqa: F401


@pytest.fixture
def agent(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_rec=AGENT)
    return pytester


def cli(pytester: pytest.Pytester, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "pytest_wtb", *args], cwd=pytester.path, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    return proc


def rows(listing: str) -> dict[tuple[str, str], tuple[int, int]]:
    """`recordings` rows summed over the variants that recorded them: (kind, model or tool) -> (recordings, hits)."""
    summed: dict[tuple[str, str], tuple[int, int]] = {}
    for kind, name, n, hits in re.findall(r"^test_rec +\w+ +\w+ +(\w+) +(\S+) +(\d+) +(\d+) +\d{4}-", listing, re.M):
        was = summed.get((kind, name), (0, 0))
        summed[kind, name] = (was[0] + int(n), was[1] + int(hits))
    return summed


def test_recordings_lists_and_prunes_and_show_and_the_report_mark_replayed_calls(
        agent: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTHER_MODEL", "fake-3")
    run(agent, "--wtb-record=once").assert_outcomes(passed=4)
    listed = cli(agent, "recordings").stdout
    assert listed.splitlines()[0].split() == ["module", "variant", "node", "kind", "model", "or", "tool",
                                              "recordings", "hits", "recorded"]
    before = rows(listed)
    assert {k: n for k, (n, _) in before.items()} == {
        ("chat", "fake-rec(fake-1)"): 4, ("chat", "fake-rec(fake-3)"): 4, ("tool", "lookup"): 2}
    assert "10 recordings in sqlite:///" in listed
    run(agent, "--wtb-record=none", "--wtb-report=r.json").assert_outcomes(passed=4)
    after = rows(cli(agent, "recordings").stdout)
    assert all(after[k][1] == before[k][1] + 4 for k in before), (before, after)  # each replayed 4 times

    report = json.loads((agent.path / "r.json").read_text())
    assert sorted(report["recordings"], key=lambda r: r["variant"]) == [
        {"variant": v, "replayed": 6, "recorded": 0, "live": 0, "missing": 0} for v in ("base", "other_model")]
    execution = next(e for e in report["executions"] if e["variant"] == "base" and e["case_id"] == "paris")
    assert [(c["kind"], c["name"], c["node"], c["status"]) for c in execution["calls"]] == [
        ("chat", "fake-rec(fake-1)", "agent", "replayed"), ("tool", "lookup", "tools", "replayed"),
        ("chat", "fake-rec(fake-1)", "agent", "replayed")]
    shown = cli(agent, "show", execution["thread_id"]).stdout
    pytest.LineMatcher(shown.splitlines()).fnmatch_lines([
        "  calls (--wtb-record): 3 replayed",
        "    replayed  chat  fake-rec(fake-1)  in node 'agent'  recording ????????????",
        "    replayed  tool  lookup  in node 'tools'  recording ????????????",
        "    replayed  chat  fake-rec(fake-1)  in node 'agent'  recording ????????????",
    ])

    monkeypatch.setenv("OTHER_MODEL", "fake-2")  # the variant moves on: fake-3's recordings are no longer used
    run(agent, "--wtb-record=new").assert_outcomes(passed=4)
    pruned = cli(agent, "recordings", "--prune").stdout
    assert "pruned 4 recordings the newest run of their test module did not use" in pruned
    assert set(rows(pruned)) == {("chat", "fake-rec(fake-1)"), ("chat", "fake-rec(fake-2)"), ("tool", "lookup")}
    assert "10 recordings in sqlite:///" in pruned


def record_then_replay(pytester: pytest.Pytester, *args: str) -> None:
    """once records every call, in whichever process runs the execution; none then calls nothing live."""
    first = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", "--wtb-record=once", *args,
                                          timeout=240)
    first.assert_outcomes(passed=4)
    assert len(live(pytester)) == 12
    assert calls(first) == {"base": (0, 6, 0, 0), "other_model": (0, 6, 0, 0)}
    again = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", "--wtb-record=none", *args,
                                          timeout=240)
    again.assert_outcomes(passed=4)
    assert live(pytester) == [], "a replayed run called a model or tool live"
    assert calls(again) == {"base": (6, 0, 0, 0), "other_model": (6, 0, 0, 0)}


@pytest.mark.services
def test_ray_workers_record_and_replay_model_and_tool_calls(agent: pytest.Pytester, ray_address: str) -> None:
    ray = ("--wtb-backend=ray", "--wtb-ray-address=auto", "--wtb-workers=2")
    record_then_replay(agent, *ray)
    # a miss on a worker fails its execution as on threads (the file changes: env vars stay on the driver)
    agent.makepyfile(test_rec=AGENT.replace('"OTHER_MODEL", "fake-1"', '"OTHER_MODEL", "fake-2"'))
    missed = agent.runpytest_subprocess("-p", "no:cacheprovider", "--wtb-record=none", *ray, timeout=240)
    missed.assert_outcomes(passed=2, failed=2)
    missed.stdout.fnmatch_lines(["*execution of variant 'other_model' on case 'paris' failed: RecordingMissing in "
                                 "node 'agent': no recording of chat model 'fake-rec(fake-2)' called in node 'agent'*"])
    assert live(agent) == []


def test_xdist_workers_record_and_replay_into_one_store(agent: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    record_then_replay(agent, "-n", "2")


@pytest.fixture
def pg_url() -> Iterator[str]:
    for store in throwaway_database():
        yield store.url


@pytest.mark.services
def test_a_postgresql_store_holds_the_recordings(agent: pytest.Pytester, pg_url: str) -> None:
    first = run(agent, f"--wtb-store={pg_url}", "--wtb-record=once")
    first.assert_outcomes(passed=4)
    assert len(live(agent)) == 12 and calls(first)["base"] == (0, 6, 0, 0)
    assert not (agent.path / ".wtb").exists()  # nothing went to the default SQLite file
    again = run(agent, f"--wtb-store={pg_url}", "--wtb-record=none")
    again.assert_outcomes(passed=4)
    assert live(agent) == [] and calls(again) == {"base": (6, 0, 0, 0), "other_model": (6, 0, 0, 0)}
    listed = cli(agent, "recordings", "--store", pg_url).stdout
    # both variants make the same calls: 4 model and 2 tool recordings, each replayed twice by the none run
    assert rows(listed) == {("chat", "fake-rec(fake-1)"): (4, 8), ("tool", "lookup"): (2, 4)}
    assert "6 recordings in postgresql://" in listed and FAKE_PASSWORD not in listed + first.stdout.str()
