"""``@wtb.cases``, ``wtb.case`` and ``@wtb.allow_status``: the inputs a test runs on and what it accepts.

Mistakes are recorded on the CaseSet, not raised, so collection reports them as a clean error naming
the test instead of an import traceback.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from pytest_wtb.declare.run_settings import config_problem
from pytest_wtb.errors import DeclarationError
from pytest_wtb.statuses import STATUSES, SUCCEEDED

F = TypeVar("F", bound=Callable[..., Any])

CASES_ATTR: Final = "_wtb_cases"
ALLOW_ATTR: Final = "_wtb_allowed_statuses"
# matched whole (fullmatch): "$" would let a name end in a newline, which breaks test ids and -k
NAME_RE: Final = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.-]*")
NAME_RULE: Final = "use letters, digits, '_', '.' or '-' (no spaces, newlines or other control characters)"


def usable(name: object) -> bool:
    return isinstance(name, str) and NAME_RE.fullmatch(name) is not None


@dataclass(frozen=True)
class Case:
    id: str
    input: Any
    context: Any = None
    config: Mapping[str, Any] = field(default_factory=dict)
    resume: tuple[Any, ...] = ()


@dataclass(frozen=True)
class CaseInput:
    """What ``wtb.case(...)`` returns: an input with its own id, context, config and scripted resumes."""

    input: Any
    id: str | None = None
    context: Any = None
    config: Mapping[str, Any] = field(default_factory=dict)
    resume: tuple[Any, ...] = ()
    error: str | None = None


def case(
    input: Any,
    *,
    id: str | None = None,
    context: Any = None,
    config: Mapping[str, Any] | None = None,
    resume: Sequence[Any] | None = None,
) -> CaseInput:
    """One graph input for ``@wtb.cases``: ``context`` goes to LangGraph as ``context=``, ``config`` is merged
    into the RunnableConfig, and after each pause at ``interrupt()`` the thread is resumed with
    ``Command(resume=v)`` for the next ``v`` of ``resume``."""
    error = config_problem(config)
    if resume is not None and (isinstance(resume, str | bytes | Mapping) or not isinstance(resume, Sequence)):
        error = f"resume= takes a list of values (one per pause), got {type(resume).__name__}: wrap it in [...]"
    if id is not None and not usable(id):
        error = f"case id {id!r} is not usable in a test id: {NAME_RULE}"
    if error:  # recorded for collection to report; the bad values are not converted
        return CaseInput(input, id if isinstance(id, str) else None, context, {}, (), error)
    return CaseInput(input, id, context, dict(config or {}), tuple(resume or ()), error)


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
    or ``strategy=`` (a Hypothesis strategy of inputs, searched with at most ``max_examples``).
    Any input may be a ``wtb.case(...)``."""
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


def allow_status(*statuses: str) -> Callable[[F], F]:
    """Let executions with these statuses reach the test body instead of failing the item before it."""
    __tracebackhide__ = True
    unknown = [s for s in statuses if s not in STATUSES or s == SUCCEEDED]
    if not statuses or unknown:
        allowed = ", ".join(repr(s) for s in STATUSES if s != SUCCEEDED)
        got = ", ".join(map(repr, unknown)) if unknown else "nothing"
        raise DeclarationError(f"@wtb.allow_status takes one or more of {allowed}; got {got}")

    def mark(test: F) -> F:
        setattr(test, ALLOW_ATTR, frozenset(statuses) | frozenset(getattr(test, ALLOW_ATTR, ())))
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


def _pairs(inputs: Sequence[Any] | Mapping[str, Any], ids: Sequence[str] | None) -> list[tuple[str, Any]] | str:
    if isinstance(inputs, Mapping):
        if ids is not None:
            return "@wtb.cases got a dict and ids=; the dict keys already are the ids"
        pairs = []
        for k, v in inputs.items():
            if isinstance(v, CaseInput) and v.id is not None and v.id != str(k):
                return f"case {str(k)!r} of @wtb.cases is a wtb.case(id={v.id!r}): give it one id, not two"
            pairs.append((str(k), v))
        return pairs
    if not isinstance(inputs, Sequence) or isinstance(inputs, str | bytes):
        return f"@wtb.cases takes a list or a dict of graph inputs, got {type(inputs).__name__}"
    if ids is not None and len(ids) != len(inputs):
        return f"@wtb.cases got {len(inputs)} inputs but {len(ids)} ids"
    pairs = []
    for i, v in enumerate(inputs):
        own = v.id if isinstance(v, CaseInput) else None
        given = str(ids[i]) if ids is not None else None
        if own is not None and given is not None and own != given:
            return f"input {i} of @wtb.cases is a wtb.case(id={own!r}) but ids= names it {given!r}: give it one id"
        pairs.append((own or given or f"case{i}", v))
    return pairs


def _build_case_set(inputs: Sequence[Any] | Mapping[str, Any], ids: Sequence[str] | None) -> CaseSet:
    pairs = _pairs(inputs, ids)
    if isinstance(pairs, str):
        return CaseSet((), pairs)
    if not pairs:
        return CaseSet((), "@wtb.cases got no inputs")
    seen: set[str] = set()
    built: list[Case] = []
    for case_id, value in pairs:
        if not usable(case_id):
            return CaseSet((), f"case id {case_id!r} of @wtb.cases is not usable in a test id: {NAME_RULE}")
        if case_id in seen:
            return CaseSet((), f"case id {case_id!r} appears twice")
        seen.add(case_id)
        if isinstance(value, CaseInput):
            if value.error:
                return CaseSet((), f"case {case_id!r}: {value.error}")
            built.append(Case(case_id, value.input, value.context, value.config, value.resume))
        else:
            built.append(Case(case_id, value))
    return CaseSet(tuple(built))
