"""The message of a call with no recording: what made it, and how it differs from the nearest recording."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from pytest_wtb.execute.tape import Stored, Tape

MAX_DIFF_LINES: Final = 16
MAX_CANDIDATES: Final = 500
KIND_WORDS: Final = {"chat": "chat model", "llm": "LLM", "tool": "tool"}


def miss_message(tape: Tape, kind: str, name: str, node: str, identity: str, input_text: str, occurrence: int) -> str:
    spec = tape.spec
    nth = f" (identical call #{occurrence + 1} of this execution)" if occurrence else ""
    rep = f", repetition {spec.repetition}" if spec.repetition else ""
    lines = [
        f"no recording of {KIND_WORDS.get(kind, kind)} {name!r}{nth} called in node {node!r} of variant "
        f"{spec.variant_name!r}, case {spec.case_id!r}{rep}, and --wtb-record={tape.mode} does not record it"
    ]
    nearest = _nearest(tape, kind, node, name, identity, input_text)
    if nearest is None:
        lines.append(f"no recording of a {KIND_WORDS.get(kind, kind)} call in node {node!r} either: "
                     "this node's calls were never recorded into this store")
    else:
        owner = f"variant {nearest.variant!r}, case {nearest.case_id!r}" if nearest.variant else "another execution"
        lines.append(f"nearest recording of node {nearest.node!r} ({owner}), - recorded, + this call:")
        lines.extend(_diff(nearest, identity, input_text))
    if tape.mode == "once":
        lines.append("under once an execution that has recordings records nothing new (vcrpy's once); "
                     "record the new call with --wtb-record=new, or re-record everything with --wtb-record=all")
    else:
        lines.append("record it with --wtb-record=new (records only calls that have no recording) "
                     "or --wtb-record=once (records executions that have none)")
    return "\n".join(lines)


def _nearest(tape: Tape, kind: str, node: str, name: str, identity: str, input_text: str) -> Stored | None:
    candidates = tape.snapshot.near(kind, node, name)[:MAX_CANDIDATES]
    if not candidates:
        return None
    target = identity + "\n" + input_text

    def score(s: Stored) -> float:
        return difflib.SequenceMatcher(None, s.identity + "\n" + s.input_text, target, autojunk=False).ratio()

    return max(candidates, key=score)


def _diff(stored: Stored, identity: str, input_text: str) -> list[str]:
    out: list[str] = []
    if stored.identity != identity:
        what = "tool" if stored.kind == "tool" else "model"
        out.append(f"  - {what} {stored.identity[:300]}")
        out.append(f"  + {what} {identity[:300]}")
    body = [
        line for line in difflib.unified_diff(stored.input_text.splitlines(), input_text.splitlines(), lineterm="", n=1)
        if not line.startswith(("---", "+++"))
    ]
    if not body and stored.identity == identity:
        out.append("  (the same call: it was recorded for another repetition, or fewer times in one execution)")
    shown = body[:MAX_DIFF_LINES]
    out.extend("  " + line[:300] for line in shown)
    if len(body) > len(shown):
        out.append(f"  ... {len(body) - len(shown)} more diff lines")
    return out
