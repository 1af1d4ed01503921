"""From the executions that selected items need to one ordered list of unique ExecutionSpecs."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from pytest_wtb.declare.run_settings import merge_config, merge_context
from pytest_wtb.declare.variants import Case, Variant
from pytest_wtb.model import ExecutionSpec
from pytest_wtb.plan.canonical import canonical_input as canonical_input  # store/ imports it from here
from pytest_wtb.plan.prefix import Shape, prefix_groups

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class ExecutionRequest:
    """What one item needs run: a variant of ``scope`` (a module) on one case."""

    scope: str
    variant: Variant
    case: Case
    repetition: int = 0  # @wtb.repeat: the n-th independent execution of this (variant, case)

    @cached_property
    def key(self) -> str:
        settings = self.settings_identity + (f"\x1frepetition={self.repetition}" if self.repetition else "")
        return execution_key(self.scope, self.variant.name, self.case, settings)

    @cached_property
    def context(self) -> Any:
        return merge_context(self.variant.context, self.case.context)

    @cached_property
    def config(self) -> dict[str, Any]:
        return merge_config(self.variant.config, self.case.config)

    @cached_property
    def settings_identity(self) -> str:
        """Context, config and resumes as part of the execution's identity ('' when none is set)."""
        return run_settings_identity(self.context, self.config, self.case.resume)


def run_settings_identity(context: Any, config: dict[str, Any], resume: tuple[Any, ...]) -> str:
    if context is None and not config and not resume:
        return ""  # keys of plain cases stay what they were
    return canonical_input({"context": context, "config": config, "resume": list(resume)})


def execution_key(scope: str, variant_name: str, case: Case, settings: str = "") -> str:
    """Stable across processes, so xdist workers and reruns agree on which execution is which.
    Raises InputError for an input with no stable form (see canonical_input)."""
    parts = (scope, variant_name, case.id, canonical_input(case.input)) + ((settings,) if settings else ())
    return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:16]


def thread_id_for(run_id: str, variant_name: str, case_id: str, key: str) -> str:
    """Readable (run, variant, case) and unique: the key suffix separates same-named cases of two tests."""
    variant_part = _UNSAFE.sub("_", variant_name)[:40]
    case_part = _UNSAFE.sub("_", case_id)[:40]
    return f"wtb-{run_id}-{variant_part}-{case_part}-{key[:6]}"


@dataclass(frozen=True)
class Plan:
    specs: tuple[ExecutionSpec, ...]
    # keys planned but run only when asked for (later rounds of an adaptive gate): Batch.release
    held: frozenset[str] = frozenset()

    def __len__(self) -> int:
        return len(self.specs)


def make_plan(
    run_id: str,
    requests: Iterable[ExecutionRequest],
    timeout_s: float | None = None,
    shapes: dict[int, Shape | None] | None = None,
    record: str | Mapping[str, str] = "off",
    hold: frozenset[str] = frozenset(),
) -> Plan:
    """Deduplicate requests, keeping the order of first need so early items finish early.

    With ``shapes`` (a cache for prefix.shape_of), variants of one case that provably share a
    prefix get one shared execution, interrupted before their first differing node, and each
    variant's execution forks from it. ``record`` is the --wtb-record mode, for all or per execution key;
    an execution that records shares no prefix: a fork would count a call its prefix made as made
    elsewhere, and replay the wrong one. ``hold``: keys that run only when released (they share no prefix).
    """
    specs: dict[str, ExecutionSpec] = {}
    for req in requests:
        key = req.key
        if key in specs:
            continue
        specs[key] = ExecutionSpec(
            key=key,
            run_id=run_id,
            thread_id=thread_id_for(run_id, req.variant.name, req.case.id + (f"-r{req.repetition}" if req.repetition
                                                                             else ""), key),
            scope=req.scope,
            variant=req.variant,
            case_id=req.case.id,
            input=req.case.input,
            timeout_s=timeout_s,
            context=req.context,
            config=req.config,
            resume=req.case.resume,
            repetition=req.repetition,
            record=record if isinstance(record, str) else record.get(key, "off"),
        )
    ordered = list(specs.values())
    if shapes is not None:
        ordered = _share_prefixes(run_id, ordered, shapes, hold)
    return Plan(tuple(ordered), hold & specs.keys())


def _share_prefixes(run_id: str, specs: list[ExecutionSpec], shapes: dict[int, Shape | None],
                    hold: frozenset[str] = frozenset()) -> list[ExecutionSpec]:
    position = {spec.key: i for i, spec in enumerate(specs)}
    by_case: dict[tuple[str, str, str], list[ExecutionSpec]] = {}
    for spec in specs:
        # a scripted conversation is not split, nor a recorded one; a held one may never run
        if spec.resume or spec.record != "off" or spec.key in hold:
            continue
        # repetitions are independent samples: a stochastic shared node must run in each of them
        identity = canonical_input(spec.input) + run_settings_identity(spec.context, spec.config, ()) + (
            f"\x1f{spec.repetition}")
        by_case.setdefault((spec.scope, spec.case_id, identity), []).append(spec)
    replaced: dict[str, ExecutionSpec] = {}
    prefix_before: dict[str, ExecutionSpec] = {}  # first fork's key -> the prefix to run before it
    for (scope, case_id, _), group_specs in by_case.items():
        by_variant = {id(s.variant): s for s in group_specs}
        for group in prefix_groups([s.variant for s in group_specs], shapes):
            members = [by_variant[id(v)] for v in group.members]
            names = tuple(sorted(m.variant_name for m in members))
            raw = "\x1f".join((scope, "prefix", *names, *group.fork_nodes, members[0].key))
            key = hashlib.sha1(raw.encode()).hexdigest()[:16]
            prefix = dataclasses.replace(
                members[0],
                key=key,
                thread_id=thread_id_for(run_id, "prefix", case_id, key),
                interrupt_before=group.fork_nodes,
                shared_by=names,
            )
            for m in members:
                replaced[m.key] = dataclasses.replace(m, fork_from=key, fork_thread_id=prefix.thread_id)
            first = min(members, key=lambda m: position[m.key])
            prefix_before[first.key] = prefix
    ordered: list[ExecutionSpec] = []
    for spec in specs:
        if spec.key in prefix_before:
            ordered.append(prefix_before[spec.key])
        ordered.append(replaced.get(spec.key, spec))
    return ordered
