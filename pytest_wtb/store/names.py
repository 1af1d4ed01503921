"""Named runs: ``bless RUN_ID --name NAME`` gives a stored run a name that ``--wtb-against``, ``diff`` and
gates resolve like a run id. A name moves only when blessed again; prune never deletes a named run."""

from __future__ import annotations

import re
import time
from typing import Final

from sqlalchemy import delete, insert, select

from pytest_wtb.errors import StoreError
from pytest_wtb.store import schema
from pytest_wtb.store.results import ResultStore

NAME_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,127}")
RESERVED: Final = re.compile(r"last(~\d+)?")


def check_name(name: str) -> None:
    if not NAME_RE.fullmatch(name) or RESERVED.fullmatch(name):
        raise StoreError(f"run name {name!r} is not usable: start with a letter, then letters, digits, '_', '.' "
                         "or '-' (at most 128), and not 'last' or 'last~N'")


def bless(results: ResultStore, name: str, run_id: str) -> str | None:
    """Name ``run_id``; return the run the name named before (None if it is new)."""
    check_name(name)
    names = schema.run_names.c
    with results.write() as conn:
        before = conn.execute(select(names.run_id).where(names.name == name)).scalar()
        conn.execute(delete(schema.run_names).where(names.name == name))
        conn.execute(insert(schema.run_names).values(name=name, run_id=run_id, blessed_at=time.time()))
    return str(before) if before is not None else None


def named_run(results: ResultStore, name: str) -> str | None:
    names = schema.run_names.c
    with results.read() as conn:
        found = conn.execute(select(names.run_id).where(names.name == name)).scalar()
    return str(found) if found is not None else None


def names_of(results: ResultStore) -> dict[str, list[str]]:
    """run_id -> its names."""
    names = schema.run_names.c
    with results.read() as conn:
        rows = conn.execute(select(names.name, names.run_id).order_by(names.name)).all()
    found: dict[str, list[str]] = {}
    for name, run_id in rows:
        found.setdefault(str(run_id), []).append(str(name))
    return found
