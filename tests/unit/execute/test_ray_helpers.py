"""The ray backend's pure helpers: no Ray cluster (and mostly no ray import) needed."""

from __future__ import annotations

import pickle
import sys
import threading
import types
from pathlib import Path

import pytest

import pytest_wtb as wtb
from pytest_wtb.errors import ConfigError
from pytest_wtb.execute.backends import ray_cluster as rc
from pytest_wtb.execute.backends.ray import RayBackend
from pytest_wtb.execute.backends.ray_actor import describe_unserializable, is_infra, unserializable


def test_shortfall_names_the_resource_and_both_amounts() -> None:
    have = {"CPU": 2.0, "memory": 4 * 2**30}
    assert rc.shortfall({"CPU": 0.5}, have, count=4) is None
    assert rc.shortfall({"CPU": 1.0}, have, count=4) == "asks for 4 actors x CPU=1 but the Ray cluster has CPU=2"
    assert rc.shortfall({"memory": 8 * 2**30}, have) == (
        "asks for memory=8192 MiB but the Ray cluster has memory=4096 MiB"
    )
    assert rc.shortfall({"GPU": 1.0}, have) == "asks for GPU=1 but the Ray cluster has GPU=0"


def test_demand_and_default_cpus_keep_actors_from_holding_whole_cpus() -> None:
    assert rc.demand_of({"num_cpus": 0.5, "memory": 100, "resources": {"db": 1}, "max_concurrency": 4}) == {
        "CPU": 0.5, "memory": 100.0, "db": 1.0,
    }
    assert rc.default_cpus(2.0, 2) == 0.01
    assert 0 < rc.default_cpus(2.0, 1000) < 0.01
    assert rc.fits({"CPU": 0.01}, {"CPU": 0.01}) and not rc.fits({"CPU": 0.02}, {"CPU": 0.01})


def test_address_option_wins_then_ray_address_then_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")
    assert rc.target_address("auto") == "auto"
    assert rc.target_address(None) == "10.0.0.5:6379"
    monkeypatch.setenv("RAY_ADDRESS", "local")
    assert rc.target_address(None) is None
    monkeypatch.delenv("RAY_ADDRESS")
    assert rc.target_address(None) is None


def test_probe_refuses_a_malformed_or_dead_address_quickly() -> None:
    with pytest.raises(ConfigError, match="is not HOST:PORT or 'auto'"):
        rc._probe("nohost", 1.0)
    with pytest.raises(ConfigError, match="no Ray cluster answers there"):
        rc._probe("127.0.0.1:1", 1.0)


def test_shipped_paths_leave_out_the_interpreter_and_site_packages(tmp_path: Path) -> None:
    paths = rc.shipped_paths([tmp_path])
    assert str(tmp_path) in paths
    assert not any("site-packages" in p for p in paths)
    assert sys.prefix not in paths


def test_importable_from_follows_the_name_to_the_same_file(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("")
    module = types.ModuleType("pkg.mod")
    module.__file__ = str(tmp_path / "pkg" / "mod.py")
    assert rc.importable_from(module, [str(tmp_path)])
    assert not rc.importable_from(module, [str(tmp_path / "pkg")])  # "pkg/mod" is not there
    other = types.ModuleType("mod")
    other.__file__ = str(tmp_path / "elsewhere" / "mod.py")
    assert not rc.importable_from(other, [str(tmp_path / "pkg")])  # a different mod.py shadows it
    assert rc.importable_from(pytest, [])  # installed packages come with the environment


def test_unserializable_finds_the_deepest_offending_key() -> None:
    value = {"q": "x", "cfg": {"items": [1, threading.Lock()]}}
    found = unserializable(value, pickle.dumps)
    assert found is not None and found[0] == "cfg.items[1]"
    text = describe_unserializable("the input", found)
    assert text.startswith("the input key 'cfg.items[1]' holds a lock that Ray cannot serialize (")
    assert unserializable({"q": [1, 2]}, pickle.dumps) is None


def test_infra_errors_are_retried_but_start_failures_are_not() -> None:
    class RayActorError(Exception): ...

    class ActorDiedError(RayActorError): ...

    assert is_infra(ActorDiedError("The actor died unexpectedly before finishing this task."))
    assert not is_infra(ActorDiedError("The actor died because of an error raised in its creation task"))
    assert not is_infra(ValueError("boom"))


def test_capacity_is_known_before_start_and_bounded_by_max_pending() -> None:
    assert RayBackend(workers=3).capacity == 6
    assert RayBackend(workers=3, max_concurrency=2).capacity == 12
    assert RayBackend(workers=3, max_pending=4).capacity == 4


def test_import_ray_without_ray_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    assert not rc.ray_installed()
    with pytest.raises(ConfigError, match=r"pip install 'pytest-wtb\[ray\]'"):
        rc.import_ray()


def test_declared_resources_and_env_stay_on_the_variant() -> None:
    v = wtb.variant(name="big", resources={"num_cpus": 1}, env={"env_vars": {"A": "1"}})(lambda: None)
    assert v.resources == {"num_cpus": 1} and v.env == {"env_vars": {"A": "1"}}
