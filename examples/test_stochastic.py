"""Variants of a sampling model judged by repeats and a paired gate instead of exact parity.

``large`` is the baseline (right 85% of the time). ``distilled`` is truly worse (right 40% of the
time): its gate item fails, marked ``xfail(strict=True)`` so the examples command exits 0 (see the
failure text with ``python -m pytest examples/test_stochastic.py --runxfail``). ``large_v2`` is as
good as the baseline with other draws: judged on one run alone it can look worse (repetition 4: 3 of 5
topics right against the baseline's 4), yet over all 100 pairs the gate finds it not worse, so its
gate item passes.
"""

import pytest

import pytest_wtb as wtb
from examples.stochastic_workflow import FACTS, SampledChatModel, build_support_graph

TOPICS = {topic.replace(" ", "_"): {"topic": topic} for topic in FACTS}
TRULY_WORSE = pytest.mark.xfail(strict=True, reason="the distilled model is truly worse: the gate must catch it")


@wtb.variant(baseline=True)
def large():
    return build_support_graph(SampledChatModel(model_name="large", accuracy=0.85))


@wtb.variant(marks=[TRULY_WORSE])
def distilled():
    return build_support_graph(SampledChatModel(model_name="distilled", accuracy=0.4))


@wtb.variant
def large_v2():
    return build_support_graph(SampledChatModel(model_name="large-v2", accuracy=0.85))


@wtb.gate(margin=0.1, alpha=0.05)
@wtb.repeat(20)
@wtb.cases(TOPICS)
def test_answers_are_not_worse_than_the_baseline(wtb_run):
    return wtb_run.state["answer"] == FACTS[wtb_run.input["topic"]]


@wtb.repeat(12, min_pass_rate=0.5)
@wtb.cases({"refund_window": {"topic": "refund window"}})
def test_the_refund_window_is_right_at_least_half_the_time(wtb_run):
    assert wtb_run.state["answer"] == "30 days", f"repetition {wtb_run.repetition}: {wtb_run.state['answer']}"
