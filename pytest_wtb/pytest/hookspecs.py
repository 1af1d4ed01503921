"""Hooks pytest-wtb adds; implement them in a conftest or plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_wtb.execute.backends.base import Backend


@pytest.hookspec(firstresult=True)
def pytest_wtb_make_backend(config: pytest.Config, name: str) -> Backend | None:
    """Return the backend object for ``name`` (an unstarted :class:`pytest_wtb.Backend`), or None.

    The built-in ``threads`` and ``ray`` backends are the ``trylast`` defaults; a conftest can
    return its own backend for these or any other name. Called once per name at configure time,
    so it must be cheap: start pools and clusters in ``Backend.start``.
    """
