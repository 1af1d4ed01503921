"""Careless input from a new user: out-of-range and misplaced options, a parity-key typo where only the
baseline runs, variants declared in a conftest.py, and long run ids in `runs`: each says what is wrong."""

from __future__ import annotations

import sys

import pytest

from tests.plugin.graphs_src import ONE_VARIANT, SIMPLE_TEST, THREE_VARIANTS

TYPO_TEST = '''

@wtb.parity(keys=["anwser"])
@wtb.cases({"x": {"q": "x"}})
def test_same_answer(wtb_run):
    pass
'''


def assert_usage_error(result: pytest.RunResult, *lines: str) -> None:
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    result.stderr.fnmatch_lines(list(lines))
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--wtb-workers=99999999"],
         "ERROR: pytest-wtb: --wtb-workers=99999999 is too large; use an integer >= 1 and <= 1024 "
         "(each worker is a thread)"),
        (["--wtb-backend=ray", "--wtb-workers=5000"],
         "ERROR: pytest-wtb: --wtb-workers=5000 is too large; use an integer >= 1 and <= 1024 "
         "(each worker is a Ray actor process)"),
        (["--wtb-compare-backends=threads,ray", "--wtb-workers=1025"],
         "ERROR: pytest-wtb: --wtb-workers=1025 is too large; * (each worker is a thread / a Ray actor process)"),
        (["--wtb-backend=ray", "--wtb-ray-max-concurrency=99999999"],
         "ERROR: pytest-wtb: --wtb-ray-max-concurrency=99999999 is too large; use an integer >= 1 and <= 1024"),
        (["--wtb-ray-address=auto"],
         "ERROR: pytest-wtb: --wtb-ray-address only applies to the ray backend, but this run uses "
         "--wtb-backend=threads: add --wtb-backend=ray, or drop --wtb-ray-address"),
        (["--wtb-backend=threads", "--wtb-ray-address=10.0.0.1:6379", "--wtb-max-pending=8"],
         "ERROR: pytest-wtb: --wtb-ray-address and --wtb-max-pending only apply to the ray backend*"),
        (["--wtb-report=,"],
         "ERROR: pytest-wtb: --wtb-report=',' names nothing: use e.g. --wtb-report=report.html,report.json"),
        (["--wtb-report= , "],
         "ERROR: pytest-wtb: --wtb-report=',' names nothing*"),
    ],
    ids=["threads-workers", "ray-workers", "compare-workers", "ray-concurrency", "ray-address-on-threads",
         "two-ray-options", "report-comma", "report-blank-parts"],
)
def test_out_of_range_and_misplaced_options_are_usage_errors_that_say_why(
    pytester: pytest.Pytester, args: list[str], expected: str
) -> None:
    pytester.makepyfile(test_u=ONE_VARIANT + SIMPLE_TEST)
    assert_usage_error(pytester.runpytest(*args), expected)


def test_the_largest_worker_count_runs_and_a_ray_address_in_the_ini_is_a_default_not_an_error(
    pytester: pytest.Pytester,
) -> None:
    # an ini's ray address is the project's default for runs that choose ray: threads runs ignore it
    pytester.makeini("[pytest]\nwtb_ray_address = 10.0.0.1:6379\n")
    pytester.makepyfile(test_u=ONE_VARIANT + SIMPLE_TEST)
    pytester.runpytest("--wtb-workers=1024").assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("module", "args"),
    [(ONE_VARIANT + TYPO_TEST, []), (THREE_VARIANTS + TYPO_TEST, ["--wtb-variants=base"])],
    ids=["one-variant-module", "only-the-baseline-selected"],
)
def test_a_parity_key_typo_fails_where_only_the_baseline_runs_and_suggests_the_key(
    pytester: pytest.Pytester, module: str, args: list[str]
) -> None:
    pytester.makepyfile(test_typo=module)
    result = pytester.runpytest(*args)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "E   AssertionError: parity: key 'anwser' of @wtb.parity(keys=...) not in the final state of baseline "
        "'base' on case 'x'; keys present: answer, docs, log, q, score",
        "*'anwser': did you mean 'answer'?",
        "*base (baseline): thread_id=wtb-*-base-x-* checkpoint_id=*",
    ])


def test_a_parity_key_typo_on_a_variant_item_also_suggests_the_key(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_typo=THREE_VARIANTS.replace("down = ", "# down = ") + TYPO_TEST)
    result = pytester.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "E   AssertionError: parity: key 'anwser' * not in the final state of 'loud' or baseline 'base' on case 'x'*",
        "*'anwser': did you mean 'answer'?",
    ])


def test_a_correct_parity_key_still_passes_on_the_baseline(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_ok=ONE_VARIANT + TYPO_TEST.replace("anwser", "answer"))
    pytester.runpytest().assert_outcomes(passed=1)


def test_variants_declared_in_a_conftest_are_named_in_the_collection_error(pytester: pytest.Pytester) -> None:
    pytester.mkpydir("suite")
    (pytester.path / "suite" / "conftest.py").write_text(ONE_VARIANT)
    (pytester.path / "suite" / "test_in_suite.py").write_text("import pytest_wtb as wtb\n" + SIMPLE_TEST)
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([
        "pytest-wtb: test_x: takes wtb_run but suite.test_in_suite declares no @wtb.variant; suite/conftest.py "
        "declares @wtb.variant base, but variants are read only from the test module's globals (declared there "
        "or imported into it), not from conftest.py: move them to a plain module (e.g. variants.py beside it) and "
        "import them into each test module that uses them (from variants import base)",
    ])
    assert "INTERNALERROR" not in result.stdout.str()


def test_a_module_without_variants_is_told_where_variants_are_read_from(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_none="import pytest_wtb as wtb\n" + SIMPLE_TEST)
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([
        "pytest-wtb: test_x: takes wtb_run but test_none declares no @wtb.variant; variants are read only from "
        "the test module's globals: declare them there or import them into it",
    ])


def test_variants_moved_out_of_the_conftest_into_an_imported_module_run(pytester: pytest.Pytester) -> None:
    pytester.mkpydir("suite")
    (pytester.path / "suite" / "variants.py").write_text(ONE_VARIANT)
    (pytester.path / "suite" / "test_in_suite.py").write_text(
        "import pytest_wtb as wtb\nfrom suite.variants import base\n" + SIMPLE_TEST
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_runs_keeps_long_run_ids_whole_and_its_columns_aligned(pytester: pytest.Pytester) -> None:
    long_id = "ci-pipeline-123456789-shard-000000000001"  # 40 characters: the longest --wtb-run-id allowed
    pytester.makepyfile(test_u=ONE_VARIANT + SIMPLE_TEST)
    pytester.runpytest(f"--wtb-run-id={long_id}").assert_outcomes(passed=1)
    pytester.runpytest("--wtb-run-id=short").assert_outcomes(passed=1)
    result = pytester.run(sys.executable, "-m", "pytest_wtb", "runs", timeout=120)
    assert result.ret == 0, result.stderr.str()
    header = next(line for line in result.stdout.lines if line.startswith("run "))
    rows = [line for line in result.stdout.lines if line.startswith((long_id + " ", "short "))]
    assert [r.split()[0] for r in rows] == ["short", long_id]  # the whole id, then a gap, on every row
    for title in ("started (UTC)", "status", "backend", "git", "host"):
        column = header.index(title)
        for row in rows:  # every column starts where its title does
            assert row[column - 2 : column] == "  " and row[column] != " ", (title, header, row)
