"""An async ReAct agent in the shape of LangChain's ``react-agent`` template.

The graph is the template's: a ``Context`` dataclass (model name and system prompt) that the async
``call_model`` node reads through ``runtime: Runtime[Context]``, a prebuilt ``ToolNode`` running async
``@tool`` functions, ``route_model_output`` sending tool calls to "tools" and everything else to the
end, and ``add_messages`` accumulating the conversation. Only the model is a fake: a small
``BaseChatModel`` whose async ``_agenerate`` decides its tool calls from the conversation, the model
name and the system prompt, so two runs that differ only in their ``Context`` really behave
differently. It awaits a few milliseconds per call where a real model would wait on the network.

The template's ``is_last_step`` guard is left out on purpose: without it a ``recursion_limit`` too
small for the task ends the run with ``GraphRecursionError``, which is what a test should notice.
"""

import asyncio
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage, ToolCall, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.graph import StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode
from langgraph.runtime import Runtime

from examples.agent_workflow import evaluate, format_number  # the same safe arithmetic as the sync agent

SYSTEM_PROMPT = "You are a helpful research assistant. Look facts up before you state them."
TERSE_PROMPT = "Be brief: reply with the value only, and do simple arithmetic yourself."
MODEL_LATENCY_S = 0.005


@dataclass(kw_only=True)
class Context:
    """What the template makes configurable per run: which model, with which instructions."""

    model: str = "large-model"
    system_prompt: str = SYSTEM_PROMPT


@dataclass
class InputState:
    messages: Annotated[Sequence[AnyMessage], add_messages] = field(default_factory=list)


@dataclass
class State(InputState):
    pass  # the template keeps room here for keys the caller does not provide


# --- tools --------------------------------------------------------------------------------------

ENCYCLOPEDIA = {
    "eiffel tower height": "330 m",
    "mount everest height": "8849 m",
    "capital of australia": "Canberra",
    "population of france": "68400000",
}

@tool
async def search(query: str) -> str:
    """Look a fact up in the encyclopedia, e.g. 'Eiffel Tower height'."""
    await asyncio.sleep(0.001)  # an index round trip
    return ENCYCLOPEDIA.get(query.strip().lower(), f"no entry for {query!r}")


@tool
async def calculate(expression: str) -> str:
    """Evaluate an arithmetic expression with + - * / and parentheses."""
    return format_number(evaluate(expression))


TOOLS = [search, calculate]


# --- the fake model -----------------------------------------------------------------------------

# phrases in a question -> the facts it needs, and what the answer does with them
TASKS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "capital of australia": (("capital of Australia",), None),
    "eiffel tower in feet": (("Eiffel Tower height",), "{0} * 3.28084"),
    "taller is mount everest than the eiffel tower": (("Mount Everest height", "Eiffel Tower height"), "{0} / {1}"),
}
# what a small model "knows" without looking: stale or simply wrong, as small models are
SMALL_MODEL_MEMORY = {
    "capital of Australia": "Sydney",
    "Eiffel Tower height": "324 m",
    "Mount Everest height": "8848 m",
}
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


class FakeReActModel(BaseChatModel):
    """Decides like a tool-calling model would, deterministically, from what it is sent."""

    model_name: str = "large-model"

    @property
    def _llm_type(self) -> str:
        return "fake-react"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> "FakeReActModel":
        return self  # the script already knows TOOLS; a real model would get their schemas here

    async def _agenerate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        await asyncio.sleep(MODEL_LATENCY_S)
        return ChatResult(generations=[ChatGeneration(message=self.decide(messages))])

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        time.sleep(MODEL_LATENCY_S)
        return ChatResult(generations=[ChatGeneration(message=self.decide(messages))])

    def decide(self, messages: Sequence[BaseMessage]) -> AIMessage:
        system = " ".join(m.text for m in messages if m.type == "system")
        question = next(m.text for m in messages if isinstance(m, HumanMessage)).lower()
        turn = sum(isinstance(m, AIMessage) for m in messages)
        calls = [c for m in messages if isinstance(m, AIMessage) for c in m.tool_calls]
        results = {m.tool_call_id: m.text for m in messages if isinstance(m, ToolMessage)}
        found = {c["args"]["query"]: results.get(c["id"] or "") for c in calls if c["name"] == "search"}
        computed = [results.get(c["id"] or "") for c in calls if c["name"] == "calculate"]

        task = next((t for phrase, t in TASKS.items() if phrase in question), None)
        if task is None:
            return AIMessage("I can't answer that with my tools.")
        topics, formula = task
        facts: dict[str, str] = {}
        for topic in topics:
            if topic in found:
                facts[topic] = found[topic] or ""
            elif self.model_name == "small-model" and topic in SMALL_MODEL_MEMORY:
                facts[topic] = SMALL_MODEL_MEMORY[topic]  # answers from memory instead of searching
        missing = [t for t in topics if t not in facts]
        if missing:  # independent lookups go out together, as parallel tool calls
            return _call(turn, [("search", {"query": t}) for t in missing])

        terse = "value only" in system
        if formula is None:
            value = facts[topics[0]]
            return AIMessage(value if terse else f"The {topics[0]} is {value}.")
        numbers = [m.group() if (m := _NUMBER.search(facts[t])) else "0" for t in topics]
        expression = formula.format(*numbers)
        if "arithmetic yourself" in system:
            return AIMessage(format_number(evaluate(expression)))
        if not computed:
            return _call(turn, [("calculate", {"expression": expression})])
        return AIMessage(computed[-1] if terse else f"The answer is {computed[-1]}.")


def _call(turn: int, calls: list[tuple[str, dict[str, Any]]]) -> AIMessage:
    # ids derived from the turn, not random, so reruns produce identical messages
    tool_calls = [ToolCall(name=n, args=a, id=f"call_{turn}_{i}") for i, (n, a) in enumerate(calls)]
    return AIMessage(content="", tool_calls=tool_calls)


def load_chat_model(name: str) -> FakeReActModel:
    """The template's ``load_chat_model("provider/model")``, offline."""
    return FakeReActModel(model_name=name.split("/")[-1])


# --- nodes and graph ----------------------------------------------------------------------------


def context_of(runtime: Runtime[Context]) -> Context:
    # LangGraph passes None when the caller gave no context=, not the schema's defaults
    return runtime.context or Context()


async def call_model(state: State, runtime: Runtime[Context]) -> dict[str, list[AIMessage]]:
    context = context_of(runtime)
    model = load_chat_model(context.model).bind_tools(TOOLS)
    system = {"role": "system", "content": context.system_prompt}
    response = await model.ainvoke([system, *state.messages])
    return {"messages": [response]}


async def call_model_with_retry(state: State, runtime: Runtime[Context]) -> dict[str, list[AIMessage]]:
    """``call_model`` hardened for a flaky provider: a deadline per attempt and one retry."""
    context = context_of(runtime)
    model = load_chat_model(context.model).bind_tools(TOOLS)
    prompt = [{"role": "system", "content": context.system_prompt}, *state.messages]
    try:
        response = await asyncio.wait_for(model.ainvoke(prompt), timeout=2.0)
    except TimeoutError:
        response = await asyncio.wait_for(model.ainvoke(prompt), timeout=2.0)
    return {"messages": [response]}


@tool("search")
async def search_normalized(query: str) -> str:
    """Look a fact up in the encyclopedia, e.g. 'Eiffel Tower height'."""
    # a rewrite of the index lookup: punctuation and spacing in the query no longer matter
    key = " ".join(re.findall(r"[a-z0-9]+", query.lower()))
    await asyncio.sleep(0.001)
    return ENCYCLOPEDIA.get(key, f"no entry for {query!r}")


def route_model_output(state: State) -> Literal["__end__", "tools"]:
    last = state.messages[-1]
    if not isinstance(last, AIMessage):
        raise ValueError(f"expected an AIMessage after call_model, got {type(last).__name__}")
    return "tools" if last.tool_calls else "__end__"


def build_react_agent() -> StateGraph:
    builder = StateGraph(State, input_schema=InputState, context_schema=Context)
    builder.add_node("call_model", call_model)
    builder.add_node("tools", ToolNode(TOOLS))
    builder.add_edge("__start__", "call_model")
    builder.add_conditional_edges("call_model", route_model_output)
    builder.add_edge("tools", "call_model")
    return builder
