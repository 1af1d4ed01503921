"""Ray plumbing for the ray backend: import, join or start a cluster, ship test code, size the pool.

Nothing here imports ray at module level: ``import ray`` alone costs about a second.
"""

from __future__ import annotations

import importlib.util
import math
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Final

from pytest_wtb.errors import ConfigError

RAY_MISSING: Final = "the ray backend needs Ray, which is not installed: pip install 'pytest-wtb[ray]'"
CONNECT_TIMEOUT_S: Final = 30.0
LOCAL_OBJECT_STORE_BYTES: Final = 512 * 2**20
RESOURCE_KEYS: Final = ("num_cpus", "num_gpus", "memory", "resources", "max_concurrency")


def _cloudpickle() -> Any:
    import importlib

    return importlib.import_module("ray.cloudpickle")


def first_line(exc: BaseException, limit: int = 300) -> str:
    text = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
    return text[:limit]


def ray_installed() -> bool:
    if "ray" in sys.modules:
        return sys.modules["ray"] is not None
    try:
        return importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):
        return False


def import_ray() -> Any:
    if not ray_installed():
        raise ConfigError(RAY_MISSING)
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(f"{RAY_MISSING} ({exc})") from None
    return ray


@dataclass
class Connection:
    """How this process is attached to Ray, and so what closing must undo."""

    ray: Any
    address: str  # "local" when we started the cluster
    owns_init: bool  # we called ray.init, so we call ray.shutdown (a joined cluster keeps running)
    watchdog: Any = None  # ray_watchdog.Watchdog of a local cluster: it dies with pytest, even on kill -9


def target_address(option: str | None) -> str | None:
    """--wtb-ray-address, else RAY_ADDRESS, else None: start a local Ray."""
    if option:
        return option
    env = os.environ.get("RAY_ADDRESS", "").strip()
    return env if env and env != "local" else None


def _probe(address: str, timeout_s: float) -> None:
    """Fail fast for HOST:PORT with nothing listening: ray.init would retry for minutes."""
    host, sep, port = address.rpartition(":")
    host = host.removeprefix("ray://").strip("[]")
    if not sep or not port.isdigit() or not host:
        raise ConfigError(f"--wtb-ray-address={address!r} is not HOST:PORT or 'auto'")
    try:
        with socket.create_connection((host, int(port)), timeout=min(timeout_s, 5.0)):
            pass
    except OSError as exc:
        raise ConfigError(
            f"--wtb-ray-address={address}: no Ray cluster answers there ({exc}); start one with "
            "`ray start --head` or leave the option out to start a local Ray"
        ) from None


def connect(address: str | None, num_cpus: int | None, timeout_s: float = CONNECT_TIMEOUT_S) -> Connection:
    """Reuse an initialised Ray, join ``address``, or start a local Ray (no dashboard, quiet logs)."""
    ray = import_ray()
    if ray.is_initialized():
        return Connection(ray, "existing", owns_init=False)
    quiet: dict[str, Any] = {"logging_level": "ERROR", "log_to_driver": False}
    if address is not None:
        if address != "auto":
            _probe(address, timeout_s)
        _init_within(ray, {"address": address, **quiet}, timeout_s, address)
        return Connection(ray, address, owns_init=True)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    from pytest_wtb.execute.backends import ray_watchdog

    watchdog = ray_watchdog.Watchdog() if ray_watchdog.supported() else None
    try:
        # not in a helper thread: Ray's local processes die with the thread that started them
        ray.init(
            address="local",
            num_cpus=num_cpus or os.cpu_count() or 1,
            include_dashboard=False,
            object_store_memory=LOCAL_OBJECT_STORE_BYTES,
            **quiet,
        )
    except Exception as exc:
        if watchdog is not None:
            watchdog.close()  # it kills what the failed start left behind
        raise ConfigError(f"could not start a local Ray: {type(exc).__name__}: {first_line(exc)}") from None
    if watchdog is not None:
        watchdog.started()
    return Connection(ray, "local", owns_init=True, watchdog=watchdog)


def _init_within(ray: Any, kwargs: dict[str, Any], timeout_s: float, where: str) -> None:
    """ray.init in a daemon thread: a cluster that never answers becomes an error, not a hang."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            ray.init(**kwargs)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, name="wtb-ray-init", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if not outcome:
        raise ConfigError(
            f"could not connect to Ray at {where} within {timeout_s:g}s (if the cluster uses token "
            "authentication, set RAY_AUTH_MODE=token and make its token available)"
        )
    exc = outcome[0]
    if exc is not None:
        raise ConfigError(
            f"could not connect to Ray at {where}: {first_line(exc)} (is a cluster running? `ray start --head`)"
        ) from None


def disconnect(conn: Connection) -> None:
    if conn.owns_init and conn.ray.is_initialized():
        conn.ray.shutdown()
    if conn.watchdog is not None:
        conn.watchdog.close()  # after a clean shutdown it only finds stragglers
        conn.watchdog = None


# -- code shipping ---------------------------------------------------------------------------------


def _interpreter_dir(path: str) -> bool:
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    real = os.path.realpath(path)
    return "site-packages" in real or "dist-packages" in real or any(
        real == p or real.startswith(p + os.sep) for p in prefixes
    )


def shipped_paths(extra: Iterable[Path] = ()) -> list[str]:
    """The driver's own import directories (test dirs, rootdir): what workers need on sys.path.

    Interpreter and site-packages directories stay out so a variant's pip runtime_env wins.
    """
    out: list[str] = []
    for raw in [*sys.path, *map(str, extra)]:
        path = os.path.abspath(raw or os.getcwd())
        if os.path.isdir(path) and not _interpreter_dir(path) and path not in out:
            out.append(path)
    return out


def importable_from(module: ModuleType, paths: list[str]) -> bool:
    """Would ``import <module.__name__>`` on a worker with ``paths`` on sys.path find this very file?"""
    origin = getattr(module, "__file__", None)
    if not origin:
        return True  # builtin or namespace: nothing to ship
    if _interpreter_dir(origin):
        return True
    rel = module.__name__.replace(".", os.sep)
    for base in paths:
        for candidate in (os.path.join(base, rel + ".py"), os.path.join(base, rel, "__init__.py")):
            if os.path.exists(candidate):
                return bool(os.path.realpath(candidate) == os.path.realpath(origin))
    return False


def functions_of(variant: Any) -> list[Callable[..., Any]]:
    return [variant.factory, *dict(variant.node_overrides).values()]


@dataclass
class Shipping:
    """Registers, by value, the user modules workers could not import by name; undone at close."""

    paths: list[str]
    registered: set[str] = field(default_factory=set)
    checked: set[str] = field(default_factory=set)

    def prepare(self, variant: Any) -> None:
        cloudpickle = _cloudpickle()

        for fn in functions_of(variant):
            name = getattr(fn, "__module__", None)
            if not name or name in self.checked:
                continue
            self.checked.add(name)
            module = sys.modules.get(name)
            if module is not None and not importable_from(module, self.paths):
                cloudpickle.register_pickle_by_value(module)
                self.registered.add(name)

    def undo(self) -> None:
        cloudpickle = _cloudpickle()

        for name in self.registered:
            module = sys.modules.get(name)
            if module is not None:
                try:
                    cloudpickle.unregister_pickle_by_value(module)
                except ValueError:
                    pass
        self.registered.clear()


# -- resources -------------------------------------------------------------------------------------


def demand_of(options: Mapping[str, Any]) -> dict[str, float]:
    """What one actor reserves, in Ray's resource names (memory in bytes)."""
    demand = {
        "CPU": float(options.get("num_cpus") or 0),
        "GPU": float(options.get("num_gpus") or 0),
        "memory": float(options.get("memory") or 0),
    }
    for name, amount in dict(options.get("resources") or {}).items():
        demand[str(name)] = float(amount)
    return {k: v for k, v in demand.items() if v > 0}


def _show(name: str, amount: float) -> str:
    if name == "memory":
        return f"memory={amount / 2**20:.0f} MiB"
    return f"{name}={amount:g}"


def shortfall(demand: Mapping[str, float], have: Mapping[str, float], count: int = 1) -> str | None:
    """Which resource ``count`` actors with ``demand`` each would not find in ``have``, said plainly."""
    for name, amount in demand.items():
        available = float(have.get(name, 0.0))
        if amount * count > available + 1e-9:
            asked = f"{count} actors x {_show(name, amount)}" if count > 1 else _show(name, amount)
            return f"asks for {asked} but the Ray cluster has {_show(name, available)}"
    return None


def fits(demand: Mapping[str, float], free: Mapping[str, float]) -> bool:
    return shortfall(demand, free) is None


def default_cpus(free_cpus: float, actors: int) -> float:
    """A small CPU share per actor: whole-CPU actors would hold every CPU and starve later tasks."""
    share = free_cpus / (100 * max(actors, 1))
    return max(0.0001, math.floor(min(0.01, share) * 10000) / 10000)
