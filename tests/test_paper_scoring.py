"""The two scorers side by side, per task, on responses written the way real models write them:
committed answers in each layout, hedges, walks through the options, "none of the above", code
with an import the function does not need. Each row gives the verdict under `strict` and under
`paper` ("right", or the failure kind), so a change to either scorer shows up here.

Then the paper scorer's own rules, one by one, as the reference implementation's evaluation
scripts apply them (tasks/paper_scoring.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lfe_local.tasks import make_task
from lfe_local.tasks.paper_scoring import bbh_answer, choice_letter, code_after_def, last_number, same_number

OPTIONS = ["London", "Berlin", "Paris", "Rome"]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def items(tmp_path_factory):
    """name -> (task, {item id -> item}), every task read from a file in its public layout."""
    d = tmp_path_factory.mktemp("data")
    files = {
        "mmlu": ("mmlu", [
            {"id": "capital", "question": "What is the capital of France?", "choices": OPTIONS, "answer": 2},
            {"id": "prime", "question": "Which of these is a prime number?", "choices": ["4", "6", "8", "None of the above"],
             "answer": "D"}]),
        "arc": ("arc", [{"id": "planet", "question": "Which planet is the largest?", "answerKey": "E",
                         "choices": {"text": ["Mercury", "Venus", "Earth", "Mars", "Jupiter"], "label": list("ABCDE")}}]),
        "gsm8k": ("gsm8k", [{"id": "eggs", "question": "Janet sells 9 eggs at $2 each. How much does she make?",
                             "answer": "9 * 2 = <<9*2=18>>18\n#### 18"}]),
        "gsm_plus": ("gsm_plus", [{"id": "eggs", "question": "Janet sells 9 eggs at $2 each. What does she make?",
                                   "answer": "18", "solution": "9 * 2 = 18"}]),
        "bbh": ("bbh", [{"id": "date", "input": "Which day comes after Monday?\nOptions:\n(A) Tuesday\n(B) Sunday",
                         "target": "(A)"},
                        {"id": "logic", "input": "not ( True and False ) is", "target": "True"}]),
        "mbpp": ("mbpp", [{"task_id": 7, "text": "Write a function to find the square root of a number.",
                           "code": "def root(x):\n    return x ** 0.5", "test_list": ["assert root(16) == 4.0",
                                                                                  "assert root(9) == 3.0"]}]),
        "humaneval": ("humaneval", [{"task_id": "Mini/0", "entry_point": "root",
                                     "prompt": 'import math\n\n\ndef root(x: float) -> float:\n    """Return the square root of x."""\n',
                                     "canonical_solution": "    return math.sqrt(x)\n",
                                     "test": "def check(candidate):\n    assert candidate(16) == 4.0\n"}]),
    }
    out = {}
    for name, (task_name, rows) in files.items():
        path = write_jsonl(d / f"{name}.jsonl", rows)
        task = make_task(task_name, {"path": path}, d)
        out[name] = (task, {it.item_id: it for it in task.items_from(path)})
    return out


def verdict(score) -> str:
    return "right" if score.correct else score.failure


CASES = [
    # -- multiple choice: committed answers in each layout
    ("mmlu", "capital", "Paris is the capital of France. The answer is (C).", "right", "right"),
    ("mmlu", "capital", "Therefore, the answer is:\n\nC. Paris is the capital of France.", "right", "right"),
    ("mmlu", "capital", "The most suitable answer would be:\n\n**C. Paris**\n\nParis has been the capital since 987.",
     "right", "right"),
    ("mmlu", "capital", "The correct answer is:\n(C) Paris", "right", "right"),
    ("mmlu", "capital", "Answer:\n\nC) Paris", "right", "right"),
    ("mmlu", "capital", "In the end, the capital of France is:\n\nC. Paris", "right", "right"),
    ("mmlu", "capital", "The capital of France is C. Paris, which is also its largest city.", "right", "right"),
    # an article is no claim for strict; the paper's "any standalone letter" takes it
    ("mmlu", "capital", "A city on the Seine, Paris, is the capital.", "right", "wrong_answer"),
    # hedges: strict refuses; the paper takes the first letter named after "answer"
    ("mmlu", "capital", "The answer is C or B.", "ambiguous", "right"),
    ("mmlu", "capital", "The answer is B or C.", "ambiguous", "wrong_answer"),
    ("mmlu", "capital", "So, the answer is:\n\nB. Berlin\nor\nC. Paris", "no_answer", "wrong_answer"),
    # walks through the options: no choice for strict; the paper reads "C ... correct"
    ("mmlu", "capital", "A. London: wrong.\nB. Berlin: wrong.\nC. Paris: correct.\nD. Rome: wrong.",
     "no_answer", "right"),
    ("mmlu", "capital", "Let's check each choice:\n\nA. London is in England.\n\nB. Berlin is in Germany.",
     "no_answer", "wrong_answer"),
    # "none of the above": the paper falls back on the option text most like the response
    ("mmlu", "capital", "None of the above.", "no_answer", "wrong_answer"),
    ("mmlu", "prime", "None of the above: 4, 6 and 8 are all even.", "ambiguous", "right"),
    # ARC's fifth option: the scripts' expressions only know A-D
    ("arc", "planet", "Jupiter is a gas giant. The answer is (E).", "right", "right"),
    ("arc", "planet", "The answer is (E).", "right", "wrong_answer"),
    # -- math: the paper takes the last number, whatever follows the answer
    ("gsm8k", "eggs", "9 * 2 = 18 dollars.\nThe answer is 18.", "right", "right"),
    ("gsm8k", "eggs", "She makes 9 * 2 dollars.\n\nThe answer is:\n\n$18", "right", "right"),
    ("gsm8k", "eggs", "The answer is:\n\n\\[ \\boxed{18} \\]\n\nThat is 9 eggs at $2 each.", "right", "wrong_answer"),
    ("gsm8k", "eggs", "The answer is 18 (= 20-2).", "right", "wrong_answer"),  # "20-2" ends on -2 for the paper
    ("gsm8k", "eggs", "The answer is 018", "right", "wrong_answer"),  # 018 is no Python number (018. is)
    ("gsm8k", "eggs", "It is either 18 or 20.", "wrong_answer", "wrong_answer"),
    ("gsm8k", "eggs", "I cannot tell.", "no_answer", "no_answer"),
    ("gsm_plus", "eggs", "#### 18", "right", "right"),
    ("gsm_plus", "eggs", "The answer is 18 dollars, for 9 eggs.", "right", "wrong_answer"),
    # -- bbh: strict reads the last "the answer is", the paper the first one
    ("bbh", "date", "Tuesday follows Monday. So the answer is (A).", "right", "right"),
    ("bbh", "date", "So the answer is:\n\n(A)", "right", "wrong_answer"),
    ("bbh", "date", "So the answer is (A) Tuesday.", "right", "wrong_answer"),
    ("bbh", "logic", "The answer is True. Wait: not False is True, so the answer is False.", "wrong_answer", "right"),
    ("bbh", "logic", "So the answer is True or False.", "wrong_answer", "wrong_answer"),
    # -- code: the paper keeps only `def <entry point>` on (HumanEval: its body), imports dropped
    ("mbpp", "7", "```python\ndef root(x):\n    return x ** 0.5\n```", "right", "right"),
    ("mbpp", "7", "```python\nimport math\n\ndef root(x):\n    return math.sqrt(x)\n```", "right", "NameError"),
    ("mbpp", "7", "Here:\n```python\nimport numpy_not_installed\n\ndef root(x):\n    return x ** 0.5\n```",
     "ModuleNotFoundError", "right"),
    ("mbpp", "7", "```python\ndef _sq(x):\n    return x ** 0.5\n\ndef root(x):\n    return _sq(x)\n```", "right", "NameError"),
    ("mbpp", "7", "Here is the function:\n\n    def root(x):\n        return x ** 0.5\n\nIt returns the square root.",
     "right", "right"),
    ("humaneval", "Mini/0", "```python\ndef root(x: float) -> float:\n    return math.sqrt(x)\n```", "right", "right"),
    ("humaneval", "Mini/0", "```python\nimport numpy_not_installed\n\ndef root(x):\n    return x ** 0.5\n```",
     "ModuleNotFoundError", "right"),
    ("humaneval", "Mini/0", "```python\ndef _sq(x):\n    return x ** 0.5\n\n\ndef root(x):\n    return _sq(x)\n```",
     "right", "NameError"),
    # a bare body: the paper's fallback indents it once more, after the prompt's docstring
    ("humaneval", "Mini/0", "    return math.sqrt(x)\n", "right", "syntax_error"),
]


@pytest.mark.parametrize(("task", "item_id", "response", "strict", "paper"), CASES)
def test_each_scorer_on_real_response_styles(items, task, item_id, response, strict, paper):
    scorer_task, by_id = items[task]
    item = by_id[item_id]
    assert verdict(scorer_task.score(response, item)) == strict  # strict is the default
    assert verdict(scorer_task.score(response, item, "strict")) == strict
    assert verdict(scorer_task.score(response, item, "paper")) == paper


def test_every_task_has_cases_under_both_verdicts():
    tasks = {c[0] for c in CASES}
    assert tasks == {"mmlu", "arc", "gsm8k", "gsm_plus", "bbh", "mbpp", "humaneval"}
    assert any(c[3] == "right" and c[4] != "right" for c in CASES)
    assert any(c[3] != "right" and c[4] == "right" for c in CASES)


def test_an_unknown_scorer_is_refused(items):
    task, by_id = items["mmlu"]
    with pytest.raises(ValueError, match="scorer must be one of strict, paper"):
        task.score("The answer is C.", by_id["capital"], "lenient")


def test_the_paper_scorer_says_which_rule_found_the_answer(items):
    task, by_id = items["mmlu"]
    assert task.score("C is correct.", by_id["capital"], "paper").rule == "letter called correct"
    assert task.score("The capital is Paris.", by_id["capital"], "paper").rule == "closest option text"
    assert task.score("The capital is Paris.", by_id["capital"]).rule is None


# -- the paper scorer's rules ------------------------------------------------------------------------

@pytest.mark.parametrize(("response", "letter", "rule"), [
    ("Therefore, the answer is A.", "A", "answer statement"),
    ("I would choose (C) here.", "C", "answer statement"),
    ("The best choice: D", "D", "answer statement"),
    # a negation close after "answer" voids that statement; the first standalone letter decides
    ("The answer is not B, it is C.", "B", "standalone letter"),
    ("C is correct because Paris is the capital.", "C", "letter called correct"),
    ("A is not correct; D is right.", "D", "letter called correct"),
    ("B. Berlin", "B", "opening letter"),
    (" B. Berlin", "B", "standalone letter"),  # a leading space (Mistral's) skips the opening rule
    ("A city on the Seine is the capital.", "A", "standalone letter"),
    ("In 2B or not 2B, Paris.", "B", "standalone letter"),  # digits are no letters to the scripts
    ("B=3, so Paris.", "C", "closest option text"),  # "B=" is no letter
    ("The capital of France is Paris.", "C", "closest option text"),
    ("", "A", "closest option text"),  # every option scores 0: the first wins, as in thefuzz
])
def test_choice_cascade(response, letter, rule):
    assert choice_letter(response, OPTIONS, "ABCD") == (letter, rule)


def test_choice_cascade_knows_only_a_to_d_and_needs_options_to_fall_back_on():
    planets = ["Mercury", "Venus", "Earth", "Mars", "Jupiter"]
    assert choice_letter("Jupiter. The answer is (E).", planets, "ABCDE") == ("E", "closest option text")
    assert choice_letter("The answer is (E).", [], "ABCDE") == (None, None)


@pytest.mark.parametrize(("text", "last"), [
    ("She has 5 apples, then 48-24 are left", "-24"),  # a minus before a number is its sign
    ("It costs $1,200.", "1200."),  # a closing period reads as a decimal point
    ("1,2345", "2345"),  # a broken thousands group splits the number
    ("0.5 or .75", ".75"),
    ("+7", "7"),
    ("about 5.", "5."),
    ("no digits", None),
])
def test_last_number_as_the_scripts_tokenise(text, last):
    assert last_number(text) == last


@pytest.mark.parametrize(("response", "gold", "same"), [
    ("she has 18 left.", "18", True),
    ("3.00001", "3", True),  # within 1e-4
    ("3.001", "3", False),
    ("-18", "18", False),
    ("The answer is 05", "5", False),  # Python refuses the literal 05
    ("00", "0", True),
    ("nothing", "0", False),
])
def test_same_number(response, gold, same):
    assert same_number(response, gold)[1] is same


@pytest.mark.parametrize(("response", "said", "rule"), [
    ("So the answer is (A). Later the answer is (B).", "(A)", "the answer is"),  # the first statement
    ("the answer is 3.5.", "3", "the answer is"),  # up to the first period
    ("The answer is valid.", "valid", "the answer is"),
    ("The answer is: valid.", "The answer is: valid.", "whole response"),  # "is" must be followed by a space
    ("THE ANSWER IS VALID.", "THE ANSWER IS VALID.", "whole response"),
    ("the answer is (A)\nwithout a period", "the answer is (A)\nwithout a period", "whole response"),
    ("  No statement here  ", "No statement here", "whole response"),
])
def test_bbh_answer(response, said, rule):
    assert bbh_answer(response) == (said, rule)


def test_code_after_def():
    fenced = "Here:\n```python\nimport math\n\ndef f(x):\n    return math.sqrt(x)\n```\nDone."
    assert code_after_def(fenced, "f", with_def=False) == ("    return math.sqrt(x)", "fenced def of the entry point")
    assert code_after_def(fenced, "f", with_def=True) == ("def f(x):\n    return math.sqrt(x)",
                                                          "fenced def of the entry point")
    # unfenced: the body ends at the first unindented line
    raw = "def f(x):\n    y = x\n\n    return y\nprint(f(2))"
    assert code_after_def(raw, "f", with_def=False) == ("    y = x\n\n    return y", "def of the entry point")
    assert code_after_def("def helper(y):\n    return y\n", "f", with_def=False) == ("    return y", "first def")
    assert code_after_def("I can't.\nSorry.", "f", with_def=False) == ("    I can't.\n    Sorry.", "whole response")
