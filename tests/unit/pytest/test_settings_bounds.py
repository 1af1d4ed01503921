"""Option values a careless user gives: too many workers, a report list that names nothing, ray-only
options on a run without ray."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_wtb.errors import ConfigError
from pytest_wtb.pytest.settings import MAX_WORKERS, parse, ray_only_misuse


def parsed(**values: str):  # type: ignore[no-untyped-def]
    return parse(lambda name: (values.get(name), Path("/base")), Path("/r"))


def test_workers_are_bounded_for_every_backend() -> None:
    assert parsed(wtb_workers=str(MAX_WORKERS)).workers == MAX_WORKERS == 1024
    for backend, what in (("threads", "a thread"), ("ray", "a Ray actor process")):
        with pytest.raises(ConfigError, match=rf"--wtb-workers=1025 is too large; use an integer >= 1 and <= 1024 "
                                              rf"\(each worker is {what}\)"):
            parsed(wtb_workers="1025", wtb_backend=backend)
    with pytest.raises(ConfigError, match=r"\(each worker is a thread / a Ray actor process\)"):
        parsed(wtb_workers="99999999", wtb_compare_backends="threads,ray")
    with pytest.raises(ConfigError, match="--wtb-ray-max-concurrency=2000 is too large"):
        parsed(wtb_ray_max_concurrency="2000")


@pytest.mark.parametrize("raw", [",", " , ,", ",,,"])
def test_a_report_list_that_names_no_file_is_refused(raw: str) -> None:
    with pytest.raises(ConfigError, match=r"--wtb-report=.* names nothing: use e.g. --wtb-report=report.html"):
        parsed(wtb_report=raw)


def test_a_report_list_with_an_empty_part_keeps_the_files_it_names() -> None:
    assert [p.name for p in parsed(wtb_report="a.html,,b.json").reports] == ["a.html", "b.json"]


def test_ray_only_options_on_the_command_line_need_a_backend_that_reads_them() -> None:
    given = {"wtb_ray_address", "wtb_ray_memory"}.__contains__
    assert ray_only_misuse(given, ("threads",)) == (
        "--wtb-ray-address and --wtb-ray-memory only apply to the ray backend, but this run uses "
        "--wtb-backend=threads: add --wtb-backend=ray, or drop --wtb-ray-address and --wtb-ray-memory"
    )
    assert ray_only_misuse(given, ("threads", "ray")) is None
    assert ray_only_misuse(given, ("mine",)) is None  # a plugin's backend may read them
    assert ray_only_misuse(lambda name: False, ("threads",)) is None
