"""Store fixtures for the plugin's own tests: every store feature runs on SQLite and on PostgreSQL.

Load with ``pytest_plugins = ["tests.store_support"]``. PostgreSQL comes from WTB_TEST_POSTGRES_URL
(default postgresql://postgres@127.0.0.1:5432/test, a maintenance database); each test gets a
throwaway database of its own, so parallel runs never collide. Without a server the PostgreSQL
tests skip, or fail when WTB_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import service_missing

ADMIN_URL = os.environ.get("WTB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
# put into store URLs that have no password of their own, to prove it never shows (trust auth ignores it)
FAKE_PASSWORD = "wtb-Secret-pw-7781"


@dataclass(frozen=True)
class StoreUnderTest:
    kind: str  # "sqlite" or "postgresql"
    url: str
    secret: str | None = None  # the password inside url, which must never be shown
    database: str | None = None  # the throwaway PostgreSQL database

    @property
    def option(self) -> str:
        return f"--wtb-store={self.url}"


@functools.cache
def _postgres_problem() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'pytest-wtb[postgres]')"
    try:
        with psycopg.connect(ADMIN_URL, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"cannot connect to {_masked(ADMIN_URL)} (set WTB_TEST_POSTGRES_URL): {' '.join(str(exc).split())}"
    return None


@functools.cache
def _accepts_any_password() -> bool:
    import psycopg

    try:
        with psycopg.connect(_with_password(ADMIN_URL, FAKE_PASSWORD), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def _masked(url: str) -> str:
    from pytest_wtb.store import mask

    return mask(url)


def _with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    user = parts.username or "postgres"
    host = parts.hostname or "127.0.0.1"
    netloc = f"{user}:{password}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def require_postgres() -> None:
    problem = _postgres_problem()
    if problem is not None:
        service_missing("PostgreSQL", problem)


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)


def throwaway_database() -> Iterator[StoreUnderTest]:
    """A fresh PostgreSQL database for one test, dropped (with its connections) afterwards."""
    require_postgres()
    name = f"wtb_test_{uuid.uuid4().hex[:12]}"
    _admin(f"CREATE DATABASE {name}")
    parts = urlsplit(ADMIN_URL)
    url = urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))
    secret = parts.password
    if secret is None and _accepts_any_password():
        url, secret = _with_password(url, FAKE_PASSWORD), FAKE_PASSWORD
    try:
        yield StoreUnderTest("postgresql", url, secret, name)
    finally:
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def sqlite_store(folder: Path) -> StoreUnderTest:
    return StoreUnderTest("sqlite", f"sqlite:///{folder / 'store' / 'wtb.db'}")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreUnderTest]:
    """The same test on a SQLite file and on a throwaway PostgreSQL database."""
    if request.param == "sqlite":
        yield sqlite_store(tmp_path)
    else:
        yield from throwaway_database()


@pytest.fixture
def pg_store() -> Iterator[StoreUnderTest]:
    """Only PostgreSQL: for what SQLite cannot do (another machine's server, connections cut)."""
    yield from throwaway_database()


def admin_sql(sql: str) -> None:
    """Run SQL as the administrator, e.g. to cut a test database's connections."""
    _admin(sql)
