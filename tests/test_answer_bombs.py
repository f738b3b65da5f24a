"""Bombs are refused before sympy with a reason; a completion's answer checks share one time budget."""

from __future__ import annotations

import time

import pytest

from judgecraft import AnswerChecker, Scorer
from judgecraft.answer import _worker
from judgecraft.bombs import refuse_reason

BOMBS = [
    "(2)^{3^{99}}",
    "\\left(9^{9}\\right)^{9^{9}}",
    "(9)**(9)**(9)**(9)",
    "9^{9^{9^{9}}}",
    "2^{1000000}",
    "100000!",
    "(10^{8})!",
    "\\binom{10^{8}}{5\\cdot10^{7}}",
    "\\sum_{k=1}^{10^{9}} k",
    "(" * 40 + "1" + ")" * 40,
    "x+" * 600 + "1",
    "__import__('os').system('true')",
]
SAFE = ["e^{x^2}", "2^{2009}", "(n+1)!", "10!", "\\binom{10}{3}", "\\sum_{k=1}^{100} k", "3\\times 10^{8}", "x^2+1"]


@pytest.mark.parametrize("bomb", BOMBS)
def test_bombs_are_refused_with_a_reason(bomb):
    assert refuse_reason(bomb).startswith("refused: ")
    match = AnswerChecker(timeout=5.0).check(f"The answer is $\\boxed{{{bomb}}}$", "x^2+1")
    assert not match.equal and match.method == "refused" and match.reason.startswith("refused: ")


@pytest.mark.parametrize("safe", SAFE)
def test_ordinary_powers_factorials_and_sums_pass(safe):
    assert refuse_reason(safe) == ""


def test_five_bombs_in_one_completion_cost_at_most_one_timeout():
    """The issue's 275-character completion: a bomb in each persona and in the final answer."""
    timeout = 2.0
    scorer = Scorer("pkv", stage="round3", answer_timeout=timeout)
    bombs = ["(2)^{3^{99}}", "\\left(9^{9}\\right)^{9^{9}}", "(9)**(9)**(9)**(9)", "\\binom{10^{8}}{5\\cdot10^{7}}"]
    text = (
        f"<competition>\n<pirate>Arr, it be $\\boxed{{{bombs[0]}}}$.</pirate>\n"
        f"<knight>Hark, $\\boxed{{{bombs[1]}}}$.</knight>\n<viking>By Odin, $\\boxed{{{bombs[2]}}}$.</viking>\n"
        "<result>\nThe knight.\n<winner>knight</winner>\n</result>\n</competition>\n"
        f"The answer is $\\boxed{{{bombs[3]}}}$."
    )
    scorer.score("warm-up \\boxed{2x+2}", answer="2(x+1)")  # the worker's start-up is not what is measured
    start = time.perf_counter()
    bd = scorer.score(text, answer="x^2+1")
    elapsed = time.perf_counter() - start
    assert elapsed <= timeout + 1.0, elapsed  # the bound issue 11 sets
    assert bd.values()["correctness"] == 0.0
    assert bd.components["correctness"].detail["method"] == "refused"
    personas = bd.components["judge_accuracy"].detail["personas"]
    assert all(not p["correct"] for p in personas.values())


def test_slow_checks_share_one_budget_per_completion():
    """Expressions that pass the bomb filter but are slow for sympy: the second one finds the budget spent."""
    timeout = 1.0
    checker = AnswerChecker(timeout=timeout)
    checker.check("The answer is \\boxed{3x+3}", "3(x+1)")  # start the worker outside the budget
    budget = checker.budget()
    from judgecraft import extract_answer, parse_gold

    gold = parse_gold("(x+1)^{301}(y+2)^{300}(z+3)^{200}")
    slow = [f"\\boxed{{(x+1)^{{300}}(y+2)^{{{300 + i}}}(z+3)^{{200}}}}" for i in range(5)]
    start = time.perf_counter()
    matches = [checker.compare(extract_answer(s), gold, budget=budget) for s in slow]
    elapsed = time.perf_counter() - start
    assert not any(m.equal for m in matches)
    assert elapsed <= timeout + 1.0, elapsed
    if matches[0].method == "timeout":  # on a fast machine sympy may finish: then nothing was cut
        assert all(m.method == "timeout" for m in matches[1:])
        assert "budget" in matches[-1].reason


def test_a_repeated_answer_is_decided_once():
    """A GRPO group repeats answers: the verdict for (gold, span) is cached, the worker asked once."""
    checker = AnswerChecker(timeout=10.0)
    first = checker.check("The answer is \\boxed{\\frac{\\sqrt{3}}{3}}", "\\frac{1}{\\sqrt{3}}")
    assert first.equal and first.method == "math-verify"
    _worker.stop()  # no worker now, and a call would have no time at all
    checker.timeout = 0.0
    again = checker.check("So the answer is $\\boxed{\\frac{\\sqrt{3}}{3}}$.", "\\frac{1}{\\sqrt{3}}")
    assert again.equal and again.method == "math-verify"
    assert _worker.pid is None
    other = checker.check("The answer is \\boxed{\\frac{\\sqrt{5}}{5}}", "\\frac{1}{\\sqrt{3}}")
    assert not other.equal and other.method == "timeout"  # a new pair needs the worker, and has no time
