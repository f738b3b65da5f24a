"""Issue 11's measured failures, one by one: the whole answer span, the commitment policy, explicit scale."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from judgecraft import AnswerChecker, Scorer, extract_answer, parse_gold

CHECK = AnswerChecker(timeout=10.0)


@pytest.mark.parametrize(
    ("text", "gold", "equal"),
    [
        ("$-\\frac{10}{9}$", "10/9", False),
        ("The answer is $\\boxed{-\\frac{10}{9}}$", "10/9", False),
        ("The answer is $-\\dfrac{10}{9}$.", "10/9", False),
        ("$-\\frac{1}{2}$", "0.5", False),
        ("$-\\frac{10}{9}$", "-10/9", True),
        ("The answer is $\\boxed{-\\dfrac{10}{9}}$", "-\\frac{10}{9}", True),
        ("$-\\left(24\\right)$", "24", False),
    ],
)
def test_the_sign_before_latex_is_kept(text, gold, equal):
    assert CHECK.check(text, gold).equal is equal


HEDGES_FOR_24 = [
    "24 or maybe 25",
    "24 (or 25, 26, 27)",
    "Answer: 24 25 26 27",
    "24, 25, 26, ..., 100",
    "$\\{24, 25, 26\\}$",
    "[24, 25]",
    "between 24 and 30",
    "24-30",
    "24 to 30",
    "24–30",
    "not 24",
    "not 24, it is 25",
    "24 + 5",
    "24 thousand",
    "at least 24",
    "anything but 24",
    "$\\neq 24$",
    "\\boxed{24} \\boxed{25}",
    "\\boxed{25} \\boxed{24}",
    "probably 24, but it could be 25",
    "$\\pm 24$",
]


@pytest.mark.parametrize("hedge", HEDGES_FOR_24)
@pytest.mark.parametrize("frame", ["{}", "The answer is {}.", "So the final answer is {}.", "Thus, it is {}."])
def test_an_uncommitted_answer_never_equals_a_single_gold(hedge, frame):
    match = CHECK.check(frame.format(hedge), "24")
    assert not match.equal, match


@pytest.mark.parametrize(
    ("text", "gold", "equal"),
    [
        ("either 2 or 3", "2", False),
        ("$\\{1, 2\\}$", "1", False),
        ("either 2 or 3", "2, 3", True),
        ("The roots are x = 3 or x = 2.", "2, 3", True),
        ("$\\{1, 2\\}$", "\\{2, 1\\}", True),
        ("24-30", "24, 30", False),  # a range is not a list of roots
        ("x = 2 or x = 4", "3, 2", False),
    ],
)
def test_several_values_equal_only_a_gold_with_the_same_values(text, gold, equal):
    assert CHECK.check(text, gold).equal is equal


@pytest.mark.parametrize(
    ("text", "gold", "equal"),
    [
        ("The answer is 0.5%", "50", False),
        ("The answer is 5000", "50%", False),
        ("The answer is 50", "50%", True),
        ("The answer is 0.5", "50%", True),
        ("The answer is 50%", "0.5", True),
        ("The answer is 50%", "50", True),  # a whole-number percentage, as GSM8K golds write it
        ("The answer is 4 4/9%", "40/9", False),  # a fractional percentage is only x/100
        ("The answer is 4 4/9%", "40/900", True),
        ("The answer is 2400", "24", False),
        ("The answer is 0.24", "24", False),
    ],
)
def test_scale_is_explicit_never_a_tolerance(text, gold, equal):
    assert CHECK.check(text, gold).equal is equal


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("The answer is 1 000", (Fraction(1000),)),
        ("The answer is $12\\,345$", (Fraction(12345),)),
        ("The answer is $14{,}916$.", (Fraction(14916),)),
        ("The answer is $11,\\! 111,\\! 100$", (Fraction(11111100),)),
        ("The answer is $1\\frac{1}{2}$", (Fraction(3, 2),)),
        ("The answer is 4 4/9.", (Fraction(40, 9),)),
        ("The answer is \\boxed{\\{3, 2\\}}", (Fraction(3), Fraction(2))),
    ],
)
def test_extraction_keeps_the_whole_number(text, values):
    assert extract_answer(text).values == values


@pytest.mark.parametrize(
    ("text", "segment"),
    [
        ("The answer is $y=3+2x$.", "$y=3+2x$"),
        ("Answer \\( (9+1) \\)", "\\( (9+1) \\)"),
        ("The answer is $2^{10}$.", "$2^{10}$"),
        ("The answer is $\\pm 1$.", "$\\pm 1$"),
    ],
)
def test_a_formula_is_never_decided_by_one_number_inside_it(text, segment):
    found = extract_answer(text)
    assert found.segment == segment and found.values is None


@pytest.mark.parametrize(
    ("text", "gold", "equal"),
    [
        ("The answer is $y=3+2x$.", "2", False),
        ("The answer is $y=3+2x$.", "y=2x+3", True),
        ("Answer \\( (9+1) \\)", "10", True),
        ("Answer \\( (9+1) \\)", "1", False),
        ("The answer is $2^{10}$.", "1024", True),
        ("The answer is $2^{10}$.", "10", False),
        ("The answer is $\\pm 1$.", "1", False),
        ("The answer is 11 7/6.", "73/6", False),  # not a mixed number: two numbers
    ],
)
def test_formulas_are_compared_whole(text, gold, equal):
    assert CHECK.check(text, gold).equal is equal


@pytest.mark.parametrize(
    ("text", "gold", "equal"),
    [
        ("The answer is (B) 12.", "B", True),
        ("The answer is (B) 12.", "(B)", True),
        ("The answer is (B) 12.", "12", True),
        ("The answer is (B) 12.", "C", False),
        ("The answer is B.", "B", True),
        ("There is no solution.", "\\text{no solution}", True),
        ("The answer is: no solution", "no solution", True),
        ("The answer is: no solution", "0", False),
    ],
)
def test_choices_and_words(text, gold, equal):
    assert CHECK.check(text, gold).equal is equal


def test_the_policy_is_a_parameter_of_correctness():
    with pytest.raises(ValueError, match="commit must be one of"):
        AnswerChecker(commit="loose")
    lenient = AnswerChecker(commit="lenient")
    assert lenient.check("24 or maybe 25", "24").equal
    assert not lenient.check("not 24", "24").equal  # a negation never counts
    assert not lenient.check("24 or maybe 25", "25").equal  # the first candidate is the answer

    closing = "</competition>"
    base = Path("tests/data/seed_example.txt").read_text(encoding="utf-8")
    text = base.rsplit(closing, 1)[0] + closing + "\nThe answer is 24 or maybe 25."
    strict = Scorer("pkv", stage="round1").score(text, answer="24").components["correctness"]
    loose = Scorer("pkv", stage="round1", params={"correctness": {"commit": "lenient"}}).score(text, answer="24")
    assert strict.value == 0.0 and "not committed" in strict.detail["reason"]
    assert loose.components["correctness"].value == 1.0


GOLDS = [10**5000, 2.5, float("nan"), float("inf"), None, ["24", "25"], [], b"24", bytearray(b"7"), {"a": 1}, object()]


@pytest.mark.parametrize("index", range(len(GOLDS)))
def test_gold_answers_of_any_type_never_raise(index):
    parsed = parse_gold(GOLDS[index])
    match = CHECK.compare(extract_answer("The answer is 24."), parsed)
    assert isinstance(match.equal, bool)
    if parsed.error:
        assert not match.equal and match.method == "error" and match.reason == parsed.error


TEXTS = [10**5000, 2.5, None, ["24"], b"The answer is 24", object(), "\udcff24"]


@pytest.mark.parametrize("index", range(len(TEXTS)))
def test_predictions_of_any_type_never_raise(index):
    assert isinstance(CHECK.check(TEXTS[index], "24").equal, bool)


def test_typed_golds_read_as_written():
    assert parse_gold(2.5).values == (Fraction(5, 2),)
    assert parse_gold(b"24").values == (Fraction(24),)
    assert parse_gold(["2", "3"]).values == (Fraction(2), Fraction(3))
    assert "cannot be read" in parse_gold(10**5000).error
    assert CHECK.check("The answer is 2.5", 2.5).equal


@pytest.mark.parametrize(
    ("text", "equal"),
    [
        ("Therefore the result is 30 - 6.", False),  # arithmetic left undone: the question restated
        ("Thus, it is 24 - 5.", False),
        ("So the final answer is 3 * 8.", False),
        ("So 96 / 4 = 24 hives.", True),
        ("We get 24 · 3 here", False),
        ("So 12 times 2 is 24.", True),  # a result word ends the chain: one value, 24
        ("1764 divided by 42 is 24.", True),
    ],
)
def test_a_number_inside_arithmetic_is_read_with_it(text, equal):
    assert CHECK.check(text, "24").equal is equal


@pytest.mark.parametrize("text", ["1000 - 457", "The answer is $1000-457$.", "So it is 1000 - 457.", "543 + 0"])
def test_unevaluated_arithmetic_is_not_an_answer_unless_lenient(text):
    """Restating 'What is 1000 - 457?' must not earn the reward; the lenient policy lets math-verify decide."""
    match = CHECK.check(text, "543")
    assert not match.equal and match.method == "unevaluated", match
    assert AnswerChecker(commit="lenient").check(text, "543").equal


@pytest.mark.parametrize(
    "unit", ["$", "\\boxed{", "1 ", "answer: ", "(", "9^", "1,", "x2 ", "7", "24 or ", "\\frac{1}{2}"]
)
def test_hostile_megabytes_are_read_from_the_tail_without_error(unit):
    text = unit * (1_000_000 // len(unit))
    found = extract_answer(text)
    assert len(found.segment) <= 4000  # only the tail is ever searched
    assert isinstance(CHECK.check(text, "24").equal, bool)


@pytest.mark.parametrize("text", ["0 0/0", "1 000 0/0", "\\frac{3}{0}", "The answer is 5/0."])
def test_a_zero_denominator_is_undefined_whatever_sympy_cached(text):
    """math-verify's verdict on '0/0' depended on what its worker judged before; refused up front instead."""
    match = CHECK.check(text, "0")
    assert not match.equal and match.method == "undefined", match
