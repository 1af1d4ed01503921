"""Frozen values that cross backend boundaries (threads, Ray actors, xdist workers via the store)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from pytest_wtb.declare.variants import Variant

# re-exported: the statuses have their own module so declarations can name them without a cycle
from pytest_wtb.statuses import FAILED as FAILED
from pytest_wtb.statuses import FINAL_STATUSES as FINAL_STATUSES
from pytest_wtb.statuses import INTERRUPTED as INTERRUPTED
from pytest_wtb.statuses import LOST as LOST
from pytest_wtb.statuses import RUNNING as RUNNING
from pytest_wtb.statuses import STATUSES as STATUSES
from pytest_wtb.statuses import SUCCEEDED as SUCCEEDED
from pytest_wtb.statuses import TIMED_OUT as TIMED_OUT

PREFIX_LABEL: Final = "(shared-prefix)"
# checkpoint metadata key naming the shared-prefix thread a forked execution was copied from
FORKED_FROM: Final = "wtb_forked_from"


@dataclass(frozen=True)
class ExecutionSpec:
    """One graph execution: a variant on one input, under its own thread_id."""

    key: str
    run_id: str
    thread_id: str
    scope: str  # the test module that declares the variant
    variant: Variant
    case_id: str
    input: Any
    timeout_s: float | None = None
    # LangGraph's runtime context (a dict of the context_schema's fields, or an instance) and the
    # RunnableConfig parts the user chose (never thread_id/checkpoint_id): variant merged with case
    context: Any = None
    config: dict[str, Any] = field(default_factory=dict)
    resume: tuple[Any, ...] = ()  # Command(resume=v) after each pause, in order
    repetition: int = 0  # @wtb.repeat: which independent execution of its (variant, case) this is
    record: str = "off"  # --wtb-record: how its model and tool calls replay and record (execute/tape.py)
    # prefix sharing: a fork starts from the store items its shared prefix left (store/serde-able data)
    store_seed: tuple[tuple[tuple[str, ...], str, Any], ...] | None = None
    # prefix sharing: a shared run stops before these nodes; a fork resumes from that run's thread
    interrupt_before: tuple[str, ...] = ()
    fork_from: str | None = None  # key of the shared (prefix) execution
    fork_thread_id: str | None = None
    shared_by: tuple[str, ...] = ()  # for a prefix execution: the variants forked from it

    @property
    def variant_name(self) -> str:
        return PREFIX_LABEL if self.interrupt_before else self.variant.name

    @property
    def is_prefix(self) -> bool:
        return bool(self.interrupt_before)


@dataclass(frozen=True)
class ErrorInfo:
    type: str
    message: str
    node: str | None = None
    traceback: str = ""

    def headline(self) -> str:
        where = f" in node '{self.node}'" if self.node else ""
        return f"{self.type}{where}: {self.message}"


@dataclass(frozen=True)
class NodeRun:
    step: int
    node: str
    duration_s: float
    error: str | None = None


@dataclass(frozen=True)
class RecordedCall:
    """A model or tool call an execution made live and recorded, for the driver to store (--wtb-record)."""

    key: str  # what replay looks it up by: identity, input, repetition and occurrence (execute/tape.py)
    kind: str  # "chat", "llm" or "tool"
    name: str  # the model or tool, as people name it
    node: str
    identity: str  # the model's class and parameters, secrets masked ("" for a tool)
    input_text: str  # what the call got, readable, secrets masked: the miss message diffs against it
    output_type: str  # the output through the store's strict serializer
    output_blob: bytes
    cassette: str  # the (test module, variant, case, repetition) that recorded it: --wtb-record=once
    scope: str
    variant: str
    case_id: str
    repetition: int
    occurrence: int


@dataclass(frozen=True)
class ExecutionResult:
    key: str
    thread_id: str
    variant: str
    case_id: str
    status: str
    state: dict[str, Any] | None = None
    checkpoint_id: str | None = None
    error: ErrorInfo | None = None
    started_at: float = 0.0
    duration_s: float = 0.0
    attempts: int = 1
    backend: str = ""
    worker: str = ""
    nodes: tuple[NodeRun, ...] = ()
    pending_nodes: tuple[str, ...] = ()
    store_error: str | None = None  # set when the result could not be saved
    # stored with the result: interrupts [{node, value}], output_keys, resumes, store_items (prefixes)
    extra: dict[str, Any] = field(default_factory=dict)
    recordings: tuple[RecordedCall, ...] = ()  # new recordings, written with the result (not in its row)

    @classmethod
    def of(cls, spec: ExecutionSpec, status: str, **fields: Any) -> ExecutionResult:
        """A result of ``spec``, named as the spec names its execution."""
        return cls(key=spec.key, thread_id=spec.thread_id, variant=spec.variant_name, case_id=spec.case_id,
                   status=status, **fields)

    @property
    def ok(self) -> bool:
        return self.status == SUCCEEDED

    @property
    def interrupts(self) -> list[Any]:
        """The values the graph passed to interrupt() and is still waiting on."""
        return [i.get("value") for i in self.extra.get("interrupts", ())]

    @property
    def output(self) -> Any:
        """The graph's output view (its output_schema) of the final state."""
        if self.state is None:
            return None
        keys = self.extra.get("output_keys")
        if keys is None:
            return dict(self.state)
        if isinstance(keys, str):
            return self.state.get(keys)
        return {k: self.state[k] for k in keys if k in self.state}
