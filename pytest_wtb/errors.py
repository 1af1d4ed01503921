"""One exception base with grouped subclasses; foreign errors are translated at the boundary."""

from __future__ import annotations


class WtbError(Exception):
    """Base of every error pytest-wtb raises on purpose."""

    __module__ = "pytest_wtb"

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.__module__ = "pytest_wtb"  # tracebacks read pytest_wtb.ExecutionFailed, the public name


class DeclarationError(WtbError):
    """A variant, case set or parity declaration is wrong (reported as a collection error)."""


class GraphBuildError(WtbError):
    """A variant factory raised, returned something that is not a graph, or names unknown nodes."""


class ConfigError(WtbError):
    """A bad option value or store URL (reported as a pytest usage error)."""


class StoreError(WtbError):
    """The store cannot be opened, is foreign or corrupt, or went away."""


class ExecutionFailed(WtbError):
    """An execution raised, timed out or was lost; raised in every item that uses it."""


class ComparatorError(WtbError):
    """A ``@wtb.parity(compare={key: comparator})`` comparator raised: the item fails naming both."""
