"""What a recording may keep: secrets are masked in the text it stores and in its key, ordinary text is not.

Each masking rule of pytest_wtb/execute/secrets.py is checked on both sides: what it must mask, and
the ordinary text next to it that it must leave alone (an over-eager mask makes two different calls
share one key, so one replays the other's answer).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest

from pytest_wtb.execute.secrets import MASK, identity, scrub

ENV_SECRET = "envsecret-Zq81xP0w"


@pytest.fixture(autouse=True)
def no_secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The host's own *KEY*/*TOKEN* variables would mask whatever text equals their values."""
    for name in list(os.environ):
        if re.search(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH", name, re.IGNORECASE):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        ("{'api_key': 'abc123def', 'model': 'gpt-4o'}", "abc123def", "'api_key': '***'"),
        ('{"api-key": "abc123def"}', "abc123def", '"api-key": "***"'),
        ("client(api_key=abc123def, timeout=3)", "abc123def", "api_key=***, timeout=3"),
        ('{"Authorization": "Bearer live-tok-991"}', "live-tok-991", '"Authorization": "***"'),
        ("headers: Bearer abcdefghij0123", "abcdefghij0123", "headers: ***"),
        ("use sk-proj-AbCdEf123456 please", "sk-proj-AbCdEf123456", "use *** please"),
        ("ChatX(api_key=SecretStr('hunter2hunter2'))", "hunter2hunter2", "api_key=***"),
        ("{'password': 'pw-77x'}", "pw-77x", "'password': '***'"),
        ("{'x_auth_token': 'tok-3'}", "tok-3", "'x_auth_token': '***'"),
    ],
)
def test_scrub_masks_secret_values(text: str, secret: str, kept: str) -> None:
    scrubbed = scrub(text)
    assert secret not in scrubbed
    assert kept in scrubbed


@pytest.mark.parametrize(
    "text",
    [
        "{'model': 'gpt-4o', 'temperature': 0.2}",  # names that are not secret names
        "what is the capital of france?",
        "the key to success: practice",  # 'key' alone is not api_key
        "Bearer bonds are paper",  # 'Bearer' then a word too short to be a token
        "task-manager and desk-12345678",  # '-' words that are not sk- keys
        "ask-questions-often",  # 'sk-' inside a word
        "SecretStr is a pydantic type",  # the class named in prose
    ],
)
def test_scrub_leaves_ordinary_text_alone(text: str) -> None:
    assert scrub(text) == text


def test_scrub_masks_the_values_of_secret_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", ENV_SECRET)
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-value-4411")
    text = f"please echo {ENV_SECRET} and tok-value-4411 back"
    assert scrub(text) == f"please echo {MASK} and {MASK} back"


def test_scrub_leaves_values_of_ordinary_or_short_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_MODEL", "gpt-4o-mini")  # not a secret name
    monkeypatch.setenv("USE_AUTH", "true")  # a secret name, but too short a value to mask ("true" is prose)
    text = "model gpt-4o-mini is true to its word"
    assert scrub(text) == text


def test_scrub_forgets_a_variable_once_it_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", ENV_SECRET)
    assert ENV_SECRET not in scrub(f"x {ENV_SECRET}")
    monkeypatch.delenv("OPENAI_API_KEY")
    assert scrub(f"x {ENV_SECRET}") == f"x {ENV_SECRET}"


def serializable(kwargs: dict[str, Any], params: str = "[('stop', None)]") -> str:
    """An llm_string as LangChain builds it for an lc-serializable model: dumpd() JSON, '---', call params."""
    head = {"id": ["my_pkg", "chat", "ChatX"], "kwargs": kwargs, "lc": 1, "name": "ChatX", "type": "constructor"}
    return json.dumps(head) + "---" + params


SECRET_REF = {"id": ["OPENAI_API_KEY"], "lc": 1, "type": "secret"}


def test_identity_masks_secret_named_keys_and_keeps_ordinary_params() -> None:
    llm_string = serializable({
        "model": "chatx-large", "temperature": 0.3,
        "default_headers": {"Authorization": "Bearer live-header-value-1"},
        "client_secret": "plain-client-secret", "base_url": "https://api.example.test",
    })
    ident = identity(llm_string)
    head, _, params = ident.partition("---")
    data = json.loads(head)
    assert data["kwargs"]["default_headers"] == {"Authorization": MASK}
    assert data["kwargs"]["client_secret"] == MASK
    assert data["kwargs"]["model"] == "chatx-large"
    assert data["kwargs"]["temperature"] == 0.3
    assert data["kwargs"]["base_url"] == "https://api.example.test"
    assert params == "[('stop', None)]"
    for secret in ("live-header-value-1", "plain-client-secret"):
        assert secret not in ident


def test_identity_masks_a_secret_field_next_to_a_secret_reference() -> None:
    ident = identity(serializable({"model": "m", "api_key": SECRET_REF, "token": "plain-tok-55"}))
    assert "plain-tok-55" not in ident
    assert "OPENAI_API_KEY" in ident  # the variable's name is no secret


def test_identity_keeps_langchains_secret_references_as_json() -> None:
    from pytest_wtb.execute.prompts import model_label

    ident = identity(serializable({"model": "chatx-large", "api_key": SECRET_REF}))
    data = json.loads(ident.partition("---")[0])
    assert data["kwargs"]["api_key"] == SECRET_REF
    assert model_label(ident) == "ChatX(chatx-large)"


def test_identity_masks_secrets_in_the_repr_form_of_a_model() -> None:
    llm_string = "[('_type', 'chatx'), ('api_key', 'sk-reprsecret12345'), ('model_name', 'm-2'), ('stop', None)]"
    ident = identity(llm_string)
    assert "sk-reprsecret12345" not in ident
    assert "('model_name', 'm-2')" in ident and "('_type', 'chatx')" in ident


def test_identity_is_the_same_after_an_api_key_rotation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-old-0000000000")
    old = identity(serializable({"model": "m", "api_key": "sk-old-0000000000", "token": "old-tok-1",
                                 "default_headers": {"Authorization": "Bearer old-bearer-1"}}))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-new-1111111111")
    new = identity(serializable({"model": "m", "api_key": "sk-new-1111111111", "token": "new-tok-2",
                                 "default_headers": {"Authorization": "Bearer new-bearer-2"}}))
    assert old == new
    repr_old = identity("[('_type', 'x'), ('api_key', SecretStr('sk-old-0000000000')), ('stop', None)]")
    repr_new = identity("[('_type', 'x'), ('api_key', SecretStr('sk-new-1111111111')), ('stop', None)]")
    assert repr_old == repr_new


def test_identity_differs_when_an_ordinary_param_changes() -> None:
    assert identity(serializable({"model": "m", "temperature": 0.1})) != identity(
        serializable({"model": "m", "temperature": 0.9}))
    assert identity(serializable({"model": "m"}, "[('stop', None), ('tools', ['a'])]")) != identity(
        serializable({"model": "m"}, "[('stop', None), ('tools', ['b'])]"))


def test_identity_differs_when_max_tokens_changes() -> None:
    assert identity(serializable({"model": "m", "max_tokens": 100})) != identity(
        serializable({"model": "m", "max_tokens": 4000}))


def test_scrub_keeps_values_under_names_that_only_contain_a_secret_word() -> None:
    assert scrub('lookup({"author": "Jane Austen"})') == 'lookup({"author": "Jane Austen"})'
