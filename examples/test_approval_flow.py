"""Testing a human-in-the-loop graph: scripted resumes, and runs left waiting for a person.

A case's ``resume=[...]`` plays the reviewer: each time the graph pauses at ``interrupt()``, the same
thread is resumed with the next value, and the tests see the state after the last one. A case with
nothing to resume ends ``interrupted``; a test that expects that says so with
``@wtb.allow_status("interrupted")`` and checks ``wtb_run.interrupts``, the questions the graph is
still waiting on. Without it the item would fail, naming the node and the question.

``standard`` asks for approval from $100 up; ``strict_policy`` is the same graph with its review node
swapped for one that asks from $20 up, so the $50 refund that ``standard`` pays out at once waits
for a person under ``strict_policy``.
"""

import pytest_wtb as wtb
from examples.approval_flow import STRICT_THRESHOLD, build_approval_graph, make_review


@wtb.variant(baseline=True)
def standard():
    return build_approval_graph()


strict_policy = standard.with_nodes({"review": make_review(STRICT_THRESHOLD)}, name="strict_policy")


def refund(order_id: str, amount: float, reason: str = "arrived damaged") -> dict:
    return {"request": {"order_id": order_id, "amount": amount, "reason": reason}}


SMALL = wtb.case(refund("A-1001", 15.0), id="small")
APPROVED = wtb.case(refund("A-1003", 250.0), id="approved", resume=["approve"])
# the second value answers ask_reason's follow-up question; 900 is capped at the 600 paid
REJECTED = wtb.case(refund("A-1005", 900.0), id="rejected", resume=["reject", "  more than the order total "])
AWAITING = wtb.case(refund("A-1004", 400.0, reason="never delivered"), id="awaiting")
MID_SIZED = wtb.case(refund("A-1002", 50.0), id="mid_sized")


@wtb.cases([SMALL, APPROVED])
def test_approved_refunds_are_paid_out(wtb_run):
    state = wtb_run.state
    assert state["status"] == "refunded"
    assert state["receipt"] == f"rf-{state['refund']['order_id']}-{state['refund']['amount']:.2f}"
    expected = "auto-approved" if wtb_run.case_id == "small" else "approved"
    assert state["decision"] == expected, wtb_run.thread_id


@wtb.cases([REJECTED])
def test_a_rejection_is_cancelled_with_its_reason(wtb_run):
    state = wtb_run.state
    assert state["refund"]["amount"] == 600.0
    assert state["decision"] == "rejected"
    assert state["status"] == "cancelled"
    assert state["rejection_reason"] == "more than the order total"
    assert "receipt" not in state, "a rejected refund was paid out"


@wtb.allow_status("interrupted")
@wtb.cases([AWAITING])
def test_a_large_refund_waits_for_approval(wtb_run):
    assert wtb_run.status == "interrupted"
    assert wtb_run.interrupts == [
        {
            "question": "Approve a refund of $400.00 to Edsger Dijkstra?",
            "order_id": "A-1004",
            "amount": 400.0,
            "reason": "never delivered",
            "options": ["approve", "reject"],
        }
    ]
    assert "status" not in wtb_run.state, "the refund went ahead without an answer"


@wtb.allow_status("interrupted")
@wtb.cases([MID_SIZED])
def test_the_strict_policy_asks_about_mid_sized_refunds(wtb_run):
    if wtb_run.variant == "strict_policy":
        assert wtb_run.status == "interrupted"
        assert [i["amount"] for i in wtb_run.interrupts] == [50.0]
    else:
        assert wtb_run.status == "succeeded"
        assert wtb_run.state["decision"] == "auto-approved"
        assert wtb_run.interrupts == []


# Both policies end the same way once a person has answered: only when they ask differs.
@wtb.parity(keys=["refund", "decision", "status"])
@wtb.cases([APPROVED, REJECTED])
def test_answered_requests_end_the_same_under_both_policies(wtb_run):
    assert wtb_run.status == "succeeded"
