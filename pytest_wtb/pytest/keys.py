"""Where the run's state lives in ``config.stash``: a leaf module, so any hook helper can reach the
session without importing what builds it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_wtb.pytest.session import WtbSession

SESSION_KEY: pytest.StashKey[WtbSession] = pytest.StashKey()
