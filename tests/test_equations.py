import pytest

from lfe_local.verify.equations import check_equations, false_equations, find_equations, operations


@pytest.mark.parametrize(
    "text",
    [
        "12 + 5 = 17",
        "3 * 4 = 12 = 6 + 6",
        "(8 - 2) / 3 = 2",
        "$12.50 x 4 = $50",
        "4 × 3 = 12",
        "10 ÷ 2 = 5",
        "2 · 6 = 12",
        "1,200 + 300 = 1,500",
        "10 / 3 = 3.33",
        "0.1 + 0.2 = 0.3",
        "2^10 = 1024",
        "50 * 20% = 10",
        "15 / 60 * 100 = 25%",
        "-3 + 5 = 2",
    ],
)
def test_true_equations(text):
    eqs = check_equations(text)
    assert len(eqs) == 1, eqs
    assert eqs[0].ok, eqs[0]


@pytest.mark.parametrize(
    "text, reason",
    [
        ("2 + 2 = 5", "false"),
        ("10 / 3 = 3.5", "false"),
        ("7 / 2 = 4", "false"),  # a whole number gets no rounding slack
        ("3 * 4 = 12 = 6 + 7", "false"),
        ("1,200 + 300 = 1,600", "false"),
        ("5 / 0 = 0", "division_by_zero"),
        ("(4 - 4) / (2 - 2) = 1", "division_by_zero"),
    ],
)
def test_false_equations(text, reason):
    eqs = check_equations(text)
    assert len(eqs) == 1
    assert not eqs[0].ok
    assert eqs[0].reason == reason
    assert false_equations(text) == [text]


@pytest.mark.parametrize(
    "text",
    ["x = 5", "Step 1.", "2024", "5 = 5", "In 2024-01-05 we met.", "the box x 3 = 5", "2x = 10", "3 + 4"],
)
def test_not_equations(text):
    assert find_equations(text) == []


def test_equations_inside_prose_keep_order_and_text():
    text = "Mia buys 5 more: 12 + 5 = 17. She gives away 3, so 17 - 3 = 14 apples.\nTotal = 2 * 7 = 14"
    assert find_equations(text) == ["12 + 5 = 17", "17 - 3 = 14", "2 * 7 = 14"]
    assert false_equations(text) == []


def test_a_line_break_ends_an_equation_before_a_number():
    # One equation per line, no full stops (a solution rebuilt from a generator's computation can
    # look like this): the next line's first number is not a term of the line before.
    assert find_equations("8 * 9 = 72\n72 - 6 = 66\n66 + 5 = 71") == ["8 * 9 = 72", "72 - 6 = 66", "66 + 5 = 71"]
    assert false_equations("8 * 9 = 72\n72 - 6 = 60") == ["72 - 6 = 60"]


def test_sentence_parentheses_and_dashes_are_not_terms():
    assert find_equations("(so 3 + 4 = 7)") == ["3 + 4 = 7"]
    assert find_equations("12 - 5 = 7 - that is all") == ["12 - 5 = 7"]


def test_gsm8k_annotation_is_its_own_equation():
    text = "Natalia sold 48/2 = <<48/2=24>>24 clips in May."
    assert find_equations(text) == ["48/2 = 24", "48/2=24"]
    assert false_equations(text) == []


def test_wrong_gsm8k_annotation_is_caught():
    assert false_equations("She earns 12*5 = <<12*5=70>>60 dollars.") == ["12*5=70"]


def test_values_reported():
    (eq,) = check_equations("10 / 4 = 2.5")
    assert eq.values == (2.5, 2.5)


def test_huge_power_is_skipped_not_evaluated():
    assert check_equations("9 ** 9 ** 9 = 1") == []


@pytest.mark.parametrize("text, ops", [
    ("Total: 7 * 16 = 112. Shared among 8 bags: 112 / 8 = 14. The answer is 14.", {"*", "/"}),
    ("Mia bakes 3 * 5 = 15 muffins. Each bag has 5 muffins.", {"*"}),
    ("2 ^ 3 = 8, 6 x 7 = 42 and 8 ÷ 2 = 4", {"**", "*", "/"}),
    ("-5 + 3 = -2", {"+"}),  # a unary minus is no subtraction
    ("Split into 2 groups: 196 // 2 = 98 students, then 98 + 4 = 102", {"/", "+"}),  # floor division
    ("x = 5. The answer is 5.", set()),
    ("<<48/2=24>>24 clips, then 48 - 24 = 24", {"/", "-"}),
])
def test_operations_are_the_binary_operators_of_the_equations(text, ops):
    assert operations(text) == ops


@pytest.mark.parametrize("text, ok, reason", [
    ("196 // 2 = 98", True, None), ("12 // 4 = 3", True, None), ("-8 // 2 = -4", True, None),
    ("7 // 2 = 3.5", False, "false"), ("12 // 4 = 4", False, "false"),
    # Right as Python computes it, wrong in a solution: the remainder was dropped (seen: a
    # generator's "packed equally into 17 bags" with 21 muffins, "21 // 17 = 1").
    ("7 // 2 = 3", False, "dropped_remainder"), ("21 // 17 = 1", False, "dropped_remainder"),
    ("-7 // 2 = -4", False, "dropped_remainder")])
def test_floor_division_holds_only_when_it_divides_exactly(text, ok, reason):
    (eq,) = check_equations(text)
    assert (eq.ok, eq.reason) == (ok, reason)
