"""What the judge is shown: the question and the candidates, in a shuffled order, under neutral labels.

A candidate is one piece of reasoning to grade: a persona's section of a competition, a whole
<think> trace, or (for `judgecraft select`) one of several generations for the same prompt.

Position bias is cancelled by design, not hoped away. Each item gets a random order seeded by
its own content (the same item is always shown the same way, so the cache hits whatever the
batch), and `shuffles = n` shows it in n rotations of that order: with n equal to the number of
candidates, every candidate sits at every position exactly once, so a judge that prefers a
position spreads that preference evenly over the candidates instead of handing it to the first
persona. Neutral labels (A, B, C) hide the persona names; the verdict maps them back.
"""

from __future__ import annotations

import hashlib
import json
import random
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from judgecraft.construct import Construct
from judgecraft.io import completion_text, content_text
from judgecraft.judge.config import JudgeConfig
from judgecraft.parse import parse


@dataclass(frozen=True)
class JudgeItem:
    """One thing to judge: a question and its candidates (name -> text), in their original order."""

    question: str
    candidates: dict[str, str]
    gold: str | None = None  # never shown to the judge; `assemble` checks the judge's pick with it
    id: Any = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False)
    allow_empty: bool = False  # send even when every candidate is empty (the probe's empty-solution attack)

    @property
    def names(self) -> list[str]:
        return list(self.candidates)

    @property
    def content_key(self) -> str:
        """A hash of what the judge sees, independent of ids and batch: seeds the shuffle."""
        blob = json.dumps([self.question, list(self.candidates.items())], ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()

    @property
    def empty(self) -> bool:
        return not self.allow_empty and not any(text.strip() for text in self.candidates.values())


def question_text(prompt: Any) -> str:
    """The question in a prompt: a string as is, or the last user message of a chat."""
    if prompt is None:
        return ""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, Sequence):
        for message in reversed(list(prompt)):
            if isinstance(message, dict) and message.get("role") == "user":
                return content_text(message.get("content")) or ""
    return str(prompt)


def candidates_from_completion(completion: str, construct: Construct, prefill: str = "") -> dict[str, str]:
    """The candidates in one construct completion: its personas' sections, else its reasoning and answer."""
    parsed = parse(completion, construct, prefill=prefill)
    if construct.personas:
        return {name: parsed.section_text(name).strip() for name in construct.personas}
    reasoning = "\n\n".join(parsed.section_text(n).strip() for n in construct.reasoning_sections).strip()
    final = parsed.final_answer.strip()
    text = reasoning + (f"\n\nFinal answer: {final}" if final else "")
    return {construct.root: text.strip()}


def item_from_completion(
    prompt: Any, completion: Any, construct: Construct, gold: Any = None, prefill: str | None = None, id: Any = None
) -> JudgeItem:
    """A JudgeItem for a construct completion (a prefill in the prompt is honoured, as the Scorer does)."""
    from judgecraft.scorer import prefill_from_prompt

    if prefill is None:
        prefill = prefill_from_prompt(prompt, construct)
    text = completion_text(completion) or ""
    return JudgeItem(
        question=question_text(prompt),
        candidates=candidates_from_completion(text, construct, prefill=prefill or ""),
        gold=None if gold is None else str(gold),
        id=id,
    )


def shuffle_orders(names: list[str], shuffles: int, seed: int, content_key: str) -> list[list[str]]:
    """The orders an item is shown in: the original order for 0, else rotations of a seeded random order.

    Beyond n rotations (n candidates), further orders are fresh random permutations.
    """
    if shuffles <= 0 or len(names) < 2:
        return [list(names)]
    rng = random.Random(f"{seed}:{content_key}")
    base = list(names)
    rng.shuffle(base)
    orders = [base[i:] + base[:i] for i in range(min(shuffles, len(base)))]
    while len(orders) < shuffles:
        extra = list(names)
        rng.shuffle(extra)
        orders.append(extra)
    return orders


def clip_text(text: str, max_chars: int) -> str:
    """Keep the head and the tail of an over-long candidate (the answer is usually at the end)."""
    if max_chars <= 0 or len(text) <= max_chars:
        return text
    head = max_chars * 2 // 3
    tail = max_chars - head
    cut = len(text) - head - tail
    return f"{text[:head]}\n[... {cut} characters cut ...]\n{text[-tail:]}"


def render(item: JudgeItem, order: list[str], config: JudgeConfig) -> tuple[list[dict[str, str]], list[str]]:
    """The chat messages for one judge call with the candidates in `order`, and the labels shown."""
    labels = config.labels_for(order)
    blocks = [
        string.Template(config.candidate).substitute(
            label=label, text=clip_text(item.candidates[name], config.max_chars_per_candidate) or "(empty)"
        )
        for label, name in zip(labels, order, strict=True)
    ]
    criteria = "\n".join(f"- {name}: {desc}" for name, desc in config.criteria)
    low, high = config.scale
    user = string.Template(config.template).substitute(
        question=item.question.strip() or "(no question given)",
        solutions="\n\n".join(blocks),
        labels=", ".join(labels),
        low=low,
        high=high,
        criteria=criteria,
        choose=config.choose if len(order) > 1 else "",
        max_chars=config.rationale_max_chars,
    )
    messages = [{"role": "system", "content": config.system}] if config.system.strip() else []
    return [*messages, {"role": "user", "content": user}], labels
