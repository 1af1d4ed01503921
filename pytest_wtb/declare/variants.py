"""Declarations users write in test modules: variants, cases, parity.

Plain objects with no pytest import: Ray workers unpickle them and unit tests build them directly.
Mistakes found at decoration time are recorded, not raised, so collection can report them as a
clean error naming the test instead of an import traceback.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from pytest_wtb.errors import DeclarationError

F = TypeVar("F", bound=Callable[..., Any])

CASES_ATTR = "_wtb_cases"
# matched whole (fullmatch): "$" would let a name end in a newline, which breaks test ids and -k
_NAME_RE = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.-]*")
_NAME_RULE = "use letters, digits, '_', '.' or '-' (no spaces, newlines or other control characters)"


@dataclass(frozen=True, eq=False)
class Variant:
    """A named zero-argument graph factory, optionally with some node callables replaced."""

    name: str
    factory: Callable[[], Any]
    baseline: bool = False
    node_overrides: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    resources: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, Any] = field(default_factory=dict)
    marks: tuple[Any, ...] = ()
    base_name: str | None = None

    @property
    def module(self) -> str:
        return str(getattr(self.factory, "__module__", "") or "")

    def __call__(self) -> Any:
        return self.factory()

    def with_nodes(
        self,
        nodes: Mapping[str, Callable[..., Any]],
        *,
        name: str,
        baseline: bool = False,
        marks: Iterable[Any] = (),
    ) -> Variant:
        """The same graph with the callables of ``nodes`` swapped in (rebuilt, not monkeypatched)."""
        __tracebackhide__ = True
        _check_name(name, f" (from {self.name}.with_nodes)")
        if not nodes:
            raise DeclarationError(f"variant '{name}': with_nodes() needs at least one node to replace")
        for node, fn in nodes.items():
            if not callable(fn):
                raise DeclarationError(
                    f"variant '{name}': replacement for node '{node}' is {type(fn).__name__}, not a callable"
                )
        return Variant(
            name=name,
            factory=self.factory,
            baseline=baseline,
            node_overrides={**self.node_overrides, **nodes},
            resources=self.resources,
            env=self.env,
            marks=tuple(marks),
            base_name=self.name,
        )

    def __repr__(self) -> str:
        return f"<wtb.Variant {self.name!r}{' baseline' if self.baseline else ''}>"


def _usable(name: object) -> bool:
    return isinstance(name, str) and _NAME_RE.fullmatch(name) is not None


def _check_name(name: object, declared_by: str = "") -> None:
    __tracebackhide__ = True  # the user's declaration line is the frame to show
    if not _usable(name):
        raise DeclarationError(f"variant name {name!r}{declared_by} is not usable in a test id: {_NAME_RULE}")


@overload
def variant(fn: Callable[[], Any], /) -> Variant: ...
@overload
def variant(
    *,
    name: str | None = None,
    baseline: bool = False,
    resources: Mapping[str, Any] | None = None,
    env: Mapping[str, Any] | None = None,
    marks: Iterable[Any] = (),
) -> Callable[[Callable[[], Any]], Variant]: ...
def variant(
    fn: Callable[[], Any] | None = None,
    /,
    *,
    name: str | None = None,
    baseline: bool = False,
    resources: Mapping[str, Any] | None = None,
    env: Mapping[str, Any] | None = None,
    marks: Iterable[Any] = (),
) -> Variant | Callable[[Callable[[], Any]], Variant]:
    """Declare a graph factory as a variant: ``@wtb.variant`` or ``@wtb.variant(name=..., baseline=True)``.

    ``resources`` ({"num_cpus": .., "memory": ..}) and ``env`` (a Ray runtime_env) apply on the ray
    backend; ``marks`` are pytest marks put on every item of this variant.
    """

    def wrap(factory: Callable[[], Any]) -> Variant:
        __tracebackhide__ = True
        if not callable(factory):
            raise DeclarationError(f"@wtb.variant decorates a zero-argument factory, got {factory!r}")
        vname = name if name is not None else getattr(factory, "__name__", "")
        _check_name(vname, f" (of @wtb.variant on {getattr(factory, '__qualname__', factory)!r})")
        return Variant(
            name=vname,
            factory=factory,
            baseline=baseline,
            resources=dict(resources or {}),
            env=dict(env or {}),
            marks=tuple(marks),
        )

    if fn is not None:
        return wrap(fn)
    return wrap


@dataclass(frozen=True)
class Case:
    id: str
    input: Any


@dataclass(frozen=True)
class CaseSet:
    cases: tuple[Case, ...]
    error: str | None = None  # a mistake in the decorator call, reported at collection
    strategy: Any = None  # a Hypothesis strategy of graph inputs: one property item per variant
    max_examples: int | None = None


def cases(
    inputs: Sequence[Any] | Mapping[str, Any] | None = None,
    *,
    ids: Sequence[str] | None = None,
    strategy: Any = None,
    max_examples: int | None = None,
) -> Callable[[F], F]:
    """Attach graph inputs to a test: a list (with optional ``ids=``) or a dict ``{case_id: input}``,
    or ``strategy=`` (a Hypothesis strategy of inputs, searched with at most ``max_examples``)."""
    if strategy is not None or max_examples is not None:
        case_set = _strategy_case_set(inputs, ids, strategy, max_examples)
    elif inputs is None:
        case_set = CaseSet((), "@wtb.cases needs graph inputs (a list or a dict) or strategy=")
    else:
        case_set = _build_case_set(inputs, ids)

    def mark(test: F) -> F:
        setattr(test, CASES_ATTR, case_set)
        return test

    return mark


def _strategy_case_set(inputs: Any, ids: Any, strategy: Any, max_examples: Any) -> CaseSet:
    if inputs is not None or ids is not None:
        return CaseSet((), "@wtb.cases takes either graph inputs (with ids=) or strategy=, not both")
    if strategy is None:
        return CaseSet((), "@wtb.cases(max_examples=...) needs strategy=")
    if not (hasattr(strategy, "example") and hasattr(strategy, "map")):
        return CaseSet((), f"@wtb.cases(strategy=...) takes a Hypothesis strategy, got {type(strategy).__name__}")
    if max_examples is not None and (isinstance(max_examples, bool) or not isinstance(max_examples, int)
                                     or max_examples < 1):
        return CaseSet((), f"@wtb.cases(max_examples=...) takes a whole number >= 1, got {max_examples!r}")
    return CaseSet((), strategy=strategy, max_examples=max_examples)


def _build_case_set(inputs: Sequence[Any] | Mapping[str, Any], ids: Sequence[str] | None) -> CaseSet:
    if isinstance(inputs, Mapping):
        if ids is not None:
            return CaseSet((), "@wtb.cases got a dict and ids=; the dict keys already are the ids")
        pairs = [(str(k), v) for k, v in inputs.items()]
    elif isinstance(inputs, Sequence) and not isinstance(inputs, str | bytes):
        if ids is None:
            pairs = [(f"case{i}", v) for i, v in enumerate(inputs)]
        elif len(ids) != len(inputs):
            return CaseSet((), f"@wtb.cases got {len(inputs)} inputs but {len(ids)} ids")
        else:
            pairs = [(str(i), v) for i, v in zip(ids, inputs, strict=True)]
    else:
        return CaseSet((), f"@wtb.cases takes a list or a dict of graph inputs, got {type(inputs).__name__}")
    if not pairs:
        return CaseSet((), "@wtb.cases got no inputs")
    seen: set[str] = set()
    for case_id, _ in pairs:
        if not _usable(case_id):
            return CaseSet((), f"case id {case_id!r} of @wtb.cases is not usable in a test id: {_NAME_RULE}")
        if case_id in seen:
            return CaseSet((), f"case id {case_id!r} appears twice")
        seen.add(case_id)
    return CaseSet(tuple(Case(i, v) for i, v in pairs))


def variants_in(namespace: Mapping[str, Any]) -> list[Variant]:
    """The distinct Variant objects bound in a module namespace, in definition order."""
    found: dict[int, Variant] = {}
    for value in list(namespace.values()):
        if isinstance(value, Variant):
            found.setdefault(id(value), value)
    return list(found.values())


def check_variant_set(variants: Sequence[Variant]) -> Variant | None:
    """Validate names and baselines of one module's variants; return its baseline, if any."""
    by_name: dict[str, Variant] = {}
    for v in variants:
        if v.name in by_name:
            raise DeclarationError(
                f"two different variants are named '{v.name}': give one of them another name="
            )
        by_name[v.name] = v
    baselines = [v for v in variants if v.baseline]
    if len(baselines) > 1:
        names = ", ".join(f"'{v.name}'" for v in baselines)
        raise DeclarationError(f"more than one baseline variant ({names}): mark exactly one baseline=True")
    return baselines[0] if baselines else None
