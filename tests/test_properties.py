"""Properties that must hold for any text: ranges, no exceptions, monotone penalties, copying costs."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from judgecraft import Scorer, load_construct
from judgecraft.scores import COMPONENTS

PKV = load_construct("pkv")
SCORERS = [Scorer("pkv", stage="round3", answer_timeout=2.0), Scorer("think", stage="full", answer_timeout=2.0)]
TAGS = [f"<{t}>" for t in PKV.tag_names] + [f"</{t}>" for t in PKV.tag_names] + ["<think>", "</think>"]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

words = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
tag_soup = st.lists(
    st.one_of(st.sampled_from(TAGS), words, st.sampled_from(["<", "&", ">", "\n", "wait, "])), max_size=40
)
VOCABULARY = ["the", "a", "hive", "candle", "count", "divide", "four", "six", "twelve", "so", "then", "total", "ninety"]
sentence = st.lists(st.sampled_from(VOCABULARY), min_size=4, max_size=12).map(" ".join)
persona_text = st.lists(sentence, min_size=2, max_size=6).map(". ".join)


def assert_in_range(scorer: Scorer, text: object, answer: str | None = "24") -> None:
    bd = scorer.score(text, answer=answer)
    for name, comp in bd.components.items():
        spec = COMPONENTS[name]
        assert comp.value is None or spec.low <= comp.value <= spec.high, (name, comp.value)
    assert isinstance(bd.total, float)


@SETTINGS
@given(st.text(max_size=400))
def test_any_text_stays_in_range(text):
    for scorer in SCORERS:
        assert_in_range(scorer, text)


@SETTINGS
@given(tag_soup)
def test_tag_soup_stays_in_range(pieces):
    text = "".join(pieces)
    for scorer in SCORERS:
        assert_in_range(scorer, text)
        assert_in_range(scorer, text, answer=None)


def test_non_text_inputs_get_floor_scores_and_a_reason():
    for bad in (None, 42, b"<competition>", ["a"]):
        bd = SCORERS[0].score(bad, answer="24")
        assert bd.errors and "not text" in bd.errors[0]
        assert bd.values()["tags"] == 0.0


def valid_construct(pirate: str, knight: str, viking: str, winner: str) -> str:
    return (
        f"<competition>\n<pirate>\n{pirate}\n</pirate>\n<knight>\n{knight}\n</knight>\n<viking>\n{viking}\n</viking>\n"
        f"<result>\nanalysis\n<winner>{winner}</winner>\n</result>\n</competition>\nThe answer is 24."
    )


constructs = st.builds(valid_construct, persona_text, persona_text, persona_text, st.sampled_from(PKV.personas))


@SETTINGS
@given(constructs, st.sampled_from(PKV.tag_names), st.data())
def test_adding_a_duplicate_tag_never_raises_the_tags_score(text, tag, data):
    scorer = SCORERS[0]
    before = scorer.score(text).values()["tags"]
    positions = [m.end() for m in re.finditer(r"\n", text)]
    at = data.draw(st.sampled_from(positions))
    duplicated = text[:at] + f"<{tag}>extra</{tag}>\n" + text[at:]
    assert scorer.score(duplicated).values()["tags"] <= before


@SETTINGS
@given(constructs, st.sampled_from(PKV.tag_names))
def test_deleting_a_required_tag_never_raises_the_tags_score(text, tag):
    scorer = SCORERS[0]
    before = scorer.score(text).values()["tags"]
    for removed in (text.replace(f"<{tag}>", ""), text.replace(f"</{tag}>", ""),
                    text.replace(f"<{tag}>", "").replace(f"</{tag}>", "")):  # fmt: skip
        assert scorer.score(removed).values()["tags"] <= before


@SETTINGS
@given(persona_text, persona_text, persona_text)
def test_a_copying_knight_scores_lower_originality_than_an_independent_one(pirate, knight, viking):
    scorer = SCORERS[0]
    independent = scorer.score(valid_construct(pirate, knight, viking, "pirate")).components["originality"]
    copied = scorer.score(valid_construct(pirate, pirate, viking, "pirate")).components["originality"]
    # Random word salad can overlap by chance; compare a real copy with a real original, the viking unchanged.
    assume(independent.detail["personas"] == {"knight": "original", "viking": "original"})
    assume(copied.detail["personas"]["viking"] == "original")
    assert copied.detail["personas"]["knight"] == "copies pirate"
    assert copied.value < independent.value
