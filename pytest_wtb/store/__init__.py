"""Where results and LangGraph checkpoints go: one URL, SQLite (default) or PostgreSQL.

The names are loaded on first use: the result tables need SQLAlchemy, and a pytest run that has no
wtb items (or only parses a store URL) should not pay for importing it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pytest_wtb.store.urls import StoreURL, mask, parse_store_url

if TYPE_CHECKING:
    from pytest_wtb.store.checkpoints import CheckpointerSource
    from pytest_wtb.store.opening import Store, check_sqlite_file, open_store, probe_postgres
    from pytest_wtb.store.results import ResultStore

__all__ = [
    "CheckpointerSource",
    "ResultStore",
    "Store",
    "StoreURL",
    "check_sqlite_file",
    "mask",
    "open_store",
    "parse_store_url",
    "probe_postgres",
]

_LAZY = {
    "CheckpointerSource": "pytest_wtb.store.checkpoints",
    "ResultStore": "pytest_wtb.store.results",
    "Store": "pytest_wtb.store.opening",
    "check_sqlite_file": "pytest_wtb.store.opening",
    "open_store": "pytest_wtb.store.opening",
    "probe_postgres": "pytest_wtb.store.opening",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pytest_wtb.store' has no attribute {name!r}")
