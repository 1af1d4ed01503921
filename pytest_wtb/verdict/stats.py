"""Statistics for repeated, non-deterministic executions: pass rates with Wilson intervals and a paired
gate between a variant and its baseline. Every test and interval comes from scipy.stats.

The gate asks one question: is the variant worse than the baseline by more than ``margin``? The
scores are paired by (case, repetition). Pass/fail scores use McNemar's exact test on the discordant
pairs; numeric scores use the Wilcoxon signed-rank test on the differences; both report a paired
bootstrap interval of the mean difference. Three answers: ``worse`` (the test rejects "not worse by
more than margin" at ``alpha``), ``not worse`` (the interval lies at or above ``-margin``), or ``undecided``
(neither, with an estimate of how many pairs would decide it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

WORSE: Final = "worse"
NOT_WORSE: Final = "not worse"
UNDECIDED: Final = "undecided"
BOOTSTRAP_RESAMPLES: Final = 2000
MAX_SUGGESTED: Final = 100_000


@dataclass(frozen=True)
class Rate:
    passes: int
    n: int
    low: float
    high: float

    @property
    def rate(self) -> float:
        return self.passes / self.n if self.n else 0.0

    def text(self) -> str:
        return f"{self.passes}/{self.n} = {self.rate:.0%} (95% CI {self.low:.0%}-{self.high:.0%}, Wilson)"


def pass_rate(passes: int, n: int, confidence: float = 0.95) -> Rate:
    """``passes`` of ``n`` with its Wilson score interval."""
    if n <= 0:
        return Rate(0, 0, 0.0, 1.0)
    from scipy.stats import binomtest

    ci = binomtest(passes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return Rate(passes, n, float(ci.low), float(ci.high))


def mean_interval(scores: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): Wilson for pass/fail scores, Student's t for numbers."""
    if not scores:
        return math.nan, math.nan, math.nan
    mean = sum(scores) / len(scores)
    if is_binary(scores):
        rate = pass_rate(round(sum(scores)), len(scores), confidence)
        return mean, rate.low, rate.high
    import numpy as np
    from scipy.stats import t

    data = np.asarray(scores, dtype=float)
    if len(data) < 2 or float(data.std()) == 0.0:
        return mean, mean, mean
    low, high = t.interval(confidence, len(data) - 1, loc=mean, scale=float(data.std(ddof=1)) / math.sqrt(len(data)))
    return mean, float(low), float(high)


@dataclass(frozen=True)
class GateVerdict:
    test: str
    n: int
    base_mean: float
    other_mean: float
    low: float  # interval of other_mean - base_mean, at 1 - 2 * alpha (the one-sided test's twin)
    high: float
    p_value: float
    margin: float
    alpha: float
    decision: str
    more_pairs: int | None = None  # undecided: about how many pairs in all would decide it

    @property
    def diff(self) -> float:
        return self.other_mean - self.base_mean


def is_binary(scores: Sequence[float]) -> bool:
    return all(s in (0, 1) for s in scores)


def paired_gate(base: Sequence[float], other: Sequence[float], margin: float = 0.0, alpha: float = 0.05,
                seed: int = 0) -> GateVerdict:
    """Judge ``other`` against ``base`` (same length, paired by position; higher is better)."""
    if len(base) != len(other) or not base:
        raise ValueError(f"a paired gate needs equally many scores on both sides, got {len(base)} and {len(other)}")
    import numpy as np

    b, o = np.asarray(base, dtype=float), np.asarray(other, dtype=float)
    diffs = o - b
    binary = is_binary(list(b)) and is_binary(list(o))
    test, p_value = (_mcnemar(b, o, margin) if binary else _wilcoxon(diffs, margin))
    low, high = _bootstrap(diffs, 1 - 2 * alpha, seed)
    if p_value < alpha:
        decision = WORSE
    elif low >= -margin:
        decision = NOT_WORSE
    else:
        decision = UNDECIDED
    more = _pairs_to_decide(len(diffs), float(diffs.mean()), low, high, margin) if decision == UNDECIDED else None
    return GateVerdict(test, len(diffs), float(b.mean()), float(o.mean()), low, high, p_value, margin, alpha,
                       decision, more)


def _mcnemar(b: object, o: object, margin: float) -> tuple[str, float]:
    """Exact McNemar: of the pairs that disagree, how many went the baseline's way. At margin 0 the
    null puts each discordant pair either way with probability 1/2; a margin shifts that boundary by the
    observed rate of discordant pairs (a plug-in for the nuisance parameter)."""
    import numpy as np
    from scipy.stats import binomtest

    base, other = np.asarray(b), np.asarray(o)
    got_worse = int(((base == 1) & (other == 0)).sum())
    got_better = int(((base == 0) & (other == 1)).sum())
    discordant = got_worse + got_better
    if discordant == 0:
        return "McNemar exact", 1.0
    share = discordant / len(base)
    boundary = min(1.0, 0.5 + margin / (2 * share))  # P(a discordant pair is "worse") when diff = -margin
    if boundary >= 1.0:
        return "McNemar exact", 1.0
    return "McNemar exact", float(binomtest(got_worse, discordant, boundary, alternative="greater").pvalue)


def _wilcoxon(diffs: object, margin: float) -> tuple[str, float]:
    import numpy as np
    from scipy.stats import wilcoxon

    shifted = np.asarray(diffs) + margin
    if not np.any(shifted):
        return "Wilcoxon signed-rank", 1.0
    return "Wilcoxon signed-rank", float(wilcoxon(shifted, alternative="less").pvalue)


def _bootstrap(diffs: object, confidence: float, seed: int) -> tuple[float, float]:
    import numpy as np
    from scipy.stats import bootstrap

    data = np.asarray(diffs, dtype=float)
    if np.all(data == data[0]):  # no spread: every resample has the same mean
        return float(data[0]), float(data[0])
    res = bootstrap((data,), np.mean, n_resamples=BOOTSTRAP_RESAMPLES, confidence_level=confidence,
                    method="percentile", rng=np.random.default_rng(seed), vectorized=True)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _pairs_to_decide(n: int, mean: float, low: float, high: float, margin: float) -> int:
    """Intervals shrink like 1/sqrt(n): the pairs at which today's half-width would clear -margin."""
    half = (high - low) / 2
    distance = abs(mean + margin)
    if half <= 0:
        return n
    if distance < 1e-9:
        return MAX_SUGGESTED
    return min(MAX_SUGGESTED, max(n + 1, math.ceil(n * (half / distance) ** 2)))
