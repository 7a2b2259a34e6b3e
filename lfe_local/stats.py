"""Paired bootstrap confidence intervals for accuracy differences on the same test items."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RESAMPLES = 10_000


@dataclass(frozen=True)
class Delta:
    accuracy: float  # mean accuracy of the treatment (over seeds)
    base: float  # mean accuracy of the baseline
    delta: float  # accuracy - base
    low: float  # 95% interval of delta
    high: float

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0


def paired_bootstrap(treatment: np.ndarray, base: np.ndarray, seed: int = 0,
                     resamples: int = RESAMPLES, level: float = 0.95) -> Delta:
    """`treatment` and `base`: (seeds x items) 0/1 arrays, column j the same test item in both.
    Items are resampled with replacement (the same items for treatment and base: paired); each
    resample's difference is the mean over seeds. Percentile interval."""
    t = np.atleast_2d(np.asarray(treatment, dtype=np.float64))
    b = np.atleast_2d(np.asarray(base, dtype=np.float64))
    if t.shape[1] != b.shape[1] or t.shape[1] == 0:
        raise ValueError(f"paired bootstrap needs the same non-empty items: {t.shape} vs {b.shape}")
    per_item = t.mean(0) - b.mean(0)  # the difference of means equals the mean of per-item differences
    rng = np.random.default_rng(seed)
    n = len(per_item)
    idx = rng.integers(0, n, size=(resamples, n))
    diffs = per_item[idx].mean(1)
    alpha = (1 - level) / 2
    low, high = np.quantile(diffs, [alpha, 1 - alpha])
    return Delta(float(t.mean()), float(b.mean()), float(per_item.mean()), float(low), float(high))


def accuracy_interval(correct: list[bool], seed: int = 0, resamples: int = RESAMPLES,
                      level: float = 0.95) -> tuple[float, float, float]:
    """An accuracy and its bootstrap percentile interval: (accuracy, low, high)."""
    d = paired_bootstrap([correct], [[0] * len(correct)], seed=seed, resamples=resamples, level=level)
    return d.accuracy, d.low, d.high
