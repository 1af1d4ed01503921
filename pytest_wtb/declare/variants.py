"""Declarations users write in test modules: variants, cases, parity.

Plain objects with no pytest import: Ray workers unpickle them and unit tests build them directly.
Mistakes found at decoration time are recorded, not raised, so collection can report them as a
clean error naming the test instead of an import traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from pytest_wtb.declare.cases import CASES_ATTR as CASES_ATTR  # re-exported: the declarations' one home
from pytest_wtb.declare.cases import NAME_RULE, Case, CaseSet, cases, usable
from pytest_wtb.declare.run_settings import config_problem
from pytest_wtb.errors import DeclarationError

__all__ = ["CASES_ATTR", "Case", "CaseSet", "Variant", "cases", "check_variant_set", "variant", "variants_in"]


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
    context: Any = None  # LangGraph runtime context for every case (a case's own fields win)
    config: Mapping[str, Any] = field(default_factory=dict)  # merged into every case's RunnableConfig

    @property
    def module(self) -> str:
        return str(getattr(self.factory, "__module__", "") or "")

    def __call__(self) -> Any:
        return self.factory()

    def with_nodes(
        self,
        nodes: Mapping[str, Any],
        *,
        name: str,
        baseline: bool = False,
        marks: Iterable[Any] = (),
    ) -> Variant:
        """The same graph with the nodes of ``nodes`` swapped in (rebuilt, not monkeypatched): anything
        ``StateGraph.add_node`` takes (a function, a Runnable such as a ``ToolNode``, a compiled subgraph)."""
        __tracebackhide__ = True
        _check_name(name, f" (from {self.name}.with_nodes)")
        if not nodes:
            raise DeclarationError(f"variant '{name}': with_nodes() needs at least one node to replace")
        for node, fn in nodes.items():
            if not (callable(fn) or hasattr(fn, "invoke") or isinstance(fn, Mapping)):
                raise DeclarationError(
                    f"variant '{name}': replacement for node '{node}' is {type(fn).__name__}, not a function "
                    "or a Runnable"
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
            context=self.context,
            config=self.config,
        )

    def __repr__(self) -> str:
        return f"<wtb.Variant {self.name!r}{' baseline' if self.baseline else ''}>"


def _check_name(name: object, declared_by: str = "") -> None:
    __tracebackhide__ = True  # the user's declaration line is the frame to show
    if not usable(name):
        raise DeclarationError(f"variant name {name!r}{declared_by} is not usable in a test id: {NAME_RULE}")


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
    context: Any = None,
    config: Mapping[str, Any] | None = None,
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
    context: Any = None,
    config: Mapping[str, Any] | None = None,
) -> Variant | Callable[[Callable[[], Any]], Variant]:
    """Declare a graph factory as a variant: ``@wtb.variant`` or ``@wtb.variant(name=..., baseline=True)``.

    ``resources`` ({"num_cpus": .., "memory": ..}) and ``env`` (a Ray runtime_env) apply on the ray
    backend; ``marks`` are pytest marks put on every item of this variant; ``context`` (LangGraph's
    runtime context) and ``config`` (RunnableConfig values) apply to every case, whose own values win.
    """

    def wrap(factory: Callable[[], Any]) -> Variant:
        __tracebackhide__ = True
        if not callable(factory):
            raise DeclarationError(f"@wtb.variant decorates a zero-argument factory, got {factory!r}")
        vname = name if name is not None else getattr(factory, "__name__", "")
        _check_name(vname, f" (of @wtb.variant on {getattr(factory, '__qualname__', factory)!r})")
        problem = config_problem(config)
        if problem:
            raise DeclarationError(f"variant '{vname}': {problem}")
        return Variant(
            name=vname,
            factory=factory,
            baseline=baseline,
            resources=dict(resources or {}),
            env=dict(env or {}),
            marks=tuple(marks),
            context=context,
            config=dict(config or {}),
        )

    if fn is not None:
        return wrap(fn)
    return wrap


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
