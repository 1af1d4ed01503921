"""The `runs` table: columns as wide as their widest cell, so long run ids stay whole."""

from __future__ import annotations

from pytest_wtb.cli.runs import RUNS_COLUMNS, table


def test_columns_grow_to_the_longest_cell_and_keep_their_minimum_width() -> None:
    long_id = "x" * 40
    lines = table(RUNS_COLUMNS, [
        [long_id, "2026-12-01 09:00:00", "12345.6s", "abandoned", "threads", "feature/very-long-branch@0123abcd", "h"],
        ["0123456789ab", "2026-12-01 09:00:01", "0.1s", "passed", "ray", "-", "host-2"],
    ])
    header, first, second = lines
    for title in ("started (UTC)", "took", "status", "backend", "git", "host"):
        start = header.index(title)
        assert header[start - 2:start] == "  "
    assert first.startswith(long_id + "  2026-12-01 09:00:00")
    assert second.startswith("0123456789ab" + " " * 28 + "  2026-12-01 09:00:01")
    # right-aligned: every took cell ends where the title does
    end = header.index("took") + len("took")
    end = max(end, first.index("12345.6s") + len("12345.6s"))
    assert first[:end].endswith("12345.6s") and second[:end].endswith("0.1s") and header[:end].endswith("took")
    assert first.endswith("  h") and second.endswith("  host-2")  # the last column is never padded


def test_short_values_keep_the_layout_of_the_minimum_widths() -> None:
    header, row = table(RUNS_COLUMNS, [["0123456789ab", "2026-12-01 09:00:00", "0.2s", "failed", "threads", "-", "vm"]])
    assert header == "run           started (UTC)          took  status    backend  git                   host"
    assert row == "0123456789ab  2026-12-01 09:00:00    0.2s  failed    threads  -                     vm"
