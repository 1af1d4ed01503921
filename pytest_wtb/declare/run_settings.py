"""What an execution runs with besides its input: LangGraph's runtime ``context=`` and the parts of the
RunnableConfig a user may set. Variant values apply to every case; a case's own values win key by key.

Plain data with no LangGraph import: checked at declaration time, merged when the plan is made, turned
into the graph's ``context_schema`` instance in the worker (execute/graphs.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Final, is_typeddict

# RunnableConfig keys a case or variant may set; the plugin owns thread_id and checkpoint_id
CONFIG_KEYS: Final = frozenset({"configurable", "recursion_limit", "tags", "metadata", "run_name", "max_concurrency"})
OWNED_CONFIGURABLE: Final = ("thread_id", "checkpoint_id", "checkpoint_ns", "checkpoint_map")


def config_problem(config: Any) -> str | None:
    """Why ``config`` cannot be merged into an execution's RunnableConfig, or None."""
    if config is None:
        return None
    if not isinstance(config, Mapping):
        return f"config= takes a dict (a RunnableConfig), got {type(config).__name__}"
    unknown = sorted(str(k) for k in config if k not in CONFIG_KEYS)
    if unknown:
        return (f"config= has {', '.join(map(repr, unknown))}, which pytest-wtb does not pass on; "
                f"allowed keys: {', '.join(sorted(CONFIG_KEYS))}")
    configurable = config.get("configurable", {})
    if not isinstance(configurable, Mapping):
        return f"config['configurable'] takes a dict, got {type(configurable).__name__}"
    owned = [k for k in OWNED_CONFIGURABLE if k in configurable]
    if owned:
        return (f"config= sets {', '.join(map(repr, owned))}: pytest-wtb owns them (every execution runs "
                "under its own thread_id); remove them, and read wtb_run.thread_id instead")
    limit = config.get("recursion_limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        return f"config['recursion_limit'] takes a whole number >= 1, got {limit!r}"
    return None


def merge_config(variant: Mapping[str, Any] | None, case: Mapping[str, Any] | None) -> dict[str, Any]:
    """Key by key, the case winning; dict values (configurable, metadata) merge one level down."""
    merged: dict[str, Any] = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in (variant or {}).items()}
    for key, value in (case or {}).items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = dict(value) if isinstance(value, Mapping) else value
    return merged


def context_fields(context: Any) -> dict[str, Any] | None:
    """A context's fields as a dict (a dict, a dataclass or a pydantic model), or None for other objects."""
    if isinstance(context, Mapping):
        return dict(context)
    if dataclasses.is_dataclass(context) and not isinstance(context, type):
        return {f.name: getattr(context, f.name) for f in dataclasses.fields(context)}
    dump = getattr(context, "model_dump", None)
    if callable(dump):
        fields = dump()
        return dict(fields) if isinstance(fields, Mapping) else None
    return None


def merge_context(variant: Any, case: Any) -> Any:
    """The case's context over the variant's, field by field (a dict of fields when both are set)."""
    if case is None:
        return variant
    if variant is None:
        return case
    base, own = context_fields(variant), context_fields(case)
    if base is None or own is None:
        return case  # an opaque object cannot be merged field by field: the case's wins whole
    return {**base, **own}


def build_context(schema: Any, value: Any) -> Any:
    """``value`` as the graph's ``context_schema`` expects it; ValueError saying why it does not fit."""
    if value is None or schema is None or not isinstance(schema, type):
        return value
    name = getattr(schema, "__name__", str(schema))
    if is_typeddict(schema):  # no isinstance() on a TypedDict: a context for one is a dict of its keys
        if not isinstance(value, Mapping):
            raise ValueError(f"context {value!r} is a {type(value).__name__}, but the graph's context_schema "
                             f"{name} is a TypedDict: give a dict of its keys")
        declared = set(getattr(schema, "__annotations__", {}))
        unknown = sorted(set(value) - declared)
        if unknown:
            raise ValueError(f"context has {', '.join(map(repr, unknown))}, which context_schema {name} "
                             "does not declare")
        return dict(value)
    if isinstance(value, schema):
        return value
    fields = context_fields(value)
    if fields is None or (not isinstance(value, Mapping) and type(value).__name__ != name):
        raise ValueError(f"context {value!r} is a {type(value).__name__}, but the graph's context_schema is {name}")
    validate = getattr(schema, "model_validate", None)
    try:
        return validate(fields) if callable(validate) else schema(**fields)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"context {fields!r} does not fit context_schema {name}: {exc}") from None
