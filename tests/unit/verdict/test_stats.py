"""The paired gate and pass-rate intervals, on both sides of every decision."""

from __future__ import annotations

import random
import time

import pytest

from pytest_wtb.verdict.stats import NOT_WORSE, UNDECIDED, WORSE, paired_gate, pass_rate


def draws(p: float, n: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [1 if rng.random() < p else 0 for _ in range(n)]


def test_wilson_interval_matches_the_textbook_value() -> None:
    rate = pass_rate(7, 10)
    assert (rate.passes, rate.n) == (7, 10)
    assert rate.low == pytest.approx(0.3968, abs=1e-3) and rate.high == pytest.approx(0.8922, abs=1e-3)
    assert rate.text() == "7/10 = 70% (95% CI 40%-89%, Wilson)"
    assert pass_rate(10, 10).high == pytest.approx(1.0) and pass_rate(10, 10).low < 1.0


def test_identical_scores_are_not_worse() -> None:
    base = draws(0.7, 50, 1)
    verdict = paired_gate(base, list(base))
    assert verdict.decision == NOT_WORSE and verdict.p_value == 1.0 and verdict.diff == 0


@pytest.mark.parametrize("seed", range(20))
def test_a_variant_drawn_from_the_same_distribution_is_never_called_worse(seed: int) -> None:
    base, other = draws(0.8, 100, seed), draws(0.8, 100, seed + 1000)
    assert paired_gate(base, other, margin=0.1).decision != WORSE


def test_a_clearly_worse_variant_is_worse_with_mcnemar() -> None:
    base, other = draws(0.85, 200, 3), draws(0.55, 200, 4)
    verdict = paired_gate(base, other)
    assert verdict.decision == WORSE and verdict.test == "McNemar exact"
    assert verdict.p_value < 1e-4 and verdict.high < 0


def test_a_margin_tolerates_a_small_drop_and_not_a_large_one() -> None:
    base = [1] * 100
    small_drop = [1] * 95 + [0] * 5
    assert paired_gate(base, small_drop, margin=0.10).decision != WORSE
    assert paired_gate(base, small_drop, margin=0.0).decision == WORSE
    assert paired_gate(base, [1] * 60 + [0] * 40, margin=0.10).decision == WORSE


def test_numbers_use_wilcoxon_and_a_bootstrap_interval() -> None:
    rng = random.Random(5)
    base = [rng.gauss(0.7, 0.1) for _ in range(80)]
    worse = [x - 0.05 + rng.gauss(0, 0.02) for x in base]
    better = [x + 0.05 + rng.gauss(0, 0.02) for x in base]
    verdict = paired_gate(base, worse)
    assert verdict.test == "Wilcoxon signed-rank" and verdict.decision == WORSE
    assert verdict.low < verdict.diff < verdict.high < 0
    assert paired_gate(base, better).decision == NOT_WORSE


def test_too_few_pairs_is_undecided_and_says_how_many_would_decide() -> None:
    verdict = paired_gate([1, 1, 0, 1, 1], [1, 0, 1, 1, 0], margin=0.05)
    assert verdict.decision == UNDECIDED
    assert verdict.more_pairs is not None and verdict.more_pairs > 5


def test_unequal_or_empty_sides_are_refused() -> None:
    with pytest.raises(ValueError, match="equally many"):
        paired_gate([1, 0], [1])
    with pytest.raises(ValueError, match="equally many"):
        paired_gate([], [])


def test_ten_thousand_pairs_take_under_a_second() -> None:
    rng = random.Random(7)
    base = [rng.gauss(0.7, 0.1) for _ in range(10_000)]
    other = [x + rng.gauss(0, 0.05) for x in base]
    paired_gate(base[:50], other[:50])  # scipy's import is not the gate's cost
    started = time.perf_counter()
    paired_gate(base, other)
    assert time.perf_counter() - started < 5  # measured ~0.2 s; the bound leaves room for a loaded CI host
