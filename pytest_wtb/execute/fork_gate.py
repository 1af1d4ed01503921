"""When a batch's prefix-sharing executions may start: forks wait for their shared prefix, and
(with --wtb-share-prefix-min-ms) a group's further prefixes wait for the group's probe.

Forking pays only when the shared nodes cost more than a fork: the first prefix of each group is a
probe. The group's prefixes that fit the backend's capacity start with it (so costly prefixes lose
no time to probing; a cheap one wastes little by definition), the rest wait for the probe's timings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from pytest_wtb.model import ExecutionResult, ExecutionSpec


class ForkGate:
    def __init__(self, specs: Iterable[ExecutionSpec], capacity: int, share_prefix_min_s: float) -> None:
        self.min_s = share_prefix_min_s
        self.ready: list[ExecutionSpec] = []  # what may start at once
        self.forks: dict[str, list[ExecutionSpec]] = {}  # prefix key -> forks waiting for its result
        self._probes: dict[str, tuple[str, ...]] = {}  # probe prefix key -> its group
        self._held: dict[tuple[str, ...], list[ExecutionSpec]] = {}
        self.skipped: dict[str, float] = {}  # prefixes not worth running -> their probe's node seconds
        self.unshared: dict[str, str] = {}  # fork key -> why it ran from scratch instead
        probing = share_prefix_min_s > 0
        started: dict[tuple[str, ...], int] = {}
        for spec in specs:
            if spec.fork_from is not None:
                self.forks.setdefault(spec.fork_from, []).append(spec)
                continue
            if probing and spec.is_prefix:
                group = (spec.scope, *spec.shared_by, "\x1f", *spec.interrupt_before)
                n = started[group] = started.get(group, 0) + 1
                if n == 1:
                    self._probes[spec.key] = group
                    self._held[group] = []
                elif n > max(1, capacity):
                    self._held[group].append(spec)
                    continue
            self.ready.append(spec)

    def release(self, prefix: ExecutionSpec, result: ExecutionResult) -> list[ExecutionSpec]:
        """What may start now that ``prefix`` has ``result``: its forks (each from scratch, with the
        reason in ``unshared``, when there is no good shared checkpoint) and held prefixes."""
        out: list[ExecutionSpec] = []
        forks = self.forks.pop(prefix.key, [])
        if prefix.key in self._probes:
            out += self._release_group(self._probes.pop(prefix.key), result)
        if result.ok:
            items = result.extra.get("store_items")
            if items is not None:  # each fork starts from the store state its prefix left
                seed = tuple((tuple(ns), str(key), value) for ns, key, value in items)
                forks = [dataclasses.replace(f, store_seed=seed) for f in forks]
            return out + forks
        if prefix.key in self.skipped:
            took, limit = self.skipped[prefix.key] * 1000, self.min_s * 1000
            reason = (
                f"cheap: their shared nodes took {took:.2g} ms in a probe, under --wtb-share-prefix-min-ms={limit:g}"
            )
        else:
            # never a wrong result: without a good shared checkpoint every variant runs from scratch
            reason = f"fallback: shared prefix {prefix.thread_id} {result.status}"
        for fork in forks:
            self.unshared[fork.key] = reason
            out.append(dataclasses.replace(fork, fork_from=None, fork_thread_id=None))
        return out

    def _release_group(self, group: tuple[str, ...], probe: ExecutionResult) -> list[ExecutionSpec]:
        """The group's other prefixes, skipped when the probe's shared nodes were cheap.
        A failed probe decides nothing: its failure may belong to its case alone."""
        held = self._held.pop(group, [])
        shared_s = sum(n.duration_s for n in probe.nodes)
        if probe.ok and shared_s < self.min_s:
            self.skipped.update((p.key, shared_s) for p in held)
        return held


def with_lineage(spec: ExecutionSpec, result: ExecutionResult) -> ExecutionResult:
    """Lineage comes from the plan, so every xdist worker states it alike, whoever ran the fork."""
    if spec.fork_thread_id is None or result.extra.get("forked_from") == spec.fork_thread_id:
        return result
    if "unshared" in result.extra:  # the worker ran it from scratch, saying why
        return result
    return dataclasses.replace(result, extra={**result.extra, "forked_from": spec.fork_thread_id})
