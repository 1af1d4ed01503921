"""Store URLs: parse, resolve relative SQLite paths, and mask passwords for anything shown."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from pytest_wtb.errors import ConfigError

VALID_FORMS: Final = "sqlite:///relative/or/absolute/path.db or postgresql://user[:password]@host[:port]/database"
# user:password@ in any URL, and password=... in a query string or a libpq key=value string
_PASSWORD_IN_URL = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]*)(?P<at>@)", re.I)
_PASSWORD_PARAM = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'[^']*'|[^&\s)\"',;]*)", re.I)


@dataclass(frozen=True)
class StoreURL:
    kind: str  # "sqlite" or "postgresql"
    url: str  # as given, resolved (for sqlite: absolute path)
    sqlite_path: Path | None = None

    @property
    def display(self) -> str:
        return mask(self.url)

    @property
    def sqlalchemy_url(self) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{self.sqlite_path}"
        parts = urlsplit(self.url)
        return urlunsplit(("postgresql+psycopg", *parts[1:]))

    @property
    def libpq_url(self) -> str:
        parts = urlsplit(self.url)
        return urlunsplit(("postgresql", *parts[1:]))

    @property
    def host(self) -> str:
        """host:port (or the socket directory), for messages."""
        parts = urlsplit(self.url)
        query = parse_qs(parts.query)
        host = parts.hostname or (query.get("host") or ["localhost"])[0]
        port = parts.port or int((query.get("port") or ["5432"])[0])
        return f"{host}:{port}"

    @property
    def database(self) -> str:
        if self.kind == "sqlite":
            return str(self.sqlite_path)
        return unquote(urlsplit(self.url).path.lstrip("/"))

    @property
    def user(self) -> str | None:
        parts = urlsplit(self.url)
        return unquote(parts.username) if parts.username else None

    def describe(self) -> str:
        """Where the store is, without secrets: host and database for PostgreSQL, the file for SQLite."""
        if self.kind == "sqlite":
            return f"SQLite store {self.sqlite_path}"
        user = f" as user '{self.user}'" if self.user else ""
        return f"PostgreSQL database '{self.database}' on {self.host}{user} ({self.display})"


def mask(text: str) -> str:
    """Replace any password in URLs or ``password=`` settings inside ``text`` with ***."""
    text = _PASSWORD_IN_URL.sub(lambda m: f"{m['head']}***{m['at']}", text)
    return _PASSWORD_PARAM.sub(lambda m: f"{m['head']}***", text)


def parse_store_url(raw: str, base_dir: Path) -> StoreURL:
    raw = raw.strip()
    scheme = raw.split("://", 1)[0].lower() if "://" in raw else ""
    if scheme == "sqlite":
        path_part = raw[len("sqlite://") :]
        if not path_part.startswith("/") or path_part in ("/", "/:memory:") or ":memory:" in path_part:
            raise ConfigError(
                f"--wtb-store={mask(raw)}: SQLite stores must be a file so results and checkpoints "
                f"can be opened after the run; use {VALID_FORMS}"
            )
        rel = path_part[1:]
        path = Path(rel) if rel.startswith("/") else base_dir / rel
        return StoreURL("sqlite", f"sqlite:///{path}", path)
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        parts = urlsplit(raw)
        try:
            parts.port  # noqa: B018 - raises for a port that is not a number
        except ValueError:
            raise ConfigError(f"--wtb-store={mask(raw)}: the port is not a number; use {VALID_FORMS}") from None
        if not parts.hostname and "host=" not in parts.query:
            raise ConfigError(f"--wtb-store={mask(raw)}: no host in the PostgreSQL URL; use {VALID_FORMS}")
        if not parts.path.strip("/"):
            raise ConfigError(f"--wtb-store={mask(raw)}: no database in the PostgreSQL URL; use {VALID_FORMS}")
        return StoreURL("postgresql", urlunsplit(("postgresql", *parts[1:])))
    raise ConfigError(f"--wtb-store={mask(raw)} is not a store URL pytest-wtb knows; use {VALID_FORMS}")
