"""Store URLs: parse, resolve relative SQLite paths, and mask passwords in anything shown or stored.

Masking parses instead of pattern-guessing where a parser exists: SQLAlchemy's URL parser renders
URLs with the password hidden, psycopg's libpq parser reads ``key=value`` strings (when installed).
On top of that, every password of a store URL parsed in this process is masked wherever it shows
verbatim, which covers what libpq and psycopg echo back in their own error messages.
"""

from __future__ import annotations

import re
import shlex
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import parse_qs, quote, quote_plus, unquote, urlsplit, urlunsplit

from pytest_wtb.errors import ConfigError

VALID_FORMS: Final = "sqlite:///relative/or/absolute/path.db or postgresql://user[:password]@host[:port]/database"
HIDDEN: Final = "***"
# Shorter secrets are not replaced wherever they occur (that would garble every message); their URL and
# key=value forms are still masked.
MIN_VERBATIM: Final = 4
_URL = r"[a-z][a-z0-9+.-]*://[^\s'\"<>]+"
# password, sslpassword, PGPASSWORD, db_password ...: any key whose name contains "password"
_KEY = r"\b[\w.-]*password[\w.-]*"
# an unquoted value ends at punctuation that closes a sentence's clause: "(password=x)", "password=x, then"
_VALUE = r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\s'\"),;]*"
# one pass: a URL is masked as a whole, so its query's key=value pairs are not taken apart a second time
_TOKENS = re.compile(rf"(?P<url>{_URL})|(?P<key>{_KEY})(?P<eq>\s*=\s*)(?P<value>{_VALUE})", re.I)
_WHOLE_URL = re.compile(r"\s*[a-z][a-z0-9+.-]*://\S", re.I)
_SETTING = re.compile(rf"{_KEY}\s*=", re.I)
_PASSWORD_KEY = re.compile(r"password", re.I)

_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()  # replaced, never mutated: readers need no lock


@dataclass(frozen=True)
class StoreURL:
    kind: str  # "sqlite" or "postgresql"
    url: str  # as given, resolved (for sqlite: absolute path; for postgresql: user and password percent-encoded)
    sqlite_path: Path | None = None

    @property
    def display(self) -> str:
        return self.url if self.kind == "sqlite" else mask_url(self.url)

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


def remember_secrets(values: Iterable[str]) -> None:
    """Mask these wherever they appear from now on, also percent-encoded (libpq echoes them back)."""
    global _secrets
    forms = set()
    for value in values:
        # a parser that ends the password at an '@' inside it takes the rest for the host name, and says so
        pieces = value.split("@")
        parts = [piece for i in range(1, len(pieces)) for piece in ("@".join(pieces[:i]), "@".join(pieces[i:]))]
        for form in (value, unquote(value), quote(value, safe=""), quote_plus(value), *parts):
            if len(form) >= MIN_VERBATIM:
                forms.add(form)
    with _lock:
        _secrets = _secrets | forms


def mask(text: str) -> str:
    """``text`` with every password hidden: those of the store URLs this process parsed, and any in
    URLs (user info, ``*password*`` query parameters) or libpq ``key=value`` settings inside it."""
    text = _mask_known(text)
    if "://" not in text and _SETTING.search(text):
        for value in _conninfo_secrets(text.strip()):
            text = text.replace(_libpq_quoted(value), HIDDEN).replace(value, HIDDEN)
    return _TOKENS.sub(_mask_token, text)


def mask_value(value: str) -> str:
    """One value known to be a single URL (spaces and all) or conninfo string, e.g. an option's value."""
    value = _mask_known(value)
    return mask_url(value) if _WHOLE_URL.match(value) else mask(value)


def mask_args(args: Iterable[str]) -> str:
    """A command line for the run's record: each argument masked on its own, then shell-quoted."""
    shown = []
    for arg in args:
        flag, eq, value = arg.partition("=")
        if arg.startswith("-") and eq and not _PASSWORD_KEY.search(flag):
            shown.append(f"{flag}={mask_value(value)}")
        else:
            shown.append(mask_value(arg))
    return shlex.join(shown)


def mask_url(url: str) -> str:
    """``url`` with its password and every ``*password*`` query parameter shown as ***."""
    return _hide_query_passwords(_hide_userinfo_password(url))


def _hide_userinfo_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep or rest.startswith("/"):  # no authority (sqlite:////path): nothing secret
        return url
    userinfo, at, _ = rest.split("?", 1)[0].rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user, _, password = userinfo.partition(":")
    after = rest[len(userinfo) + 1 :]
    # Whatever lies between the first ':' and the last '@' is a password to some parser (libpq and
    # SQLAlchemy end it at the first '@', urllib at the last): encode it so SQLAlchemy reads all of it.
    try:
        from sqlalchemy.engine import make_url

        return make_url(f"{scheme}://{user}:{quote(unquote(password), safe='')}@{after}").render_as_string(
            hide_password=True
        )
    except Exception:  # not a URL SQLAlchemy can read (a port that is not a number, say): hide it by hand
        return f"{scheme}://{user}:{HIDDEN}@{after}"


def _hide_query_passwords(url: str) -> str:
    base, q, query = url.partition("?")
    if not q:
        return url
    pairs = []
    for pair in query.split("&"):
        key, eq, _ = pair.partition("=")
        pairs.append(f"{key}={HIDDEN}" if eq and _PASSWORD_KEY.search(unquote(key)) else pair)
    return f"{base}?{'&'.join(pairs)}"


def _mask_known(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    return text


def _conninfo_secrets(text: str) -> list[str]:
    """The password values of a libpq ``key=value`` string, as libpq itself parses it; none when psycopg
    is not installed or ``text`` is no conninfo string (the pattern in mask() still hides key=value)."""
    try:
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        return []
    try:
        params = conninfo_to_dict(text)
    except Exception:  # psycopg.ProgrammingError: not a conninfo string (a sentence, say)
        return []
    return [str(v) for k, v in params.items() if _PASSWORD_KEY.search(k) and len(str(v)) >= MIN_VERBATIM]


def _libpq_quoted(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def _mask_token(match: re.Match[str]) -> str:
    if match["url"]:
        return mask_url(match["url"])
    return f"{match['key']}{match['eq']}{HIDDEN}"


def _canonical_postgres(raw: str) -> str:
    """``raw`` with user and password percent-encoded, split at the rightmost '@' as urllib and browsers
    read it. libpq and SQLAlchemy split at the first: a password with a bare '@' would make them
    connect to a host named after the rest of it (and echo that in the error), one with a space fails."""
    parts = urlsplit(raw)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    secrets = []
    netloc = parts.netloc
    if at:
        user, colon, password = userinfo.partition(":")
        netloc = quote(unquote(user), safe="")
        if colon:
            netloc += ":" + quote(unquote(password), safe="")
            secrets.append(password)
        netloc += "@" + hostport
    for pair in parts.query.split("&"):
        key, eq, value = pair.partition("=")
        if eq and _PASSWORD_KEY.search(unquote(key)) and value:
            secrets.append(value)
    remember_secrets(secrets)
    return urlunsplit(("postgresql", netloc, parts.path, parts.query, parts.fragment))


def parse_store_url(raw: str, base_dir: Path) -> StoreURL:
    raw = raw.strip()
    scheme = raw.split("://", 1)[0].lower() if "://" in raw else ""
    if scheme == "sqlite":
        path_part = raw[len("sqlite://") :]
        if not path_part.startswith("/") or path_part in ("/", "/:memory:") or ":memory:" in path_part:
            raise ConfigError(
                f"--wtb-store={mask_value(raw)}: SQLite stores must be a file so results and checkpoints "
                f"can be opened after the run; use {VALID_FORMS}"
            )
        rel = path_part[1:]
        path = Path(rel) if rel.startswith("/") else base_dir / rel
        return StoreURL("sqlite", f"sqlite:///{path}", path)
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        shown = f"--wtb-store={mask_value(raw)}"
        try:
            url = _canonical_postgres(raw)
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises for a port that is not a number
        except ValueError as exc:  # a port that is not a number, a bad [IPv6] host
            why = "the port is not a number" if "port" in str(exc) else f"not a valid URL ({exc})"
            raise ConfigError(f"{shown}: {why}; use {VALID_FORMS}") from None
        if not parts.hostname and "host=" not in parts.query:
            raise ConfigError(f"{shown}: no host in the PostgreSQL URL; use {VALID_FORMS}")
        if not parts.path.strip("/"):
            raise ConfigError(f"{shown}: no database in the PostgreSQL URL; use {VALID_FORMS}")
        return StoreURL("postgresql", url)
    raise ConfigError(f"--wtb-store={mask_value(raw)} is not a store URL pytest-wtb knows; use {VALID_FORMS}")
