"""Nearest neighbours, clustering, cluster names, the paired bootstrap and compare's argument parsing."""

import numpy as np
import pytest

from lfe_local.compare import parse_seeds, parse_strategies
from lfe_local.errors import LfeError
from lfe_local.stats import paired_bootstrap
from lfe_local.taxonomy import assign
from lfe_local.vectors import cluster, cluster_name, nearest, spread


def unit(*rows):
    m = np.array(rows, dtype=np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def test_nearest_orders_by_cosine_and_breaks_ties_by_index():
    keys = unit([1, 0], [0, 1], [1, 1], [1, 0])
    [hits] = nearest(unit([1, 0.1]), keys, 3)
    assert [j for j, _ in hits] == [0, 3, 2]
    assert hits[0][1] == pytest.approx(hits[1][1]) and hits[0][1] > hits[2][1]
    assert nearest(unit([1, 0]), keys[:0], 2) == [[]]
    assert len(nearest(unit([1, 0]), keys, 10)[0]) == 4  # k larger than the keys: all of them


def test_spread_covers_every_group_before_repeating_one():
    # three tight groups, the first much bigger: a random sample of three would often miss one
    v = unit([1, 0, 0], [0.99, 0.01, 0], [0.98, 0.02, 0], [0.97, 0, 0.03], [0, 1, 0], [0.01, 0.99, 0], [0, 0, 1])
    picked = spread(v, 3, first=1)
    assert picked[0] == 1 and sorted(picked[1:]) == [4, 6]
    assert {frozenset(spread(v, 3, first=f)) & {4, 5} != set() for f in range(7)} == {True}
    assert len(set(spread(v, 5, first=0))) == 5  # never the same row twice
    assert spread(v, 9, first=3) == list(range(7))  # k >= n: all rows


def test_cluster_merges_similar_and_respects_the_cap():
    v = unit([1, 0, 0], [0.95, 0.05, 0], [0, 1, 0], [0, 0.97, 0.03], [0, 0, 1])
    assert cluster(v, threshold=0.9, max_clusters=10) == [0, 0, 1, 1, 2]
    # With a cap of 2 the closest remaining clusters are merged even below the threshold.
    assert len(set(cluster(v, threshold=0.9, max_clusters=2))) == 2
    assert cluster(v[:0], 0.5, 3) == []


def test_cluster_name_is_the_most_frequent_member():
    v = unit([1, 0], [1, 0.1], [1, 0.2])
    assert cluster_name(["Wrong operation", "sign error", "wrong operation "], v) == "wrong operation"


def test_taxonomy_keeps_known_clusters_and_opens_new_ones():
    known = {"wrong operation": unit([1, 0, 0])}
    labels = ["used + instead of *", "forgot units", "lost units"]
    names = assign(labels, unit([0.9, 0.1, 0], [0, 1, 0.1], [0, 1, 0]), known, threshold=0.8, max_clusters=5)
    assert names[0] == "wrong operation"
    assert names[1] == names[2] in ("forgot units", "lost units")
    # No room for a new cluster: everything joins its nearest known cluster.
    full = assign(labels, unit([0.9, 0.1, 0], [0, 1, 0.1], [0, 1, 0]), known, threshold=0.8, max_clusters=1)
    assert full == ["wrong operation"] * 3


def test_paired_bootstrap():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2, size=(1, 200))
    same = paired_bootstrap(base, base)
    assert same.delta == 0 and same.low == 0 and same.high == 0 and not same.significant
    better = base.copy()
    better[0, :60] = 1  # many items flip to correct
    d = paired_bootstrap(better, base, seed=1)
    assert d.delta > 0 and 0 < d.low <= d.delta <= d.high and d.significant
    assert d.accuracy == pytest.approx(better.mean()) and d.base == pytest.approx(base.mean())
    # Seeds are averaged: two seeds, one improved and one not, give half the difference.
    two = paired_bootstrap(np.vstack([better, base]), np.vstack([base, base]), seed=1)
    assert two.delta == pytest.approx(d.delta / 2)
    with pytest.raises(ValueError):
        paired_bootstrap(base[:, :10], base)


def test_paired_bootstrap_interval_is_wide_for_a_small_noisy_difference():
    base = np.array([[1, 0] * 10])
    treat = base.copy()
    treat[0, 1] = 1  # one more item right out of 20
    d = paired_bootstrap(treat, base, seed=0)
    assert d.delta == pytest.approx(0.05) and d.low <= 0 and not d.significant


def test_compare_arguments():
    assert parse_strategies("le, lec,sft") == ["le", "lec", "sft"]
    assert parse_seeds("1,2") == [1, 2]
    for bad in ("le,xx", "le,le", ""):
        with pytest.raises(LfeError, match="--strategies"):
            parse_strategies(bad)
    for bad in ("a", "1,1", ""):
        with pytest.raises(LfeError, match="--seeds"):
            parse_seeds(bad)
