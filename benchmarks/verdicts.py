"""Issue 12: how long a parity verdict takes on an agent's conversation.

    python -m benchmarks.verdicts                 # 3 repetitions, medians
    python -m benchmarks.verdicts --quick         # 1 repetition (a smoke run)

Two final states of a tool-calling agent, 200 messages each (50 rounds of human question, AI message
with two tool calls, two tool results; plus a nested ``meta`` dict), built twice with different message
ids, tool-call ids and provider metadata, as two runs of one agent produce them. ``compare()`` runs in
this process (no pytest, no store): the time per verdict is the median over many calls, the row the
median of the repetitions. The goal is the issue's: under 5 ms.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from benchmarks.common.cli import Ctx, Family, main
from benchmarks.common.info import log
from benchmarks.common.table import Row, verdict
from pytest_wtb.declare.parity import ParitySpec
from pytest_wtb.verdict.compare import compare

N_MESSAGES = 200  # 50 rounds of 4 messages
CALLS = 200  # compare() calls timed per repetition
GOAL_MS = 5.0


def agent_state(run: int, q_suffix: str = "") -> dict[str, Any]:
    messages: list[BaseMessage] = []
    for r in range(N_MESSAGES // 5):
        calls = [
            {"name": "search", "args": {"q": f"question {r}{q_suffix}", "k": 5, "filters": {"lang": "en"}},
             "id": f"call-{run}-{r}-0"},
            {"name": "calculator", "args": {"expression": f"{r} * 1.5"}, "id": f"call-{run}-{r}-1"},
        ]
        messages += [
            HumanMessage(f"question {r}: what is the weather in city {r}?", id=f"h-{run}-{r}"),
            AIMessage("", tool_calls=calls, id=f"ai-{run}-{r}",
                      response_metadata={"model_name": "fake", "finish_reason": "tool_calls", "run": run},
                      usage_metadata={"input_tokens": 100 + r, "output_tokens": 20, "total_tokens": 120 + r}),
            ToolMessage(f"results for question {r}", name="search", tool_call_id=f"call-{run}-{r}-0",
                        id=f"t-{run}-{r}-0"),
            ToolMessage(f"{r * 1.5}", name="calculator", tool_call_id=f"call-{run}-{r}-1", id=f"t-{run}-{r}-1"),
            AIMessage(f"In city {r} it is sunny; {r} * 1.5 = {r * 1.5}.", id=f"ai2-{run}-{r}"),
        ]
    return {"messages": messages, "meta": {"steps": len(messages), "scores": [0.5] * 10, "run": {"ok": True}}}


def per_call_ms(a: dict[str, Any], b: dict[str, Any], n: int) -> float:
    spec = ParitySpec()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        compare(a, b, spec)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def run(ctx: Ctx) -> None:
    base, same, changed = agent_state(0), agent_state(1), agent_state(1, q_suffix="!")
    assert len(base["messages"]) == N_MESSAGES
    assert compare(base, same, ParitySpec()) == [], "two runs of one agent must agree"
    n_diffs = len(compare(base, changed, ParitySpec()))
    per_call_ms(base, same, 20)  # warm-up, discarded
    agree, differ = [], []
    for rep in range(ctx.reps):
        agree.append(per_call_ms(base, same, CALLS))
        differ.append(per_call_ms(base, changed, CALLS))
        log(f"rep {rep}: agree {agree[-1]:.2f} ms, differ {differ[-1]:.2f} ms per compare()")
    ctx.raw["verdicts"] = {"agree_ms": agree, "differ_ms": differ, "n_messages": N_MESSAGES, "calls": CALLS}
    a, d = statistics.median(agree), statistics.median(differ)
    ctx.rows.append(Row(f"12 compare() two {N_MESSAGES}-message agent states (80 tool calls), equal but for "
                        "ids and metadata", f"{a:.2f} ms", "-", "-", f"< {GOAL_MS:g} ms", verdict(a < GOAL_MS)))
    ctx.rows.append(Row(f"12   same, every search query changed ({n_diffs} differing paths)", f"{d:.2f} ms",
                        "-", "-", f"< {GOAL_MS:g} ms", verdict(d < GOAL_MS)))
    ctx.notes.append(f"12: median of {CALLS} compare() calls per repetition, in-process (no pytest, no store)")


FAMILY = Family("verdicts", "verdicts", "issue 12: parity verdicts on agent conversations", __doc__ or "", run,
                packages=("langchain-core",))

if __name__ == "__main__":
    main(FAMILY)
