"""A usage error on a pytest-xdist worker (a store it cannot open, say) ends the run as a usage error,
with the same text as without ``-n``, not as an INTERNALERROR.

A worker that raises UsageError leaves xdist holding items the worker never ran, and xdist fails on
an assertion. So the worker stops instead (``shouldstop``, as ``-x`` does) and hands its message to
the controller, which raises the usage error itself once xdist has interrupted the run.
"""

from __future__ import annotations

from typing import Any, Final, NoReturn

import pytest

WORKER_OUTPUT_KEY: Final = "wtb_usage_error"
_USAGE_ERROR = pytest.StashKey[str]()


def start_failed(session: pytest.Session, exc: pytest.UsageError) -> NoReturn:
    """Re-raise ``exc``; on an xdist worker, stop the worker and leave the message for the controller."""
    output: dict[str, Any] | None = getattr(session.config, "workeroutput", None)
    if output is None:
        raise exc
    message = str(exc)
    output[WORKER_OUTPUT_KEY] = message
    session.shouldstop = message
    pytest.exit(message, returncode=pytest.ExitCode.USAGE_ERROR)


def worker_down(node: Any) -> None:
    """On the controller: keep the first usage error a worker reported."""
    message = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT_KEY)
    if message and _USAGE_ERROR not in node.config.stash:
        node.config.stash[_USAGE_ERROR] = message


def raise_worker_usage_error(config: pytest.Config) -> None:
    """On the controller, after xdist interrupted the run: the worker's usage error, if that was why."""
    message = config.stash.get(_USAGE_ERROR, None)
    if message is not None:
        raise pytest.UsageError(message)
