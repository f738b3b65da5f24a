"""Hostile completions of any size: the families the growth benchmark and the soak fuzzer scale up.

Each family builds (completion, answer, prompt, construct) of about `size` characters. They are the
measured quadratics of issue 12 (`<` before a run of white space, voice-stem words, many numbered
steps) and every family `judgecraft.strategies.adversarial` draws (huge and nested tags, fragment
soups, fragments injected in a construct, bombs and code as the final answer, an XML prologue,
runs of one character, arbitrary text), plus well-formed constructs for comparison.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from judgecraft.strategies import _BOMBS, _CODE, _ODD, _STRAY, _XML, example_completion

Case = tuple[str, str | None, str | None, str]  # completion, gold answer, prompt, construct
PERSONAS = ("pirate", "knight", "viking")
FILLER = "we split the total into equal parts and multiply each part by the rate then add".split()


def _repeat(piece: str, size: int) -> str:
    return (piece * (size // max(1, len(piece)) + 1))[:size]


def _competition(sections: dict[str, str], final: str = "So the final answer is 24.") -> str:
    body = "".join(f"<{p}>\n{sections.get(p, 'Arr, 6 * 4 = 24.')}\n</{p}>\n" for p in PERSONAS)
    return f"<competition>\n{body}<result>\nAll reach 24.\n<winner>pirate</winner>\n</result>\n</competition>\n{final}"


def _prose(size: int, rng: random.Random) -> str:
    words, used = [], 0
    while used < size:
        word = rng.choice(FILLER) if rng.random() < 0.9 else str(rng.randint(1, 999))
        words.append(word)
        used += len(word) + 1
    return " ".join(words)


def _fragments(size: int, rng: random.Random) -> str:
    tags = [f"<{p}>" for p in PERSONAS] + [f"</{p}>" for p in PERSONAS] + ["<competition>", "<winner/>", "< RESULT >"]
    pool = list(_BOMBS + _CODE + _XML + _STRAY + _ODD) + tags
    out, used = [], 0
    while used < size:
        piece = rng.choice(pool)
        out.append(piece)
        used += len(piece)
    return "".join(out)[:size]


def lt_whitespace(size: int, rng: random.Random) -> Case:
    return "<" + _repeat(" \n", size), "24", None, "pkv"


def lt_whitespace_prompt(size: int, rng: random.Random) -> Case:
    return example_completion("pkv").text, "24", "<" + _repeat("  \n", size), "pkv"


def voice_stems(size: int, rng: random.Random) -> Case:
    stems = " ".join(f"arr{i}" for i in range(size // 6))[: size // 3]
    return (
        _competition({"pirate": stems, "knight": stems.replace("arr", "hark"), "viking": "By Odin, 24."}),
        "24",
        None,
        "pkv",
    )


def numbered_steps(size: int, rng: random.Random) -> Case:
    per_step = max(20, size // 200)
    steps = [f"{i}. step {i} {_prose(per_step, rng)}" for i in range(1, 201)]
    return "<think>\n" + "\n".join(steps) + "\n</think>\nThe answer is 24.", "24", None, "think"


def repeated_steps(size: int, rng: random.Random) -> Case:
    step = _prose(200, rng)
    steps = [f"{i % 1000}. {step}" for i in range(size // 210 + 1)]
    return "<think>\n" + "\n".join(steps) + "\n</think>\nThe answer is 24.", "24", None, "think"


def huge_tag(size: int, rng: random.Random) -> Case:
    return "<pirate " + _repeat("a=1 ", size) + ">", "24", None, "pkv"


def huge_tag_in_answer(size: int, rng: random.Random) -> Case:
    return _competition({}, "24 <pirate " + _repeat("a=1 ", size) + ">"), "24", None, "pkv"


def nested(size: int, rng: random.Random) -> Case:
    depth = size // 17
    return "<pirate>" * depth + "deep" + "</pirate>" * depth, "24", None, "pkv"


def nested_mixed(size: int, rng: random.Random) -> Case:
    return _repeat("<competition><pirate><knight><result><winner>", size), "24", None, "pkv"


def fragment_soup(size: int, rng: random.Random) -> Case:
    return _fragments(size, rng), "24", None, "pkv"


def injected(size: int, rng: random.Random) -> Case:
    sections = {p: _prose(size // 6, rng) + _fragments(size // 6, rng) for p in PERSONAS}
    return _competition(sections), "24", None, "pkv"


def bomb_answer(size: int, rng: random.Random) -> Case:
    return _competition({}, _fragments_of(_BOMBS + _CODE, size, rng)), "24", None, "pkv"


def long_number_answer(size: int, rng: random.Random) -> Case:
    return _competition({}, "The answer is 9" + "9" * size + "."), "24", None, "pkv"


def xml_prologue(size: int, rng: random.Random) -> Case:
    return _fragments_of(_XML, size, rng) + example_completion("pkv").text, "24", None, "pkv"


def _fragments_of(pool: tuple[str, ...], size: int, rng: random.Random) -> str:
    out, used = [], 0
    while used < size:
        piece = rng.choice(pool)
        out.append(piece)
        used += len(piece)
    return "".join(out)


def run_of(char: str) -> Callable[[int, random.Random], Case]:
    def family(size: int, rng: random.Random) -> Case:
        return char * size, "24", None, "pkv"

    return family


def arbitrary_text(size: int, rng: random.Random) -> Case:
    alphabet = [chr(c) for c in (*range(32, 127), *range(0x370, 0x3FF), 0x4E00, 0x1F3F4, 0xD800, 10, 60, 62, 38)]
    return "".join(rng.choice(alphabet) for _ in range(size)), "24", None, "pkv"


def markers_spam(size: int, rng: random.Random) -> Case:
    spam = _repeat("wait, let me re-check. hmm. actually ", size // 3)
    return _competition({p: spam for p in PERSONAS}), "24", None, "pkv"


def well_formed(size: int, rng: random.Random) -> Case:
    voices = {"pirate": "Arr matey!", "knight": "Hark, good sir!", "viking": "By Odin!"}
    sections = {p: f"{v} {_prose(size // 3, rng)} Wait, let me re-check: 6 * 4 = 24." for p, v in voices.items()}
    return _competition(sections), "24", None, "pkv"


def copied_personas(size: int, rng: random.Random) -> Case:
    text = _prose(size // 3, rng)
    return _competition({p: text for p in PERSONAS}), "24", None, "pkv"


FAMILIES: dict[str, Callable[[int, random.Random], Case]] = {
    # the quadratics measured in issue 12
    "lt_whitespace": lt_whitespace,
    "lt_whitespace_prompt": lt_whitespace_prompt,
    "voice_stems": voice_stems,
    "numbered_steps": numbered_steps,
    "huge_tag_in_answer": huge_tag_in_answer,
    # what strategies.adversarial draws
    "huge_tag": huge_tag,
    "nested": nested,
    "nested_mixed": nested_mixed,
    "fragment_soup": fragment_soup,
    "injected": injected,
    "bomb_answer": bomb_answer,
    "long_number_answer": long_number_answer,
    "xml_prologue": xml_prologue,
    "newlines": run_of("\n"),
    "lt_run": run_of("<"),
    "amp_run": run_of("&"),
    "surrogates": run_of("\ud800"),
    "arbitrary_text": arbitrary_text,
    # loops and copies, and the well-formed case for comparison
    "repeated_steps": repeated_steps,
    "markers_spam": markers_spam,
    "copied_personas": copied_personas,
    "well_formed": well_formed,
}
