"""Variants of the RAG pipeline, run on the same questions.

Four variants: two retrievers built by the workflow's own factory, and two built from the baseline
by swapping one node with ``with_nodes``. Each test below runs once per (variant x case); every
execution runs once per pytest run however many tests read it.
"""

import pytest_wtb as wtb
from examples.rag_workflow import (
    DOCS_BY_ID,
    NO_ANSWER,
    RERANK_TOP_K,
    build_rag_graph,
    rerank_title_boost,
    retrieve_hybrid,
)


@wtb.variant(baseline=True)
def bm25():
    return build_rag_graph(retriever="bm25")


@wtb.variant(name="dense")
def dense_retriever():
    return build_rag_graph(retriever="dense")


# node-level variants: the baseline's graph with one node's callable replaced
hybrid = bm25.with_nodes({"retrieve": retrieve_hybrid}, name="hybrid")
title_rerank = bm25.with_nodes({"rerank": rerank_title_boost}, name="bm25_title_rerank")


QUESTIONS = {
    "reset": {"question": "How do I reset my password?"},
    "refund": {"question": "Can I get a refund on my annual plan?"},
    "rate_limit": {"question": "What happens when I exceed the API rate limit?"},
    "lost_phone": {"question": "I lost my phone with my authenticator app, how do I sign in?"},
    "export": {"question": "How can I export my workspace data?"},
    "invoice": {"question": "How do I download an invoice?"},
}
# the passage a correct answer must cite, per case
EXPECTED_SOURCE = {
    "reset": "kb-password",
    "refund": "kb-refunds",
    "rate_limit": "kb-limits",
    "lost_phone": "kb-2fa",
    "export": "kb-export",
    "invoice": "kb-billing",
}


@wtb.cases(QUESTIONS)
def test_answer_cites_a_retrieved_passage(wtb_run):
    state = wtb_run.state
    assert state["sources"], f"no citation in {state['answer']!r} ({wtb_run.thread_id})"
    given = [doc["id"] for doc in state["documents"]]
    for source in state["sources"]:
        assert source in given, f"cites {source}, which the model was not given: {given}"


@wtb.cases(QUESTIONS)
def test_cites_the_right_passage(wtb_run):
    assert wtb_run.state["sources"] == [EXPECTED_SOURCE[wtb_run.case_id]]


@wtb.cases(QUESTIONS)
def test_context_stays_small_and_known(wtb_run):
    docs = wtb_run.state["documents"]
    assert 1 <= len(docs) <= RERANK_TOP_K
    assert all(doc["id"] in DOCS_BY_ID for doc in docs)


@wtb.cases(
    [
        {"question": "What is the weather in Paris tomorrow?"},
        {"question": "Who painted the Mona Lisa?"},
    ],
    ids=["weather", "painting"],
)
def test_declines_questions_the_corpus_does_not_cover(wtb_run):
    assert wtb_run.state["answer"] == NO_ANSWER
    assert wtb_run.state["sources"] == []


# Retrieval scores and candidate lists differ between variants by design; what must not differ is
# what the user gets: the answer and its citations.
@wtb.parity(keys=["answer", "sources"])
@wtb.cases(QUESTIONS)
def test_same_answer_as_baseline(wtb_run):
    if wtb_run.baseline is not None:  # None on the baseline's own items
        assert wtb_run.baseline.variant == "bm25"
    assert wtb_run.state["answer"]
