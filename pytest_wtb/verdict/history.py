"""An execution's checkpoint history read back from the store, without needing its graph."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pytest_wtb.model import FORKED_FROM
from pytest_wtb.verdict.compare import short


@dataclass(frozen=True)
class Step:
    step: int
    source: str
    nodes: tuple[str, ...]
    checkpoint_id: str
    changed: dict[str, Any]
    resume: str = ""  # set on the first step after a scripted resume: which one, with what value


def _user_channel(name: str) -> bool:
    return not name.startswith(("__", "branch:"))


def _node_name(name: str) -> str:
    return "START" if name == "__start__" else name


def checkpoint_history(saver: Any, thread_id: str, failed_node: str | None = None) -> list[Step]:
    """Oldest first: for each checkpoint, the node(s) that produced it and the keys they changed."""
    tuples = list(saver.list({"configurable": {"thread_id": thread_id}}))
    tuples.sort(key=lambda t: (t.metadata.get("step", 0), t.checkpoint["id"]))
    steps: list[Step] = []
    seen_before: dict[str, Any] = {}
    last_resume = None
    for tup in tuples:
        ckpt, meta = tup.checkpoint, tup.metadata or {}
        resume = ""
        if meta.get("wtb_resume") not in (None, last_resume):  # the resumed stream's first checkpoint
            last_resume = meta["wtb_resume"]
            resume = f"resume {last_resume}: Command(resume={meta.get('wtb_resume_value', '?')})"
        values = ckpt.get("channel_values", {})
        versions_seen = ckpt.get("versions_seen", {})
        if meta.get("source") == "input":
            nodes: tuple[str, ...] = ("(input)",)
            start = values.get("__start__", {})
            changed = dict(start) if isinstance(start, dict) else {"input": start}
        else:
            nodes = tuple(
                _node_name(n)
                for n, seen in versions_seen.items()
                if (n == "__start__" or _user_channel(n)) and seen_before.get(n) != seen
            )
            updated = ckpt.get("updated_channels") or [k for k in values if _user_channel(k)]
            changed = {k: values[k] for k in updated if _user_channel(k) and k in values}
        seen_before = dict(versions_seen)
        steps.append(Step(int(meta.get("step", 0)), str(meta.get("source", "")), nodes, ckpt["id"], changed, resume))
    if tuples:
        errors = [w[2] for w in (tuples[-1].pending_writes or []) if w[1] == "__error__"]
        if errors:
            label = f"{failed_node} (failed)" if failed_node else "(failed)"
            steps.append(Step(steps[-1].step + 1, "error", (label,), "-", {"error": errors[0]}))
    return steps


def format_history(steps: list[Step], width: int = 70) -> list[str]:
    lines = [f"{'step':>4}  {'node':<20} {'checkpoint_id':<38} changed keys"]
    for s in steps:
        if s.resume:
            lines.append(f"{'':>4}  -- {s.resume}")
        node = ", ".join(s.nodes) or f"({s.source})"
        changes = "; ".join(f"{k}={short(v, width)}" for k, v in s.changed.items()) or "-"
        lines.append(f"{s.step:>4}  {node:<20} {s.checkpoint_id:<38} {changes}")
    return lines


def fork_origin(saver: Any, thread_id: str) -> tuple[str, str] | None:
    """(source thread_id, checkpoint forked from) when this execution was forked from a shared prefix."""
    copied = [t for t in saver.list({"configurable": {"thread_id": thread_id}}) if FORKED_FROM in (t.metadata or {})]
    if not copied:
        return None
    newest = max(copied, key=lambda t: t.checkpoint["id"])
    return str(newest.metadata[FORKED_FROM]), str(newest.checkpoint["id"])
