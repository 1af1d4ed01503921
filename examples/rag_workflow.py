"""A retrieval-augmented answering pipeline: retrieve -> rerank -> answer.

Everything runs offline and deterministically: two retrievers (BM25, and a character-trigram
"dense" retriever standing in for an embedding model) over a small help-center corpus, a lexical
reranker standing in for a cross-encoder, and a fake chat model that answers from the passages it is
given. Replace ``ANSWER_MODEL`` with a real chat model and the graph stays the same.
"""

import math
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langgraph.graph import END, START, StateGraph


class Doc(TypedDict):
    id: str
    title: str
    text: str


class Hit(TypedDict):
    id: str
    score: float


class RagState(TypedDict, total=False):
    question: str
    candidates: list[Hit]  # retriever output, best first
    documents: list[Doc]  # reranked context given to the model
    answer: str
    sources: list[str]  # passage ids the answer cites


CORPUS: list[Doc] = [
    {
        "id": "kb-password",
        "title": "Resetting your password",
        "text": "To reset your password, open Settings > Security and choose Reset password. "
        "A reset link valid for 30 minutes is emailed to you; check your spam folder if it does not arrive.",
    },
    {
        "id": "kb-refunds",
        "title": "Refund policy",
        "text": "Annual plans are refunded in full within 14 days of purchase. "
        "Monthly plans are not refunded, but you can cancel at any time to stop the next charge.",
    },
    {
        "id": "kb-2fa",
        "title": "Two-factor authentication",
        "text": "If you lose the phone with your authenticator app, sign in with one of the ten recovery "
        "codes shown when you enabled two-factor authentication. Each recovery code works once.",
    },
    {
        "id": "kb-export",
        "title": "Exporting workspace data",
        "text": "Workspace owners can export all projects as a ZIP archive from Settings > Data. "
        "Exports of large workspaces are prepared in the background and emailed when ready.",
    },
    {
        "id": "kb-limits",
        "title": "API rate limits",
        "text": "Requests over the API rate limit of 600 per minute get HTTP 429 with a Retry-After header. "
        "Wait for the number of seconds it gives before you send the request again.",
    },
    {
        "id": "kb-delete",
        "title": "Deleting your account",
        "text": "Deleting your account removes all projects after a 7-day grace period. "
        "During the grace period you can restore the account from the confirmation email.",
    },
    {
        "id": "kb-billing",
        "title": "Invoices and billing",
        "text": "Invoices are issued on the first day of each billing cycle as PDF in Settings > Billing. "
        "You can change the card on file at any time.",
    },
    {
        "id": "kb-sso",
        "title": "Single sign-on",
        "text": "Enterprise plans support SAML single sign-on with Okta, Azure AD and Google Workspace. "
        "Once SSO is enforced, members sign in through the identity provider instead of a password.",
    },
]
DOCS_BY_ID = {doc["id"]: doc for doc in CORPUS}

RETRIEVE_TOP_K = 4
RERANK_TOP_K = 2

STOPWORDS = frozenset(
    "a all an and are as at be by can do does for from get happen happens how i "  # noqa: SIM905
    "if in is it me my of on or the to what when with you your".split()
)


def _stem(word: str) -> str:
    # crude suffix stripping so "refunded" meets "refund"; a real system would use a proper stemmer
    for suffix in ("ing", "ed", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def tokens(text: str) -> list[str]:
    return [_stem(w) for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in STOPWORDS]


def _doc_text(doc: Doc) -> str:
    return f"{doc['title']} {doc['text']}"


def _top(scores: Sequence[float], k: int = RETRIEVE_TOP_K) -> list[Hit]:
    ranked = sorted(zip(scores, CORPUS, strict=True), key=lambda pair: (-pair[0], pair[1]["id"]))
    return [{"id": doc["id"], "score": round(score, 6)} for score, doc in ranked[:k] if score > 0]


# --- BM25 -------------------------------------------------------------------------------------

K1, B = 1.5, 0.75
_DOC_TOKENS = [tokens(_doc_text(doc)) for doc in CORPUS]
_AVG_LEN = sum(map(len, _DOC_TOKENS)) / len(_DOC_TOKENS)
_DOC_FREQ = Counter(term for terms in _DOC_TOKENS for term in set(terms))


def bm25_scores(query: str) -> list[float]:
    n = len(CORPUS)
    scores = []
    for terms in _DOC_TOKENS:
        tf = Counter(terms)
        score = 0.0
        for term in set(tokens(query)):
            if tf[term]:
                idf = math.log(1 + (n - _DOC_FREQ[term] + 0.5) / (_DOC_FREQ[term] + 0.5))
                norm = tf[term] + K1 * (1 - B + B * len(terms) / _AVG_LEN)
                score += idf * tf[term] * (K1 + 1) / norm
        scores.append(score)
    return scores


# --- "dense": cosine over character trigrams, a stand-in for an embedding model --------------


def embed(text: str) -> Counter[str]:
    grams: Counter[str] = Counter()
    for word in tokens(text):
        padded = f"#{word}#"
        grams.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return grams


def cosine(a: Counter[str], b: Counter[str]) -> float:
    dot = sum(v * b[k] for k, v in a.items() if k in b)
    norm = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return dot / norm if norm else 0.0


_DOC_VECTORS = [embed(_doc_text(doc)) for doc in CORPUS]


def dense_scores(query: str) -> list[float]:
    q = embed(query)
    return [cosine(q, vec) for vec in _DOC_VECTORS]


# --- nodes --------------------------------------------------------------------------------------


def retrieve_bm25(state: RagState) -> dict[str, Any]:
    return {"candidates": _top(bm25_scores(state["question"]))}


def retrieve_dense(state: RagState) -> dict[str, Any]:
    return {"candidates": _top(dense_scores(state["question"]))}


def retrieve_hybrid(state: RagState) -> dict[str, Any]:
    """Reciprocal rank fusion of BM25 and dense rankings."""
    fused: dict[str, float] = {}
    for hits in (_top(bm25_scores(state["question"])), _top(dense_scores(state["question"]))):
        for rank, hit in enumerate(hits):
            fused[hit["id"]] = fused.get(hit["id"], 0.0) + 1 / (60 + rank)
    ranked = sorted(fused.items(), key=lambda item: (-item[1], item[0]))
    return {"candidates": [{"id": i, "score": round(s, 6)} for i, s in ranked[:RETRIEVE_TOP_K]]}


def _overlap(query: set[str], text: str) -> float:
    return len(query & set(tokens(text))) / max(len(query), 1)


def _rerank(state: RagState, score: Callable[[set[str], Doc], float]) -> dict[str, Any]:
    query = set(tokens(state["question"]))
    scored = []
    for rank, hit in enumerate(state["candidates"]):
        doc = DOCS_BY_ID[hit["id"]]
        s = score(query, doc)
        if s > 0:  # a passage sharing no term with the question is noise, not context
            scored.append((-s, rank, doc))
    scored.sort(key=lambda t: (t[0], t[1]))
    return {"documents": [doc for _, _, doc in scored[:RERANK_TOP_K]]}


def rerank_overlap(state: RagState) -> dict[str, Any]:
    """Order candidates by the share of question terms they contain (a cross-encoder stand-in)."""
    return _rerank(state, lambda q, doc: _overlap(q, _doc_text(doc)))


def rerank_title_boost(state: RagState) -> dict[str, Any]:
    """Like rerank_overlap, with extra weight for terms that appear in the passage title."""
    return _rerank(state, lambda q, doc: _overlap(q, _doc_text(doc)) + 0.5 * _overlap(q, doc["title"]))


# --- answering ----------------------------------------------------------------------------------

ANSWER_PROMPT = "Answer from the passages only, in one sentence. Cite the passage id in brackets."
NO_ANSWER = "I don't know: the help center does not cover that."
_CITATION = re.compile(r"\[(kb-[\w-]+)\]")


class ExtractiveChatModel(BaseChatModel):
    """A fake LLM: answers with the first sentence of the first passage in the user message.

    It follows two instructions of the system prompt, so prompt changes show in its output:
    "Cite" appends the passage id, "at most N words" shortens the answer.
    """

    latency_s: float = 0.005  # mimics a model call without slowing the suite

    @property
    def _llm_type(self) -> str:
        return "extractive-fake"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        time.sleep(self.latency_s)
        system = next((m.text for m in messages if isinstance(m, SystemMessage)), "")
        passages = re.findall(r"^\[(\S+)\] (.+)$", messages[-1].text, flags=re.MULTILINE)
        if not passages:
            text = NO_ANSWER
        else:
            pid, body = passages[0]
            text = re.split(r"(?<=\.)\s", body, maxsplit=1)[0]
            if limit := re.search(r"at most (\d+) words", system):
                text = " ".join(text.split()[: int(limit.group(1))]).rstrip(".,;") + "."
            if "Cite" in system:
                text = f"{text} [{pid}]"
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


ANSWER_MODEL = ExtractiveChatModel()


@dataclass(frozen=True)
class AnswerNode:
    """The answer step, configured by its prompt (a class rather than a closure, so it pickles)."""

    prompt: str = ANSWER_PROMPT

    def __call__(self, state: RagState) -> dict[str, Any]:
        passages = "\n".join(f"[{d['id']}] {d['text']}" for d in state.get("documents", []))
        question = HumanMessage(f"Question: {state['question']}\n\nPassages:\n{passages}")
        reply = ANSWER_MODEL.invoke([SystemMessage(self.prompt), question])
        return {"answer": reply.text, "sources": _CITATION.findall(reply.text)}


RETRIEVERS = {"bm25": retrieve_bm25, "dense": retrieve_dense, "hybrid": retrieve_hybrid}


def build_rag_graph(retriever: str = "bm25", prompt: str = ANSWER_PROMPT) -> StateGraph[RagState]:
    graph: StateGraph[RagState] = StateGraph(RagState)
    graph.add_node("retrieve", RETRIEVERS[retriever])
    graph.add_node("rerank", rerank_overlap)
    graph.add_node("answer", AnswerNode(prompt))
    graph.add_edge(START, "retrieve")
    graph.add_edge("retrieve", "rerank")
    graph.add_edge("rerank", "answer")
    graph.add_edge("answer", END)
    return graph
