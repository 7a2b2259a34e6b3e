"""`train.max_samples`: when a cycle verifies more samples than it should train on, which to keep.

Training time grows with the samples trained (on the 2-core demo CPU ~1.2 s per sample), and in
program mode one right generator gives 120 verified instances of one kind of problem: a run whose
7 generators were right verified 615 samples and took 29 min, where 5 right ones gave 416 and
24 min. What the target learns grows with the kinds covered more than with instances per kind, so
the cap keeps every group (a generator, or the cycle's corrected solutions) as even a share as
it can: groups smaller than the share keep all of theirs, the others split the rest equally, each
a seeded random subset. The samples left out passed every check; they are recorded as rejected
with the reason `surplus`, so `accepted` stays exactly what was trained."""

from __future__ import annotations

import random


def even_shares(sizes: dict[str, int], cap: int) -> dict[str, int]:
    """How many of each group to keep, min(cap, all) in total: water-filling from the smallest
    group up, each taking what is left divided by the groups still to serve (the last one takes
    all that is left, so nothing of the cap goes unused)."""
    keep, left, groups = {}, cap, sorted(sizes, key=lambda g: (sizes[g], g))
    for i, g in enumerate(groups):
        keep[g] = min(sizes[g], left // (len(groups) - i))
        left -= keep[g]
    return keep


def keep_for_training(groups: dict[str, list[str]], cap: int, seed: int) -> set[str]:
    """The sample ids to train on: all when they are at most `cap` (0 = no cap), else each group's
    even share, drawn with `seed`."""
    every = [s for ids in groups.values() for s in ids]
    if cap <= 0 or len(every) <= cap:
        return set(every)
    rng = random.Random(seed)
    keep: set[str] = set()
    for g, n in even_shares({g: len(ids) for g, ids in groups.items()}, cap).items():
        keep.update(rng.sample(sorted(groups[g]), n))
    return keep
