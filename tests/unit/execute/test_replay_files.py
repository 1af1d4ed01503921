"""Which file a stored execution row may make `replay` import: pure checks, nothing is imported."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_wtb.execute.replay import ReplayError, module_file

PATTERNS = ("test_*.py", "*_test.py")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for rel in ("tests/test_x.py", "tests/v1.2/test_y.py", "pkg/sub/z_test.py", "tests/helper.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    return tmp_path


@pytest.mark.parametrize(
    ("module_path", "scope"),
    [
        ("tests/test_x.py", "test_x"),  # prepend/append mode, no __init__.py: the file's own name
        ("tests/test_x.py", "tests.test_x"),  # a package, or importlib mode: the path from the rootdir
        ("{root}/tests/test_x.py", "test_x"),  # recorded absolute, as pytest-wtb records it
        ("{root}/pkg/../tests/test_x.py", "test_x"),  # a `..` that stays inside
        ("tests/v1.2/test_y.py", "tests.v1_2.test_y"),  # importlib mode reads "." in a folder as "_"
        ("pkg/sub/z_test.py", "sub.z_test"),
    ],
)
def test_a_test_module_under_the_rootdir_named_as_pytest_names_it_is_allowed(
    project: Path, module_path: str, scope: str
) -> None:
    path = module_file(module_path.format(root=project), scope, project, PATTERNS)
    assert path.is_file() and path.is_relative_to(project)


@pytest.mark.parametrize(
    ("module_path", "scope", "why"),
    [
        ("{root}/../elsewhere/test_x.py", "test_x", "replay imports only test modules under this project's rootdir"),
        ("/etc/test_x.py", "test_x", "replay imports only test modules under this project's rootdir"),
        ("tests/helper.py", "helper", "not a test module by this project's python_files (test_*.py *_test.py)"),
        ("tests/test_x.py", "os", "pytest would not import that file as 'os'"),
        ("tests/test_x.py", "other.test_x", "pytest would not import that file as 'other.test_x'"),
        ("tests/test_x.py", "", "pytest would not import that file as ''"),
        ("tests/test_x.pyc", "test_x", "a test module is a .py file"),
        ("tests/test_x\0.py", "test_x", "refusing to import 'tests/test_x\\x00.py': not a file name"),
        ("tests/test_\x1b[2Jx.py", "test_x", "refusing to import 'tests/test_\\x1b[2Jx.py': "),
        (None, "test_x", "has no recorded file"),
        ("", "test_x", "has no recorded file"),
    ],
)
def test_anything_else_is_refused_with_the_reason(
    project: Path, module_path: str | None, scope: str, why: str
) -> None:
    with pytest.raises(ReplayError, match=r"refusing|no recorded") as info:
        module_file(module_path.format(root=project) if module_path else module_path, scope, project, PATTERNS)
    assert why in str(info.value)


def test_a_symlink_out_of_the_rootdir_is_refused_a_symlink_inside_it_is_not(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside") / "test_out.py"
    outside.write_text("")
    (project / "tests" / "test_link.py").symlink_to(outside)
    with pytest.raises(ReplayError, match=re.escape(f"and it resolves to {outside.resolve()}")):
        module_file("tests/test_link.py", "test_link", project, PATTERNS)
    (project / "tests" / "test_alias.py").symlink_to(project / "tests" / "test_x.py")
    assert module_file("tests/test_alias.py", "test_alias", project, PATTERNS) == project / "tests" / "test_alias.py"


def test_a_moved_module_says_it_no_longer_exists(project: Path) -> None:
    with pytest.raises(ReplayError, match=r"the test module test_gone was loaded from .*, which no longer exists"):
        module_file("tests/test_gone.py", "test_gone", project, PATTERNS)
