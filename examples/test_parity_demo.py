"""What a parity failure looks like.

``concise_prompt`` changes the answer prompt of the RAG pipeline, and the answers change with it.
It is marked ``xfail(strict=True)`` so ``pytest examples`` stays green; to see the failure report
(variants, case, each differing key path with both values, both thread_ids) run::

    python -m pytest examples/test_parity_demo.py --runxfail
"""

import pytest

import pytest_wtb as wtb
from examples.rag_workflow import ANSWER_PROMPT, build_rag_graph

CONCISE_PROMPT = ANSWER_PROMPT.replace("in one sentence", "in at most 6 words")


@wtb.variant(baseline=True)
def current_prompt():
    return build_rag_graph(prompt=ANSWER_PROMPT)


@wtb.variant(
    marks=[
        pytest.mark.xfail(
            strict=True,
            reason="deliberate divergence: run `pytest examples --runxfail` to see the parity failure",
        )
    ]
)
def concise_prompt():
    return build_rag_graph(prompt=CONCISE_PROMPT)


@wtb.parity(keys=["answer", "sources"])
@wtb.cases(
    [{"question": "How do I reset my password?"}, {"question": "Can I get a refund on my annual plan?"}],
    ids=["reset", "refund"],
)
def test_prompt_change_keeps_the_answer(wtb_run):
    assert wtb_run.state["answer"]
