"""Verdict trust: for generated agent conversations and nested states, what must not count (ids,
tool-call ids, provider metadata, tuple vs list, float noise within tolerance, dict order) never makes
a diff, and each known change (tool name, an arg, content, a tool result's status, an extra or a
missing message, a nested value) makes exactly one diff, at its path."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from pytest_wtb.declare.parity import ParitySpec
from pytest_wtb.verdict.compare import MISSING, compare

TOOLS = ("search", "lookup", "calculator")
names = st.text("abcdef", min_size=1, max_size=4)
texts = st.text("xyz ", max_size=6)
floats = st.floats(-1e6, 1e6, allow_nan=False).filter(lambda f: f == 0 or abs(f) > 1e-6)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-100, 100), texts, floats)
args = st.dictionaries(names, st.one_of(scalars, st.lists(st.integers(0, 9), max_size=3)), max_size=3)
call = st.tuples(st.sampled_from(TOOLS), args)
ai_turn = st.fixed_dictionaries({"kind": st.just("ai"), "content": texts, "calls": st.lists(call, max_size=2),
                                 "statuses": st.lists(st.sampled_from(["success", "error"]), min_size=2, max_size=2)})
human_turn = st.fixed_dictionaries({"kind": st.just("human"), "content": texts})
turns = st.lists(st.one_of(human_turn, ai_turn), min_size=1, max_size=6)
nested = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                        st.dictionaries(names, inner, max_size=3)), max_leaves=8)


def noisy(value: Any) -> Any:
    """The same value as a store round trip or another run could hand it back: dicts in another order,
    tuples for lists, floats off by far less than the default rel_tol."""
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return value * (1 + 1e-12)
    if isinstance(value, dict):
        return {k: noisy(value[k]) for k in reversed(list(value))}
    return tuple(noisy(v) for v in value)


def build(spec: list[dict[str, Any]], run: int) -> list[BaseMessage]:
    """Concrete messages for ``spec``; ``run`` > 0 gives other ids, metadata and noisy args."""
    out: list[BaseMessage] = []
    for turn in spec:
        i = len(out)
        if turn["kind"] == "human":
            out.append(HumanMessage(turn["content"], id=f"h{run}-{i}"))
            continue
        calls = [{"name": n, "args": noisy(a) if run else a, "id": f"call{run}-{i}-{j}"}
                 for j, (n, a) in enumerate(turn["calls"])]
        meta: dict[str, Any] = {"response_metadata": {"model_name": f"m{run}", "run": run},
                                "usage_metadata": {"input_tokens": run, "output_tokens": 1, "total_tokens": run + 1},
                                "additional_kwargs": {"refusal": None, "system_fingerprint": f"fp{run}"}} if run else {}
        out.append(AIMessage(turn["content"], tool_calls=calls, id=f"ai{run}-{i}", **meta))
        result_names = turn.get("result_names") or [c["name"] for c in calls]
        for j, c in enumerate(calls):
            out.append(ToolMessage(f"result {j}", name=result_names[j], tool_call_id=c["id"],
                                   status=turn["statuses"][j], id=f"t{run}-{i}-{j}"))
    return out


def paths(a: Any, b: Any) -> list[str]:
    return [d.path for d in compare(a, b, ParitySpec())]


@settings(max_examples=150, deadline=None)
@given(turns, nested)
def test_ids_metadata_order_tuples_and_float_noise_make_no_diff(spec: list[dict[str, Any]], meta: Any) -> None:
    base = {"messages": build(spec, 0), "meta": meta}
    assert paths(base, {"messages": build(spec, 1), "meta": noisy(meta)}) == []


def _changed(value: Any) -> Any:
    """A leaf value that compares as different from ``value``."""
    if value is None:
        return "x"
    if isinstance(value, bool):
        return not value
    if isinstance(value, str):
        return value + "!"
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 1.0 + abs(value)
    return [*value, 1]  # a list arg: one more element


@st.composite
def mutations(draw: st.DrawFn, spec: list[dict[str, Any]]) -> tuple[str, Any]:
    """One known change to ``spec`` (applied in place) and the path it must be reported at."""
    positions, i = [], 0  # (message index, turn) per turn, tool results counted in
    for turn in spec:
        positions.append((i, turn))
        i += 1 + (len(turn["calls"]) if turn["kind"] == "ai" else 0)
    length = i
    calls = [(p, t, j) for p, t in positions if t["kind"] == "ai" for j in range(len(t["calls"]))]
    kinds = ["content", "extra", "missing"] + (["tool_name", "arg", "status"] if calls else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "content":
        p, t = draw(st.sampled_from(positions))
        t["content"] += "!"
        return f"messages[{p}].content", None
    if kind == "extra":
        spec.append({"kind": "human", "content": draw(texts)})
        return f"messages[{length}]", "extra"
    if kind == "missing":  # the test drops the variant's last message
        return f"messages[{length - 1}]", "missing"
    p, t, j = draw(st.sampled_from(calls))
    name, call_args = t["calls"][j]
    if kind == "tool_name":
        t["result_names"] = [n for n, _ in t["calls"]]  # the tool results stay as they were
        t["calls"][j] = (TOOLS[(TOOLS.index(name) + 1) % len(TOOLS)], call_args)
        return f"messages[{p}].tool_calls[{j}].name", None
    if kind == "status":
        t["statuses"][j] = "error" if t["statuses"][j] == "success" else "success"
        return f"messages[{p + 1 + j}].status", None
    if not call_args:
        t["calls"][j] = (name, {"q": "new"})
        return f"messages[{p}].tool_calls[{j}].args.q", None
    key = draw(st.sampled_from(sorted(call_args)))
    t["calls"][j] = (name, {**call_args, key: _changed(call_args[key])})
    if isinstance(call_args[key], list):
        return f"messages[{p}].tool_calls[{j}].args.{key}[{len(call_args[key])}]", None
    return f"messages[{p}].tool_calls[{j}].args.{key}", None


def _copy(spec: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**t, "calls": list(t.get("calls", [])), "statuses": list(t.get("statuses", []))} for t in spec]


@settings(max_examples=300, deadline=None)
@given(turns, st.data())
def test_each_known_message_change_is_one_diff_at_its_path(spec: list[dict[str, Any]], data: st.DataObject) -> None:
    changed = _copy(spec)
    expected, kind = data.draw(mutations(changed))
    other = build(changed, 1)
    diffs = compare({"messages": build(spec, 0)}, {"messages": other[:-1] if kind == "missing" else other},
                    ParitySpec())
    got = [d.path for d in diffs]
    assert got == [expected]
    if kind == "extra":
        assert diffs[0].baseline is MISSING
    if kind == "missing":
        assert diffs[0].other is MISSING


def _leaves(value: Any, path: str) -> list[str]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaves(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaves(v, f"{path}[{i}]")]
    return [path]


def _replace(value: Any, path: str, at: str) -> Any:
    if path == at:
        return _changed(value)
    if isinstance(value, dict):
        return {k: _replace(v, f"{path}.{k}", at) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, f"{path}[{i}]", at) for i, v in enumerate(value)]
    return value


@settings(max_examples=200, deadline=None)
@given(nested, st.data())
def test_a_changed_nested_value_is_one_diff_at_its_path(meta: Any, data: st.DataObject) -> None:
    at = data.draw(st.sampled_from(_leaves(meta, "meta") or ["meta"]))
    other = _replace(meta, "meta", at) if at != "meta" or not isinstance(meta, dict | list) else "changed"
    assert paths({"meta": meta}, {"meta": noisy(other)}) == [at]
