"""What the instructor is told about math word problems, with the one worked demonstration its
prompts show (a 135M instructor copies a demonstrated structure far more reliably than it follows
a description of it)."""

from __future__ import annotations

from lfe_local.tasks.base import Demo, GeneratorLesson, Lesson

_NEW = (
    {"question": "Lea has 3 bags with 8 marbles in each bag. She loses 4 marbles. How many marbles does Lea have left?",
     "solution": "Lea has 3 * 8 = 24 marbles. She loses 4: 24 - 4 = 20. The answer is 20.",
     "answer": 20, "program": "print(3 * 8 - 4)"},
    {"question": "Omar has 5 shelves with 7 books on each shelf. He sells 9 books. How many books does Omar have left?",
     "solution": "Omar has 5 * 7 = 35 books. He sells 9: 35 - 9 = 26. The answer is 26.",
     "answer": 26, "program": "print(5 * 7 - 9)"},
    {"question": "Ken buys 6 packs with 5 cards in each pack. He trades away 7 cards. How many cards does Ken have now?",
     "solution": "Ken has 6 * 5 = 30 cards. He trades away 7: 30 - 7 = 23. The answer is 23.",
     "answer": 23, "program": "print(6 * 5 - 7)"},
    {"question": "Ivy plants 7 rows with 4 tulips in each row. Rabbits eat 6 tulips. How many tulips are left?",
     "solution": "Ivy plants 7 * 4 = 28 tulips. Rabbits eat 6: 28 - 6 = 22. The answer is 22.",
     "answer": 22, "program": "print(7 * 4 - 6)"},
)

MATH_DEMO = Demo(
    question="Sam has 4 boxes with 6 pens in each box. He gives away 5 pens. How many pens does Sam have left?",
    wrong="Sam has 4 + 6 = 10 pens. He gives away 5: 10 - 5 = 5. The answer is 5.",
    answer="19",
    reference="Sam has 4 boxes of 6 pens: 4 * 6 = 24. He gives away 5: 24 - 5 = 19. The answer is 19.",
    corrected={"corrected_solution": "Sam has 4 * 6 = 24 pens. He gives away 5: 24 - 5 = 19. The answer is 19.",
               "final_answer": 19, "program": "print(4 * 6 - 5)"},
    error_type="wrong operation",
    analysis="The student added the boxes and the pens per box instead of multiplying them.",
    contrast="The student multiplies groups correctly and subtracts correctly in one-step problems, but in "
             "this two-step problem added the boxes and the pens per box instead of multiplying first.",
    solved=(
        ("Ann has 3 bags with 5 apples in each bag. How many apples does Ann have?",
         "Ann has 3 * 5 = 15 apples. The answer is 15."),
        ("Tom has 20 stickers and gives away 6. How many stickers does Tom have left?",
         "Tom has 20 - 6 = 14 stickers left. The answer is 14."),
        ("Mia buys 4 packs with 3 pens in each pack. How many pens does Mia buy?",
         "Mia buys 4 * 3 = 12 pens. The answer is 12."),
    ),
    new=_NEW,
)

# The demonstration generator: every number drawn from rng, every result computed, the solution
# built from the computed values so its equations are right by construction.
_DEMO_GENERATOR = """def generate(rng):
    name = rng.choice(["Sam", "Lea", "Omar", "Ivy", "Ken", "Mia"])
    thing = rng.choice(["pens", "cards", "shells", "buttons"])
    boxes = rng.randint(2, 9)
    per_box = rng.randint(3, 12)
    total = boxes * per_box
    given = rng.randint(1, total - 1)
    left = total - given
    question = (f"{name} has {boxes} boxes with {per_box} {thing} in each box. "
                f"{name} gives away {given} {thing}. How many {thing} does {name} have left?")
    solution = (f"{name} has {boxes} * {per_box} = {total} {thing}. "
                f"After giving away {given}: {total} - {given} = {left}.")
    return {"question": question, "solution": solution, "answer": left}"""

MATH_GENERATOR = GeneratorLesson(
    request=("Write a Python function generate(rng) that makes new practice problems of the same kind, for "
             "the same skill. rng is a random.Random: draw every number (and name) from it, so that each "
             "call makes a different problem. Return a dict with \"question\" (the problem text), "
             "\"solution\" (the step-by-step solution, every calculation written as an equation like "
             "3 * 8 = 24, built from the computed values) and \"answer\" (the final number). Draw each number "
             "from a small range around its value in the problems above (for 7, say 2 to 12; for 21, say 5 "
             "to 40), so the arithmetic is as hard as theirs and no harder. Compute every value in the code, "
             "never by hand; keep divisions exact; use only the standard library."),
    demo_code=_DEMO_GENERATOR,
    demo_solver=("# Sam has 4 boxes with 6 pens in each box.\nboxes = 4\npens_per_box = 6\npens = boxes * pens_per_box\n"
                 "# He gives away 5 pens.\npens = pens - 5\n# How many pens does Sam have left?\nprint(pens)"),
)

MATH_LESSON = Lesson(
    system="You are a careful math teacher. You reply only with JSON.",
    unit="problem",
    solve="with every calculation written as an equation",
    vary="with different numbers",
    new_parts="a solution, its answer and a one-line Python program that prints the answer",
    answer={"type": "number"},
    extra={"program": {"type": "string", "maxLength": 160}},
    demo=MATH_DEMO,
    check=", and give a one-line Python program that prints its answer",
    generator=MATH_GENERATOR,
)
