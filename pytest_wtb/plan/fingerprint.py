"""What an execution's result depends on, as one hash stored beside it (``wtb_executions.code_hash``).

Several pytest commands may write into one run id (CI shards, a rerun under a leftover WTB_RUN_ID).
A stored result is reused only by a command that computes the same hash for it. The hash covers
the execution's key (module, variant, case id and input), its place in prefix sharing, the source
files of the project modules its variant reaches (the test module, the modules its factory and node
functions come from, and the project modules those reach through their globals, transitively) and
the versions of pytest-wtb and LangGraph. Installed packages count by version, not by file. What it
cannot see (data files, environment variables, a live model) is why joining a run is announced.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from importlib import metadata
from types import ModuleType
from typing import Any, Final

from pytest_wtb.model import ExecutionSpec

_DISTRIBUTIONS: Final = ("pytest-wtb", "langgraph", "langgraph-checkpoint")


def _versions() -> str:
    found = []
    for dist in _DISTRIBUTIONS:
        try:
            found.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            found.append(f"{dist}=-")
    return ";".join(found)


def _installed_dirs() -> tuple[str, ...]:
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    return tuple(p + os.sep for p in prefixes)


class Fingerprints:
    """The hashes of one plan's executions; file hashes and module closures are computed once."""

    def __init__(self) -> None:
        self._versions = _versions()
        self._installed = _installed_dirs()
        self._files: dict[str, str] = {}
        self._closures: dict[str, tuple[str, ...]] = {}  # module name -> project modules it reaches
        self._codes: dict[tuple[str, ...], str] = {}  # root modules -> their closure's file hashes

    def for_specs(self, specs: Iterable[ExecutionSpec]) -> dict[str, str]:
        return {spec.key: self.of(spec) for spec in specs}

    def of(self, spec: ExecutionSpec) -> str:
        roots = {spec.scope, *_modules_of(spec.variant.factory)}
        for fn in dict(spec.variant.node_overrides).values():
            roots.update(_modules_of(fn))
        key = tuple(sorted(roots))
        if key not in self._codes:  # most specs share their variant's roots
            reached = sorted({name for root in key for name in self._closure(root)})
            self._codes[key] = "\n".join(f"{name}:{self._file_hash(name)}" for name in reached)
        code = self._codes[key]
        raw = "\x1f".join(
            (self._versions, spec.key, spec.scope, ",".join(spec.interrupt_before), spec.fork_from or "", code)
        )
        return hashlib.sha256(raw.encode()).hexdigest()

    def _project_module(self, name: str) -> ModuleType | None:
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if module is None or not isinstance(path, str):
            return None
        real = os.path.realpath(path)
        if "site-packages" in real or "dist-packages" in real or real.startswith(self._installed):
            return None
        return module

    def _closure(self, root: str) -> tuple[str, ...]:
        if root in self._closures:
            return self._closures[root]
        seen: set[str] = set()
        todo = [root]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            module = self._project_module(name)
            if module is None:
                continue
            seen.add(name)
            todo.extend(n for n in _referenced(module) if n not in seen)
        self._closures[root] = tuple(sorted(seen))
        return self._closures[root]

    def _file_hash(self, name: str) -> str:
        module = sys.modules.get(name)
        path = str(getattr(module, "__file__", "") or "")
        if path not in self._files:
            try:
                with open(path, "rb") as fh:
                    self._files[path] = hashlib.sha256(fh.read()).hexdigest()
            except OSError as exc:
                self._files[path] = f"unreadable:{type(exc).__name__}"
        return self._files[path]


def _modules_of(fn: Callable[..., Any] | Any) -> Iterator[str]:
    """The modules a factory or node callable comes from, its closure's functions' included."""
    for obj in (fn, getattr(fn, "__func__", None), getattr(fn, "__wrapped__", None), getattr(fn, "func", None)):
        name = _module_name(obj)
        if name:
            yield name
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            name = _module_name(cell.cell_contents)
        except ValueError:  # an empty cell
            continue
        if name:
            yield name


def _module_name(obj: Any) -> str | None:
    if obj is None:
        return None
    if isinstance(obj, ModuleType):
        return obj.__name__
    try:
        name = getattr(obj, "__module__", None)
    except Exception:  # a lazy proxy whose attribute access fails: it names no module
        return None
    return name if isinstance(name, str) else None


def _referenced(module: ModuleType) -> Iterator[str]:
    """Modules this module's globals come from. A package's submodule attributes are skipped: the
    import system sets them whenever anyone imports the submodule, so they would make the hash
    depend on what else was imported; a module that uses a submodule names it itself."""
    inside = module.__name__ + "."
    for value in list(vars(module).values()):
        name = _module_name(value)
        if name is None or name == module.__name__:
            continue
        if isinstance(value, ModuleType) and name.startswith(inside):
            continue
        yield name
