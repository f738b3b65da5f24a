"""A hand-made case for every rule of every component, penalties included."""

from __future__ import annotations

import pytest

from judgecraft import Scorer

PKV = Scorer("pkv", stage="round3")
THINK = Scorer("think", stage="full")


def build(pirate: str, knight: str, viking: str, winner: str = "pirate", final: str = "The answer is 24.") -> str:
    return (
        f"<competition>\n<pirate>\n{pirate}\n</pirate>\n<knight>\n{knight}\n</knight>\n<viking>\n{viking}\n</viking>\n"
        f"<result>\nBeep. Analysis complete.\n<winner>{winner}</winner>\n</result>\n</competition>\n{final}"
    )


PIRATE = "Arr matey, ye see 3 hives make 12 candles, so one hive makes 4 candles. 96 / 4 = 24 hives, aye."
KNIGHT = "Hark, noble sire! Each hive yields four candles; ninety-six candles then require twenty-four hives."
VIKING = "By Odin! Twelve candles from three hives; ninety-six is eight times twelve, so eight times three is 24."


def values(text: str, scorer: Scorer = PKV, **kw):
    return scorer.score(text, answer=kw.pop("answer", "24"), **kw).values()


# ---------------------------------------------------------------- seed example


def test_seed_example_scores_full_marks(seed_example):
    bd = Scorer("pkv", stage="round1").score(seed_example, answer="24")
    v = bd.values()
    assert (v["tags"], v["structure"], v["winner"], v["correctness"]) == (1.0, 1.0, 1.0, 1.0)
    assert bd.total == 3.0 and bd.errors == []
    assert v["judge_accuracy"] == 1.0 and v["consistency"] == 1.0 and v["originality"] == 1.0


# ---------------------------------------------------------------- tags


def test_tags_penalties_follow_the_seed_numbers():
    good = build(PIRATE, KNIGHT, VIKING)
    raw = Scorer("pkv", params={"tags": {"normalize": False}})
    assert raw.score(good).components["tags"].detail["raw"] == pytest.approx(0.6)
    duplicated = good.replace("</knight>", "</knight>\n<knight>more</knight>")
    assert raw.score(duplicated).components["tags"].detail["raw"] == pytest.approx(0.5)  # -0.1
    missing = good.replace("<viking>\n", "").replace("\n</viking>", "")
    assert raw.score(missing).components["tags"].detail["raw"] == pytest.approx(0.3)  # 5 x 0.1 - 0.2
    assert values(good)["tags"] == 1.0
    assert values(duplicated)["tags"] == pytest.approx(5 / 6)
    assert values(missing)["tags"] == pytest.approx(0.5)


def test_tags_clip_at_zero():
    assert values("<pirate>x</pirate><pirate>y</pirate><pirate>z</pirate>")["tags"] == 0.0


def test_misplaced_tags_earn_nothing_but_are_not_missing():
    text = build(PIRATE, KNIGHT, VIKING).replace(
        "<winner>pirate</winner>\n</result>", "</result>\n<winner>pirate</winner>"
    )
    detail = PKV.score(text).components["tags"].detail
    assert "winner" in detail["not_placed"] and detail["missing"] == []


# ---------------------------------------------------------------- structure


def test_structure_exact_variant_and_broken():
    good = build(PIRATE, KNIGHT, VIKING)
    assert values(good)["structure"] == 1.0
    assert values(good.replace("<pirate>", "<Pirate>"))["structure"] == 0.5
    assert values("Here you go!\n" + good)["structure"] == 0.5
    assert values(good.replace("</pirate>\n", "</pirate>\nchatter\n"))["structure"] == 0.5
    assert values(good.split("</competition>")[0] + "</competition>")["structure"] == 0.5  # no final answer
    swapped = good.replace("<knight>", "<tmp>").replace("</knight>", "</tmp>")
    swapped = swapped.replace("<viking>", "<knight>").replace("</viking>", "</knight>")
    swapped = swapped.replace("<tmp>", "<viking>").replace("</tmp>", "</viking>")
    assert values(swapped)["structure"] == 0.0
    assert values(good.replace("<result>", "").replace("</result>", ""))["structure"] == 0.0


def test_strict_xml_is_opt_in():
    text = build(PIRATE.replace("96 / 4", "96 / 4 < 25 & > 23"), KNIGHT, VIKING)
    assert values(text)["structure"] == 1.0
    strict = Scorer("pkv", params={"structure": {"strict_xml": True}})
    bd = strict.score(text, answer="24")
    assert bd.values()["structure"] == 0.5 and any(
        "well-formed" in p for p in bd.components["structure"].detail["problems"]
    )


# ---------------------------------------------------------------- length


def test_length_rises_to_the_optimum_then_falls_past_the_maximum():
    scorer = Scorer("pkv", params={"length": {"optimum": 100, "maximum": 200}})

    def length_of(n: int) -> float:
        return scorer.score(build("x" * n, "y" * n, "z" * n)).values()["length"]

    assert length_of(50) == pytest.approx(0.5)
    assert length_of(100) == pytest.approx(1.0) and length_of(200) == pytest.approx(1.0)
    assert length_of(300) == pytest.approx(0.5)
    assert length_of(400) == 0.0


def test_length_in_words_and_in_tokens(small_model):
    from transformers import AutoTokenizer

    words = Scorer("pkv", params={"length": {"unit": "words", "optimum": 10, "maximum": 100}})
    assert (
        words.score(build("one two three four five", "a b", "c"))
        .components["length"]
        .detail["sections"]["pirate"]["length"]
        == 5
    )
    tokenizer = AutoTokenizer.from_pretrained(small_model)
    tokens = Scorer("pkv", params={"length": {"unit": "tokens", "optimum": 10, "maximum": 100}}, tokenizer=tokenizer)
    n = tokens.score(build(PIRATE, KNIGHT, VIKING)).components["length"].detail["sections"]["pirate"]["length"]
    assert n == len(tokenizer.encode(PIRATE, add_special_tokens=False))
    by_name = Scorer(
        "pkv", params={"length": {"unit": "tokens", "optimum": 10, "maximum": 100}}, tokenizer=str(small_model)
    )
    assert by_name.score(build(PIRATE, KNIGHT, VIKING)).components["length"].detail["sections"]["pirate"]["length"] == n


# ---------------------------------------------------------------- reflection


def reflection_of(pirate: str) -> dict:
    return PKV.score(build(pirate, KNIGHT, VIKING)).components["reflection"].detail["sections"]["pirate"]


def test_reflection_counts_self_correction_followed_by_reasoning():
    plain = reflection_of("Arr matey, 96 / 4 = 24, aye.")
    corrected = reflection_of(
        "Arr matey, 96 / 4 = 23. Wait, that can't be right: 4 times 23 is only 92 candles. "
        "Let me re-check the division once more: 96 / 4 = 24, aye, 24 hives it be."
    )
    assert plain["self_correction"]["value"] == 0.0
    assert corrected["self_correction"]["moves"] >= 2 and corrected["self_correction"]["value"] == 1.0
    assert corrected["score"] > plain["score"]


def test_reflection_never_rewards_a_repeated_keyword_list():
    spam = reflection_of("wait wait wait let me re-check let me re-check wait hmm wait actually wait " * 5)
    assert spam["self_correction"]["value"] == 0.0
    capped = reflection_of(" ".join(["Wait, I should look at the numbers again here."] * 10))
    assert capped["self_correction"]["moves"] == 2  # one marker counts at most twice


def test_a_marker_of_several_branches_is_found_by_any_of_them():
    """A user's marker "oops|hold on" is found by its second branch in a text without the first."""
    scorer = Scorer("pkv", stage="round2", params={"reflection": {"markers": [r"\boops|hold on"]}})
    pirate = "Arr matey, 96 / 4 = 23. Hold on, four times 23 is only 92 candles, so it be 24 hives."
    text = build(pirate, KNIGHT, VIKING)
    pirate = scorer.score(text).components["reflection"].detail["sections"]["pirate"]
    assert pirate["self_correction"]["markers"] == 1 and pirate["self_correction"]["moves"] == 1


def test_reflection_rewards_the_persona_voice_but_not_a_word_list():
    voiced = reflection_of(
        "Arr matey, listen well, me hearties: ye landlubbers may count slowly, but three hives make twelve "
        "candles, so 96 / 4 = 24 hives of treasure, aye."
    )
    bland = reflection_of("We divide 96 by 4 and obtain 24 hives for the candles.")
    listed = reflection_of("arr matey ahoy ye aye treasure plunder booty savvy")
    assert voiced["voice"]["value"] == 1.0 and bland["voice"]["value"] == 0.0
    assert listed["voice"]["spam"] and listed["voice"]["value"] == 0.0


# ---------------------------------------------------------------- originality


def originality(pirate: str, knight: str, viking: str) -> tuple[float, dict]:
    bd = PKV.score(build(pirate, knight, viking))
    return bd.values()["originality"], bd.components["originality"].detail


def test_original_personas_score_full():
    value, detail = originality(PIRATE, KNIGHT, VIKING)
    assert value == 1.0 and detail["personas"] == {"knight": "original", "viking": "original"}


def test_knight_copying_the_pirate_costs_half():
    value, detail = originality(PIRATE, PIRATE, VIKING)
    assert detail["personas"]["knight"] == "copies pirate"
    assert value == pytest.approx(0.5 - 0.5 + 0.25)


def test_copy_with_persona_words_renamed_and_sentences_reordered_is_still_a_copy():
    pirate = (
        "Arr matey, three hives make twelve candles so one hive makes four candles. "
        "Ye need ninety six candles in all. Dividing ninety six by four gives twenty four hives, aye."
    )
    knight = (
        "Hark, good sir, dividing ninety six by four gives twenty four hives, verily. "
        "Thou need ninety six candles in all. Three hives make twelve candles so one hive makes four candles."
    )
    value, detail = originality(pirate, knight, VIKING)
    assert detail["personas"]["knight"] == "copies pirate"
    assert value < originality(PIRATE, KNIGHT, VIKING)[0]


def test_viking_copying_both_and_empty_personas():
    _, detail = originality(PIRATE, KNIGHT, PIRATE + " " + KNIGHT)
    assert detail["personas"]["viking"].startswith("copies")
    both, _ = originality(PIRATE, PIRATE, PIRATE)
    assert both == 0.0
    empty, detail = originality(PIRATE, "", "")
    assert empty == 0.0 and detail["personas"] == {"knight": "empty", "viking": "empty"}


# ---------------------------------------------------------------- winner


@pytest.mark.parametrize(
    ("winner", "expected"),
    [
        ("pirate", 1.0),
        ("  Pirate \n", 1.0),
        ('"knight"', 1.0),
        ("**viking**.", 1.0),
        ("The pirate wins!", 0.5),
        ("pirate and knight", 0.0),
        ("the robot", 0.0),
        ("", 0.0),
    ],
)
def test_winner_rules(winner, expected):
    assert values(build(PIRATE, KNIGHT, VIKING, winner=winner))["winner"] == expected


def test_missing_winner_tag_scores_zero():
    text = build(PIRATE, KNIGHT, VIKING).replace("<winner>pirate</winner>", "")
    assert values(text)["winner"] == 0.0


# ---------------------------------------------------------------- correctness


def test_correctness_correct_wrong_leaked_and_no_gold():
    good = build(PIRATE, KNIGHT, VIKING)
    assert values(good)["correctness"] == 1.0
    assert values(good, answer="25")["correctness"] == 0.0
    assert values(good + "\n</competition>")["correctness"] == -1.0
    assert values(build(PIRATE, KNIGHT, VIKING, final="<winner>pirate</winner> 24"))["correctness"] == -1.0
    assert PKV.score(good).values()["correctness"] is None  # no gold answer: not applicable
    assert values(good.split("</competition>")[0] + "</competition>")["correctness"] == 0.0


def test_correctness_reads_the_final_answer_not_the_personas():
    text = build(PIRATE, KNIGHT, VIKING, final="The answer is 30 hives.")
    assert values(text)["correctness"] == 0.0


# ---------------------------------------------------------------- beyond the seed


def test_judge_accuracy_checks_the_winner_persona_answer():
    wrong_pirate = PIRATE.replace("= 24 hives", "= 23 hives")
    picks_wrong = values(build(wrong_pirate, KNIGHT, VIKING, winner="pirate"))
    picks_right = values(build(wrong_pirate, KNIGHT, VIKING, winner="knight"))
    assert picks_wrong["judge_accuracy"] == 0.0 and picks_right["judge_accuracy"] == 1.0
    detail = PKV.score(build(wrong_pirate, KNIGHT, VIKING), answer="24").components["judge_accuracy"].detail
    assert detail["personas"]["pirate"]["correct"] is False and detail["personas"]["knight"]["correct"] is True
    assert detail["any_correct"] is True


def test_consistency_final_answer_agrees_with_the_winner():
    assert values(build(PIRATE, KNIGHT, VIKING, winner="knight", final="So, 24 hives."))["consistency"] == 1.0
    assert values(build(PIRATE, KNIGHT, VIKING, winner="knight", final="So, 25 hives."))["consistency"] == 0.0
    assert values(build(PIRATE, KNIGHT, VIKING, winner="nobody"))["consistency"] is None


# ---------------------------------------------------------------- the think construct


TRACE = (
    "<think>\n1. Three hives make twelve candles, so one hive makes 4 candles.\n"
    "2. For 96 candles we need 96 / 4 = 24 hives.\n3. Wait, let me re-check: 24 * 4 = 96, correct.\n</think>\n"
    "The answer is 24."
)


def test_think_components_on_a_good_trace():
    v = values(TRACE, THINK)
    assert v["tags"] == 1.0 and v["structure"] == 1.0 and v["correctness"] == 1.0
    assert v["steps"] == 1.0 and v["coherence"] == 1.0 and v["answer_quality"] == 1.0 and v["alignment"] == 1.0


def test_think_steps_coherence_alignment_penalties():
    blob = "<think>one hive makes four candles and ninety six over four is twenty four</think>\n24"
    assert values(blob, THINK)["steps"] == 0.0
    repeated = "<think>\n" + "1. Divide 96 by 4 to get 24.\n" * 6 + "</think>\n24"
    assert values(repeated, THINK)["coherence"] < 0.5
    looping = "<think>\n" + "and then we add the numbers again to be sure " * 30 + "</think>\n24"
    assert values(looping, THINK)["coherence"] < 0.5
    assert values(TRACE.replace("The answer is 24.", "The answer is 30."), THINK)["alignment"] == 0.0


def test_think_answer_quality_and_shannon_total():
    v = values(TRACE.replace("The answer is 24.", "The answer is 24. " + "Because. " * 300), THINK)
    assert 0.5 <= v["answer_quality"] < 1.0
    assert values(TRACE + "</think>", THINK)["answer_quality"] == 0.0
    shannon = Scorer("think").score(TRACE, answer="24")
    assert shannon.total == pytest.approx(1.0)
    assert Scorer("think").score(TRACE).values()["answer_quality"] == 0.5  # no gold: presence only


def test_prefilled_think_trace_from_a_chat_prompt():
    completion = TRACE.removeprefix("<think>\n")
    prompt = [{"role": "user", "content": "hives?"}, {"role": "assistant", "content": "<think>\n"}]
    assert values(completion, THINK, prompt=prompt)["tags"] == 1.0
    assert values(completion, THINK, prompt="<|im_start|>assistant\n<think>\n")["structure"] == 1.0
    assert values(completion, THINK)["tags"] == 0.0
