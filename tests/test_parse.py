"""The tolerant one-pass parser: spans, deviations, prefills, strict XML, and hostile input."""

from __future__ import annotations

import time

import pytest

from judgecraft import load_construct, parse
from judgecraft.parse import detect_prefill

PKV = load_construct("pkv")
THINK = load_construct("think")


def test_seed_example_sections_and_spans(seed_example):
    p = parse(seed_example, PKV)
    assert p.missing == [] and p.duplicates == {} and p.misnested == [] and p.out_of_order == []
    pirate = p.section("pirate")
    assert seed_example[pirate.start : pirate.end] == pirate.text
    assert pirate.text.strip().startswith("Arrr, me hearties")
    assert p.section_text("winner").strip() == "pirate"
    assert p.section("winner").parent == "result"
    assert p.final_answer.startswith("The pirate provided a detailed explanation")
    assert p.leaked == [] and p.preamble == "" and p.interstitial == ""
    assert p.well_formed


def test_case_whitespace_and_attributes_are_tolerated_but_recorded(seed_example):
    text = seed_example.replace("<pirate>", '< Pirate mood="salty" >').replace("</knight>", "</KNIGHT >")
    p = parse(text, PKV)
    assert "pirate" in p.sections and "knight" in p.sections and p.missing == []
    assert {"attributes", "case"} <= set(p.variants)
    assert p.section_text("pirate").strip().startswith("Arrr")


def test_duplicates_missing_and_misnesting(seed_example):
    text = (
        seed_example.replace("</viking>", "</viking>\n<viking>again</viking>")
        .replace("<knight>", "")
        .replace("</knight>", "")
    )
    text = text.replace("<winner>\npirate\n</winner>\n</result>", "</result>\n<winner>pirate</winner>")
    p = parse(text, PKV)
    assert p.duplicates == {"viking": 1}
    assert p.missing == ["knight"]
    assert p.misnested == ["winner"] and p.section("winner").parent == "competition"


def test_order_uses_the_fewest_moves(seed_example):
    text = seed_example.replace("<knight>", "<k>").replace("</knight>", "</k>")
    text = text.replace("<viking>", "<knight>").replace("</viking>", "</knight>")
    text = text.replace("<k>", "<viking>").replace("</k>", "</viking>")
    assert parse(text, PKV).out_of_order in (["knight"], ["viking"])


def test_unclosed_section_ends_at_the_next_sibling(seed_example):
    p = parse(seed_example.replace("</pirate>", ""), PKV)
    assert p.unclosed == ["pirate"]
    assert p.section_text("pirate").strip().endswith("as simple as that!")
    assert "Hark" not in p.section_text("pirate") and p.section("knight").parent == "competition"


def test_prefill_is_scored_as_the_continuation(seed_example):
    continuation = seed_example.split("<pirate>\n", 1)[1]
    p = parse(continuation, PKV, prefill="<competition>\n<pirate>\n")
    assert p.missing == [] and p.unclosed == [] and p.prefill_len == len("<competition>\n<pirate>\n")
    assert p.completion == continuation
    without = parse(continuation, PKV)
    assert "competition" in without.missing or "pirate" in without.stray_closes


def test_prefill_detection_only_takes_a_tail_of_opening_tags():
    assert detect_prefill("<|im_start|>assistant\n<competition>\n<pirate>\n", PKV) == "<competition>\n<pirate>\n"
    assert detect_prefill("<|im_start|>assistant\n<think>\n", THINK) == "<think>\n"
    # the system prompt's template closes its tags, and a question that mentions a tag is not a prefill
    assert detect_prefill(PKV.system_prompt + "\nuser: what is 2+2?\nassistant:", PKV) == ""
    assert detect_prefill("What does <think> mean in a prompt?", THINK) == ""


def test_leaked_tags_and_text_outside(seed_example):
    p = parse("Sure, here goes.\n" + seed_example + "\n<winner>pirate</winner>", PKV)
    assert p.preamble.strip() == "Sure, here goes."
    assert p.leaked == ["winner"]
    assert "<winner>" in p.final_answer


def test_text_between_sections_is_interstitial(seed_example):
    p = parse(seed_example.replace("</pirate>\n<knight>", "</pirate>\nchatter\n<knight>"), PKV)
    assert p.interstitial.strip() == "chatter"
    # prose around <winner> inside <result> is allowed (result is mixed)
    assert parse(seed_example, PKV).interstitial == ""


def test_stray_lt_and_amp_break_strict_xml_only(seed_example):
    text = seed_example.replace("96/4", "96/4 & x < 3")
    p = parse(text, PKV)
    assert p.missing == [] and p.section_text("winner").strip() == "pirate"
    assert not p.well_formed and p.xml_error


def test_entities_are_not_expanded_and_no_network():
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE competition [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">'
        '<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e SYSTEM "http://127.0.0.1:9/x">]>'
        "<competition><pirate>&d;&d;&d;&e;</pirate></competition>"
    )
    start = time.perf_counter()
    p = parse(bomb, PKV)
    _ = p.well_formed
    assert time.perf_counter() - start < 2.0
    assert "&d;" in p.section_text("pirate")  # the text is scored as written, never expanded


@pytest.mark.parametrize(
    "hostile",
    [
        "<competition>" * 20000,
        "<pirate " + "x" * 100000 + ">",
        "<" * 50000 + "competition>",
        "<competition><pirate>" + "<knight><viking>" * 5000,
        "\x00\ud800<competition>\udfff</competition>",
        "",
        " \n\t ",
    ],
)
def test_hostile_input_parses_quickly(hostile):
    start = time.perf_counter()
    p = parse(hostile, PKV)
    _ = p.well_formed
    assert time.perf_counter() - start < 2.0
    assert isinstance(p.final_answer, str)


def test_no_construct_at_all_means_the_whole_text_is_the_answer():
    p = parse("The answer is 24.", THINK)
    assert p.final_answer == "The answer is 24." and p.missing == ["think"]


def test_closing_tag_without_its_opening_still_ends_the_trace():
    p = parse("reasoning here\n</think>\n24", THINK)
    assert p.final_answer == "24" and p.stray_closes == ["think"] and "think" not in p.sections
