"""Create the result tables on first use; migrate stores of older versions, refuse newer or foreign ones.

Runs inside one write transaction. On PostgreSQL a transaction-scoped advisory lock serialises
processes that open a fresh store at once (safe behind PgBouncer in transaction mode, unlike a
session lock); on SQLite the transaction's ``BEGIN IMMEDIATE`` already does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from sqlalchemy import Connection, Table, insert, inspect, select, text, update

from pytest_wtb.errors import StoreError
from pytest_wtb.store import schema

# LangGraph's SqliteSaver and PostgresSaver tables. Without our schema version beside them they are another
# application's checkpoints: writing ours among them would mix both and let `prune` delete from theirs.
# (SQLite files are also checked read-only before anything opens them: see opening.check_sqlite_file.)
LANGGRAPH_TABLES: Final = frozenset(
    {"checkpoints", "writes", "checkpoint_blobs", "checkpoint_writes", "checkpoint_migrations"}
)
_OWN_SCHEMA: Final = "wtb"
_LOCK_KEY: Final = 0x77746201  # "wtb" + 1: pg_advisory_xact_lock key for schema changes


def _add_columns(conn: Connection, table: Table, names: list[str]) -> None:
    present = {c["name"] for c in inspect(conn).get_columns(table.name)}
    for name in names:
        if name not in present:
            column = table.c[name]
            conn.execute(
                text(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {column.type.compile(conn.dialect)}")
            )


def _v1_to_v2(conn: Connection) -> None:
    _add_columns(conn, schema.runs, ["heartbeat_at"])
    _add_columns(conn, schema.parity_outcomes, ["against_run"])
    # wtb_outbox and the new indexes come from _create_missing


def _v2_to_v3(conn: Connection) -> None:
    _add_columns(conn, schema.executions, ["module_path"])


def _v3_to_v4(conn: Connection) -> None:
    _add_columns(conn, schema.runs, ["owner", "parent_run"])
    _add_columns(conn, schema.executions, ["code_hash"])  # NULL: re-run when a later command needs it


def _v4_to_v5(conn: Connection) -> None:
    _add_columns(conn, schema.executions, ["extra_type", "extra_blob"])
    _add_columns(conn, schema.runs, ["wtb_version"])  # wtb_run_names comes from _create_missing


def _v5_to_v6(conn: Connection) -> None:
    """Nothing to change: wtb_recordings and wtb_cassettes are new tables (from _create_missing)."""


# version N -> the step that makes it N + 1
MIGRATIONS: Final[dict[int, Callable[[Connection], None]]] = {
    1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4, 4: _v4_to_v5, 5: _v5_to_v6,
}
OLDEST_MIGRATABLE: Final = min(MIGRATIONS)


def _create_missing(conn: Connection) -> None:
    schema.metadata.create_all(conn, checkfirst=True)
    for table in schema.metadata.sorted_tables:
        for index in table.indexes:
            index.create(conn, checkfirst=True)


def ensure_schema(conn: Connection, where: str, create: bool = True) -> int:
    """Bring the store to SCHEMA_VERSION; return the version it had (0 for a new store)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    tables = set(inspect(conn).get_table_names())
    ours = {t.name for t in schema.metadata.sorted_tables}
    if schema.meta.name not in tables:
        _refuse_foreign_checkpoints(conn, where, tables)
        if tables & ours:
            raise StoreError(
                f"{where} holds pytest-wtb tables without a schema version (a pre-release store); "
                "move it away or use another --wtb-store"
            )
        if not create:
            raise StoreError(f"{where} has no pytest-wtb results yet; run pytest with wtb items first")
        _create_missing(conn)
        conn.execute(insert(schema.meta).values(key="schema_version", value=str(schema.SCHEMA_VERSION)))
        return 0
    raw = conn.execute(select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")).scalar()
    try:
        found = int(raw) if raw is not None else -1
    except ValueError:
        found = -1
    if found < 0:
        raise StoreError(f"{where}: the schema version row is missing or corrupt ({raw!r}); use another store")
    if found > schema.SCHEMA_VERSION:
        raise StoreError(
            f"{where} was written by a newer pytest-wtb (schema {found}, this one knows "
            f"{schema.SCHEMA_VERSION}): upgrade pytest-wtb or use another --wtb-store"
        )
    if found < OLDEST_MIGRATABLE:
        raise StoreError(
            f"{where} has schema {found}, older than this pytest-wtb can migrate "
            f"(from {OLDEST_MIGRATABLE}); prune or move it away, or use another --wtb-store"
        )
    if found < schema.SCHEMA_VERSION:
        for version in range(found, schema.SCHEMA_VERSION):
            MIGRATIONS[version](conn)
        _create_missing(conn)
        conn.execute(
            update(schema.meta)
            .where(schema.meta.c.key == "schema_version")
            .values(value=str(schema.SCHEMA_VERSION))
        )
    return found


def foreign_tables_text(tables: set[str]) -> str:
    shown = sorted(tables)
    return ", ".join(shown[:5]) + (f" and {len(shown) - 5} more" if len(shown) > 5 else "")


def _refuse_foreign_checkpoints(conn: Connection, where: str, tables: set[str]) -> None:
    """LangGraph checkpoint tables without a pytest-wtb store: another application's, never written into."""
    if conn.dialect.name != "postgresql":
        found = tables & LANGGRAPH_TABLES
        if found:
            raise StoreError(
                f"{where} holds LangGraph checkpoints of another application ({foreign_tables_text(found)}) "
                "but no pytest-wtb store; pytest-wtb will not write into it. Point --wtb-store at another file."
            )
        return
    database, current = conn.execute(text("SELECT current_database(), current_schema()")).one()
    if current is None:
        raise StoreError(
            f"{where}: the URL's search_path names no schema that exists in database '{database}'; "
            f"create it first (CREATE SCHEMA {_OWN_SCHEMA}) or fix the options= setting"
        )
    found = tables & LANGGRAPH_TABLES
    if found:
        raise StoreError(
            f"{where}: schema '{current}' of database '{database}' holds LangGraph checkpoint tables "
            f"({foreign_tables_text(found)}) but no pytest-wtb store: they belong to another application, "
            "and pytest-wtb will not write into them. Give pytest-wtb a database of its own, or a schema of "
            f"its own: CREATE SCHEMA {_OWN_SCHEMA}; then add ?options=-csearch_path%3D{_OWN_SCHEMA} to the "
            "--wtb-store URL"
        )
