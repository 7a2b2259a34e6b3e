from lfe_local.tasks.arith import ArithTask
from lfe_local.verify.contamination import ContaminationIndex, tokens
from lfe_local.verify.dedup import Deduper, normalize_text

Q = "Mia has 12 apples. She buys 5 more and then gives 3 to a friend. How many apples does Mia have now?"


def test_normalize_text():
    assert normalize_text("  Hello,   World!\n") == "hello world"


def test_deduper_exact_and_near():
    d = Deduper()
    assert d.check(Q) is None
    d.add("s1", Q)
    assert d.check(Q.upper().replace(".", " .")) == ("duplicate", "s1")
    near = Q.replace("have now?", "have today?")  # one changed word at the end: 18 of 20 grams shared
    assert d.check(near) == ("near_duplicate", "s1")
    other = "Leo drives at 40 km per hour for 3 hours, then walks 2 km. How far does he travel?"
    assert d.check(other) is None


def test_deduper_picks_the_closest():
    d = Deduper(n=2, threshold=0.5)
    d.add("far", "one two three four five six seven eight")
    d.add("close", "one two three four five six seven nine")
    assert d.check("one two three four five six seven nine ten") == ("near_duplicate", "close")


def test_tokens():
    assert tokens("It costs $1,200.50, OK?") == ["it", "costs", "1200.50", "ok"]


def test_contamination_flags_copies():
    index = ContaminationIndex([("test-1", Q), ("test-2", "A train travels 60 km in 2 hours. What is its speed?")])
    assert index.check(Q) == ("test-1", 1.0)
    item_id, overlap = index.check(Q.replace("friend", "neighbour"))
    assert item_id == "test-1" and 0.5 <= overlap < 1.0
    assert index.check("Totally different text about 7 cats and 2 dogs playing.") is None


def test_short_texts_are_one_gram():
    index = ContaminationIndex([("t", "What is 2 plus 3?")])
    assert index.check("what is 2 plus 3") == ("t", 1.0)
    assert index.check("what is 2 plus 4") is None


def test_same_template_other_numbers_is_not_contamination():
    splits = ArithTask(seed=7).load()
    index = ContaminationIndex((i.item_id, i.question) for i in splits["val"] + splits["test"])
    assert len(index) == 300
    flagged = [i.item_id for i in splits["train"] if index.check(i.question)]
    assert flagged == []
    # ...while a near-verbatim copy of any test item is caught.
    victim = splits["test"][5]
    hit = index.check(victim.question.replace(" has ", " owns ", 1).replace(" now", ""))
    assert hit is not None and hit[0] == victim.item_id
