"""The error taxonomy: the instructor's free-text error types grouped into a few named clusters.

Clusters are kept stable across the cycles of a run, so a user can see whether a kind of error
shrinks after training: a new error type joins the existing cluster it is most similar to
(mean cosine similarity at least `threshold`); the rest are clustered among themselves into new
clusters, named after their most frequent member.
"""

from __future__ import annotations

import numpy as np

from .vectors import cluster, cluster_name


def assign(labels: list[str], vectors: np.ndarray, known: dict[str, np.ndarray], threshold: float,
           max_clusters: int) -> list[str]:
    """A cluster name per label. `known`: name -> vectors of the labels already in that cluster."""
    names: list[str | None] = [None] * len(labels)
    if known:
        known_names = list(known)
        sims = np.stack([(vectors @ known[n].T).mean(1)
                         for n in known_names], axis=1)
        room = max_clusters - len(known_names)
        for i, row in enumerate(sims):
            best = int(np.argmax(row))
            if row[best] >= threshold or room <= 0:
                names[i] = known_names[best]
    else:
        room = max_clusters
    rest = [i for i, n in enumerate(names) if n is None]
    if rest:
        groups = cluster(vectors[rest], threshold, max(1, room))
        for g in set(groups):
            members = [rest[j] for j, gg in enumerate(groups) if gg == g]
            name = cluster_name([labels[i] for i in members], vectors[members])
            for i in members:
                names[i] = name
    return [n or "" for n in names]
