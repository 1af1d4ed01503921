"""Trajectory verdicts are the same on a PostgreSQL store, under pytest-xdist and on the Ray backend:
trajectories are read back from the store that the workers and actors wrote."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import pytest

from tests.plugin.test_trajectory_parity import MODES

if TYPE_CHECKING:
    from tests.store_support import StoreUnderTest

with contextlib.suppress(ImportError):  # loaded before pytester's in-process runs, which drop and re-import them
    import psycopg  # noqa: F401
    import psycopg_pool  # noqa: F401

pytest_plugins = ["tests.store_support"]

SELECT = ("-k", "test_strict or test_subset")
# test_strict: 4 of 6 variants fail; test_subset: 2 of 6 (see EXPECTED_FAILED)
OUTCOMES = {"passed": 6, "failed": 6}
EXPECTED = {"test_strict[other_args-rain]": "FAILED", "test_subset[fewer-rain]": "PASSED",
            "test_subset[extra-rain]": "FAILED", "test_subset[reordered-rain]": "PASSED"}
TEXT = ['*variant \'extra\' takes a different trajectory from baseline \'base\' on case \'rain\' (trajectory="subset")*',
        '*extra:*step * node agent calling lookup({"topic": "wind"})  checkpoint_id *']


def check(result: pytest.RunResult) -> None:
    """Each item's outcome (as -v prints it with or without xdist) and the failure texts."""
    for item, outcome in EXPECTED.items():
        said = {w for line in result.stdout.lines if f"::{item}" in line for w in ("PASSED", "FAILED") if w in line}
        assert said == {outcome}, (item, said)
    for line in TEXT:
        result.stdout.fnmatch_lines([line])


def test_same_verdicts_on_each_store_under_xdist(pytester: pytest.Pytester, store: StoreUnderTest) -> None:
    pytester.makepyfile(test_agent=MODES)
    result = pytester.runpytest_subprocess("-n", "2", "-p", "xdist", "-v", "-p", "no:randomly", store.option, *SELECT)
    result.assert_outcomes(**OUTCOMES)
    check(result)


def test_same_verdicts_on_ray(pytester: pytest.Pytester, ray_address: str) -> None:
    pytester.makepyfile(test_agent=MODES)
    result = pytester.runpytest_subprocess("--wtb-backend=ray", "--wtb-ray-address=auto", "-v", "-p", "no:randomly",
                                           "-p", "no:cacheprovider", *SELECT)
    result.assert_outcomes(**OUTCOMES)
    check(result)
