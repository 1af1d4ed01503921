"""Shared test helpers. Services (PostgreSQL, Ray) skip locally when absent, but fail when
WTB_REQUIRE_SERVICES=1 (as .ci/run sets), so CI can never pass by skipping them."""

from __future__ import annotations

import os

import pytest

REQUIRE_SERVICES = os.environ.get("WTB_REQUIRE_SERVICES", "").strip().lower() in ("1", "true", "yes")


def service_missing(what: str, why: str) -> None:
    """Skip (locally) or fail (WTB_REQUIRE_SERVICES=1) a test whose service is not there."""
    message = f"{what} is not available: {why}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} (WTB_REQUIRE_SERVICES=1 makes this a failure, not a skip)", pytrace=False)
    pytest.skip(message)
