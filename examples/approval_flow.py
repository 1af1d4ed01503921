"""A human-in-the-loop refund: draft the refund, pause for approval, then pay it out or cancel it.

``draft_refund`` looks the order up and caps the refund at what was paid. ``review`` calls
LangGraph's ``interrupt({...})`` when the amount reaches the policy's approval threshold: the run
stops there, checkpointed, until someone resumes the thread with ``Command(resume="approve")`` or
``Command(resume="reject")``. A rejection asks a second question (``ask_reason``: why?) so the
cancellation is recorded with a reason. Refunds under the threshold go through without a pause.

The order book and the payments API are in-process fakes that await a few milliseconds, like the
network calls they stand in for; the nodes, the interrupts and the resumes are LangGraph's own.
"""

import asyncio
from typing import Any, Literal, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

ORDERS = {
    "A-1001": {"customer": "Ada Lovelace", "paid": 15.00},
    "A-1002": {"customer": "Grace Hopper", "paid": 50.00},
    "A-1003": {"customer": "Alan Turing", "paid": 250.00},
    "A-1004": {"customer": "Edsger Dijkstra", "paid": 400.00},
    "A-1005": {"customer": "Barbara Liskov", "paid": 600.00},
}

STANDARD_THRESHOLD = 100.00  # refunds from this amount up need a person's approval
STRICT_THRESHOLD = 20.00


class RefundRequest(TypedDict):
    order_id: str
    amount: float
    reason: str


class RefundState(TypedDict, total=False):
    request: RefundRequest
    refund: dict[str, Any]  # the drafted action: order, customer, amount
    decision: Literal["auto-approved", "approved", "rejected"]
    rejection_reason: str
    status: Literal["refunded", "cancelled"]
    receipt: str


async def fetch_order(order_id: str) -> dict[str, Any]:
    await asyncio.sleep(0.002)  # the order service
    return ORDERS[order_id]


async def issue_refund(order_id: str, amount: float) -> str:
    await asyncio.sleep(0.002)  # the payments API
    return f"rf-{order_id}-{amount:.2f}"


async def draft_refund(state: RefundState) -> dict[str, Any]:
    request = state["request"]
    order = await fetch_order(request["order_id"])
    amount = round(min(request["amount"], order["paid"]), 2)  # never refund more than was paid
    return {"refund": {"order_id": request["order_id"], "customer": order["customer"], "amount": amount}}


def make_review(threshold: float):
    """The approval step for a policy: ask a person from ``threshold`` up, approve below it."""

    def review(state: RefundState) -> dict[str, Any]:
        refund = state["refund"]
        if refund["amount"] < threshold:
            return {"decision": "auto-approved"}
        # Everything before interrupt() runs again on resume, so nothing here may have side effects.
        answer = interrupt(
            {
                "question": f"Approve a refund of ${refund['amount']:.2f} to {refund['customer']}?",
                "order_id": refund["order_id"],
                "amount": refund["amount"],
                "reason": state["request"]["reason"],
                "options": ["approve", "reject"],
            }
        )
        if answer not in ("approve", "reject"):
            raise ValueError(f"review expects 'approve' or 'reject', got {answer!r}")
        return {"decision": "approved" if answer == "approve" else "rejected"}

    return review


def ask_reason(state: RefundState) -> dict[str, Any]:
    reason = interrupt({"question": f"Why was the refund for {state['refund']['order_id']} rejected?"})
    return {"rejection_reason": str(reason).strip()}


async def execute_refund(state: RefundState) -> dict[str, Any]:
    refund = state["refund"]
    receipt = await issue_refund(refund["order_id"], refund["amount"])
    return {"status": "refunded", "receipt": receipt}


async def cancel_refund(state: RefundState) -> dict[str, Any]:
    await asyncio.sleep(0.001)  # tells the customer; nothing is paid out
    return {"status": "cancelled"}


def route_decision(state: RefundState) -> Literal["execute_refund", "ask_reason"]:
    return "ask_reason" if state["decision"] == "rejected" else "execute_refund"


def build_approval_graph(threshold: float = STANDARD_THRESHOLD) -> StateGraph:
    builder = StateGraph(RefundState)
    builder.add_node("draft_refund", draft_refund)
    builder.add_node("review", make_review(threshold))
    builder.add_node("ask_reason", ask_reason)
    builder.add_node("execute_refund", execute_refund)
    builder.add_node("cancel_refund", cancel_refund)
    builder.add_edge(START, "draft_refund")
    builder.add_edge("draft_refund", "review")
    builder.add_conditional_edges("review", route_decision)
    builder.add_edge("ask_reason", "cancel_refund")
    builder.add_edge("execute_refund", END)
    builder.add_edge("cancel_refund", END)
    return builder
