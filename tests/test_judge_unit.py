"""The judge's pure parts, without a model: schema, prompts and shuffles, logprob weighting, cache, components.

Everything here is real (jsonschema, SQLite across processes, the Scorer, the real tokenizer of the
small model); only the judge model itself is absent. Model-backed tests are in test_judge_vllm.py
(in-process) and test_judge_http.py (through a real server).
"""

from __future__ import annotations

import json
import math
import multiprocessing
import pickle
from collections import Counter

import pytest

from judgecraft import Scorer, load_construct
from judgecraft.construct import ConstructError, construct_from_dict
from judgecraft.judge.backend_http import split_spec
from judgecraft.judge.bias import _stats
from judgecraft.judge.cache import GenerationCache, cache_key
from judgecraft.judge.config import JudgeConfig
from judgecraft.judge.core import make_judge
from judgecraft.judge.fold import pick as _pick
from judgecraft.judge.logprobs import compact, value_offsets, weighted
from judgecraft.judge.prompts import (
    JudgeItem,
    candidates_from_completion,
    clip_text,
    item_from_completion,
    render,
    shuffle_orders,
)
from judgecraft.judge.reward import JudgeReward
from judgecraft.judge.schema import parse_verdict, verdict_schema
from judgecraft.judge.select_sft import Group, select_winners, sft_messages
from judgecraft.judge.server import JudgeServer, free_port
from judgecraft.judge.verdict import JudgeError, JudgeSetupError, ShuffleVerdict, Verdict, as_verdict

CRITERIA = ("correctness", "thoroughness", "originality", "self_reflection")
QUESTION = "3 beehives make 12 candles. How many hives for 96 candles?"


def _verdict_json(labels, winner, grade=5, rationale="ok"):
    return json.dumps(
        {"rationale": rationale, "scores": {lab: dict.fromkeys(CRITERIA, grade) for lab in labels}, "winner": winner}
    )


# ---- schema ---------------------------------------------------------------------------------------------------------


def test_schema_constrains_winner_to_the_labels_shown_and_forbids_extra_keys():
    schema = verdict_schema(["A", "B", "C"], CRITERIA, (1, 9), 50)
    assert schema["properties"]["winner"]["enum"] == ["A", "B", "C"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["scores"]["additionalProperties"] is False
    assert schema["properties"]["rationale"]["maxLength"] == 50
    assert list(schema["properties"]) == ["rationale", "scores", "winner"]
    assert parse_verdict(_verdict_json("ABC", "B"), schema)["winner"] == "B"


@pytest.mark.parametrize(
    "bad",
    [
        _verdict_json("ABC", "D"),  # a label that was not shown
        _verdict_json("ABC", "B", grade=10),  # off the scale
        _verdict_json("AB", "A"),  # a candidate missing
        _verdict_json("ABC", "A")[:-20],  # truncated
        _verdict_json("ABC", "A", rationale="x" * 51),  # rationale over maxLength
        json.dumps({**json.loads(_verdict_json("ABC", "A")), "extra": 1}),
        "",
    ],
)
def test_malformed_verdicts_are_rejected_with_a_reason(bad):
    schema = verdict_schema(["A", "B", "C"], CRITERIA, (1, 9), 50)
    with pytest.raises(JudgeError) as err:
        parse_verdict(bad, schema)
    assert err.value.kind == "malformed" and err.value.message


def test_single_candidate_schema_has_no_winner():
    schema = verdict_schema(["A"], CRITERIA)
    assert "winner" not in schema["properties"] and schema["required"] == ["rationale", "scores"]


# ---- config ---------------------------------------------------------------------------------------------------------


def test_constructs_bring_their_judge_settings():
    pkv, think = JudgeConfig.from_construct("pkv"), JudgeConfig.from_construct("think")
    assert pkv.shuffles == 3 and pkv.scale == (1, 9) and "contestants" in pkv.template
    assert think.shuffles == 1 and "reasoning trace" in think.template
    assert pkv.with_overrides(shuffles=0, labels=[]).labels == ()


@pytest.mark.parametrize(
    ("judge", "key"),
    [
        ({"template": "no solutions here"}, "judge.template"),
        ({"template": "$solutions $nonsense"}, "judge.template"),
        ({"scale": [5, 1]}, "judge.scale"),
        ({"weighting": "vibes"}, "judge.weighting"),
        ({"labels": ["A", "A"]}, "judge.labels"),
        ({"colour": "red"}, "judge.colour"),
    ],
)
def test_a_broken_judge_table_names_the_key(judge, key):
    raw = {
        "name": "tiny",
        "root": "think",
        "tags": [{"name": "think", "reasoning": True}],
        "components": ["tags"],
        "stages": {"s": {"weights": {"tags": 1.0}}},
        "judge": judge,
    }
    with pytest.raises(ConstructError) as err:
        JudgeConfig.from_construct(construct_from_dict(raw, source="tiny.toml"))
    assert key in str(err.value) and "tiny.toml" in str(err.value)


# ---- prompts and shuffles -------------------------------------------------------------------------------------------


def test_rotations_put_every_candidate_in_every_position_once():
    names = ["pirate", "knight", "viking"]
    orders = shuffle_orders(names, 3, seed=0, content_key="abc")
    assert len(orders) == 3
    for position in range(3):
        assert sorted(o[position] for o in orders) == sorted(names)
    assert orders == shuffle_orders(names, 3, seed=0, content_key="abc")  # reproducible
    assert shuffle_orders(names, 0, 0, "abc") == [names]  # 0: the original order
    assert len(shuffle_orders(names, 5, 0, "abc")) == 5


def test_random_first_positions_spread_over_items():
    names = ["pirate", "knight", "viking"]
    firsts = Counter(shuffle_orders(names, 1, 0, f"item{i}")[0][0] for i in range(600))
    assert all(150 < firsts[n] < 250 for n in names), firsts


def test_items_from_the_seed_example_hide_persona_names_behind_labels(seed_example):
    c = load_construct("pkv")
    item = item_from_completion(QUESTION, seed_example, c, gold="24")
    assert item.names == ["pirate", "knight", "viking"]
    assert item.candidates["knight"].startswith("Hark!")
    messages, labels = render(item, ["viking", "pirate", "knight"], JudgeConfig.from_construct(c))
    user = messages[-1]["content"]
    assert labels == ["A", "B", "C"]
    assert "[Solution A]\nViking Thorson" in user and "[Solution B]\nArrr" in user
    assert "[Solution pirate]" not in user and QUESTION in user and "24 hives" in user
    assert messages[0]["role"] == "system"


def test_a_prefilled_prompt_is_honoured_and_chat_prompts_give_the_question(seed_example):
    c = load_construct("pkv")
    body = seed_example.split("<pirate>\n", 1)[1]
    chat = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": "<competition>\n<pirate>\n"}]
    item = item_from_completion(chat, body, c)
    assert item.question == QUESTION and item.candidates["pirate"].startswith("Arrr")


def test_think_items_have_one_candidate_with_the_answer():
    c = load_construct("think")
    cands = candidates_from_completion("<think>\n1. 96/12 = 8\n2. 8*3 = 24\n</think>\n24", c)
    assert list(cands) == ["think"] and cands["think"].endswith("Final answer: 24")


def test_clip_keeps_head_and_tail():
    text = "head " + "x" * 1000 + " tail"
    clipped = clip_text(text, 100)
    assert clipped.startswith("head") and clipped.endswith("tail") and "characters cut" in clipped
    assert clip_text("short", 100) == "short"


# ---- logprob weighting ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokenizer(small_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(small_model)


def _tokens(tokenizer, text, alternatives):
    """Token list in the backends' format for `text`, with alternatives at the given positions (the real tokenizer)."""
    ids = tokenizer.encode(text, add_special_tokens=False)
    pieces = [tokenizer.decode([i]) for i in ids]
    assert "".join(pieces) == text
    out, pos = [], 0
    for piece in pieces:
        alts = alternatives.get(pos)
        out.append([piece, (alts or {}).get(piece, 0.0), alts])
        pos += len(piece)
    return out


def test_grades_are_expectations_over_the_digit_tokens(tokenizer):
    text = _verdict_json("AB", "B", grade=7, rationale='tricky: "A":{"correctness":1}')
    offsets = value_offsets(text)
    assert text[offsets[("scores", "A", "correctness")]] == "7"  # the walk ignores look-alikes in the rationale
    at = offsets[("scores", "A", "correctness")]
    win = offsets[("winner",)] + 1
    alternatives = {
        at: {"7": math.log(0.6), "6": math.log(0.3), "1": math.log(0.1), "x": math.log(0.5)},
        win: {"B": math.log(0.75), "A": math.log(0.25)},
    }
    toks = _tokens(tokenizer, text, alternatives)
    grades, picks = weighted(toks, ["A", "B"], CRITERIA, (1, 9))
    assert grades["A"]["correctness"] == pytest.approx(0.6 * 7 + 0.3 * 6 + 0.1 * 1)
    assert "thoroughness" not in grades.get("A", {})  # no alternatives there: the written grade stands
    assert picks == pytest.approx({"B": 0.75, "A": 0.25})
    kept = [t for t in compact(toks, ["A", "B"], CRITERIA) if t[2]]
    assert len(kept) == 2  # only the decision tokens keep their alternatives
    assert weighted(toks, ["A", "B"], CRITERIA, (1, 10))[0] == {}  # two-token grades: no weighting


# ---- cache ----------------------------------------------------------------------------------------------------------


def _writer(path: str, start: int) -> None:
    cache = GenerationCache(path)
    for i in range(start, start + 150):
        cache.put(f"k{i}", "m", {"text": str(i)})
    cache.close()


def test_cache_is_shared_safely_by_processes(tmp_path):
    path = str(tmp_path / "c.sqlite")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, s)) for s in (0, 150, 300)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    cache = GenerationCache(path)
    assert len(cache) == 450
    assert cache.get("k299") == {"text": "299"}
    assert pickle.loads(pickle.dumps(cache)).get("k0") == {"text": "0"}


def test_cache_key_covers_model_prompt_schema_and_sampling():
    msgs = [{"role": "user", "content": "q"}]
    base = cache_key("m", msgs, {"a": 1}, {"t": 0})
    assert base == cache_key("m", msgs, {"a": 1}, {"t": 0})
    others = [
        cache_key("m2", msgs, {"a": 1}, {"t": 0}),
        cache_key("m", [{"role": "user", "content": "q2"}], {"a": 1}, {"t": 0}),
        cache_key("m", msgs, {"a": 2}, {"t": 0}),
        cache_key("m", msgs, {"a": 1}, {"t": 1}),
    ]
    assert len({base, *others}) == 5


# ---- verdicts into scores -------------------------------------------------------------------------------------------


def _verdict(winner="pirate", probs=None, grade=0.75):
    names = ["pirate", "knight", "viking"]
    scores = {n: dict.fromkeys(CRITERIA, grade) for n in names}
    probs = probs or {n: float(n == winner) for n in names}
    return Verdict(names, winner, scores, {n: int(n == winner) for n in names}, probs, "because")


def test_judge_components_read_the_verdict(seed_example):
    scorer = Scorer("pkv", weights={"judge_winner": 1.0, "judge_quality": 1.0, "judge_reflection": 1.0})
    bd = scorer.score(
        seed_example, answer="24", verdict=_verdict("pirate", {"pirate": 0.7, "knight": 0.2, "viking": 0.1})
    )
    values = bd.values()
    assert values["judge_winner"] == pytest.approx(0.7)  # soft: the judge's probability for <winner>pirate</winner>
    assert values["judge_quality"] == pytest.approx(0.75) and values["judge_reflection"] == pytest.approx(0.75)
    stage_total = Scorer("pkv").score(seed_example, answer="24").total
    assert bd.total == pytest.approx(stage_total + 0.7 + 0.75 + 0.75)
    hard = Scorer("pkv", params={"judge_winner": {"soft": False}}).score(seed_example, verdict=_verdict("knight"))
    assert hard.values()["judge_winner"] == 0.0


def test_judge_components_without_a_verdict_are_not_applicable_and_weigh_nothing(seed_example):
    bd = Scorer("pkv").score(seed_example, answer="24")
    assert all(bd.values()[k] is None for k in ("judge_winner", "judge_quality", "judge_reflection"))
    failed = Scorer("pkv").score(seed_example, verdict=JudgeError("server down", "backend"))
    assert (
        failed.values()["judge_quality"] is None
        and "server down" in failed.components["judge_quality"].detail["reason"]
    )
    empty = Scorer("pkv").score("", verdict=JudgeError("nothing to judge", "input"))
    assert empty.values()["judge_quality"] == 0.0


def test_verdicts_round_trip_through_dicts(seed_example):
    v = _verdict()
    v.shuffles.append(ShuffleVerdict(["knight"], ["A"], None, None, {}, {}, None, "r"))
    again = as_verdict(json.loads(json.dumps(v.to_dict())))
    assert again == v
    assert Scorer("pkv").score(seed_example, verdict=v.to_dict()).values()["judge_winner"] == 1.0
    err = as_verdict(JudgeError("x", "timeout").to_dict())
    assert isinstance(err, JudgeError) and err.kind == "timeout"


def test_votes_then_probabilities_then_grades_break_ties():
    names = ["a", "b", "c"]
    flat = {n: {"x": 0.5} for n in names}
    assert _pick(names, {"a": 2, "b": 1, "c": 0}, dict.fromkeys(names, 0.3), flat) == "a"
    assert _pick(names, {"a": 1, "b": 1, "c": 1}, {"a": 0.2, "b": 0.5, "c": 0.3}, flat) == "b"
    graded = {"a": {"x": 0.1}, "b": {"x": 0.2}, "c": {"x": 0.9}}
    assert _pick(names, {"a": 1, "b": 1, "c": 1}, dict.fromkeys(names, 1 / 3), graded) == "c"
    assert _pick(names, {"a": 1, "b": 1, "c": 1}, dict.fromkeys(names, 1 / 3), flat) is None


def test_bias_stats_separate_shown_and_original_positions():
    names = ["pirate", "knight", "viking"]
    items = [JudgeItem(f"q{i}", dict.fromkeys(names, "x")) for i in range(3)]
    verdicts = []
    for i in range(3):  # a judge that always picks slot A, shown in a different rotation per item
        order = names[i:] + names[:i]
        s = ShuffleVerdict(order, ["A", "B", "C"], order[0], 0, {}, {}, None, "")
        verdicts.append(Verdict(names, order[0], {}, {}, {}, "", [s]))
    stats = _stats(items, verdicts, 3)
    assert stats.shown == [100.0, 0.0, 0.0] and stats.shown_deviation == pytest.approx(66.67)
    assert stats.original == [pytest.approx(33.33)] * 3 and stats.original_deviation < 0.01


# ---- set-up errors, specs, dumps, select without a judge ------------------------------------------------------------


def test_a_missing_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(JudgeSetupError, match="does not exist"):
        make_judge(f"vllm:{tmp_path / 'nope'}", cache=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(JudgeSetupError, match=r"no config\.json"):
        make_judge(f"vllm:{tmp_path / 'empty'}", cache=False)
    with pytest.raises(JudgeSetupError, match="does not exist"):
        JudgeServer(tmp_path / "nope")
    with pytest.raises(ValueError, match="expected vllm:"):
        make_judge("ollama://x", cache=False)


def test_a_missing_server_is_a_clear_error(seed_example):
    judge = make_judge(f"http://127.0.0.1:{free_port()}/v1?retries=1#judge", cache=False)
    with pytest.raises(JudgeSetupError, match="no OpenAI-compatible server answers"):
        judge.judge_many([judge.item(QUESTION, seed_example)])


def test_specs_parse():
    assert split_spec("http://h:1/v1#m") == ("http://h:1/v1", "m")
    assert split_spec("http://h:1") == ("http://h:1/v1", None)
    judge = make_judge("http://h:1/v1?concurrency=3&timeout=2.5#name", cache=False, shuffles=1)
    assert (judge.backend.concurrency, judge.backend.timeout, judge.backend.model) == (3, 2.5, "name")
    assert judge.config.shuffles == 1


def test_bad_dump_lines_become_rows_with_errors(tmp_path):
    from judgecraft.judge.rows import read_mappings

    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"prompt": "q", "completion": "c"}\nnot json\n\n[1, 2]\n{"prompt": "\xff\xfe"}\n')
    rows = list(read_mappings(path, ["prompt", "completion"]))
    assert [r.row for r in rows] == [0, 1, 3, 4]
    assert rows[0].data and all(r.error for r in rows[1:])


def test_select_by_rules_keeps_only_right_well_formed_winners(seed_example):
    wrong = seed_example.replace("24 hives needed", "25 hives needed")
    broken = "The answer is 24."
    groups = [Group(QUESTION, [broken, wrong, seed_example], answer="24", id="g1"), Group(QUESTION, [wrong], "24")]
    sel = select_winners(groups, "pkv", judge=None, min_score=2.0)
    assert sel[0].picked == 2 and sel[0].picked_by == "rules" and sel[0].passed == [2]
    messages = sel[0].record["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant"]
    assert messages[2]["content"] == seed_example and messages[0]["content"] == load_construct("pkv").system_prompt
    assert sel[1].picked is None and sel[1].record is None and "rules" in sel[1].reason


def test_sft_messages_put_a_prefill_back_in_front():
    c = load_construct("pkv")
    chat = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "<competition>\n<pirate>\n"}]
    messages = sft_messages(chat, "Arr ...", c)
    assert messages == [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "<competition>\n<pirate>\nArr ..."},
    ]


def test_the_reward_travels_as_its_spec():
    reward = JudgeReward("http://127.0.0.1:9/v1#judge", weights={"judge_quality": 1.0, "judge_winner": 0.5})
    again = pickle.loads(pickle.dumps(reward))
    assert again.spec == reward.spec and again.weights == reward.weights and again._judge is None
    assert reward.__name__ == "judge_quality_winner"
    with pytest.raises(ValueError, match="not judge components"):
        JudgeReward("http://x/v1#j", weights={"tags": 1.0})


# ---- odd tokens, large groups, agreement, probe ---------------------------------------------------------------------


def test_non_ascii_digits_and_junk_alternatives_are_filtered_not_raised(tokenizer):
    text = _verdict_json("AB", "B", grade=7)
    at = value_offsets(text)[("scores", "A", "correctness")]
    odd = {"7": math.log(0.5), "6": math.log(0.25), "²": math.log(0.2), "٣": -1.0, "10": -2.0, "x": -0.1}
    toks = _tokens(tokenizer, text, {at: odd})
    grades, _ = weighted(toks, ["A", "B"], CRITERIA, (1, 9))
    assert grades["A"]["correctness"] == pytest.approx((0.5 * 7 + 0.25 * 6) / 0.75)
    kept = next(t[2] for t in compact(toks, ["A", "B"], CRITERIA, (1, 9)) if t[2])
    assert set(kept) == {"7", "6"}  # only grades the schema allows survive into the cache


def test_labels_run_on_past_h_and_past_z():
    config = JudgeConfig()
    assert config.labels_for([str(i) for i in range(16)])[-1] == "P"
    labels = config.labels_for([str(i) for i in range(30)])
    assert labels[25:] == ["Z", "AA", "AB", "AC", "AD"] and len(set(labels)) == 30
    with pytest.raises(ValueError, match="only 2 judge labels"):
        JudgeConfig(labels=("X", "Y")).labels_for(["a", "b", "c"])


def test_cohens_kappa_on_known_tables():
    from judgecraft.judge.agreement import kappa, table

    perfect = table([(True, True), (False, False)] * 5)
    assert kappa(perfect)["kappa"] == 1.0
    chance = kappa({"both_right": 25, "judge_only": 25, "checker_only": 25, "both_wrong": 25})
    assert chance["kappa"] == 0.0 and chance["agreement"] == 0.5
    worse = kappa(table([(True, False), (False, True)] * 4))
    assert worse["kappa"] == -1.0
    assert kappa(table([(None, True), (True, None)]))["rows"] == 0  # rows without both calls are left out
    # 20 rows: 8 both right, 2 judge only, 4 checker only, 6 both wrong -> po 0.7, pe 0.5, kappa 0.4
    assert kappa({"both_right": 8, "judge_only": 2, "checker_only": 4, "both_wrong": 6})["kappa"] == pytest.approx(0.4)


def test_probe_attacks_are_built_from_the_question_and_gold():
    from judgecraft.judge.probe import ATTACKS, ProbeCase, attack_texts, probe_items, wrong_answer

    texts = attack_texts("What is 2 + 2?", "4")
    assert set(texts) == set(ATTACKS) and texts["empty"] == "" and texts["bare_answer"] == "4"
    assert texts["restated_question"] == "What is 2 + 2?" and wrong_answer("4") == "5"
    assert "5" in texts["confident_wrong"]
    planned = probe_items([ProbeCase("What is 2 + 2?", "2 + 2 = 4. The answer is 4.", "4")])
    assert [k for k, _, _ in planned] == ["real", *ATTACKS]
    empty = next(item for k, _, item in planned if k == "empty")
    assert not empty.empty  # the empty solution is sent to the judge on purpose
