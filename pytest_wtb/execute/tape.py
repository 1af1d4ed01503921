"""One execution's model and tool calls under ``--wtb-record``: which replay, which are recorded, which miss.

A call's key is what its answer depends on: the model's identity and parameters (tools bound included,
LangChain passes them as call parameters) and the input it got, or a tool's name and arguments; plus
the execution's repetition (repeats are distinct samples) and how many identical calls this
execution made before it (two identical calls replay in order). Not the variant, node or case: a
variant that changes one prompt misses exactly the calls whose input changed, and replays the rest.

Recordings are a snapshot of the store taken when the run starts (this run's own recordings are not
in it), so which calls replay never depends on which execution happened to finish first.
"""

from __future__ import annotations

import contextvars
import hashlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Final

from pytest_wtb.execute.secrets import env_secrets
from pytest_wtb.model import FAILED, ErrorInfo, ExecutionResult, ExecutionSpec, RecordedCall
from pytest_wtb.statuses import LIVE, MISSING, RECORDED, REPLAYED, count_calls

RECORD_MODES: Final = ("off", "once", "new", "all", "none")


class RecordingMissing(Exception):
    """A call with no recording where the record mode does not allow recording it."""


class RecordingsNotLoaded(RuntimeError):
    """A worker was given an execution that records before it had the run's recordings."""


@dataclass(frozen=True)
class Stored:
    """A recording as a run's snapshot holds it."""

    key: str
    kind: str
    name: str
    node: str
    identity: str
    input_text: str
    output_type: str
    output_blob: bytes
    cassette: str
    variant: str = ""
    case_id: str = ""


@dataclass(frozen=True)
class Snapshot:
    entries: dict[str, Stored] = field(default_factory=dict)
    cassettes: frozenset[str] = frozenset()

    def near(self, kind: str, node: str, name: str) -> list[Stored]:
        """Recordings a miss is compared with: the same node's calls of that kind, else the same model/tool's."""
        same_node = [s for s in self.entries.values() if s.kind == kind and s.node == node]
        return same_node or [s for s in self.entries.values() if s.kind == kind and s.name == name]


_snapshots: dict[str, Snapshot] = {}
_snapshots_lock = threading.Lock()
_current: contextvars.ContextVar[Tape | None] = contextvars.ContextVar("wtb_tape", default=None)


def register_snapshot(run_id: str, snapshot: Snapshot) -> None:
    with _snapshots_lock:
        _snapshots[run_id] = snapshot


def snapshot_for(run_id: str) -> Snapshot | None:
    with _snapshots_lock:
        return _snapshots.get(run_id)


def current() -> Tape | None:
    return _current.get()


def cassette_of(spec: ExecutionSpec) -> str:
    """The execution's own recordings, as vcrpy's cassette: what --wtb-record=once asks about."""
    parts = (spec.scope, spec.variant_name, spec.case_id, str(spec.repetition))
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


def call_key(kind: str, identity: str, input_key: str, repetition: int, occurrence: int) -> str:
    material = "\x1f".join((kind, identity, input_key, str(repetition), str(occurrence)))
    return hashlib.sha256(material.encode()).hexdigest()[:32]


@dataclass
class Pending:
    """A call that missed and runs live; what it gets recorded under when it returns."""

    key: str
    kind: str
    name: str
    node: str
    identity: str
    input_text: str
    occurrence: int
    entry: dict[str, Any]


class Tape:
    def __init__(self, spec: ExecutionSpec, snapshot: Snapshot) -> None:
        self.spec = spec
        self.mode = spec.record
        self.env = env_secrets()  # read once: every call of the execution masks them
        self.snapshot = snapshot
        self.cassette = cassette_of(spec)
        # vcrpy's once: an execution that recorded before records nothing new, a new call is an error
        fresh = self.cassette not in snapshot.cassettes
        self.may_record = self.mode in ("all", "new") or (self.mode == "once" and fresh)
        self.may_replay = self.mode in ("once", "new", "none")
        self.calls: list[dict[str, Any]] = []  # in call order: kind, name, node, status, key
        self.new: list[RecordedCall] = []
        self.miss: str | None = None  # the first miss's message: it fails the execution
        self.miss_node: str | None = None
        self._seen: dict[tuple[str, str, str], int] = {}  # identical calls so far: the next one's occurrence
        self._pending: dict[tuple[str, str], list[Pending]] = {}  # LangChain's (prompt, llm_string) -> live calls
        self._lock = threading.Lock()

    @contextmanager
    def active(self) -> Iterator[None]:
        token = _current.set(self)
        try:
            yield
        finally:
            _current.reset(token)

    def lookup(self, kind: str, name: str, node: str, identity: str, input_key: str,
               input_text: str | Callable[[], str]) -> Stored | Pending:
        """The recording to replay, or the pending call to run live and record. Raises RecordingMissing.
        ``input_text`` (readable, masked) is only needed when the call misses: it may come as a function."""
        base = (kind, identity, input_key)
        with self._lock:
            occurrence = self._seen.get(base, 0)
            self._seen[base] = occurrence + 1
            key = call_key(kind, identity, input_key, self.spec.repetition, occurrence)
            entry: dict[str, Any] = {"kind": kind, "name": name, "node": node, "key": key, "status": LIVE}
            self.calls.append(entry)
        hit = self.snapshot.entries.get(key) if self.may_replay else None
        if hit is not None:
            entry["status"] = REPLAYED
            return hit
        if callable(input_text):
            input_text = input_text()
        if not self.may_record:
            from pytest_wtb.execute.misses import miss_message

            message = miss_message(self, kind, name, node, identity, input_text, occurrence)
            with self._lock:
                if self.miss is None:
                    self.miss, self.miss_node = message, node
            entry["status"] = MISSING
            raise RecordingMissing(message)
        return Pending(key, kind, name, node, identity, input_text, occurrence, entry)

    def stash(self, where: tuple[str, str], pending: Pending) -> None:
        """Hold a live model call until LangChain hands its answer to the cache's update."""
        with self._lock:
            self._pending.setdefault(where, []).append(pending)

    def take(self, where: tuple[str, str]) -> Pending | None:
        with self._lock:
            waiting = self._pending.get(where)
            return waiting.pop(0) if waiting else None

    def record(self, pending: Pending, output_type: str, output_blob: bytes) -> None:
        spec = self.spec
        call = RecordedCall(
            key=pending.key, kind=pending.kind, name=pending.name, node=pending.node, identity=pending.identity,
            input_text=pending.input_text, output_type=output_type, output_blob=output_blob,
            cassette=self.cassette, scope=spec.scope, variant=spec.variant_name, case_id=spec.case_id,
            repetition=spec.repetition, occurrence=pending.occurrence,
        )
        with self._lock:
            self.new.append(call)
            pending.entry["status"] = RECORDED

    def unrecordable(self, pending: Pending, why: str) -> None:
        pending.entry["status"] = LIVE
        pending.entry["why"] = why[:300]

    def counts(self) -> dict[str, int]:
        """Replayed, recorded and live calls so far (a missing call made no call: counted with live)."""
        c = count_calls(self.calls)
        return {REPLAYED: c[REPLAYED], RECORDED: c[RECORDED], LIVE: c[LIVE] + c[MISSING]}


def settle(tape: Tape, result: ExecutionResult) -> ExecutionResult:
    """The result with its calls (which replayed, which were recorded) and its new recordings. A miss
    fails it, even one the graph caught (a ToolNode turns a tool's error into a message)."""
    extra = {**result.extra, "calls": list(tape.calls)}
    if tape.mode in ("once", "new", "all"):  # it is a cassette now (--wtb-record=once asks)
        extra["cassette"] = {"id": tape.cassette, "scope": tape.spec.scope}
    if tape.miss is not None:
        error = ErrorInfo(type="RecordingMissing", message=tape.miss, node=tape.miss_node)
        result = replace(result, status=FAILED, error=error)
    return replace(result, extra=extra, recordings=tuple(tape.new))
