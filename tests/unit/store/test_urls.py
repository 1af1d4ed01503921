"""Store URLs: the forms pytest-wtb accepts, where they point, and that passwords never show."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_wtb.errors import ConfigError
from pytest_wtb.store.urls import mask, parse_store_url


def test_sqlite_relative_and_absolute_paths(tmp_path: Path) -> None:
    rel = parse_store_url("sqlite:///results/wtb.db", tmp_path)
    assert rel.kind == "sqlite" and rel.sqlite_path == tmp_path / "results" / "wtb.db"
    absolute = parse_store_url(f"sqlite:///{tmp_path}/x.db", Path("/elsewhere"))  # four slashes
    assert absolute.sqlite_path == tmp_path / "x.db"
    assert rel.describe() == f"SQLite store {tmp_path / 'results' / 'wtb.db'}"


@pytest.mark.parametrize(
    "raw",
    [
        "postgresql://u:pw@db.example:6543/wtb",
        "postgres://u:pw@db.example:6543/wtb",
        "postgresql+psycopg://u:pw@db.example:6543/wtb",
    ],
)
def test_postgres_forms_normalise_to_one_url(raw: str) -> None:
    url = parse_store_url(raw, Path("."))
    assert url.kind == "postgresql"
    assert url.libpq_url == "postgresql://u:pw@db.example:6543/wtb"
    assert url.sqlalchemy_url == "postgresql+psycopg://u:pw@db.example:6543/wtb"
    assert (url.host, url.database, url.user) == ("db.example:6543", "wtb", "u")
    assert url.display == "postgresql://u:***@db.example:6543/wtb"
    assert url.describe() == (
        "PostgreSQL database 'wtb' on db.example:6543 as user 'u' (postgresql://u:***@db.example:6543/wtb)"
    )


def test_postgres_query_parameters_are_kept_for_libpq() -> None:
    url = parse_store_url("postgresql:///wtb?host=/var/run/postgresql&options=-csearch_path%3Dci", Path("."))
    assert url.host == "/var/run/postgresql:5432"
    assert url.libpq_url.endswith("?host=/var/run/postgresql&options=-csearch_path%3Dci")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("postgresql://u:hunter2@/db", "no host"),
        ("postgresql://u:hunter2@h:5432/", "no database"),
        ("postgresql://u:hunter2@h:port/db", "port is not a number"),
        ("mysql://u:hunter2@h/db", "is not a store URL pytest-wtb knows"),
        ("sqlite:///:memory:", "must be a file"),
        ("sqlite://relative.db", "must be a file"),
    ],
)
def test_bad_urls_say_why_and_list_the_valid_forms_without_the_password(raw: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_store_url(raw, Path("."))
    text = str(err.value)
    assert message in text
    assert "sqlite:///" in text and "postgresql://" in text
    assert "hunter2" not in text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("postgresql://u:hunter2@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:p%40ss@h/db and more", "postgresql://u:***@h/db and more"),
        ("postgresql://h/db?password=hunter2&sslmode=require", "postgresql://h/db?password=***&sslmode=require"),
        ("host=h password=hunter2 dbname=x", "host=h password=*** dbname=x"),
        ("host=h password='hunter 2' dbname=x", "host=h password=*** dbname=x"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("no url here", "no url here"),
    ],
)
def test_mask_hides_passwords_in_urls_queries_and_conninfo(text: str, shown: str) -> None:
    assert mask(text) == shown
