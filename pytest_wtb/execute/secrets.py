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
# a whole name (a prefix allowed: openai_api_key, x-api-key, aws_secret_access_key), so that max_tokens,
# author or token_count stay visible: masking them would make calls that differ by them share a recording
_SECRET_NAME = re.compile(
    r"(?:[\w-]*[_-])?(?:api[_-]?key|apikey|secret|secret[_-]?key|client[_-]?secret|access[_-]?key|private[_-]?key"
    r"|passw(?:or)?d|pwd|authorization|auth|token|access[_-]?token|refresh[_-]?token|id[_-]?token|session[_-]?token"
    r"|auth[_-]?token|bearer|cookie|set[_-]cookie|credentials?)",
    re.IGNORECASE,
)
# name: value / 'name': 'value' / name='value' / 'name': SecretStr('...') inside reprs and text
_NAMED_VALUE = re.compile(
    r"""(?P<name>['"]?(?P<bare>[\w-]+)['"]?\s*[:=]\s*)(?P<value>SecretStr\('[^']*'\)|'[^']*'|"[^"]*"|[^\s,)}\]]+)"""
)
_SHAPED = re.compile(
    r"(Bearer\s+[A-Za-z0-9._~+/=-]{6,}|\bsk-[A-Za-z0-9_-]{8,}|\bxox[abp]-[A-Za-z0-9-]{8,}|\bAKIA[0-9A-Z]{12,}"
    r"|\bgh[pousr]_[A-Za-z0-9]{16,}|\bAIza[0-9A-Za-z_-]{20,})"
)
_ENV_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH)", re.IGNORECASE)
_MIN_ENV_SECRET = 6  # shorter values ("1", "true") would mask ordinary text


def is_secret_name(name: str) -> bool:
    return _SECRET_NAME.fullmatch(name) is not None


def scrub(text: str, named: bool = True, env: tuple[str, ...] | None = None) -> str:
    """``text`` with every secret this module recognises replaced by ``***``; ``named=False`` leaves
    ``name: value`` pairs to the caller (JSON, masked key by key by scrub_json). ``env``: the secret
    environment values (env_secrets()), read once per execution by a caller that scrubs many times."""
    if not text:
        return text
    if named:
        text = _NAMED_VALUE.sub(_mask_named, text)
    text = _SHAPED.sub(MASK, text)
    for value in env_secrets() if env is None else env:
        if value in text:
            text = text.replace(value, MASK)
    return text


def scrub_json(value: Any) -> Any:
    """A JSON value with values under secret-looking keys masked, recursively."""
    if isinstance(value, dict):
        return {k: MASK if isinstance(k, str) and is_secret_name(k) and v not in (None, "")
                and not _is_secret_ref(v) else scrub_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_json(v) for v in value]
    return value


def identity(llm_string: str, env: tuple[str, ...] | None = None) -> str:
    """LangChain's model identity with its secrets masked (memoised: one model makes many calls)."""
    return _identity(llm_string, env_secrets() if env is None else env)


@lru_cache(maxsize=1024)
def _identity(llm_string: str, env: tuple[str, ...]) -> str:
    head, sep, params = llm_string.partition("---")
    if sep:  # a serializable model: its dumpd() as JSON, then its call's parameters
        try:
            head = scrub(json.dumps(scrub_json(json.loads(head)), sort_keys=True), named=False, env=env)
        except ValueError:
            head = scrub(head, env=env)
        return head + sep + scrub(params, env=env)
    return scrub(llm_string, env=env)


def _mask_named(match: re.Match[str]) -> str:
    value = match.group("value")
    if not is_secret_name(match.group("bare")) or value in ("None", "null", "''", '""'):
        return match.group(0)
    return match.group("name") + _quoted(value)


def _quoted(value: str) -> str:
    if value[:1] in "'\"":
        return value[0] + MASK + value[0]
    return MASK


def _is_secret_ref(value: Any) -> bool:
    """LangChain's own stand-in for a secret field: it names the variable, not the value."""
    return isinstance(value, dict) and value.get("type") == "secret" and value.get("lc") == 1


def env_secrets() -> tuple[str, ...]:
    """The values of this process's secret-looking environment variables, longest first."""
    data = getattr(os.environ, "_data", None)
    # one C-level copy of the mapping: pytest sets and deletes PYTEST_CURRENT_TEST from the main thread
    # while executions read, and os.environ's own iteration would meet a key deleted under it
    raw = dict(data) if isinstance(data, dict) else dict(os.environ)
    named = tuple(sorted((_text(k), _text(v)) for k, v in raw.items() if _ENV_NAME.search(_text(k))))
    return _env_secret_values(named)


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


@lru_cache(maxsize=8)
def _env_secret_values(env: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    found = {v for _, v in env if len(v) >= _MIN_ENV_SECRET}
    return tuple(sorted(found, key=len, reverse=True))  # longest first: no partial masks left behind
