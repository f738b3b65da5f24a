"""Construct specs: the built-ins load, a user's own construct works without code, broken specs fail clearly."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from judgecraft import ConstructError, Scorer, load_construct

PLAN_SOLVE_CHECK = """
name = "psc"
root = "work"
components = ["tags", "structure", "length", "reflection", "correctness", "steps"]
[[tags]]
name = "work"
[[tags]]
name = "plan"
parent = "work"
reasoning = true
[[tags]]
name = "solve"
parent = "work"
reasoning = true
[[tags]]
name = "check"
parent = "work"
reasoning = true
[stages.default]
weights = { tags = 1.0, structure = 1.0, correctness = 2.0 }
"""

FOUR_PERSONAS = """
name = "four"
root = "arena"
components = ["tags", "structure", "originality", "winner", "correctness", "judge_accuracy"]
[[tags]]
name = "arena"
[[tags]]
name = "wizard"
parent = "arena"
persona = true
voice = ["spell*", "arcane"]
[[tags]]
name = "pirate"
parent = "arena"
persona = true
[[tags]]
name = "knight"
parent = "arena"
persona = true
[[tags]]
name = "viking"
parent = "arena"
persona = true
[[tags]]
name = "verdict"
parent = "arena"
winner = true
[stages.main]
weights = { tags = 1.0, winner = 1.0, correctness = 1.0 }
"""


def write(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_builtin_pkv_has_the_seed_layout_and_numbers():
    c = load_construct("pkv")
    assert c.tag_names == ("competition", "pirate", "knight", "viking", "result", "winner")
    assert c.personas == ("pirate", "knight", "viking")
    assert c.winner_tag == "winner"
    assert c.params["tags"] == {"placed": 0.1, "duplicate": -0.1, "missing": -0.2, "normalize": True}
    assert c.params["correctness"]["leaked"] == -1.0
    assert set(c.stages) == {"round1", "round2", "round3"}
    assert set(c.stage("round1").weights) == {"tags", "structure", "correctness"}
    assert "length" in c.stage("round3").weights and "length" not in c.stage("round2").weights
    assert "You may only pick one winner." in c.system_prompt


def test_stage_overrides_apply_only_to_their_stage():
    c = load_construct("pkv")
    assert c.params_for("round3")["length"]["optimum"] == 16000
    assert c.params_for("round1")["length"]["optimum"] == c.params["length"]["optimum"] != 16000


def test_think_construct_blends_the_shannon_weights():
    c = load_construct("think")
    assert c.stage(None).weights == {"coherence": 0.3, "steps": 0.2, "answer_quality": 0.3, "alignment": 0.2}


def test_a_user_construct_needs_no_code(tmp_path):
    spec = write(tmp_path, PLAN_SOLVE_CHECK)
    scorer = Scorer(construct=str(spec))
    good = (
        "<work><plan>1. Read.\n2. Add.</plan><solve>2 + 2 = 4</solve><check>4 - 2 = 2, fine.</check></work>\nAnswer: 4"
    )
    bd = scorer.score(good, answer="4")
    assert bd.values()["tags"] == 1.0 and bd.values()["structure"] == 1.0 and bd.values()["correctness"] == 1.0
    assert bd.total == pytest.approx(4.0)
    broken = scorer.score(good.replace("<check>4 - 2 = 2, fine.</check>", ""), answer="4")
    assert broken.values()["tags"] < 1.0 and broken.values()["structure"] == 0.0


def test_four_personas_are_compared_pairwise(tmp_path):
    scorer = Scorer(construct=str(write(tmp_path, FOUR_PERSONAS)))
    body = "I compute the total by multiplying seven by six which gives forty two in the end."
    distinct = [
        "First I halve the numbers and then double the product to reach 42.",
        "Counting groups of six, seven times over, I land on 42 exactly.",
        "Using repeated addition of seven six times the sum comes out as 42.",
    ]
    text = f"<arena><wizard>{body}</wizard>" + "".join(
        f"<{p}>{t}</{p}>" for p, t in zip(("pirate", "knight", "viking"), distinct, strict=True)
    )
    original = scorer.score(text + "<verdict>wizard</verdict></arena>\n42", answer="42")
    copied = scorer.score(text.replace(distinct[2], body) + "<verdict>wizard</verdict></arena>\n42", answer="42")
    assert original.values()["originality"] == 1.0
    assert copied.values()["originality"] < original.values()["originality"]
    assert original.values()["winner"] == 1.0


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        ("name = 'x'\nroot = 'r'\ncomponents = []\nstages = {}\n", "tags", "is required"),
        ("name = 'x'\nroot = 'r'\ncomponents = ['tags']\ntags = [{name = 'r'}]\n", "stages", "is required"),
        (
            "name = 'x'\nroot = 'q'\ncomponents = ['tags']\ntags = [{name = 'r'}]\n[stages.a]\nweights = {tags = 1}\n",
            "root",
            "not one of the tags",
        ),
        (
            "name = 'x'\nroot = 'r'\ncomponents = ['speed']\ntags = [{name = 'r'}]\n[stages.a]\nweights = {}\n",
            "components",
            "unknown component 'speed'",
        ),
        (
            "name = 'x'\nroot = 'r'\ncomponents = ['tags']\ntags = [{name = 'r'}, {name = 'a'}]\n"
            "[stages.a]\nweights = {tags = 1}\n",
            "tags.a.parent",
            "is required",
        ),
        (
            "name = 'x'\nroot = 'r'\ncomponents = ['tags']\ntags = [{name = 'r'}]\n[scores.tags]\nplaced = 'lots'\n"
            "[stages.a]\nweights = {tags = 1}\n",
            "scores.tags.placed",
            "must be a number",
        ),
        (
            "name = 'x'\nroot = 'r'\ncomponents = ['tags']\ntags = [{name = 'r'}]\n[scores.tags]\nbonus = 1\n"
            "[stages.a]\nweights = {tags = 1}\n",
            "scores.tags.bonus",
            "unknown parameter",
        ),
        (
            "name = 'x'\nroot = 'r'\ncomponents = ['tags']\ntags = [{name = 'r'}]\n"
            "[stages.a]\nweights = {length = 1}\n",
            "stages.a.weights.length",
            "is not a component",
        ),
        ("name = 'x'\nroot = \n", "toml", "is not valid TOML"),
    ],
)
def test_broken_specs_name_file_key_and_problem(tmp_path, text, key, fragment):
    """The spec's shape fails at load_construct, component names and parameters when a Scorer is built."""
    spec = write(tmp_path, text)
    with pytest.raises(ConstructError) as err:
        Scorer(str(spec))
    message = str(err.value)
    assert str(spec) in message and f"[{key}]" in message and fragment in message


def test_parameters_are_checked_the_same_way_wherever_they_come_from(tmp_path):
    stage_override = (
        "name = 'x'\nroot = 'r'\ncomponents = ['length']\ntags = [{name = 'r', reasoning = true}]\n"
        "[stages.a]\nweights = {length = 1}\n[stages.b]\nweights = {length = 1}\n"
        "[stages.b.params.length]\noptimum = 'long'\n"
    )
    spec = write(tmp_path, stage_override)
    with pytest.raises(ConstructError, match=r"\[stages\.b\.params\.length\.optimum\] must be a number"):
        Scorer(str(spec), stage="a")  # a broken stage fails even when another stage is used
    with pytest.raises(ConstructError, match=r"Scorer\(params=\.\.\.\): \[params\.length\.optimum\] must be a number"):
        Scorer("pkv", params={"length": {"optimum": "long"}})
    with pytest.raises(ConstructError, match=r"\[params\.speed\] is not a component"):
        Scorer("pkv", params={"speed": {"fast": True}})
    loaded = load_construct(str(spec))  # the construct alone knows nothing of the components
    assert loaded.stage("b").params == {"length": {"optimum": "long"}}


def test_missing_spec_file_and_unknown_builtin(tmp_path):
    with pytest.raises(ConstructError, match="does not exist"):
        load_construct(str(tmp_path / "nope.toml"))
    with pytest.raises(ConstructError, match="no built-in construct"):
        load_construct("pirates-and-ninjas")


def test_scorer_rejects_unknown_weights_and_params():
    with pytest.raises(ValueError, match="not a component"):
        Scorer("pkv", weights={"speed": 1.0})
    with pytest.raises(ValueError, match="unknown"):
        Scorer("pkv", params={"length": {"colour": "red"}})
    with pytest.raises(ValueError, match="tokenizer"):
        Scorer("pkv", params={"length": {"unit": "tokens"}})
