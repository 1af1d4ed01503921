"""Recorded model and tool calls (--wtb-record) in the results store: written with the results that
made them, read as one snapshot when a run starts, listed and pruned by ``python -m pytest_wtb recordings``.

Rows are data: an output blob is revived only through the store's strict serializer, on replay.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Connection, Table, bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from pytest_wtb.errors import StoreError
from pytest_wtb.execute.tape import Snapshot, Stored
from pytest_wtb.model import ExecutionResult
from pytest_wtb.statuses import REPLAYED
from pytest_wtb.store import schema

_rec = schema.recordings.c
_HIT = (
    update(schema.recordings)
    .where(_rec.rec_key == bindparam("b_key"))
    .values(hits=_rec.hits + bindparam("b_hits"), last_run=bindparam("b_run"))
)
_SNAPSHOT_COLUMNS = (_rec.rec_key, _rec.kind, _rec.name, _rec.node, _rec.identity, _rec.input_text,
                     _rec.output_type, _rec.output_blob, _rec.cassette, _rec.variant, _rec.case_id)
_UPDATED_ON_CONFLICT = ("kind", "name", "node", "identity", "input_text", "output_type", "output_blob", "cassette",
                        "scope", "variant", "case_id", "repetition", "occurrence", "created_run", "created_at",
                        "last_run")


def _insert(conn: Connection, table: Table) -> Any:
    """The dialect's INSERT, which has ON CONFLICT (SQLite and PostgreSQL alike)."""
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)


def write(conn: Connection, run_id: str, results: Iterable[ExecutionResult]) -> None:
    """New recordings and replay hits of ``results``, in the caller's transaction (the results' own)."""
    now = time.time()
    rows: dict[str, dict[str, Any]] = {}
    hits: Counter[str] = Counter()
    cassettes: dict[str, str] = {}
    for result in results:
        cassette = result.extra.get("cassette")
        if isinstance(cassette, dict) and result.extra.get("calls"):
            cassettes[str(cassette["id"])] = str(cassette["scope"])[:255]
        for call in result.recordings:
            rows[call.key] = {
                "rec_key": call.key, "kind": call.kind, "name": call.name[:255], "node": call.node[:255],
                "identity": call.identity, "input_text": call.input_text, "output_type": call.output_type,
                "output_blob": call.output_blob, "cassette": call.cassette, "scope": call.scope[:255],
                "variant": call.variant[:255], "case_id": call.case_id[:255], "repetition": call.repetition,
                "occurrence": call.occurrence, "created_run": run_id, "created_at": now, "last_run": run_id,
                "hits": 0,
            }
        hits.update(c["key"] for c in result.extra.get("calls", ()) if c.get("status") == REPLAYED)
    if rows:
        # a key recorded again (--wtb-record=all, or two executions of this run that missed it alike) is
        # replaced: the newest answer is the recording
        stmt = _insert(conn, schema.recordings)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[_rec.rec_key], set_={name: stmt.excluded[name] for name in _UPDATED_ON_CONFLICT}
            ),
            list(rows.values()),
        )
    if cassettes:
        conn.execute(_insert(conn, schema.cassettes).on_conflict_do_nothing(),
                     [{"cassette": c, "scope": scope, "created_run": run_id, "created_at": now}
                      for c, scope in sorted(cassettes.items())])
    if hits:
        conn.execute(_HIT, [{"b_key": k, "b_hits": n, "b_run": run_id} for k, n in sorted(hits.items())])


def snapshot(conn: Connection, run_id: str) -> Snapshot:
    """What the run replays from: every recording but the ones this run made itself."""
    found = conn.execute(select(*_SNAPSHOT_COLUMNS).where(_rec.created_run != run_id)).all()
    entries = {
        row.rec_key: Stored(
            key=row.rec_key, kind=row.kind, name=row.name, node=row.node, identity=row.identity,
            input_text=row.input_text, output_type=row.output_type, output_blob=bytes(row.output_blob),
            cassette=row.cassette, variant=row.variant, case_id=row.case_id,
        )
        for row in found
    }
    cas = schema.cassettes.c
    recorded = conn.execute(select(cas.cassette).where(cas.created_run != run_id)).scalars()
    return Snapshot(entries, frozenset(recorded))


def listing(conn: Connection) -> list[dict[str, Any]]:
    """Recordings per (test module, variant, node, kind, model or tool), with their replay hits."""
    query = (
        select(_rec.scope, _rec.variant, _rec.node, _rec.kind, _rec.name, func.count().label("recordings"),
               func.sum(_rec.hits).label("hits"), func.max(_rec.created_at).label("recorded_at"))
        .group_by(_rec.scope, _rec.variant, _rec.node, _rec.kind, _rec.name)
        .order_by(_rec.scope, _rec.variant, _rec.node, _rec.kind, _rec.name)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def prune(conn: Connection) -> int:
    """Delete what the newest run that used a test module's recordings did not use: recordings of
    calls no longer made (vcrpy rewrites a cassette the same way). Returns how many were deleted."""
    started = dict(conn.execute(select(schema.runs.c.run_id, schema.runs.c.started_at)).all())
    used = conn.execute(select(_rec.rec_key, _rec.scope, _rec.last_run)).all()
    newest: dict[str, tuple[float, str]] = {}
    for row in used:
        when = (started.get(row.last_run, 0.0), row.last_run)
        if when > newest.get(row.scope, (-1.0, "")):
            newest[row.scope] = when
    stale = [row.rec_key for row in used if row.last_run != newest[row.scope][1]]
    for start in range(0, len(stale), 500):
        conn.execute(delete(schema.recordings).where(_rec.rec_key.in_(stale[start:start + 500])))
    return len(stale)


EXPORT_FORMAT: Final = "pytest-wtb-recordings"
EXPORT_VERSION: Final = 1
_EXPORTED = ("rec_key", "kind", "name", "node", "identity", "input_text", "output_type", "cassette", "scope",
             "variant", "case_id", "repetition", "occurrence")
_OUTPUT_TYPES: Final = ("msgpack", "null")  # what pytest-wtb writes; anything else is refused on import


def export(conn: Connection, module: str | None = None) -> dict[str, Any]:
    """The recordings (of one test module) as a JSON document to commit beside the tests; sorted, so a
    re-recording shows as a readable diff in review."""
    query = select(schema.recordings)
    if module is not None:
        query = query.where(_rec.scope == module)
    rows = conn.execute(query.order_by(_rec.scope, _rec.rec_key)).mappings().all()
    recordings = [{**{k: row[k] for k in _EXPORTED}, "output": base64.b64encode(bytes(row["output_blob"])).decode()}
                  for row in rows]
    cas = schema.cassettes.c
    query = select(cas.cassette, cas.scope).order_by(cas.cassette)
    if module is not None:
        query = query.where(cas.scope == module)
    cassettes = [{"cassette": c, "scope": scope} for c, scope in conn.execute(query)]
    return {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "recordings": recordings, "cassettes": cassettes}


def import_file(conn: Connection, path: Path) -> int:
    """Insert the file's recordings the store does not have; returns how many it had. The file is data:
    its outputs are only ever revived through the store's strict serializer, on replay."""
    where = f"recordings file {path}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise StoreError(f"{where} cannot be read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise StoreError(f"{where} is not JSON ({exc}): write it with 'python -m pytest_wtb recordings "
                         "--export'") from None
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT or data.get("version") != EXPORT_VERSION:
        raise StoreError(f"{where} is not a pytest-wtb recordings export (format {EXPORT_FORMAT!r}, version "
                         f"{EXPORT_VERSION}): write it with python -m pytest_wtb recordings --export")
    now, rows = time.time(), []
    for n, entry in enumerate(data.get("recordings") or []):
        try:
            row = {k: entry[k] for k in _EXPORTED}
            ints = {"repetition": int(row["repetition"]), "occurrence": int(row["occurrence"])}
            texts_ok = all(isinstance(row[k], str) for k in _EXPORTED if k not in ints)
            if not texts_ok or row["output_type"] not in _OUTPUT_TYPES:
                raise ValueError("a field has the wrong type")
            blob = base64.b64decode(str(entry["output"]), validate=True)
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise StoreError(f"{where}: recording #{n + 1} is malformed ({exc}); export it again") from None
        rows.append({**row, **ints, "output_blob": blob, "created_run": "import", "created_at": now,
                     "last_run": "import", "hits": 0})
    if rows:
        conn.execute(_insert(conn, schema.recordings).on_conflict_do_nothing(), rows)
    cassettes = [{"cassette": str(c["cassette"]), "scope": str(c["scope"])[:255], "created_run": "import",
                  "created_at": now} for c in data.get("cassettes") or [] if isinstance(c, dict) and "cassette" in c]
    if cassettes:
        conn.execute(_insert(conn, schema.cassettes).on_conflict_do_nothing(), cassettes)
    return len(rows)
