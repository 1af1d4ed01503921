"""A tool-calling agent: agent -> tools -> agent ... until the model answers without tool calls.

The model is a scripted fake with the chat-model interface (``bind_tools``, ``invoke`` returning an
``AIMessage`` with ``tool_calls``), so the loop, the prebuilt ``ToolNode`` and the ``add_messages``
reducer are the real LangGraph ones and only the "reasoning" is canned. Its policy: look up every
fact the question names, then do the arithmetic the question asks for, then answer.
"""

import ast
import operator
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage, ToolCall, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode


class AgentState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    steps: int  # agent turns taken
    final_answer: str
    verified: bool  # set only by graphs built with verify=True


# --- tools --------------------------------------------------------------------------------------

_OPS: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}


def evaluate(expression: str) -> float:
    """Arithmetic only: ``eval`` would run whatever a model puts in the expression."""

    def walk(node: ast.expr) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        raise ValueError(f"unsupported expression: {ast.unparse(node)}")

    return walk(ast.parse(expression, mode="eval").body)


def format_number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


@tool
def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression with + - * / ** and parentheses."""
    return format_number(evaluate(expression))


FACTS = {
    "Eiffel Tower height": "330 m",
    "Mount Everest height": "8849 m",
    "capital of Australia": "Canberra",
    "population of France": "68400000",
    "area of France": "551695 km2",
}
_FACTS_BY_KEY = {topic.lower(): value for topic, value in FACTS.items()}


@tool
def lookup(topic: str) -> str:
    """Look up a fact in the encyclopedia by topic, e.g. 'Eiffel Tower height'."""
    return _FACTS_BY_KEY.get(topic.strip().lower(), f"no entry for {topic!r}")


TOOLS = [calculator, lookup]


# --- the scripted model -------------------------------------------------------------------------

# which facts a phrase in the question asks for
TOPICS = {
    "mount everest": ("Mount Everest height",),
    "eiffel tower": ("Eiffel Tower height",),
    "capital of australia": ("capital of Australia",),
    "population of france": ("population of France",),
    "population density of france": ("population of France", "area of France"),
}
_ARITHMETIC = re.compile(r"\d[\d.\s]*(?:[-+*/]\s*\(?\s*[\d.]+\s*\)?\s*)+")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def plan_expression(question: str, facts: Sequence[str]) -> str | None:
    """The arithmetic the question asks for, given the looked-up facts in question order."""
    q = question.lower()
    values = [m.group() for f in facts if (m := _NUMBER.search(f))]
    if match := _ARITHMETIC.search(q):
        return match.group().strip()
    if "in feet" in q and len(values) == 1:
        return f"{values[0]} * 3.28084"
    if re.search(r"\b(times|per|density)\b", q) and len(values) == 2:
        return f"{values[0]} / {values[1]}"
    return None


class ScriptedToolCallingModel(BaseChatModel):
    """A fake LLM that decides tool calls from the conversation so far, deterministically."""

    latency_s: float = 0.002

    @property
    def _llm_type(self) -> str:
        return "scripted-tool-calling-fake"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> "ScriptedToolCallingModel":
        return self  # the script already knows TOOLS; a real model would get their schemas here

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        time.sleep(self.latency_s)
        return ChatResult(generations=[ChatGeneration(message=self.decide(messages))])

    @staticmethod
    def decide(messages: Sequence[BaseMessage]) -> AIMessage:
        question = next(m.text for m in messages if isinstance(m, HumanMessage))
        turn = sum(isinstance(m, AIMessage) for m in messages)
        calls = [c for m in messages if isinstance(m, AIMessage) for c in m.tool_calls]
        results = {m.tool_call_id: m.text for m in messages if isinstance(m, ToolMessage)}
        lookups = [c for c in calls if c["name"] == "lookup"]
        looked_up = {c["args"]["topic"]: results.get(c["id"] or "", "") for c in lookups}
        computed = [results.get(c["id"] or "", "") for c in calls if c["name"] == "calculator"]

        wanted = topics_in(question)
        missing = [t for t in wanted if t not in looked_up]
        if missing:  # independent lookups go out together, as parallel tool calls
            return _call(turn, [("lookup", {"topic": t}) for t in missing])
        expression = plan_expression(question, [looked_up[t] for t in wanted])
        if expression and not computed:
            return _call(turn, [("calculator", {"expression": expression})])
        if computed:
            return AIMessage(f"The answer is {computed[-1]}.")
        if looked_up:
            return AIMessage(" ".join(f"The {t} is {v}." for t, v in looked_up.items()))
        return AIMessage("I can't answer that with my tools.")


def topics_in(question: str) -> list[str]:
    """The facts a question names, in the order it names them."""
    q = question.lower()
    found = sorted((q.find(phrase), topics) for phrase, topics in TOPICS.items() if phrase in q)
    return list(dict.fromkeys(topic for _, topics in found for topic in topics))


def _call(turn: int, calls: list[tuple[str, dict[str, Any]]]) -> AIMessage:
    # ids derived from the turn, not random, so reruns produce identical messages
    tool_calls = [ToolCall(name=n, args=a, id=f"call_{turn}_{i}") for i, (n, a) in enumerate(calls)]
    return AIMessage(content="", tool_calls=tool_calls)


AGENT_MODEL = ScriptedToolCallingModel()


# --- nodes and graph ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentNode:
    """One agent turn: ask the model, or stop once ``max_steps`` turns are spent."""

    max_steps: int

    def __call__(self, state: AgentState) -> dict[str, Any]:
        steps = state.get("steps", 0) + 1
        if steps > self.max_steps:
            reply = AIMessage(f"Stopped: no answer within {self.max_steps} steps.")
        else:
            reply = AGENT_MODEL.bind_tools(TOOLS).invoke(state["messages"])
        update: dict[str, Any] = {"messages": [reply], "steps": steps}
        if not reply.tool_calls:
            update["final_answer"] = reply.text
        return update


def run_tools_in_order(state: AgentState) -> dict[str, Any]:
    """A hand-written alternative to ToolNode: the last message's tool calls, one after another."""
    by_name = {t.name: t for t in TOOLS}
    last = state["messages"][-1]
    assert isinstance(last, AIMessage)
    return {
        "messages": [
            ToolMessage(str(by_name[c["name"]].invoke(c["args"])), tool_call_id=c["id"], name=c["name"])
            for c in last.tool_calls
        ]
    }


def verify_answer(state: AgentState) -> dict[str, Any]:
    """Recompute the last calculator call without the tool and check the answer states its result."""
    calls = [c for m in state["messages"] if isinstance(m, AIMessage) for c in m.tool_calls]
    exprs = [c["args"]["expression"] for c in calls if c["name"] == "calculator"]
    if not exprs:
        return {"verified": True}
    return {"verified": format_number(evaluate(exprs[-1])) in state.get("final_answer", "")}


def build_agent_graph(max_steps: int = 6, verify: bool = False) -> StateGraph[AgentState]:
    after_agent = "verify" if verify else END

    def route(state: AgentState) -> str:
        last = state["messages"][-1]
        return "tools" if isinstance(last, AIMessage) and last.tool_calls else after_agent

    graph: StateGraph[AgentState] = StateGraph(AgentState)
    graph.add_node("agent", AgentNode(max_steps))
    graph.add_node("tools", ToolNode(TOOLS))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", route, ["tools", after_agent])
    graph.add_edge("tools", "agent")
    if verify:
        graph.add_node("verify", verify_answer)
        graph.add_edge("verify", END)
    return graph
