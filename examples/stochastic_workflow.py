"""A support-answer workflow whose model samples: it answers right with some probability.

``SampledChatModel`` stands in for a real model at temperature > 0: a langchain-core chat model whose
answer for a question is drawn from a generator seeded by what stays the same across runs (its own
name, the case and the repetition pytest-wtb puts in the config's metadata), never by the thread_id
(which holds the run id). So every run of the examples draws the same samples, and a verdict on them
is reproducible while still being a verdict on a distribution.
"""

from __future__ import annotations

import random
from typing import Any, TypedDict

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph

FACTS = {
    "refund window": "30 days",
    "support hours": "9am-5pm",
    "shipping cost": "free over $50",
    "warranty": "2 years",
    "password reset": "use the account page",
}
WRONG = "I am not sure, please contact support."


class SampledChatModel(BaseChatModel):
    """Right with probability ``accuracy``; the draw is fixed by (name, case, repetition)."""

    model_name: str
    accuracy: float

    @property
    def _llm_type(self) -> str:
        return "sampled-fake"

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        seed = kwargs.get("seed", "")
        topic = str(messages[-1].content)
        right = random.Random(f"{self.model_name}:{seed}").random() < self.accuracy
        text = FACTS.get(topic, WRONG) if right else WRONG
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


class State(TypedDict, total=False):
    topic: str
    answer: str


def build_support_graph(model: SampledChatModel) -> StateGraph[Any]:
    def answer(state: State, config: RunnableConfig) -> dict[str, str]:
        md = config.get("metadata", {})
        seed = f"{md.get('wtb_case')}:{md.get('wtb_repetition')}"
        reply = model.invoke([HumanMessage(content=state["topic"])], seed=seed)
        return {"answer": str(reply.content)}

    graph = StateGraph(State)
    graph.add_node("answer", answer)
    graph.add_edge(START, "answer")
    graph.add_edge("answer", END)
    return graph
