"""What a recording may not keep: API keys, tokens, auth headers, passwords.

A model's identity (LangChain's ``llm_string``) is the model serialized with its parameters. LangChain
already writes declared secret fields as references to an environment variable, but headers and
client kwargs (``default_headers={"Authorization": ...}``) and fields of hand-written models arrive
in the clear. So everything a recording stores goes through ``scrub``: values under secret-looking
names are masked, then anything shaped like a bearer token or provider key, then the values of this
process's secret-looking environment variables wherever they appear. Masking also keeps keys stable:
a rotated API key must not turn every recording into a miss.
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from typing import Any, Final

MASK: Final = "***"
_SECRET_NAME = re.compile(r"(api[_-]?key|secret|token|passw(or)?d|authori[sz]ation|auth|cookie|credential|bearer)",
                          re.IGNORECASE)
# 'name': 'value' / "name": "value" / name='value' / 'name': SecretStr('...') inside reprs and text
_NAMED_VALUE = re.compile(
    r"""(?P<name>['"]?[\w-]*(?:api[_-]?key|secret|token|passw(?:or)?d|authori[sz]ation|auth|cookie|credential)"""
    r"""[\w-]*['"]?\s*[:=]\s*)(?P<value>SecretStr\('[^']*'\)|'[^']*'|"[^"]*"|[^\s,)}\]]+)""",
    re.IGNORECASE,
)
_SHAPED = re.compile(
    r"(Bearer\s+[A-Za-z0-9._~+/=-]{6,}|\bsk-[A-Za-z0-9_-]{8,}|\bxox[abp]-[A-Za-z0-9-]{8,}|\bAKIA[0-9A-Z]{12,}"
    r"|\bgh[pousr]_[A-Za-z0-9]{16,}|\bAIza[0-9A-Za-z_-]{20,})"
)
_ENV_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH)", re.IGNORECASE)
_MIN_ENV_SECRET = 6  # shorter values ("1", "true") would mask ordinary text


def scrub(text: str) -> str:
    """``text`` with every secret this module recognises replaced by ``***``."""
    if not text:
        return text
    text = _NAMED_VALUE.sub(lambda m: m.group("name") + _quoted(m.group("value")), text)
    text = _SHAPED.sub(MASK, text)
    for value in _env_secrets():
        if value in text:
            text = text.replace(value, MASK)
    return text


def scrub_json(value: Any) -> Any:
    """A JSON value with values under secret-looking keys masked, recursively."""
    if isinstance(value, dict):
        return {k: MASK if isinstance(k, str) and _SECRET_NAME.search(k) and v not in (None, "")
                and not _is_secret_ref(v) else scrub_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_json(v) for v in value]
    return value


def identity(llm_string: str) -> str:
    """LangChain's model identity with its secrets masked (memoised: one model makes many calls)."""
    return _identity(llm_string, _env_secrets())


@lru_cache(maxsize=1024)
def _identity(llm_string: str, _env: tuple[str, ...]) -> str:
    head, sep, params = llm_string.partition("---")
    if sep:  # a serializable model: its dumpd() as JSON, then its call's parameters
        try:
            head = json.dumps(scrub_json(json.loads(head)), sort_keys=True)
        except ValueError:
            pass
    return scrub(head + sep + params)


def _quoted(value: str) -> str:
    if value[:1] in "'\"":
        return value[0] + MASK + value[0]
    return MASK


def _is_secret_ref(value: Any) -> bool:
    """LangChain's own stand-in for a secret field: it names the variable, not the value."""
    return isinstance(value, dict) and value.get("type") == "secret" and value.get("lc") == 1


def _env_secrets() -> tuple[str, ...]:
    return _env_secret_values(tuple(sorted(os.environ.items())))


@lru_cache(maxsize=8)
def _env_secret_values(env: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    found = {v for k, v in env if _ENV_NAME.search(k) and len(v) >= _MIN_ENV_SECRET}
    return tuple(sorted(found, key=len, reverse=True))  # longest first: no partial masks left behind
