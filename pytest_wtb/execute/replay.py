"""Re-run a stored execution from one of its checkpoints with the code as it is now.

The variant is rebuilt from the test module the execution recorded (imported again the way pytest
imports it, by ``pytest_wtb.pytest.replay_project``, and only if ``module_file`` allows it), the chosen
checkpoint is copied into a new thread ``<thread_id>-replay-<n>`` (channel values, versions and
metadata, not the pending writes of the step that followed: every task of the next step runs
again), and the graph resumes there. The original thread is never touched.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Final

from pytest_wtb.declare.parity import ParitySpec
from pytest_wtb.declare.variants import Variant, variants_in
from pytest_wtb.errors import WtbError
from pytest_wtb.execute.fork import FORKED_FROM
from pytest_wtb.execute.graphs import compile_variant, node_names
from pytest_wtb.execute.worker import execute
from pytest_wtb.model import ExecutionResult, ExecutionSpec
from pytest_wtb.verdict.compare import Difference, compare

REPLAY_SEP: Final = "-replay-"


class ReplayError(WtbError):
    """The execution cannot be replayed: its module, variant, checkpoint or node is gone."""


@dataclass(frozen=True)
class Chosen:
    checkpoint_id: str
    step: int
    next: tuple[str, ...]
    why: str


@dataclass(frozen=True)
class ReplayOutcome:
    original: str  # the thread_id replayed
    thread_id: str  # the new thread
    chosen: Chosen
    result: ExecutionResult
    old_state: dict[str, Any]
    diffs: list[Difference] = field(default_factory=list)


def origin_row(results: Any, thread_id: str) -> dict[str, Any] | None:
    """The execution row of ``thread_id``, or of the execution a replay thread was made from."""
    row: dict[str, Any] | None = results.find_thread(thread_id)
    while row is None and REPLAY_SEP in thread_id:
        thread_id = thread_id.rsplit(REPLAY_SEP, 1)[0]
        row = results.find_thread(thread_id)
    return row


def module_file(module_path: str | None, scope: str, rootdir: Path, python_files: Sequence[str]) -> Path:
    """The test module file a stored row names, if replay may import it: a ``.py`` file under
    ``rootdir`` (also once symlinks are resolved) that pytest collects as a test module
    (``python_files``) under the name ``scope``. The row is data from the store, which anyone who
    can write to it controls: everything else is refused before anything is imported."""
    where = f"the test module {scope!r} of this execution"
    if not module_path:
        raise ReplayError(f"{where} has no recorded file, so replay cannot tell what to import; rerun pytest")
    path = Path(os.path.normpath(rootdir / module_path))  # relative paths are read from the rootdir
    shown = module_path if module_path.isprintable() else repr(module_path)  # no terminal escapes from a row
    outside = (
        f"refusing to import {shown}: replay imports only test modules under this project's rootdir "
        f"{rootdir} (pytest's rootdir for the current directory)"
    )
    if not path.is_relative_to(rootdir):
        raise ReplayError(f"{outside}; run replay from the project pytest ran in")
    if "\0" in module_path:  # no file has that name, and os calls raise on it
        raise ReplayError(f"refusing to import {shown}: not a file name")
    real = path.resolve()
    if not real.is_relative_to(rootdir.resolve()):
        raise ReplayError(f"{outside}, and it resolves to {real}")
    if real.suffix != ".py" or path.suffix != ".py":
        raise ReplayError(f"refusing to import {shown}: a test module is a .py file")
    if not _is_test_file(path, python_files):
        patterns = " ".join(python_files) or "(none)"
        raise ReplayError(
            f"refusing to import {shown}: it is not a test module by this project's python_files ({patterns})"
        )
    # prepend/append name a file after its package; importlib after its path from the rootdir
    # (with "." in folder names read as "_"): either way the name ends the relative path
    parts = tuple(p.replace(".", "_") for p in path.relative_to(rootdir).with_suffix("").parts)
    names = tuple(scope.split("."))
    if parts[max(len(parts) - len(names), 0):] != names:
        raise ReplayError(f"refusing to import {shown}: pytest would not import that file as {scope!r}")
    if not real.is_file():
        raise ReplayError(f"the test module {scope} was loaded from {path}, which no longer exists")
    return path


def _is_test_file(path: Path, patterns: Sequence[str]) -> bool:
    """pytest's python_files matching: a pattern without a separator matches the file name."""
    return any(
        fnmatch.fnmatch(path.name, pat) if "/" not in pat and os.sep not in pat else path.match(pat)
        for pat in patterns
    )


def find_variant(module: ModuleType, name: str) -> Variant:
    variants = variants_in(vars(module))
    for v in variants:
        if v.name == name:
            return v
    known = ", ".join(v.name for v in variants) or "(none)"
    raise ReplayError(
        f"the test module {module.__name__} no longer declares a variant named '{name}'; its variants: {known}"
    )


def choose(history: list[Any], from_id: str | None, before: str | None, nodes: list[str]) -> Chosen:
    """The checkpoint to resume from; ``history`` is the old thread's snapshots, oldest first."""

    def chosen(snap: Any, why: str) -> Chosen:
        cid = str(snap.config["configurable"]["checkpoint_id"])
        return Chosen(cid, int((snap.metadata or {}).get("step", -1)), tuple(snap.next), why)

    listing = "; ".join(
        f"step {(s.metadata or {}).get('step')} {s.config['configurable']['checkpoint_id']}" for s in history
    )
    if from_id is not None:
        matches = [s for s in history if str(s.config["configurable"]["checkpoint_id"]).startswith(from_id)]
        if len(matches) != 1:
            what = "no checkpoint" if not matches else f"{len(matches)} checkpoints"
            raise ReplayError(f"the execution has {what} matching --from {from_id}; its checkpoints: {listing}")
        return chosen(matches[0], f"--from {from_id}")
    if before is not None:
        if before not in nodes:
            raise ReplayError(f"the graph has no node '{before}'; its nodes: {', '.join(nodes) or '(none)'}")
        for snap in history:
            if before in snap.next:
                return chosen(snap, f"--before {before}: the first checkpoint whose next task is '{before}'")
        raise ReplayError(f"no checkpoint of the execution was about to run '{before}': it never got there")
    last = history[-1]
    if last.next:
        return chosen(last, "where the execution stopped")
    return chosen(history[0], "its input (the execution finished; --from or --before picks another step)")


def next_thread_id(saver: Any, original: str) -> str:
    n = 1
    while saver.get_tuple({"configurable": {"thread_id": f"{original}{REPLAY_SEP}{n}", "checkpoint_ns": ""}}):
        n += 1
    return f"{original}{REPLAY_SEP}{n}"


def copy_checkpoint(saver: Any, original: str, checkpoint_id: str, thread_id: str) -> None:
    """Put the checkpoint, as it is, at the head of a new thread (without its pending writes)."""
    source = {"configurable": {"thread_id": original, "checkpoint_ns": "", "checkpoint_id": checkpoint_id}}
    tup = saver.get_tuple(source)
    if tup is None:
        raise ReplayError(f"checkpoint {checkpoint_id} of {original} could not be read back")
    # a replay descends from the original thread, not from the shared prefix the original may have
    # been forked from: `show` must not count it among the prefix's forks
    metadata = {k: v for k, v in (tup.metadata or {}).items() if k != FORKED_FROM}
    metadata["wtb_replay_of"] = f"{original}@{checkpoint_id}"
    target = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    saver.put(target, tup.checkpoint, metadata, dict(tup.checkpoint.get("channel_versions", {})))


def _resumes_before(history: list[Any], checkpoint_id: str) -> int:
    """How many scripted resumes the original had applied when it wrote ``checkpoint_id``."""
    for snap in history:
        if snap.config["configurable"].get("checkpoint_id") == checkpoint_id:
            return int((snap.metadata or {}).get("wtb_resume", 0))
    return 0


def replay_settings(saver: Any, row: dict[str, Any]) -> dict[str, Any]:
    """The context and config the original execution ran with (stored as plain data with its result)."""
    if row.get("extra_blob") is None:
        return {}
    extra = saver.serde.loads_typed((row["extra_type"], bytes(row["extra_blob"])))
    found = extra.get("replay_with") if isinstance(extra, dict) else None
    return found if isinstance(found, dict) else {}


def replay(
    saver: Any, row: dict[str, Any], module: ModuleType, *, from_id: str | None = None, before: str | None = None,
    record: str = "off",
) -> ReplayOutcome:
    """Replay the execution of ``row`` (a wtb_executions row) from a checkpoint, in a new thread, with
    the variant as ``module`` (its test module, imported again) now declares it."""
    original = str(row["thread_id"])
    variant = find_variant(module, str(row["variant"]))
    graph = compile_variant(variant, saver)
    old_cfg: Any = {"configurable": {"thread_id": original}}
    history = list(reversed(list(graph.get_state_history(old_cfg))))
    if not history:
        raise ReplayError(f"{original} has no checkpoints in this store: were they pruned?")
    chosen = choose(history, from_id, before, node_names(graph))
    old_values = graph.get_state(old_cfg).values
    thread_id = next_thread_id(saver, original)
    copy_checkpoint(saver, original, chosen.checkpoint_id, thread_id)
    settings = replay_settings(saver, row)
    spec = ExecutionSpec(
        key="replay",
        run_id=str(row["run_id"]),
        thread_id=thread_id,
        scope=str(row["scope"]),
        variant=variant,
        case_id=str(row["case_id"]),
        input=None,  # None resumes the thread from its head: the copied checkpoint
        context=settings.get("context"),
        config=dict(settings.get("config") or {}),
        # the resumes the original had not yet used at the chosen checkpoint
        resume=tuple((settings.get("resume") or [])[_resumes_before(history, chosen.checkpoint_id):]),
        record=record,  # --record: its model and tool calls replay from the store's recordings
    )
    result = execute(spec, saver, backend="replay")
    old_state = dict(old_values) if isinstance(old_values, dict) else {"__root__": old_values}
    diffs = compare(old_state, result.state, ParitySpec()) if result.state is not None else []
    return ReplayOutcome(original, thread_id, chosen, result, old_state, diffs)
