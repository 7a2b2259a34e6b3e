"""Duplicate and near-duplicate detection among generated questions (brute force; fine for thousands)."""

from __future__ import annotations

import unicodedata


def normalize_text(text: str) -> str:
    """Lowercase, punctuation removed, whitespace folded: the form two "same" questions share."""
    kept = "".join(ch for ch in text.lower() if not unicodedata.category(ch).startswith("P"))
    return " ".join(kept.split())


def word_ngrams(words: list[str], n: int) -> set[tuple[str, ...]]:
    """Word n-grams; a text shorter than n words is one gram, so short texts still compare."""
    if not words:
        return set()
    if len(words) < n:
        return {tuple(words)}
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


class Deduper:
    def __init__(self, n: int = 3, threshold: float = 0.8):
        if n < 1 or not 0 < threshold <= 1:
            raise ValueError("n must be >= 1 and threshold in (0, 1]")
        self.n = n
        self.threshold = threshold
        self._exact: dict[str, str] = {}
        self._grams: list[tuple[str, set[tuple[str, ...]]]] = []

    def check(self, text: str) -> tuple[str, str] | None:
        """("duplicate" | "near_duplicate", matched sample id) for the closest earlier text, else None."""
        norm = normalize_text(text)
        if norm in self._exact:
            return "duplicate", self._exact[norm]
        grams = word_ngrams(norm.split(), self.n)
        if not grams:
            return None
        best_id, best = None, 0.0
        for sample_id, other in self._grams:
            shared = len(grams & other)
            if not shared:
                continue
            score = shared / len(grams | other)
            if score > best:
                best_id, best = sample_id, score
        if best_id is not None and best >= self.threshold:
            return "near_duplicate", best_id
        return None

    def add(self, sample_id: str, text: str) -> None:
        norm = normalize_text(text)
        self._exact.setdefault(norm, sample_id)
        self._grams.append((sample_id, word_ngrams(norm.split(), self.n)))

