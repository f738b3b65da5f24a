"""judgecraft.strategies: generated constructs are what they claim to be, for any construct spec."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from judgecraft import Scorer, load_construct
from judgecraft import strategies as jst
from judgecraft.io import Record
from judgecraft.offline import score_record
from judgecraft.parse import parse
from judgecraft.rewards import compute_score, trl_rewards
from judgecraft.scores import COMPONENTS

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
USER_CONSTRUCTS = ROOT / "tests" / "data" / "constructs"
PSC, FOUR = str(USER_CONSTRUCTS / "psc.toml"), str(USER_CONSTRUCTS / "four.toml")
CONSTRUCTS = ["pkv", "think", PSC, FOUR]  # the built-ins and two users' own specs
SCORERS = {spec: Scorer(spec) for spec in CONSTRUCTS}


@pytest.mark.parametrize("spec", CONSTRUCTS)
def test_example_completion_is_well_formed_for_every_construct(spec):
    sample = jst.example_completion(spec, answer="42")
    values = SCORERS[spec].score(sample.text, answer="42").values()
    assert values["tags"] == 1.0 and values["structure"] == 1.0 and values["correctness"] == 1.0


@pytest.mark.parametrize("spec", CONSTRUCTS)
@SETTINGS
@given(data=st.data())
def test_valid_constructs_score_full_format_and_parse_back(spec, data):
    sample = data.draw(jst.valid(spec))
    values = SCORERS[spec].score(sample.text, answer=sample.answer).values()
    assert values["tags"] == 1.0 and values["structure"] == 1.0, sample.text
    assert values["correctness"] == 1.0, sample.text
    if values.get("winner") is not None:
        assert values["winner"] == 1.0 and sample.winner in sample.construct.personas
    parsed = parse(sample.text, sample.construct)
    for tag, content in sample.contents.items():
        if not sample.construct.children(tag):
            assert parsed.section_text(tag).strip() == content.strip()


def check_mutation(sample: jst.Sample, scorer: Scorer) -> None:
    """What each mutation must cost, read off the parse and the scores."""
    values = scorer.score(sample.text, answer=sample.answer).values()
    before = scorer.score(sample.original, answer=sample.answer).values()
    parsed = parse(sample.text, sample.construct)
    kind, tag = sample.kind, sample.target
    assert before["tags"] == 1.0 and before["structure"] == 1.0
    if kind in ("drop", "rename"):
        assert tag in parsed.missing and values["tags"] < 1.0 and values["structure"] == 0.0
    elif kind == "duplicate":
        assert parsed.duplicates.get(tag, 0) >= 1 and values["tags"] < 1.0 and values["structure"] <= 0.5
    elif kind == "reorder":
        assert parsed.out_of_order and values["structure"] == 0.0 and values["tags"] < 1.0
    elif kind == "case":
        assert "case" in parsed.variants and values["structure"] == 0.5 and values["tags"] == 1.0
    elif kind == "leak":
        assert tag in parsed.leaked and values["correctness"] == -1.0 and values["structure"] < 1.0
    elif kind == "copy":
        assert values["originality"] <= before["originality"]
    else:
        raise AssertionError(f"unknown mutation {sample.mutation}")


@pytest.mark.parametrize("spec", CONSTRUCTS)
@pytest.mark.parametrize("kind", jst.MUTATIONS)
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_each_mutation_costs_what_it_should(spec, kind, data):
    if kind not in jst.mutations_for(spec):
        with pytest.raises(ValueError):
            data.draw(jst.mutated(spec, kinds=(kind,)))
        return
    sample = data.draw(jst.mutated(spec, kinds=(kind,)))
    assert sample.kind == kind and sample.text != sample.original
    check_mutation(sample, SCORERS[spec])


def test_mutations_that_need_structure_are_offered_only_where_they_apply():
    assert jst.mutations_for("pkv") == list(jst.MUTATIONS)
    assert "reorder" not in jst.mutations_for("think") and "copy" not in jst.mutations_for("think")
    assert "reorder" in jst.mutations_for(PSC) and "copy" not in jst.mutations_for(PSC)
    assert "copy" in jst.mutations_for(FOUR)


def test_copying_a_persona_lowers_originality():
    sample = jst.example_completion("pkv")
    copied = sample.text.replace(sample.contents["knight"], sample.contents["pirate"].replace("pirate", "knight"))
    scorer = Scorer("pkv")
    assert scorer.score(copied).values()["originality"] < scorer.score(sample.text).values()["originality"]


def _in_range(bd) -> None:
    assert isinstance(bd.total, float) and math.isfinite(bd.total)
    for name, comp in bd.components.items():
        assert comp.value is None or COMPONENTS[name].low <= comp.value <= COMPONENTS[name].high, (name, comp.value)


ADVERSARIAL_SCORERS = [
    Scorer("pkv", stage="round3", answer_timeout=2.0),
    Scorer("think", stage="full", answer_timeout=2),
]
REWARDS, _ = trl_rewards("pkv", stage="round3", answer_timeout=2.0)


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(jst.adversarial("pkv"), jst.adversarial("think")))
def test_adversarial_text_never_breaks_the_scorer_rewards_or_a_dump_row(text):
    for scorer in ADVERSARIAL_SCORERS:
        _in_range(scorer.score(text, answer="24"))
    for reward in REWARDS:
        out = reward(prompts=[None], completions=[text], answer=["24"])
        assert len(out) == 1 and (out[0] is None or math.isfinite(out[0]))
    verl = compute_score("x", text, "24", {"prompt": text[:100]})
    assert math.isfinite(verl["score"])
    row, _ = score_record(ADVERSARIAL_SCORERS[0], Record(0, "a", completion=text, answer="24"))
    assert row["total"] is not None


# The README's example: property tests of a user's own reward, driven by judgecraft's strategies.


def my_format_reward(completions: list[str]) -> list[float]:
    """A user's naive format reward: 1.0 when the three persona tags each appear once, opened and closed."""
    out = []
    for text in completions:
        ok = all(text.count(f"<{p}>") == 1 and text.count(f"</{p}>") == 1 for p in ("pirate", "knight", "viking"))
        out.append(1.0 if ok else 0.0)
    return out


@SETTINGS
@given(jst.valid("pkv"))
def test_users_reward_accepts_every_well_formed_construct(sample):
    assert my_format_reward([sample.text]) == [1.0]


@SETTINGS
@given(jst.mutated("pkv", kinds=("drop", "duplicate", "rename")))
def test_users_reward_never_prefers_a_broken_persona_tag(sample):
    assert my_format_reward([sample.text])[0] <= my_format_reward([sample.original])[0]


@SETTINGS
@given(jst.adversarial("pkv"))
def test_users_reward_survives_adversarial_text(text):
    assert my_format_reward([text])[0] in (0.0, 1.0)


def test_strategies_accept_a_construct_object():
    c = load_construct(FOUR)
    sample = jst.example_completion(c)
    assert sample.construct is c and "<ninja>" in sample.text


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(jst.adversarial("pkv"))
def _collect_adversarial(text):
    ADVERSARIAL_SEEN.append(text)


ADVERSARIAL_SEEN: list[str] = []


def test_adversarial_covers_the_named_threats():
    ADVERSARIAL_SEEN.clear()
    _collect_adversarial()
    joined = "\n".join(ADVERSARIAL_SEEN)
    for marker in ("<!DOCTYPE", "__import__", "\\boxed{", "&", "<"):
        assert marker in joined, marker
    assert any(len(t) > 5_000 for t in ADVERSARIAL_SEEN)  # huge tags or deep nesting
    assert any("\ud800" in t or "\udfff" in t for t in ADVERSARIAL_SEEN)  # lone surrogates
