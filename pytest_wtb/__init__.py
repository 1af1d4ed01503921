"""pytest-wtb: workflow variant testing for LangGraph.

``import pytest_wtb as wtb`` and declare ``@wtb.variant`` factories, ``@wtb.cases`` and
``@wtb.parity`` in ordinary test modules; tests taking the ``wtb_run`` fixture become one item per
(variant x case), run as one concurrent batch.
"""

from typing import Any

from pytest_wtb.declare.cases import allow_status, case
from pytest_wtb.declare.parity import parity
from pytest_wtb.declare.repeats import gate, repeat
from pytest_wtb.declare.variants import Variant, cases, variant
from pytest_wtb.errors import ComparatorError, ExecutionFailed, WtbError
from pytest_wtb.execute.backends.base import Backend, BackendContext
from pytest_wtb.model import ExecutionResult, ExecutionSpec

# comparators import only the standard library here; rapidfuzz loads on the first text comparison
from pytest_wtb.verdict.comparators import close, embedding_distance, ignore, judge, text_similarity, unordered

__all__ = [
    "Backend",
    "BackendContext",
    "ComparatorError",
    "ExecutionFailed",
    "ExecutionResult",
    "ExecutionSpec",
    "Variant",
    "WtbError",
    "allow_status",
    "case",
    "cases",
    "close",
    "embedding_distance",
    "gate",
    "ignore",
    "judge",
    "parity",
    "repeat",
    "strategies",
    "text_similarity",
    "unordered",
    "variant",
]


def __getattr__(name: str) -> Any:
    if name == "strategies":  # imports Hypothesis: only on first use of wtb.strategies
        import importlib

        return importlib.import_module("pytest_wtb.declare.strategies")
    raise AttributeError(f"module 'pytest_wtb' has no attribute {name!r}")
