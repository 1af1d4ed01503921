"""Import a stored execution's test module for ``python -m pytest_wtb replay`` the way pytest would.

pytest is configured in this process from the current directory, as ``pytest`` run there would be
(rootdir and ini file, addopts, ``pythonpath``, ``--import-mode``, plugins, conftest.py files), the
file the store row names is checked (``execute.replay.module_file``) and only then collected like a
test file, and the replay runs while that configuration is in force: ``pythonpath`` entries stay on
sys.path and conftest hooks stay registered until it ends. pytest-wtb's own plugin is replaced by its
options alone, so addopts holding ``--wtb-*`` options still parse while the replay plans nothing,
runs no batch and writes no report.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from pathlib import Path
from types import ModuleType
from typing import Generic, TypeVar

import pytest

from pytest_wtb.execute.replay import ReplayError, module_file
from pytest_wtb.pytest import plugin

T = TypeVar("T")

# --collect-only keeps pytest-xdist, the cache plugin's writes and the test functions idle;
# no:terminal because replay prints its own report; --capture=no lets replayed nodes print;
# required_plugins would miss pytest-wtb, which is replaced by _WtbOptions here
ARGS = ("--collect-only", "--capture=no", "-p", "no:terminal", "-p", "no:wtb", "-o", "required_plugins=")


class _WtbOptions:
    """pytest-wtb's options, ini keys and hook specs, without the plugin's session."""

    pytest_addoption = staticmethod(plugin.pytest_addoption)
    pytest_addhooks = staticmethod(plugin.pytest_addhooks)


class _Loader(Generic[T]):
    def __init__(self, module_path: str | None, scope: str, work: Callable[[ModuleType], T]) -> None:
        self.module_path, self.scope, self.work = module_path, scope, work
        self.path: Path | None = None
        self.module: ModuleType | None = None
        self.errors: list[str] = []
        self.configured = False
        self.results: list[T] = []
        self.failure: Exception | None = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self, session: pytest.Session) -> bool:
        self.configured = True
        try:
            self.results.append(self._replay(session))
        except Exception as exc:  # raised out of this hook it would be an INTERNALERROR
            self.failure = exc
        return True

    def _replay(self, session: pytest.Session) -> T:
        config = session.config
        self.path = module_file(self.module_path, self.scope, config.rootpath, config.getini("python_files"))
        try:
            session.perform_collect([str(self.path)])
        except pytest.UsageError as exc:
            raise ReplayError(f"pytest could not collect {self.path}: {exc}") from None
        if self.module is None:
            why = "\n".join(self.errors).strip() or "pytest collected no module from it"
            raise ReplayError(f"importing the test module {self.scope} from {self.path} failed:\n{why}")
        return self.work(self.module)

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(
        self, collector: pytest.Collector
    ) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
        report = yield
        if isinstance(collector, pytest.Module) and collector.path == self.path and report.passed:
            self.module = collector.obj  # imported by its collect()
        return report

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.errors.append(report.longreprtext)


def run_in_project(module_path: str | None, scope: str, work: Callable[[ModuleType], T]) -> T:
    """``work(module)`` with the test module at ``module_path`` imported as pytest run from the
    current directory imports it. Raises ReplayError when the file may not be imported, its import
    fails, or pytest cannot be configured here (pytest has printed why)."""
    loader = _Loader(module_path, scope, work)
    code = pytest.main(list(ARGS), plugins=[_WtbOptions(), loader])
    if loader.failure is not None:
        raise loader.failure
    if loader.results:
        return loader.results[0]
    if code == pytest.ExitCode.INTERRUPTED:
        raise KeyboardInterrupt
    if not loader.configured:
        raise ReplayError(f"pytest could not be configured in {Path.cwd()} (exit code {int(code)}): see above")
    raise ReplayError(f"pytest ended before the replay ran (exit code {int(code)})")
