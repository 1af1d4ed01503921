"""Which --wtb-record mode each execution runs under, and which committed recordings files to import.

``--wtb-record`` on the command line applies to every test; otherwise a test (or a module, through
``pytestmark``) marked ``@pytest.mark.wtb_record("none", file="recordings/agent.json")`` uses its own
mode, and ``file`` (relative to the test file) is imported into the store before the run reads its
recordings; otherwise the ini's ``wtb_record``, else off.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from pytest_wtb.errors import ConfigError
from pytest_wtb.pytest.settings import record_mode


def modes_and_files(
    config: pytest.Config, ini_mode: str | None, items: Iterable[tuple[pytest.Item, Any]]
) -> tuple[dict[str, str], list[Path]]:
    """(execution key -> mode, recordings files to import) for ``items`` (an item and its wtb param)."""
    cli = config.getoption("wtb_record")
    modes: dict[str, str] = {}
    files: dict[Path, None] = {}
    for item, param in items:
        mode, file = _marked(item)
        chosen = record_mode(cli) if cli else (mode or ini_mode or "off")
        # the file a marked test replays from must be there; under a mode from the command line (recording
        # and checking locally before an export) it need not be yet
        if file is not None and (file.exists() or (chosen == "none" and not cli)):
            files.setdefault(file, None)
        for request in param.requests():
            modes.setdefault(request.key, chosen)
    return modes, list(files)


def _marked(item: pytest.Item) -> tuple[str | None, Path | None]:
    mark = item.get_closest_marker("wtb_record")
    if mark is None:
        return None, None
    raw = mark.args[0] if mark.args else mark.kwargs.get("mode")
    if not isinstance(raw, str):
        raise ConfigError(f"{item.nodeid}: @pytest.mark.wtb_record needs a mode, e.g. wtb_record(\"none\")")
    mode = record_mode(raw, flag=f"{item.nodeid}: wtb_record(mode")
    file = mark.kwargs.get("file")
    if file is None:
        return mode, None
    path = Path(str(file))
    return mode, path if path.is_absolute() else Path(str(item.path)).parent / path
