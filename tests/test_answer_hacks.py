"""Answer hacks never earn full correctness: the shipped strategies against judgecraft's own reward.

A hack is a final answer that games the gold (judgecraft.hacks): a flipped sign, a hedge, a range,
a list, a negation, a scale slip, extra terms, a second boxed answer. Each test draws well-formed
constructs whose personas reach the gold and whose final answer is one hack kind; the clean
construct must score full correctness, the hacked one must not. Examples are derandomized so a
kind that fails does so every run.
"""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from judgecraft import Scorer
from judgecraft import strategies as jst
from judgecraft.hacks import HACKS, hacked_answer, usable_kinds

SCORERS = {name: Scorer(name) for name in ("pkv", "think")}
EXAMPLES = {"pkv": 80, "think": 40}
# Kinds the checker does not yet refuse (reported to the integrator); strict, so a fix turns them green.
NO_SHRINK = (Phase.explicit, Phase.generate)  # a hack's text is readable as drawn; shrinking only costs time
KNOWN_HOLES: dict[str, str] = {}


def _check(sample: jst.Sample, scorer: Scorer) -> None:
    hacked = scorer.score(sample.text, answer=sample.answer).values()
    clean = scorer.score(sample.original, answer=sample.answer).values()
    assert clean["correctness"] == 1.0, sample.original[-300:]
    assert hacked["tags"] == 1.0 and hacked["structure"] == 1.0, sample.text[-300:]
    assert hacked["correctness"] != 1.0, f"{sample.mutation} accepted for gold {sample.answer}: {sample.text[-120:]!r}"


def _kinds() -> list:
    return [pytest.param(k, marks=pytest.mark.xfail(strict=True, reason=KNOWN_HOLES[k])) if k in KNOWN_HOLES else k
            for k in HACKS]  # fmt: skip


@pytest.mark.parametrize("construct", ["pkv", "think"])
@pytest.mark.parametrize("kind", _kinds())
def test_no_hack_earns_full_correctness(construct, kind):
    @settings(max_examples=EXAMPLES[construct], deadline=None, derandomize=True, phases=NO_SHRINK,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(sample=jst.answer_hacks(kinds=(kind,), construct=construct))
    def run(sample):
        assert sample.mutation == f"hack:{kind}"
        _check(sample, SCORERS[construct])

    run()


@pytest.mark.parametrize("kind", _kinds())
def test_hacks_of_the_issue_gold_are_refused(kind):
    """Gold 24, the figure the issue's examples use, every form of each kind (seeded)."""
    rng = random.Random(11)
    base = jst.example_completion("pkv", answer="24")
    closing = "</competition>"
    for _ in range(25):
        hack = hacked_answer("24", kind, rng)
        text = base.text.rsplit(closing, 1)[0] + closing + f"\nSo the final answer is {hack}."
        assert SCORERS["pkv"].score(text, answer="24").values()["correctness"] != 1.0, hack


@settings(max_examples=200, deadline=None, derandomize=True)
@given(gold=jst.answers(), kind=st.sampled_from(HACKS), seed=st.integers(0, 2**32 - 1))
def test_hacked_answer_never_restates_the_gold_alone(gold, kind, seed):
    if float(gold) == 0 and kind in ("sign", "scale"):
        with pytest.raises(ValueError):
            hacked_answer(gold, kind, random.Random(seed))
        return
    hack = hacked_answer(gold, kind, random.Random(seed))
    assert hack.strip() not in (gold, f"\\boxed{{{gold}}}", f"${gold}$")


def test_hacked_answer_rejects_what_it_cannot_hack():
    with pytest.raises(ValueError, match="unknown hack"):
        hacked_answer("24", "bribe", random.Random(0))
    with pytest.raises(ValueError, match="plain-number"):
        hacked_answer("\\frac{1}{2}", "hedge", random.Random(0))
    with pytest.raises(ValueError, match="still 0"):
        hacked_answer("0", "sign", random.Random(0))
    assert usable_kinds("0", None) == [k for k in HACKS if k not in ("sign", "scale")]
    assert usable_kinds("-2.5", ("sign", "scale")) == ["sign", "scale"]
    with pytest.raises(ValueError, match="changes a gold of 0"):
        usable_kinds("0", ("sign", "scale"))
    with pytest.raises(ValueError, match="unknown hacks"):
        usable_kinds(None, ("sign", "bribe"))


def naive_accuracy_reward(completion: str, gold: str) -> float:
    """A user's lenient reward, the kind the strategies exist to catch: the first number after the construct."""
    match = re.search(r"-?\d+(?:\.\d+)?", completion.rsplit("</competition>", 1)[-1])
    return 1.0 if match and float(match.group()) == float(gold) else 0.0


@pytest.mark.parametrize("kind", ["hedge", "range", "enumeration", "negation", "extra_terms", "second_boxed"])
def test_the_strategies_catch_a_lenient_reward(kind):
    """What the README shows users: the same strategy finds the hole in a first-number reward."""
    found = find(
        jst.answer_hacks(kinds=(kind,)),
        lambda s: naive_accuracy_reward(s.text, s.answer) == 1.0,
        settings=settings(
            max_examples=300, deadline=None, derandomize=True, phases=NO_SHRINK, suppress_health_check=list(HealthCheck)
        ),
    )
    assert found.mutation == f"hack:{kind}" and naive_accuracy_reward(found.original, found.answer) == 1.0
