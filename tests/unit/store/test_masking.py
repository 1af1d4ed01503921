"""Passwords never show: not in URLs (spaces, bare '@', percent-encoded), not in ``*password*``
parameters (``sslpassword``, ``?password=``), not in libpq key=value strings, not in what libpq
echoes back, and not in the command line a run records."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pytest_wtb.errors import ConfigError, StoreError
from pytest_wtb.store.urls import mask, mask_args, mask_url, mask_value, parse_store_url


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("postgresql://u:p@ss@h/db", "postgresql://u:***@h/db"),  # bare '@': every parser's password hidden
        ("see postgresql://u:p%40ss@h:5432/db?sslmode=require now", "see postgresql://u:***@h:5432/db?sslmode=require now"),
        ("postgresql://h/db?sslpassword=k3y&password=pw&sslmode=require",
         "postgresql://h/db?sslpassword=***&password=***&sslmode=require"),
        ("https://u:tok@push.example:9091/metrics?db_password=x", "https://u:***@push.example:9091/metrics?db_password=***"),
        ("x postgresql://u:p@ss@h:port/db y", "x postgresql://u:***@h:port/db y"),  # SQLAlchemy cannot parse it
        ("sqlite:////tmp/a:b@c/x.db", "sqlite:////tmp/a:b@c/x.db"),  # a path, nothing secret
        ("host=h sslpassword=abcdef password=a dbname=x", "host=h sslpassword=*** password=*** dbname=x"),
        (r"host=h password='it\'s a \\ secret' dbname=x", "host=h password=*** dbname=x"),  # libpq quoting
        ("connection failed: PGPASSWORD=hunter2 user=u", "connection failed: PGPASSWORD=*** user=u"),
        ("password authentication failed for user \"u\"", "password authentication failed for user \"u\""),
    ],
)
def test_mask_hides_every_password_form(text: str, shown: str) -> None:
    assert mask(text) == shown


def test_a_url_value_with_spaces_is_masked_whole() -> None:
    raw = "postgresql://u:pass word@h/db?sslpassword=ssl secret"
    assert mask_value(raw) == "postgresql://u:***@h/db?sslpassword=***"
    assert mask_url("mysql://u:a b@c@h/db") == "mysql://u:***@h/db"


def test_key_value_settings_are_masked_without_psycopg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # what `import psycopg` sees when it is not installed
    monkeypatch.setitem(sys.modules, "psycopg.conninfo", None)
    assert mask("host=h password='hunter 2' sslpassword=x9 dbname=x") == "host=h password=*** sslpassword=*** dbname=x"


def test_store_url_passwords_are_hidden_wherever_they_are_echoed() -> None:
    url = parse_store_url("postgresql://app:se cr@t-42@db.example/wtb?sslpassword=client-key-pw", Path("."))
    for secret in ("se cr@t-42", "se%20cr%40t-42", "client-key-pw", "t-42"):
        assert secret not in url.display and secret not in url.describe()
    # the forms libpq and psycopg echo back in their own errors
    echoed = [
        'unexpected spaces found in "se cr@t-42", use percent-encoded spaces (%20) instead',
        'could not translate host name "t-42@db.example" to address',
        "invalid sslpassword client-key-pw",
        "dsn: postgresql://app:se%20cr%40t-42@db.example/wtb",
    ]
    for text in echoed:
        shown = mask(text)
        assert "se cr" not in shown and "t-42" not in shown and "client-key-pw" not in shown and "%40" not in shown


def test_store_urls_are_encoded_so_every_parser_reads_the_password_whole() -> None:
    url = parse_store_url("postgresql://app:p@ss word@db.example:6543/wtb", Path("."))
    assert url.libpq_url == "postgresql://app:p%40ss%20word@db.example:6543/wtb"
    assert (url.host, url.user, url.database) == ("db.example:6543", "app", "wtb")
    assert url.display == "postgresql://app:***@db.example:6543/wtb"
    from sqlalchemy.engine import make_url

    assert make_url(url.sqlalchemy_url).password == "p@ss word"


def test_bad_store_urls_never_show_the_password() -> None:
    for raw in ("postgresql://u:top secret@h:port/db", "mysql://u:top secret@h/db", "postgresql://u:top secret@h/"):
        with pytest.raises(ConfigError) as err:
            parse_store_url(raw, Path("."))
        assert "top secret" not in str(err.value) and "secret" not in str(err.value)


def test_recorded_command_lines_mask_each_argument() -> None:
    args = [
        "-n", "2", "--wtb-store=postgresql://u:zz top@h/db?sslpassword=abc dd",
        "-o", "wtb_store=postgresql://x:y@h/d", "--db-password=qq", "--wtb-store", "postgresql://u:a@b@h/db",
    ]
    shown = mask_args(args)
    assert shown == (
        "-n 2 '--wtb-store=postgresql://u:***@h/db?sslpassword=***' -o 'wtb_store=postgresql://x:***@h/d' "
        "'--db-password=***' --wtb-store 'postgresql://u:***@h/db'"
    )


def test_an_unreachable_store_error_shows_no_password() -> None:
    pytest.importorskip("psycopg")
    from pytest_wtb.store import probe_postgres

    url = parse_store_url("postgresql://postgres:s3 cr@t!@127.0.0.1:1/test?sslpassword=k3y-s3cret", Path("."))
    with pytest.raises(StoreError) as err:
        probe_postgres(url)
    text = str(err.value)
    assert "cannot connect to PostgreSQL database 'test' on 127.0.0.1:1" in text
    assert "s3 cr" not in text and "cr@t" not in text and "k3y-s3cret" not in text
