"""ArithTask: multi-step arithmetic word problems generated procedurally from a fixed seed.

Each template draws its numbers from an rng and returns (question, gold solution, answer). Every
solution writes its steps as explicit equations, and divisions are built to come out exact.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from lfe_local.errors import LfeError
from lfe_local.tasks.base import SPLITS, Item
from lfe_local.tasks.math_task import MathTask
from lfe_local.tasks.paper_scoring import check_scorer
from lfe_local.verify.dedup import normalize_text

NAMES = [
    ("Mia", "she"), ("Leo", "he"), ("Ava", "she"), ("Noah", "he"), ("Zoe", "she"), ("Omar", "he"),
    ("Lily", "she"), ("Ethan", "he"), ("Priya", "she"), ("Kenji", "he"), ("Sofia", "she"), ("Liam", "he"),
    ("Amara", "she"), ("Diego", "he"), ("Hana", "she"), ("Felix", "he"), ("Nora", "she"), ("Ravi", "he"),
    ("Elena", "she"), ("Sam", "he"),
]
FRUITS = ["apples", "oranges", "pears", "plums", "peaches", "lemons", "mangoes", "apricots"]
ITEMS = ["stickers", "marbles", "pencils", "cards", "stamps", "beads", "shells", "coins"]
GOODS = ["notebook", "pen", "sandwich", "ticket", "candle", "mug", "toy car", "book"]
BAKED = ["cookies", "muffins", "cupcakes", "rolls", "bagels", "scones"]
PLANTS = ["tomato plants", "rose bushes", "pepper plants", "sunflowers", "bean plants", "tulips"]

Generated = tuple[str, str, int]
_NUMBER_RE = re.compile(r"\d+")
_MAX_MISSES = 5000


def _person(rng: random.Random) -> tuple[str, str]:
    return rng.choice(NAMES)


def buy_then_give(rng: random.Random) -> Generated:
    (name, he), fruit = _person(rng), rng.choice(FRUITS)
    a, b = rng.randint(5, 60), rng.randint(2, 40)
    c = rng.randint(1, a + b - 1)
    q = (f"{name} has {a} {fruit}. {he.capitalize()} buys {b} more and then gives {c} to a friend. "
         f"How many {fruit} does {name} have now?")
    s = (f"{name} starts with {a} {fruit}. {he.capitalize()} buys {b} more: {a} + {b} = {a + b}. "
         f"{he.capitalize()} gives away {c}: {a + b} - {c} = {a + b - c}.")
    return q, s, a + b - c


def boxes_then_sell(rng: random.Random) -> Generated:
    (name, he), item = _person(rng), rng.choice(ITEMS)
    n, k = rng.randint(2, 12), rng.randint(3, 25)
    sold = rng.randint(1, n * k - 1)
    q = (f"{name} has {n} boxes with {k} {item} in each box. {he.capitalize()} sells {sold} {item}. "
         f"How many {item} are left?")
    s = (f"There are {n} boxes of {k} {item}: {n} * {k} = {n * k}. "
         f"After selling {sold}: {n * k} - {sold} = {n * k - sold}.")
    return q, s, n * k - sold


def bake_and_pack(rng: random.Random) -> Generated:
    (name, _), baked = _person(rng), rng.choice(BAKED)
    trays, bags, per_tray_per_bag = rng.randint(2, 9), rng.randint(2, 8), rng.randint(1, 6)
    per_tray = bags * per_tray_per_bag
    total = trays * per_tray
    q = (f"{name} bakes {trays} trays of {baked} with {per_tray} {baked} on each tray. "
         f"The {baked} are packed equally into {bags} bags. How many {baked} are in each bag?")
    s = (f"Total {baked}: {trays} * {per_tray} = {total}. "
         f"Shared among {bags} bags: {total} / {bags} = {total // bags}.")
    return q, s, total // bags


def change_from_bill(rng: random.Random) -> Generated:
    (name, he), good = _person(rng), rng.choice(GOODS)
    price, count = rng.randint(2, 40), rng.randint(2, 9)
    bill = next(b for b in (20, 50, 100, 200, 500) if b > price * count)
    q = (f"A {good} costs ${price}. {name} buys {count} of them and pays with a ${bill} bill. "
         f"How much change does {he} get, in dollars?")
    s = (f"They cost {count} * {price} = {count * price} dollars. "
         f"The change is {bill} - {count * price} = {bill - count * price} dollars.")
    return q, s, bill - count * price


def save_then_spend(rng: random.Random) -> Generated:
    (name, he), good = _person(rng), rng.choice(GOODS)
    weekly, weeks = rng.randint(3, 30), rng.randint(2, 12)
    spent = rng.randint(1, weekly * weeks - 1)
    q = (f"{name} saves ${weekly} every week for {weeks} weeks. Then {he} spends ${spent} on a {good}. "
         f"How many dollars does {name} have left?")
    s = (f"{name} saves {weekly} * {weeks} = {weekly * weeks} dollars. "
         f"After buying the {good}: {weekly * weeks} - {spent} = {weekly * weeks - spent} dollars.")
    return q, s, weekly * weeks - spent


def groups_then_join(rng: random.Random) -> Generated:
    groups, size, extra = rng.randint(2, 9), rng.randint(3, 15), rng.randint(1, 6)
    total = groups * size
    q = (f"A class of {total} students is split equally into {groups} groups. Then {extra} new students "
         f"join each group. How many students are in each group now?")
    s = (f"Each group starts with {total} / {groups} = {size} students. "
         f"With the new students: {size} + {extra} = {size + extra}.")
    return q, s, size + extra


def garden_rows(rng: random.Random) -> Generated:
    (name, he), plant = _person(rng), rng.choice(PLANTS)
    rows, per_row = rng.randint(2, 10), rng.randint(3, 12)
    died = rng.randint(1, rows * per_row - 1)
    new = rng.randint(1, 20)
    left = rows * per_row - died
    q = (f"{name} plants {rows} rows of {per_row} {plant}. {died} of them die, and then {he} plants "
         f"{new} more. How many {plant} does {name} have now?")
    s = (f"{name} plants {rows} * {per_row} = {rows * per_row} {plant}. After {died} die: "
         f"{rows * per_row} - {died} = {left}. With the new ones: {left} + {new} = {left + new}.")
    return q, s, left + new


def reading_week(rng: random.Random) -> Generated:
    (name, he) = _person(rng)
    mon, tue, factor = rng.randint(5, 40), rng.randint(5, 40), rng.randint(2, 4)
    wed = factor * mon
    q = (f"{name} reads {mon} pages on Monday and {tue} pages on Tuesday. On Wednesday {he} reads "
         f"{factor} times as many pages as on Monday. How many pages does {name} read in the three days?")
    s = (f"On Wednesday {name} reads {factor} * {mon} = {wed} pages. "
         f"In total: {mon} + {tue} + {wed} = {mon + tue + wed} pages.")
    return q, s, mon + tue + wed


def trip_distance(rng: random.Random) -> Generated:
    (name, he) = _person(rng)
    speed, hours, walk = rng.randint(20, 90), rng.randint(2, 6), rng.randint(1, 15)
    q = (f"{name} drives at {speed} km per hour for {hours} hours, then walks {walk} km. "
         f"How many km does {he} travel in total?")
    s = (f"Driving: {speed} * {hours} = {speed * hours} km. "
         f"Adding the walk: {speed * hours} + {walk} = {speed * hours + walk} km.")
    return q, s, speed * hours + walk


def shared_bill(rng: random.Random) -> Generated:
    friends, each = rng.randint(2, 8), rng.randint(4, 30)
    total = friends * each
    pizza = rng.randint(1, total - 1)
    drinks = total - pizza
    q = (f"{friends} friends order a pizza for ${pizza} and drinks for ${drinks}. They split the bill "
         f"equally. How many dollars does each friend pay?")
    s = (f"The bill is {pizza} + {drinks} = {total} dollars. "
         f"Each friend pays {total} / {friends} = {each} dollars.")
    return q, s, each


TEMPLATES: list[Callable[[random.Random], Generated]] = [
    buy_then_give, boxes_then_sell, bake_and_pack, change_from_bill, save_then_spend,
    groups_then_join, garden_rows, reading_week, trip_distance, shared_bill,
]


class ArithTask(MathTask):
    name = "arith"
    version = 2  # bump when the prompt, answer extraction or scoring changes: results are keyed by it

    def __init__(
        self,
        seed: int = 1234,
        train_size: int = 400,
        val_size: int = 100,
        test_size: int = 200,
        agreement: str = "program",
        program_timeout_s: float = 5.0,
        scorer: str = "strict",
    ):
        super().__init__(agreement=agreement, program_timeout_s=program_timeout_s)
        self.scorer = check_scorer(scorer)
        self.seed = seed
        self.sizes = {"train": train_size, "val": val_size, "test": test_size}

    def load(self) -> dict[str, list[Item]]:
        needed = sum(self.sizes.values())
        rng = random.Random(self.seed)
        seen: set[str] = set()
        problems: list[Generated] = []
        # Deduplicate before splitting so no question lands in two splits (or twice in one). Two
        # problems from one template with the same numbers are the same exercise whatever the names,
        # and would make a test item a copy of a train item.
        misses = 0
        while len(problems) < needed:
            template = rng.choice(TEMPLATES)
            problem = template(rng)
            keys = {normalize_text(problem[0]), f"{template.__name__}:{sorted(_NUMBER_RE.findall(problem[0]))}"}
            if keys & seen:
                misses += 1
                # Only a request near the number of distinct problems the templates can make gets here.
                if misses > _MAX_MISSES:
                    raise LfeError(f"task.arith: could not generate {needed} distinct problems; ask for fewer")
                continue
            misses = 0
            seen |= keys
            problems.append(problem)
        splits: dict[str, list[Item]] = {}
        start = 0
        for split in SPLITS:
            chunk = problems[start : start + self.sizes[split]]
            start += self.sizes[split]
            splits[split] = [
                Item(f"arith-{split}-{i:04d}", split, q, str(answer), f"{solution} The answer is {answer}.")
                for i, (q, solution, answer) in enumerate(chunk)
            ]
        return splits

    def items_from(self, path):
        """arith makes its items: `lfe score` scores against all of them (ids like arith-test-0007)."""
        if path is not None:
            raise LfeError("task arith generates its items and reads no data file: leave out --data")
        return [it for items in self.load().values() for it in items]
