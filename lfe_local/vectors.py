"""Brute-force nearest neighbours and a small agglomerative clustering, on unit vectors.

Brute force: one (queries x keys) matrix product. For 100k keys of dimension 384 that is 150 MB
of float32 keys and a few ms per query, fine; past about a million keys (1.5 GB) an index
(e.g. DuckDB's vss extension or FAISS) is the better tool.
"""

from __future__ import annotations

from collections import Counter

import numpy as np


def nearest(queries: np.ndarray, keys: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
    """For each query row, the k most cosine-similar key rows: (key index, similarity), best first.
    Ties are broken by the lower key index, so the result is deterministic."""
    if len(keys) == 0 or k <= 0:
        return [[] for _ in range(len(queries))]
    sims = queries @ keys.T
    k = min(k, len(keys))
    out = []
    for row in sims:
        order = np.lexsort((np.arange(len(row)), -row))[:k]
        out.append([(int(j), float(row[j])) for j in order])
    return out


def spread(vectors: np.ndarray, k: int, first: int) -> list[int]:
    """k rows that cover the set: greedy farthest-point (k-center) selection by cosine distance,
    starting at row `first`. Returns row indices in the order picked; ties go to the lower index."""
    n = len(vectors)
    if k >= n:
        return list(range(n))
    picked = [first]
    # each row's similarity to its nearest picked row; the least covered row is picked next (never a
    # picked row again: theirs is set to inf)
    closest = (vectors @ vectors[first]).astype(np.float64)
    closest[first] = np.inf
    while len(picked) < k:
        j = int(np.argmin(closest))  # argmin returns the first of equal values
        picked.append(j)
        closest = np.maximum(closest, vectors @ vectors[j])
        closest[picked] = np.inf
    return picked


def cluster(vectors: np.ndarray, threshold: float, max_clusters: int) -> list[int]:
    """Average-linkage agglomerative clustering by cosine similarity: merge the closest pair of
    clusters while their mean similarity is at least `threshold`, and beyond that until at most
    `max_clusters` remain. Returns a cluster index per vector (0 = the biggest cluster).
    O(n^2) memory and O(n^3) time in numpy: meant for distinct error labels (hundreds)."""
    n = len(vectors)
    if n == 0:
        return []
    sim = (vectors @ vectors.T).astype(np.float64)
    np.fill_diagonal(sim, -np.inf)
    size = np.ones(n)
    members: dict[int, list[int]] = {i: [i] for i in range(n)}
    while len(members) > 1:
        flat = int(np.argmax(sim))
        a, b = divmod(flat, n)
        if sim[a, b] < threshold and len(members) <= max_clusters:
            break
        a, b = min(a, b), max(a, b)
        # Lance-Williams update for average linkage: the merged row is the size-weighted mean.
        merged = (size[a] * sim[a] + size[b] * sim[b]) / (size[a] + size[b])
        sim[a], sim[:, a] = merged, merged
        sim[a, a] = -np.inf
        sim[b], sim[:, b] = -np.inf, -np.inf
        size[a] += size[b]
        members[a] += members.pop(b)
    groups = sorted(members.values(), key=lambda m: (-len(m), min(m)))
    labels = [0] * n
    for idx, group in enumerate(groups):
        for i in group:
            labels[i] = idx
    return labels


def cluster_name(labels: list[str], vectors: np.ndarray) -> str:
    """A cluster's name, taken from its members: the most frequent label (after lower-casing),
    ties going to the label closest to the cluster's centroid."""
    counts = Counter(s.strip().lower() for s in labels)
    top = max(counts.values())
    tied = [i for i, s in enumerate(labels) if counts[s.strip().lower()] == top]
    centroid = vectors.mean(0)
    best = max(tied, key=lambda i: (float(vectors[i] @ centroid), -i))
    return labels[best].strip().lower()
