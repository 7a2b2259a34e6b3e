"""Flag generated questions that copy an evaluation (val/test) question.

Overlap is the share of the text's word n-grams that also occur in one evaluation item, found
through an inverted index (n-gram -> item ids). Wording alone cannot tell a copy from a sibling:
procedurally generated problems from one template share most of their words. So a match must
also keep the item's numbers: at least `min_number_share` of the text's numbers (as a multiset)
must appear in the item. A copy with a word changed keeps its numbers; a sibling with new numbers
does not. Texts without numbers are judged on wording alone.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable

from lfe_local.verify.dedup import word_ngrams

_TOKEN_RE = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+")


def tokens(text: str) -> list[str]:
    """Lowercase words and numbers; "1,200" and "1200" are the same token."""
    return [tok.replace(",", "") for tok in _TOKEN_RE.findall(text.lower())]


def _numbers(toks: list[str]) -> Counter[str]:
    return Counter(tok for tok in toks if tok[0].isdigit())


class ContaminationIndex:
    def __init__(
        self,
        items: Iterable[tuple[str, str]],
        n: int = 6,
        threshold: float = 0.5,
        min_number_share: float = 0.8,
    ):
        if n < 1 or not 0 < threshold <= 1 or not 0 <= min_number_share <= 1:
            raise ValueError("n must be >= 1, threshold in (0, 1] and min_number_share in [0, 1]")
        self.n = n
        self.threshold = threshold
        self.min_number_share = min_number_share
        self._index: dict[tuple[str, ...], set[str]] = defaultdict(set)
        self._numbers: dict[str, Counter[str]] = {}
        self._order: dict[str, int] = {}
        for item_id, question in items:
            toks = tokens(question)
            self._order.setdefault(item_id, len(self._order))
            self._numbers.setdefault(item_id, Counter()).update(_numbers(toks))
            for gram in word_ngrams(toks, n):
                self._index[gram].add(item_id)

    def __len__(self) -> int:
        return len(self._order)

    def check(self, text: str) -> tuple[str, float] | None:
        """(item_id, overlap) of the most overlapping evaluation item that counts as a copy, else None."""
        toks = tokens(text)
        grams = word_ngrams(toks, self.n)
        if not grams:
            return None
        shared: Counter[str] = Counter()
        for gram in grams:
            for item_id in self._index.get(gram, ()):
                shared[item_id] += 1
        numbers = _numbers(toks)
        # Best first; ties go to the item indexed first, so the answer never depends on set order.
        for item_id in sorted(shared, key=lambda i: (-shared[i], self._order[i])):
            overlap = shared[item_id] / len(grams)
            if overlap < self.threshold:
                return None
            if self._keeps_numbers(numbers, item_id):
                return item_id, overlap
        return None

    def _keeps_numbers(self, numbers: Counter[str], item_id: str) -> bool:
        if not numbers:
            return True
        kept = sum((numbers & self._numbers[item_id]).values())
        return kept / sum(numbers.values()) >= self.min_number_share
