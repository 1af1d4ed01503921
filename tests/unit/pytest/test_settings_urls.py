from __future__ import annotations

from pathlib import Path

import pytest

from pytest_wtb.errors import ConfigError
from pytest_wtb.pytest.settings import parse
from pytest_wtb.store.urls import mask, parse_store_url


def lookup(values: dict[str, str]):  # type: ignore[no-untyped-def]
    return lambda name: (values.get(name), Path("/base"))


def test_defaults() -> None:
    s = parse(lookup({}), Path("/root/.wtb"))
    assert (s.backend, s.thread_workers, s.timeout_s, s.retries) == ("threads", 16, None, 2)
    assert s.store is not None and s.store.sqlite_path == Path("/root/.wtb/wtb.db")


def test_values_and_errors() -> None:
    s = parse(lookup({"wtb_workers": "4", "wtb_timeout": "2.5", "wtb_compare_backends": "threads, ray"}), Path("/r"))
    assert (s.workers, s.timeout_s, s.compare_backends) == (4, 2.5, ("threads", "ray"))
    assert parse(lookup({}), Path("/r")).share_prefix_min_s == 0  # sharing is on wherever provably safe
    assert parse(lookup({"wtb_share_prefix_min_ms": "5"}), Path("/r")).share_prefix_min_s == 0.005
    for bad, message in [({"wtb_workers": "0"}, ">= 1"), ({"wtb_timeout": "inf"}, "finite"),
                         ({"wtb_retries": "x"}, "whole number"), ({"wtb_compare_backends": "ray,ray"}, "two different"),
                         ({"wtb_share_prefix_min_ms": "-1"}, "milliseconds >= 0"),
                         ({"wtb_share_prefix_min_ms": "soon"}, "is not a number of milliseconds")]:
        with pytest.raises(ConfigError, match=message):
            parse(lookup(bad), Path("/r"))


def test_store_urls_resolve_and_mask() -> None:
    rel = parse_store_url("sqlite:///data/w.db", Path("/proj"))
    assert rel.sqlite_path == Path("/proj/data/w.db") and rel.sqlalchemy_url == "sqlite:////proj/data/w.db"
    assert parse_store_url("sqlite:////abs/w.db", Path("/proj")).sqlite_path == Path("/abs/w.db")
    pg = parse_store_url("postgresql://u:s3cret@db.example:5432/wtb", Path("/"))
    assert pg.kind == "postgresql" and pg.display == "postgresql://u:***@db.example:5432/wtb"
    assert pg.sqlalchemy_url.startswith("postgresql+psycopg://")
    assert mask("failed for postgresql://a:b@h/d and sqlite:///x") == "failed for postgresql://a:***@h/d and sqlite:///x"
    for bad in ("sqlite://", "sqlite:///:memory:", "redis://x", "postgresql://h", "nonsense"):
        with pytest.raises(ConfigError):
            parse_store_url(bad, Path("/"))
