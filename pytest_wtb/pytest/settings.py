"""Options and ini keys -> one frozen Settings. CLI wins over ini; bad values list the valid ones."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pytest_wtb.errors import ConfigError
from pytest_wtb.execute.tape import RECORD_MODES
from pytest_wtb.report.outputs import parse_outputs
from pytest_wtb.store.allowlist import parse_type_names
from pytest_wtb.store.urls import StoreURL, parse_store_url

BUILTIN_BACKENDS: Final = ("threads", "ray")
DEFAULT_THREAD_WORKERS: Final = 16
# a thread each, or a Ray actor process each: past this a machine runs out of threads or memory long
# before the run gets faster, and the failure would be an INTERNALERROR instead of a usage error
MAX_WORKERS: Final = 1024
# options that only the ray backend reads: given on the command line for a run without ray, they
# would be silently ignored
RAY_ONLY: Final = ("wtb_ray_address", "wtb_max_pending", "wtb_ray_num_cpus", "wtb_ray_memory",
                   "wtb_ray_max_concurrency")


MAX_CONCURRENCY: Final = 10_000  # one event loop; beyond this the loop itself is the bottleneck


@dataclass(frozen=True)
class OptionSpec:
    name: str  # ini key; the CLI option is --wtb-<name with dashes>
    help: str
    default: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


OPTIONS: Final = (
    OptionSpec("wtb_backend", "where executions run: threads (default), ray, or a plugin's backend", "threads"),
    OptionSpec("wtb_workers", "thread count (threads, default 16) or actor count (ray, default: cluster CPUs)"),
    OptionSpec("wtb_concurrency", "async executions (graphs with async nodes) in flight at once; an execution "
               "awaiting a call holds no thread (default 64)", "64"),
    OptionSpec("wtb_repeat", "K: execute every (variant, case) of @wtb.repeat and @wtb.gate tests K times "
               "(overrides their k)"),
    OptionSpec("wtb_record", "replay and record model and tool calls (vcrpy's modes): off (default: live, nothing "
               "recorded), once (record executions that have no recordings, replay the rest), new (replay, record "
               "calls not seen before), all (live, re-record), none (replay only; a call with no recording fails); "
               "on the command line it overrides @pytest.mark.wtb_record"),
    OptionSpec("wtb_store", "results and checkpoints: sqlite:///path or postgresql://... "
               "(default sqlite:///<rootdir>/.wtb/wtb.db)"),
    OptionSpec("wtb_ray_address", "join this Ray cluster (HOST:PORT or auto) instead of starting a local one"),
    OptionSpec("wtb_timeout", "per-execution limit in seconds, counted from when the execution starts"),
    OptionSpec("wtb_retries", "retries for an execution lost to a crashed worker (default 2)", "2"),
    OptionSpec("wtb_compare_backends", "A,B: run every execution on both backends and fail items that differ"),
    OptionSpec("wtb_share_prefix_min_ms", "share a prefix only when its nodes take at least this many ms: the "
               "first case of each prefix group is a probe, and cheaper prefixes are re-run in full "
               "(default 0: always share where provably safe)", "0"),
    OptionSpec("wtb_max_pending", "ray: at most this many executions in flight (default 2 x actors)"),
    OptionSpec("wtb_ray_num_cpus", "ray: CPUs each execution actor reserves (default 0.01, so actors never "
               "starve other Ray work)"),
    OptionSpec("wtb_ray_memory", "ray: memory in bytes each execution actor reserves (a scheduling hint)"),
    OptionSpec("wtb_ray_max_concurrency", "ray: executions one actor runs at once, in threads (default 1)"),
    OptionSpec("wtb_against", "RUN_ID or last: also compare each execution with the same variant and case "
               "of that stored run (parity keys and tolerances apply)"),
    OptionSpec("wtb_baseline_max_age", "days: warn when the run --wtb-against names is older than this"),
    OptionSpec("wtb_keep_days", "at the end of the run, prune runs older than this many days from the store"),
    OptionSpec("wtb_report", "write the run's results to PATH.html (self-contained page) and/or PATH.json "
               "(comma-separated)"),
    OptionSpec("wtb_variants", "A,B: run only these variants' items (the baseline still runs where parity needs it)"),
    OptionSpec("wtb_run_id", "run id to record under (default: new per run; also WTB_RUN_ID): CI jobs or shards "
               "that share a store and an id write into one run"),
    OptionSpec("wtb_metrics", "write Prometheus metrics to PATH.prom (node_exporter textfile collector)"),
    OptionSpec("wtb_pushgateway", "push Prometheus metrics to this Pushgateway URL at the end of the run"),
    OptionSpec("wtb_allowed_types", "module:Class entries (comma, space or newline separated) that may be revived "
               "from stored states besides the built-in allow-list and the types graph schemas declare"),
)


@dataclass(frozen=True)
class Settings:
    backend: str = "threads"
    workers: int | None = None
    store: StoreURL | None = None
    ray_address: str | None = None
    timeout_s: float | None = None
    retries: int = 2
    compare_backends: tuple[str, ...] = ()
    max_pending: int | None = None
    against: str | None = None
    keep_days: float | None = None
    reports: tuple[Path, ...] = ()
    variants: tuple[str, ...] = ()
    run_id: str | None = None
    metrics_path: Path | None = None
    pushgateway: str | None = None
    allowed_types: frozenset[tuple[str, str]] = frozenset()  # see store/allowlist.py
    share_prefix: bool = True
    share_prefix_min_s: float = 0.0
    ray_num_cpus: float | None = None
    ray_memory: int | None = None
    ray_max_concurrency: int | None = None
    concurrency: int = 64
    repeat: int | None = None  # --wtb-repeat: overrides @wtb.repeat(k)
    baseline_max_age_days: float | None = None
    record: str | None = None  # --wtb-record (execute/tape.py); None: not set (markers, else off)

    @property
    def thread_workers(self) -> int:
        return self.workers or DEFAULT_THREAD_WORKERS


# value, and the directory a relative path in it is relative to
Lookup = Callable[[str], tuple[str | None, Path]]


def _int(flag: str, raw: str, minimum: int, maximum: int | None = None, why: str = "") -> int:
    valid = f">= {minimum}" + ("" if maximum is None else f" and <= {maximum}")
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{flag}={raw!r} is not a whole number; use an integer {valid}") from None
    if value < minimum:
        raise ConfigError(f"{flag}={value} is too small; use an integer {valid}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{flag}={value} is too large; use an integer {valid}{why}")
    return value


def _workers(raw: str, backends: tuple[str, ...]) -> int:
    each = {"threads": "a thread", "ray": "a Ray actor process"}
    what = " / ".join(each.get(b, f"a {b} worker") for b in backends)
    return _int("--wtb-workers", raw, 1, MAX_WORKERS, f" (each worker is {what})")


def _names(flag: str, raw: str | None, example: str) -> tuple[str, ...]:
    """A comma-separated option: its non-empty parts; one that names nothing is a usage error."""
    if raw is None:
        return ()
    parts = tuple(dict.fromkeys(p.strip() for p in raw.split(",") if p.strip()))
    if not parts:
        raise ConfigError(f"{flag}={raw!r} names nothing: {example}")
    return parts


def _positive(flag: str, raw: str, what: str = "number", example: str = "0.5") -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{flag}={raw!r} is not a {what}; use e.g. {flag}={example}") from None
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{flag}={raw} must be a positive, finite {what}")
    return value


def _positive_float(flag: str, raw: str | None) -> float | None:
    return None if raw is None else _positive(flag, raw)


def _seconds(flag: str, raw: str) -> float:
    return _positive(flag, raw, what="number of seconds", example="30")


def _non_negative(flag: str, raw: str, what: str, example: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{flag}={raw!r} is not a {what}; use e.g. {flag}={example}") from None
    if not value >= 0 or value == float("inf"):
        raise ConfigError(f"{flag}={raw} must be a finite {what} >= 0")
    return value


def _days(flag: str, raw: str) -> float:
    return _non_negative(flag, raw, "number of days", "30")


def record_mode(raw: str, flag: str = "--wtb-record") -> str:
    mode = raw.strip().lower()
    if mode not in RECORD_MODES:
        raise ConfigError(f"{flag}={raw!r} is not a record mode: use one of {', '.join(RECORD_MODES)} "
                          "(record locally with once, replay in CI with none)")
    return mode


def backend_choices() -> str:
    return ", ".join(BUILTIN_BACKENDS) + " (or a name a plugin's pytest_wtb_make_backend accepts)"


def ray_only_misuse(given: Callable[[str], bool], backends: tuple[str, ...]) -> str | None:
    """Why ray-only options given on the command line cannot apply to a run without the ray backend.
    ``given(name)``: whether that option came from the command line (an ini default is left alone:
    it applies whenever a run does choose ray)."""
    if set(backends) - {"threads"}:
        return None  # ray, or a plugin's backend that may read them
    flags = [opt.flag for opt in OPTIONS if opt.name in RAY_ONLY and given(opt.name)]
    if not flags:
        return None
    which = " and ".join(flags)
    return (f"{which} only appl{'ies' if len(flags) == 1 else 'y'} to the ray backend, but this run uses "
            f"--wtb-backend={backends[0]}: add --wtb-backend=ray, or drop {which}")


def parse(lookup: Lookup, default_store_dir: Path) -> Settings:
    """Build Settings from option values; backend names are checked against the hook by the caller."""

    def get(name: str) -> tuple[str | None, Path]:
        value, base = lookup(name)
        return (value.strip() if isinstance(value, str) and value.strip() else None), base

    backend = get("wtb_backend")[0] or "threads"
    workers_raw = get("wtb_workers")[0]
    timeout_raw = get("wtb_timeout")[0]
    retries_raw = get("wtb_retries")[0]
    pending_raw = get("wtb_max_pending")[0]
    compare_raw = get("wtb_compare_backends")[0]
    keep_raw = get("wtb_keep_days")[0]
    compare: tuple[str, ...] = ()
    if compare_raw:
        compare = tuple(p.strip() for p in compare_raw.split(",") if p.strip())
        if len(compare) != 2 or compare[0] == compare[1]:
            raise ConfigError(
                f"--wtb-compare-backends={compare_raw!r} needs two different backends, e.g. threads,ray"
            )
    workers = _workers(workers_raw, compare or (backend,)) if workers_raw else None
    _names("--wtb-report", get("wtb_report")[0], "use e.g. --wtb-report=report.html,report.json")
    store_raw, store_base = get("wtb_store")
    store = parse_store_url(store_raw, store_base) if store_raw else parse_store_url(
        f"sqlite:///{default_store_dir / 'wtb.db'}", default_store_dir
    )
    return Settings(
        backend=backend,
        workers=workers,
        store=store,
        ray_address=get("wtb_ray_address")[0],
        timeout_s=_seconds("--wtb-timeout", timeout_raw) if timeout_raw else None,
        retries=_int("--wtb-retries", retries_raw, 0) if retries_raw else 2,
        repeat=_int("--wtb-repeat", rep_raw, 1, 10_000) if (rep_raw := get("wtb_repeat")[0]) else None,
        concurrency=_int("--wtb-concurrency", get("wtb_concurrency")[0] or "64", 1, MAX_CONCURRENCY),
        compare_backends=compare,
        max_pending=_int("--wtb-max-pending", pending_raw, 1) if pending_raw else None,
        ray_num_cpus=_positive_float("--wtb-ray-num-cpus", get("wtb_ray_num_cpus")[0]),
        ray_memory=_int("--wtb-ray-memory", mem_raw, 1) if (mem_raw := get("wtb_ray_memory")[0]) else None,
        ray_max_concurrency=_int("--wtb-ray-max-concurrency", conc_raw, 1, MAX_WORKERS)
        if (conc_raw := get("wtb_ray_max_concurrency")[0])
        else None,
        share_prefix=(get("wtb_share_prefix")[0] or "true").lower() not in ("false", "0", "no", "off"),
        share_prefix_min_s=_non_negative(
            "--wtb-share-prefix-min-ms", get("wtb_share_prefix_min_ms")[0] or "0", "number of milliseconds", "5"
        ) / 1000,
        against=get("wtb_against")[0],
        keep_days=_days("--wtb-keep-days", keep_raw) if keep_raw else None,
        baseline_max_age_days=_days("--wtb-baseline-max-age", age_raw) if (age_raw := get("wtb_baseline_max_age")[0])
        else None,
        allowed_types=parse_type_names(get("wtb_allowed_types")[0] or ""),
        record=record_mode(raw) if (raw := get("wtb_record")[0]) else None,
        **parse_outputs(get),
    )
