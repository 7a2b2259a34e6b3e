import pytest

from lfe_local.tasks.answers import extract_answer, last_number, marked_answer, normalize_number


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1,200.50", "1200.5"),
        ("-3", "-3"),
        ("3.0", "3"),
        ("3.00", "3"),
        ("$5", "5"),
        ("50%", "50"),
        (" 42. ", "42"),
        ("0.50", "0.5"),
        ("-0", "0"),
        ("+7", "7"),
        ("007", "7"),
        ("abc", None),
        ("", None),
        ("1.2.3", None),
        ("12 apples", None),
        (None, None),
    ],
)
def test_normalize_number(text, expected):
    assert normalize_number(text) == expected


@pytest.mark.parametrize(
    "response, expected",
    [
        ("She has 5 left.\n#### 1,234", "1234"),
        ("#### 7 but the answer is 9", "7"),  # the #### marker wins the cascade
        ("So 3 + 4 = 7. The final answer is $1,200.", "1200"),
        ("The answer is: 42", "42"),
        ("the answer is **42**.", "42"),
        ("THE ANSWER IS -3.50", "-3.5"),
        ("First 12, then 48-2 = 46 left", "46"),  # "48-2" is a subtraction, not 48 and -2
        ("I think 3 or maybe 5.", "5"),
        ("No digits here.", None),
        # a statement, line break(s), then the number, also in LaTeX or as a bullet
        ("The answer is:\n\n42\n\nShe had 6 boxes of 7.", "42"),
        ("The final answer is:\n\n\\[ \\boxed{42} \\]\n\nThat is 6 boxes of 7.", "42"),
        ("The answer is: $$42$$ (6 boxes of 7)", "42"),
        ("The answer is \\(\\boxed{7}\\), from 63 / 9.", "7"),
        ("The answer is:\n\n- 42 apples, 3 left over", "42"),
        ("The answer is:\n\n**$1,200** for 3 months", "1200"),
        ("6 * 7 = 42, so the total is \\boxed{42}. Each of the 3 gets 14.", "42"),
    ],
)
def test_extract_answer_cascade(response, expected):
    assert extract_answer(response) == expected


def test_marked_answer_ignores_unmarked_numbers():
    assert marked_answer("12 + 5 = 17 and then 17 - 3 = 14") is None
    assert marked_answer("so the answer is 14.") == "14"


def test_last_number():
    assert last_number("result: 3\n1,500.0\n") == "1500"
    assert last_number("") is None
