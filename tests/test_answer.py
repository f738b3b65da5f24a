"""Answer extraction and equivalence: fast exact path, math-verify in a bounded worker, hostile answers."""

from __future__ import annotations

import asyncio
import threading
import time
from fractions import Fraction

import pytest

from judgecraft import AnswerChecker, extract_answer, parse_gold

CHECK = AnswerChecker(timeout=5.0)


@pytest.mark.parametrize(
    ("text", "how", "value"),
    [
        ("so the total is \\boxed{42}. Later I mention 7.", "boxed", Fraction(42)),
        ("The final answer is 3/4 of the pie.", "phrase", Fraction(3, 4)),
        ("the pirate wins with their answer of 24 hives needed to make 96 candles.", "phrase", Fraction(24)),
        ("Thus, twenty-four hives are needed to produce ninety-six candles.", "conclusion", Fraction(24)),
        ("So we multiply three by eight, which gives us twenty-four hives. That's all!", "conclusion", Fraction(24)),
        ("We computed 12 and then... *drum roll*...24 hives!", "last_number", Fraction(24)),
        ("Answer: $1,234.50", "phrase", Fraction(246_900, 200)),
        ("The answer is 50%.", "phrase", Fraction(50)),
        ("The answer is \\frac{3}{4}.", "phrase", Fraction(3, 4)),
        ("It came to -2.5e3 units in the end", "last_number", Fraction(-2500)),
    ],
)
def test_extraction(text, how, value):
    got = extract_answer(text)
    assert got.how == how and got.values == (value,)


def test_extraction_of_sets_and_nothing():
    assert extract_answer("The answer is x = 3 or x = 2.").values == (Fraction(3), Fraction(2))
    assert extract_answer("So the roots are: \\boxed{2, 3}").values == (Fraction(2), Fraction(3))
    assert not extract_answer("").found and not extract_answer("   ").found
    assert extract_answer("The answer is \\boxed{\\frac{\\pi}{2}}").values is None  # symbolic: slow path


@pytest.mark.parametrize(
    ("text", "gold", "equal", "method"),
    [
        ("The answer is 24 hives.", "24", True, "numeric"),
        ("The answer is 24.0", "24", True, "numeric"),
        ("The answer is 0.75", "\\frac{3}{4}", True, "numeric"),
        ("The answer is 3/4", "0.75", True, "numeric"),
        ("That is 1,200 dollars in total, so the answer is $1,200.", "1200", True, "numeric"),
        ("The answer is 50%", "0.5", True, "numeric"),
        ("The answer is 0.5", "50%", True, "numeric"),
        ("The answer is 25", "24", False, "numeric"),
        ("x = 2 or x = 3", "3, 2", True, "numeric"),
        ("x = 2 or x = 4", "3, 2", False, "numeric"),
        ("the reasoning here\n#### 72", "#### 72", True, "numeric"),
        ("The answer is \\boxed{\\frac{\\sqrt{2}}{2}}", "\\frac{1}{\\sqrt{2}}", True, "math-verify"),
        ("The answer is \\boxed{2x+2}", "2(x+1)", True, "math-verify"),
        ("The answer is \\boxed{(1, 3]}", "(1,3]", True, "string"),
        ("The answer is \\boxed{\\pi/3}", "\\frac{\\pi}{2}", False, "math-verify"),
        ("no idea", "24", False, "numeric"),
        ("", "24", False, "no-answer"),
    ],
)
def test_equivalence(text, gold, equal, method):
    match = CHECK.check(text, gold)
    assert (match.equal, match.method) == (equal, method), match


def test_gold_is_parsed_once_and_understands_datasets():
    parse_gold.cache_clear()
    for _ in range(5):
        parse_gold("#### 1,024")
    assert parse_gold.cache_info().misses == 1
    assert parse_gold("#### 1,024").values == (Fraction(1024),)
    assert parse_gold("so the result is $\\boxed{\\frac{1}{2}}$.").values == (Fraction(1, 2),)
    assert parse_gold("24 hives").values == (Fraction(24),)
    assert parse_gold("x^2 + 1").values is None


@pytest.mark.parametrize(
    "hostile",
    [
        "The answer is \\boxed{9^{9^{9^{9}}}}",
        "The answer is \\boxed{9**9**9**9}",
        "The answer is \\boxed{__import__('os').system('touch /tmp/judgecraft-pwned')}",
        "The answer is \\boxed{(lambda: 1)()}",
        "The answer is \\boxed{100000!}",
    ],
)
def test_hostile_answers_are_refused_not_run(hostile, tmp_path):
    start = time.perf_counter()
    match = CHECK.check(hostile, "x^2+1")
    assert not match.equal and match.method == "refused"
    assert time.perf_counter() - start < 1.0


def test_a_slow_comparison_is_killed_after_the_timeout():
    checker = AnswerChecker(timeout=1.0)
    # A large symbolic expansion that passes the bomb filter but takes sympy far longer than a second.
    slow = "The answer is \\boxed{(x+1)^{300}(y+2)^{300}(z+3)^{200}}"
    start = time.perf_counter()
    match = checker.check(slow, "(x+1)^{301}(y+2)^{300}(z+3)^{200}")
    elapsed = time.perf_counter() - start
    assert not match.equal
    assert elapsed < 30  # bounded: the worker is killed, nothing hangs
    if match.method == "timeout":
        assert "killed" in match.reason
    # the pool recovers: the next slow-path check still works (a generous timeout: the machine may be busy)
    assert AnswerChecker(timeout=30.0).check("The answer is \\boxed{2x+2}", "2(x+1)").equal


def test_slow_path_works_from_threads_and_async_code():
    results = []

    def in_thread():
        results.append(CHECK.check("The answer is \\boxed{\\frac{\\sqrt{2}}{2}}", "\\frac{1}{\\sqrt{2}}").equal)

    threads = [threading.Thread(target=in_thread) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    async def in_async():
        return await asyncio.to_thread(CHECK.check, "The answer is \\boxed{2x+2}", "2(x+1)")

    assert results == [True, True, True]
    assert asyncio.run(in_async()).equal


def test_plain_numbers_never_touch_the_worker():
    checker = AnswerChecker(timeout=0.000001)  # a worker call would time out at once
    assert checker.check("The answer is 1,024", "1024").equal
    assert checker.check("The answer is 0.25", "25%").equal


def test_the_worker_never_reimports_the_users_script(tmp_path):
    """A training script without a __main__ guard must not run again inside the answer worker."""
    import subprocess
    import sys

    marker = tmp_path / "runs.txt"
    script = tmp_path / "train.py"
    script.write_text(
        "from judgecraft import AnswerChecker\n"
        f"open({str(marker)!r}, 'a').write('run\\n')\n"
        "print(AnswerChecker().check('The answer is \\\\boxed{2(x+1)}', '2x+2').method)\n",
        encoding="utf-8",
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "math-verify", out.stderr
    assert marker.read_text().count("run") == 1


def test_the_worker_is_killed_on_timeout_and_restarted():
    from judgecraft.answer import _worker

    checker = AnswerChecker(timeout=5.0)
    assert checker.check("The answer is \\boxed{2x+2}", "2(x+1)").equal
    first = _worker.pid
    slow = AnswerChecker(timeout=0.05).check("The answer is \\boxed{(x+1)^{200}(y+1)^{200}}", "(x+1)^{201}(y+1)^{200}")
    assert slow.method in ("timeout", "math-verify") and not slow.equal
    if slow.method == "timeout":
        assert _worker.pid is None  # killed
    # a new pair (verdicts are cached per (gold, span)), so the worker is really asked again
    assert checker.check("The answer is \\boxed{3x+3}", "3(x+1)").equal
    assert _worker.pid is not None and (slow.method != "timeout" or _worker.pid != first)
