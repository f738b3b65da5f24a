"""Bounded cost and no exceptions: hostile sizes grow linearly, long tags cannot hide, any input type scores.

Linearity is shown by counts where the work can be counted (fuzzy comparisons in coherence) and
otherwise by a generous bound on the growth of CPU time (10x the input must cost under 30x the
time, medians of process_time), never by an absolute time.
"""

from __future__ import annotations

import math
import statistics
import time
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from judgecraft import Scorer
from judgecraft.construct import load_construct
from judgecraft.parse import MAX_TREE_TAGS, parse, scan_tags
from judgecraft.scores import COMPONENTS, coherence
from judgecraft.strategies import example_completion

PKV = load_construct("pkv")
GOOD = example_completion("pkv", answer="24").text


def cpu_growth(fn, small, large, repeats: int = 3) -> float:
    """Median CPU time of fn(large) over median of fn(small)."""

    def median(arg):
        times = []
        for _ in range(repeats):
            start = time.process_time()
            fn(arg)
            times.append(time.process_time() - start)
        return statistics.median(times)

    return median(large) / max(median(small), 1e-4)


def _voice_stems(n: int) -> str:
    words = " ".join(f"arr{i}" for i in range(n))
    return (
        f"<competition>\n<pirate>\n{words}\n</pirate>\n<knight>hark</knight>\n<viking>odin</viking>\n</competition>\n24"
    )


@pytest.mark.parametrize(
    ("name", "make", "small"),
    [
        ("lt then white space", lambda n: "<" + " \n" * n, 20_000),
        ("voice-stem words", _voice_stems, 5_000),
        ("nested tags", lambda n: "<competition><pirate><knight>" * n, 2_000),
        ("huge tag", lambda n: "<pirate " + "a=1 " * n + ">", 20_000),
    ],
)
def test_hostile_families_grow_linearly(name, make, small):
    scorer = Scorer("pkv", stage="round3")
    scorer.score(make(10))  # warm-up: compiled patterns, caches
    growth = cpu_growth(lambda n: scorer.score(make(n), answer="24"), small, small * 10)
    assert growth < 30, f"{name}: 10x the input cost {growth:.1f}x the time"


def test_tag_scan_is_linear_on_a_run_of_white_space():
    growth = cpu_growth(lambda n: scan_tags("<" + " " * n + "\n" * n, PKV), 20_000, 200_000)
    assert growth < 30


def test_coherence_compares_a_bounded_number_of_bounded_steps(monkeypatch):
    """Many long distinct steps: at most limit^2/2 comparisons, each of at most 2 x step_sketch_chars characters."""
    seen = []
    real_ratio = coherence.fuzz.ratio

    class Counting:
        @staticmethod
        def ratio(a, b, **kwargs):
            seen.append((len(a), len(b)))
            return real_ratio(a, b, **kwargs)

    monkeypatch.setattr(coherence, "fuzz", Counting)
    steps = [f"{i}. " + " ".join(f"w{i}x{j}" for j in range(400)) for i in range(1, 301)]
    share = coherence.repeated_step_share(steps, threshold=90.0, limit=200, chars=400)
    assert share == 0.0
    assert 0 < len(seen) <= 200 * 199 // 2
    assert max(max(pair) for pair in seen) <= 800
    assert coherence.repeated_step_share(["1. same step here", "2. other", "1. same step here"], 90.0, 200) == 1 / 3


def test_a_tag_with_long_attributes_is_still_a_leak():
    for attributes in (300, 5_000):
        text = GOOD + " <pirate " + "x" * attributes + "> more"
        bd = Scorer("pkv", stage="round3").score(text, answer="24")
        assert bd.components["correctness"].value == -1.0, attributes
        assert "pirate" in parse(text, PKV).leaked


def test_tags_past_the_tree_cap_are_counted_and_leaks_found():
    text = GOOD + "<knight></knight>" * MAX_TREE_TAGS
    parsed = parse(text, PKV)
    assert parsed.cut["tags"] > 0
    assert parsed.duplicates["knight"] >= MAX_TREE_TAGS
    assert "knight" in parsed.leaked


def test_the_final_answer_is_found_past_the_tree_cap():
    many = "<pirate></pirate>" * MAX_TREE_TAGS
    clean = parse("<competition>" + many + "</competition>\nThe answer is 24.", PKV)
    assert clean.cut["tags"] > 0 and clean.final_answer == "The answer is 24." and clean.leaked == []
    leaky = parse("<competition>" + many + "</competition>\n24 <knight>", PKV)
    assert leaky.final_answer == "24 <knight>" and leaky.leaked == ["knight"]


def test_max_section_chars_bounds_the_text_scored_and_says_what_was_cut():
    long = GOOD.replace("<pirate>", "<pirate>" + "arr we count the hives. " * 1_000, 1)
    bd = Scorer("pkv", stage="round3", max_section_chars=2_000).score(long, answer="24")
    assert bd.cut["pirate"] == len(parse(long, PKV).section_text("pirate")) - 2_000
    assert bd.components["length"].detail["cut"] == bd.cut
    parsed = parse(long, PKV, max_section_chars=2_000)
    assert len(parsed.section_text("pirate")) == 2_001  # both halves and the new line between them
    assert Scorer("pkv", max_section_chars=None).score(long, answer="24").cut == {}
    with pytest.raises(ValueError):
        Scorer("pkv", max_section_chars=1)


def test_stage_only_scoring_computes_the_weighted_components_and_the_same_total():
    full = Scorer("pkv", stage="round3")
    stage = Scorer("pkv", stage="round3", components="weighted")
    assert set(stage.components) == {n for n, w in full.weights.items() if w}
    assert set(stage.components) < set(full.components)
    for text in (GOOD, GOOD.replace("</knight>", ""), "no construct, the answer is 24"):
        a, b = full.score(text, answer="24"), stage.score(text, answer="24")
        assert a.total == b.total
        assert set(b.components) == set(stage.components)
    on_request = stage.score(GOOD, answer="24", components="all")
    assert set(on_request.components) == set(full.components)
    assert set(stage.score(GOOD, components=["consistency"]).components) == {"consistency"}
    with pytest.raises(ValueError):
        Scorer("pkv", components="some")


ANY = st.deferred(
    lambda: st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.just(10**5000),
        st.floats(allow_nan=True, allow_infinity=True),
        st.decimals(allow_nan=True),
        st.fractions(),
        st.text(),
        st.binary(),
        st.lists(st.one_of(st.text(), st.dictionaries(st.text(), st.text())), max_size=3),
        st.dictionaries(st.text(), st.one_of(st.text(), st.integers()), max_size=3),
        st.tuples(st.integers(), st.text()),
        st.just(object()),
        st.just(Decimal("NaN")),
        st.just(Fraction(10**400, 3)),
        st.sampled_from(("24", GOOD, "<" + " " * 3000, "\ud800")),
    )
)
SCORERS = {"pkv": Scorer("pkv", stage="round3", use_math_verify=False), "think": Scorer("think", use_math_verify=False)}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(SCORERS)), ANY, ANY, ANY, ANY)
def test_score_never_raises_whatever_the_types(construct, completion, answer, prompt, prefill):
    scorer = SCORERS[construct]
    bd = scorer.score(completion, answer=answer, prompt=prompt, prefill=prefill if prefill is not None else None)
    assert math.isfinite(bd.total)
    for name, component in bd.components.items():
        if component.value is not None:
            assert COMPONENTS[name].low <= component.value <= COMPONENTS[name].high
    if not isinstance(completion, str):
        assert bd.errors and bd.errors[0].startswith("input:")
        assert all(c.value == COMPONENTS[n].low for n, c in bd.components.items())


def test_unreadable_answers_and_prompts_give_the_floor_and_a_reason():
    scorer = Scorer("pkv", stage="round3", use_math_verify=False)
    floor = sum(w * COMPONENTS[n].low for n, w in scorer.active.items())
    for kwargs in ({"answer": 10**5000}, {"prompt": 5}, {"answer": float("nan")}, {"answer": {"a": 1}}):
        bd = scorer.score(GOOD, **kwargs)
        assert bd.total == floor and bd.errors, kwargs
    assert scorer.score(GOOD, answer=24).total == scorer.score(GOOD, answer="24").total
    assert scorer.score(GOOD, answer=b"24").total == scorer.score(GOOD, answer="24").total


@pytest.mark.parametrize(
    ("name", "make", "small"),
    [
        # "\s*\$?\s*" and "\s*[{(]?\s*" split a run of white space every way before failing: quadratic
        # answers are read in the last 4,000 characters: 300 -> 3,000
        ("boxed answer then spaces", lambda n: "The answer is \\boxed{12}" + " " * n + "x", 300),
        ("power then spaces", lambda n: "\\boxed{9^" + " " * n + "x}", 3_000),
        ("degree then spaces", lambda n: "\\boxed{30^" + " " * n + "x}", 3_000),
        # found by the soak: "\s*(?:I hope it is correct)\s*$" tried from every character of a run
        ("number words across newlines", lambda n: "Sam is twenty-" + "\n" * n + "two", 300),
    ],
)
def test_optional_tokens_between_runs_of_white_space_stay_linear(name, make, small):
    from judgecraft.bombs import refuse_reason
    from judgecraft.extraction import extract_answer
    from judgecraft.spans import clean

    def work(n):
        text = make(n)
        extract_answer(text)
        refuse_reason(text)
        clean(text)

    assert cpu_growth(work, small, small * 10) < 30, name


def test_arithmetic_left_undone_is_recognised_in_linear_time():
    """Found by the soak: '7 * 6 * ... *' (no final number) made the unevaluated-arithmetic check try 4^n splits."""
    from judgecraft.answer import AnswerChecker

    checker = AnswerChecker(use_math_verify=False)

    def work(n):
        for i in range(20):  # a new gold each time: no verdict comes from the cache
            checker.check("7 * 6 * " * n + "*", f"0.{i}{n}")

    assert cpu_growth(work, 2, 4) < 30  # before the fix: thousands of times the work
    assert checker.check("1000 - 457", "543").method == "unevaluated"  # still refused: the question restated


def test_a_long_run_of_digits_in_a_list_span_is_read_in_linear_time():
    """Found by the soak: list and mixed-number patterns retried a run of digits from each of its digits."""
    from judgecraft.spans import read_span

    def work(n):
        read_span("\\sum_{n=1}^{" + "9" * n + "^{12}} n^{n}, \\sum_{n=1}^{10^{12}} n^{n}", latex=True)

    assert cpu_growth(work, 150, 1_500) < 30
