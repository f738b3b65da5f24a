"""Structure: 1.0 for the exact construct, 0.5 when every tag is there in order with format variations, else 0.

Exact means each tag exactly once, written plainly (<pirate>, not <Pirate id="1">), properly
nested and closed, nothing but white space around the sections of a pure container, nothing before
the construct, and a final answer after it with no construct tags leaking into it. With
`strict_xml = true` the construct must also be well-formed XML to lxml, which a literal "x < 3"
in the maths breaks; that is why it is off by default.
"""

from __future__ import annotations

from judgecraft.parse import Parsed
from judgecraft.scores.base import Context, Score

DEFAULTS = {"exact": 1.0, "variant": 0.5, "strict_xml": False}
RANGE = (0.0, 1.0)


def score(parsed: Parsed, ctx: Context) -> Score:
    p = ctx.params["structure"]
    blocking = []  # problems that rule out even the 0.5
    if parsed.missing:
        blocking.append(f"missing: {', '.join(parsed.missing)}")
    if parsed.out_of_order:
        blocking.append(f"out of order: {', '.join(parsed.out_of_order)}")
    if parsed.misnested:
        blocking.append(f"misnested: {', '.join(parsed.misnested)}")
    absent = [n for n in parsed.construct.tag_names if n not in parsed.sections and n not in parsed.missing]
    if absent:
        blocking.append(f"only closing tags: {', '.join(absent)}")

    variations = []  # problems that cost the exact 1.0 only
    if parsed.duplicates:
        variations.append(f"duplicated: {', '.join(sorted(parsed.duplicates))}")
    if parsed.unclosed:
        variations.append(f"unclosed: {', '.join(parsed.unclosed)}")
    if parsed.stray_closes:
        variations.append(f"stray closing tags: {', '.join(sorted(set(parsed.stray_closes)))}")  # one mention per tag
    if parsed.variants:
        variations.append(f"tag format: {', '.join(parsed.variants)}")
    if parsed.preamble.strip():
        variations.append("text before the construct")
    if parsed.interstitial:
        variations.append("text between sections")
    if parsed.construct.final_answer != "none" and not parsed.final_answer:
        variations.append("no final answer after the construct")
    if parsed.leaked:
        variations.append(f"tags in the final answer: {', '.join(parsed.leaked)}")
    if p["strict_xml"] and not blocking and not parsed.well_formed:
        variations.append(f"not well-formed XML: {parsed.xml_error}")

    if blocking:
        value, verdict = 0.0, "broken"
    elif variations:
        value, verdict = p["variant"], "variant"
    else:
        value, verdict = p["exact"], "exact"
    return Score(value, {"verdict": verdict, "problems": blocking + variations})
