"""What a run bought: the best cycle (chosen on val) and its test gain over cycle 0."""

from __future__ import annotations

from typing import Any

from ..store import Store


def best_cycle(store: Store, run_id: str) -> int | None:
    val = [r for r in store.accuracies(run_id) if r["split"] == "val"]
    if not val:
        return None
    return max(val, key=lambda r: (r["accuracy"], -r["cycle"]))["cycle"]


def cycle_gain(store: Store, run_id: str, cycle: int | None, seed: int) -> dict[str, Any] | None:
    """A cycle's test accuracy against cycle 0's, on the same items, with a 95% paired bootstrap
    interval: what the run bought, and whether it is more than noise."""
    from ..stats import paired_bootstrap

    outcomes = store.test_outcomes(run_id)
    if cycle is None or cycle == 0 or 0 not in outcomes or cycle not in outcomes:
        return None
    items = sorted(set(outcomes[0]) & set(outcomes[cycle]))
    if not items:
        return None
    d = paired_bootstrap([[outcomes[cycle][i] for i in items]], [[outcomes[0][i] for i in items]], seed=seed)
    return {"test_base": d.base, "test_best": d.accuracy, "test_delta": d.delta, "test_ci_low": d.low,
            "test_ci_high": d.high, "test_items": len(items)}
