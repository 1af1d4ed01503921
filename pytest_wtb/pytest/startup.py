"""What ``pytest_configure`` does: options -> Settings -> backends -> one WtbSession in ``config.stash``."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from pytest_wtb.errors import ConfigError
from pytest_wtb.execute.backends.base import Backend
from pytest_wtb.pytest.backend_compare import BackendComparison
from pytest_wtb.pytest.keys import SESSION_KEY
from pytest_wtb.pytest.session import WtbSession
from pytest_wtb.pytest.settings import Settings, backend_choices, parse, ray_only_misuse


def usage_error(message: str) -> pytest.UsageError:
    return pytest.UsageError(f"pytest-wtb: {message}")


def settings_for(config: pytest.Config) -> Settings:
    """The run's settings: a command-line value wins over the ini key; a bad value is a usage error."""

    def lookup(name: str) -> tuple[str | None, Path]:
        cli = config.getoption(name)
        if cli is not None:
            return str(cli), config.invocation_params.dir
        ini = config.getini(name)
        return (str(ini) if ini not in (None, "") else None), config.rootpath

    try:
        return parse(lookup, config.rootpath / ".wtb")
    except ConfigError as exc:
        raise usage_error(str(exc)) from None


def builtin_backend(config: pytest.Config, name: str) -> Backend | None:
    """The default ``pytest_wtb_make_backend``: threads and ray."""
    session = config.stash.get(SESSION_KEY, None)
    settings = session.settings if session else settings_for(config)
    if name == "threads":
        from pytest_wtb.execute.backends.threads import ThreadsBackend

        return ThreadsBackend(settings.thread_workers)
    if name == "ray":
        from pytest_wtb.execute.backends import ray_cluster

        if not ray_cluster.ray_installed():
            raise usage_error(ray_cluster.RAY_MISSING)
        from pytest_wtb.execute.backends.ray import RayBackend

        return RayBackend(
            settings.workers,
            settings.max_pending,
            settings.ray_address,
            num_cpus=settings.ray_num_cpus,
            memory=settings.ray_memory,
            max_concurrency=settings.ray_max_concurrency or 1,
            ship_paths=[config.rootpath, config.invocation_params.dir],
        )
    return None


def _backend(config: pytest.Config, name: str, flag: str) -> Backend:
    backend: Backend | None = config.hook.pytest_wtb_make_backend(config=config, name=name)
    if backend is None:
        raise usage_error(f"{flag}: {name!r} is not a known backend; valid choices: {backend_choices()}")
    return backend


def xdist_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput") and config.getoption("dist", "no") not in ("no", None)


def make_session(config: pytest.Config) -> WtbSession:
    settings = settings_for(config)
    if settings.compare_backends:  # the first backend is the one items report from
        settings = dataclasses.replace(settings, backend=settings.compare_backends[0])
    names = settings.compare_backends or (settings.backend,)
    misuse = ray_only_misuse(lambda name: config.getoption(name) is not None, names)
    if misuse:
        raise usage_error(misuse)
    flag = "--wtb-compare-backends" if settings.compare_backends else "--wtb-backend"
    backends = [_backend(config, name, flag) for name in names]
    joins_a_cluster = settings.ray_address or os.environ.get("RAY_ADDRESS")
    if "ray" in names and xdist_controller(config) and not joins_a_cluster:
        raise usage_error(
            "-n with --wtb-backend=ray would start one Ray cluster per xdist worker; start one "
            "cluster (ray start --head) and pass --wtb-ray-address=auto, or drop -n: Ray already runs the "
            "executions in parallel"
        )
    session = WtbSession(config, settings, backends[0])
    if len(backends) == 2:
        session.comparison = BackendComparison(backends[1])
    return session
