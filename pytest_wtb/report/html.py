"""``--wtb-report=PATH.html``: one self-contained file (inline data, CSS and JS; no fetches).

The page renders a variant x case matrix per test module, only the rows in view (so 10,000
executions stay a small DOM), and builds a cell's details (final state side by side with the
baseline's, the parity diff, the checkpoint timeline) when it is clicked.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any, Final

TEMPLATE: Final = "report/assets/report.html"
# the page's one executable script: the data block (type="application/json") is never run
_PAGE_SCRIPT: Final = re.compile(r"<script>(.*?)</script>", re.S)


def script_hash(template: str) -> str:
    """The CSP source that allows exactly the template's own inline script (and nothing injected)."""
    scripts = _PAGE_SCRIPT.findall(template)
    if len(scripts) != 1:
        raise ValueError(f"{TEMPLATE} must hold exactly one plain <script> element, found {len(scripts)}")
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode("utf-8")).digest()).decode("ascii")
    return f"'sha256-{digest}'"


def _script_safe(report: Mapping[str, Any]) -> str:
    """JSON that cannot end its <script> element: '<' only occurs inside JSON strings."""
    text = json.dumps(report, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def render(report: Mapping[str, Any]) -> str:
    template = files("pytest_wtb").joinpath(TEMPLATE).read_text(encoding="utf-8")
    title = f"pytest-wtb report {', '.join(report.get('run_ids', []))}".strip()
    page = template.replace("__WTB_SCRIPT_HASH__", script_hash(template))
    return page.replace("__WTB_TITLE__", html.escape(title)).replace("__WTB_DATA__", _script_safe(report))


def write(path: Path, report: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render(report), encoding="utf-8")
    tmp.replace(path)
