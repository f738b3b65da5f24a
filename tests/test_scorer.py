"""Scorer: weights and stages, the Breakdown's shapes, multi-process scoring, and failure isolation."""

from __future__ import annotations

import json

import pytest

from judgecraft import Scorer, construct
from judgecraft.scores import COMPONENTS, Component, Score, register


def test_stages_weight_the_seed_rounds(seed_example):
    r1 = Scorer("pkv", stage="round1")
    r3 = Scorer("pkv", stage="round3")
    assert set(r1.active) == {"tags", "structure", "correctness"}
    assert {"reflection", "originality", "length"} <= set(r3.active)
    bd1, bd3 = r1.score(seed_example, answer="24"), r3.score(seed_example, answer="24")
    assert bd1.total == pytest.approx(3.0)
    expected = sum(bd3.components[n].value * w for n, w in r3.active.items())
    assert bd3.total == pytest.approx(expected)
    # every component is in the breakdown whatever its weight, so a user can see all of it
    assert set(bd1.components) == set(r1.construct.components)


def test_weights_override_and_zero_keeps_a_component_visible(seed_example):
    scorer = Scorer("pkv", stage="round1", weights={"correctness": 2.0, "tags": 0})
    bd = scorer.score(seed_example, answer="24")
    assert bd.total == pytest.approx(3.0) and bd.components["tags"].weight == 0 and bd.values()["tags"] == 1.0


def test_breakdown_serialises(seed_example):
    bd = Scorer("pkv").score(seed_example, answer="24")
    flat = bd.flat()
    assert flat["total"] == bd.total and flat["tags"] == 1.0 and flat["error"] is None
    data = json.loads(json.dumps(bd.to_dict()))
    assert data["components"]["structure"]["detail"]["verdict"] == "exact" and data["stage"] == "round1"


def test_score_many_in_processes_matches_sequential(seed_example):
    scorer = Scorer("pkv", stage="round3")
    texts = [seed_example.replace("24 hives", f"{n} hives") for n in range(40)] + [None, "", "<competition>"]
    answers = ["24"] * len(texts)
    sequential = [bd.flat() for bd in scorer.score_many(texts, answers)]
    parallel = [bd.flat() for bd in scorer.score_many(texts, answers, workers=2, chunk_size=8)]
    assert parallel == sequential
    assert sequential[-3]["error"] and sequential[0]["correctness"] == 0.0 and sequential[24]["correctness"] == 1.0


def test_a_failing_component_costs_its_floor_not_the_row(tmp_path, seed_example):
    def explode(parsed, ctx):
        raise RuntimeError("boom")

    register(Component("exploding", -1.0, 1.0, explode, {}, "always fails"))
    try:
        spec = tmp_path / "x.toml"
        spec.write_text(
            (construct.BUILTIN_DIR / "pkv.toml")
            .read_text()
            .replace('"judge_accuracy", "consistency",', '"judge_accuracy", "consistency", "exploding",'),
            encoding="utf-8",
        )
        bd = Scorer(str(spec), weights={"exploding": 1.0}).score(seed_example, answer="24")
        assert bd.values()["exploding"] == -1.0 and bd.values()["tags"] == 1.0
        assert any("exploding: RuntimeError: boom" in e for e in bd.errors)
    finally:
        COMPONENTS.pop("exploding")


def test_user_component_is_scored(tmp_path, seed_example):
    def says_aye(parsed, ctx):
        return Score(1.0 if "aye" in parsed.section_text("pirate").lower() else 0.0, {})

    register(Component("aye", 0.0, 1.0, says_aye, {}, "the pirate says aye"))
    try:
        spec = tmp_path / "y.toml"
        text = (construct.BUILTIN_DIR / "pkv.toml").read_text()
        spec.write_text(text.replace('"consistency",\n]', '"consistency", "aye",\n]'), encoding="utf-8")
        scorer = Scorer(str(spec), weights={"aye": 0.5})
        assert scorer.score(seed_example, answer="24").total == pytest.approx(3.5)
    finally:
        COMPONENTS.pop("aye")


@pytest.mark.parametrize(
    "hostile",
    [
        "<competition>" * 20000,
        "<competition><pirate>" + "<knight><viking><result><winner>" * 4000,
        "wait, let me re-check " * 50000,
        "<competition><pirate>" + "arr matey " * 100000 + "</pirate></competition>",
        "<competition>\n<pirate>\n" + "9" * 200000 + "\n</pirate>\n</competition>\n" + "1" * 100000,
        "\ud800\udfff<competition>\x00</competition>",
        '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaaaaaaaaaaaa">]><competition>&a;&a;&a;</competition>',
    ],
)
def test_hostile_completions_score_quickly_without_raising(hostile):
    import time

    for scorer in (Scorer("pkv", stage="round3"), Scorer("think", stage="full")):
        start = time.perf_counter()
        bd = scorer.score(hostile, answer="24")
        assert time.perf_counter() - start < 5.0
        assert isinstance(bd.total, float)
        assert not any("Error" in e for e in bd.errors), bd.errors
