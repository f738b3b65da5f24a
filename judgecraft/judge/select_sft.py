"""The seed's first training set-up: several generations per prompt -> rules and judge pick -> SFT on winners only.

Rules go first, because they are exact and free: a generation must keep the construct's format
(its rule total at least `min_score`) and, where the prompt has a gold answer, be right. The
judge then compares the generations that passed (shown whole, shuffled, under neutral labels),
and its pick is the one kept. One survivor needs no judge; with no judge, a failed judge call or
a tie, the best rule total decides, and the record says so (`picked_by`).

Records are in TRL's conversational format: {"messages": [system, user, assistant]}. A prefill
the prompt ended with (opening tags pre-inserted by a chat template) is put back in front of the
completion, so the assistant message is the whole construct the model should learn to write.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from judgecraft.construct import Construct, load_construct
from judgecraft.io import completion_text
from judgecraft.judge.prompts import JudgeItem, question_text
from judgecraft.judge.verdict import Verdict


@dataclass
class Group:
    """One prompt and its several generations."""

    prompt: Any  # a string or a list of chat messages
    completions: list[Any]
    answer: Any = None
    id: Any = None


@dataclass
class Selection:
    group: Group
    picked: int | None  # index into group.completions
    picked_by: str | None  # "judge" | "rules" | None
    reason: str
    rule_totals: list[float] = field(default_factory=list)
    passed: list[int] = field(default_factory=list)  # generations that passed the rules
    verdict: dict[str, Any] | None = None
    record: dict[str, Any] | None = None  # the SFT example, when one was picked

    def meta(self) -> dict[str, Any]:
        return {
            "id": self.group.id,
            "picked": self.picked,
            "picked_by": self.picked_by,
            "reason": self.reason,
            "rule_totals": self.rule_totals,
            "passed": self.passed,
            "judge_winner": (self.verdict or {}).get("winner"),
            "judge_votes": (self.verdict or {}).get("votes"),
        }


def sft_messages(prompt: Any, completion: str, construct: Construct, system: bool = True) -> list[dict[str, str]]:
    """The chat a model should learn from: the prompt's messages (or system + question) and the full answer."""
    from judgecraft.scorer import prefill_from_prompt

    prefill = prefill_from_prompt(prompt, construct)
    if isinstance(prompt, str):
        messages = (
            [{"role": "system", "content": construct.system_prompt}] if system and construct.system_prompt else []
        )
        messages.append({"role": "user", "content": prompt})
    else:
        messages = [dict(m) for m in prompt]
        if messages and messages[-1].get("role") == "assistant":  # a prefill message: merged into the answer
            messages.pop()
    return [*messages, {"role": "assistant", "content": prefill + completion}]


def select_winners(
    groups: Sequence[Group],
    construct: str | Construct = "pkv",
    judge: Any = None,
    *,
    stage: str | None = None,
    min_score: float = 0.0,
    require_correct: bool = True,
    system: bool = True,
    progress: bool = False,
) -> list[Selection]:
    """Pick one generation per group (or none) and build its SFT record."""
    from judgecraft.scorer import Scorer

    c = load_construct(construct)
    scorer = Scorer(c, stage=stage)
    selections: list[Selection] = []
    to_judge: list[tuple[Selection, JudgeItem]] = []
    for group in groups:
        texts = [completion_text(x) or "" for x in group.completions]
        breakdowns = [scorer.score(t, answer=group.answer, prompt=group.prompt) for t in texts]
        totals = [round(bd.total, 6) for bd in breakdowns]
        passed = []
        for i, bd in enumerate(breakdowns):
            correct = bd.components.get("correctness")
            right = correct is None or correct.value is None or correct.value >= 1.0
            if bd.total >= min_score and (right or not require_correct) and texts[i].strip():
                passed.append(i)
        sel = Selection(group, None, None, "", totals, passed)
        selections.append(sel)
        if not passed:
            sel.reason = "no generation passed the rules (format score and correctness)"
        elif len(passed) == 1 or judge is None:
            best = max(passed, key=lambda i: totals[i])
            sel.picked, sel.picked_by = best, "rules"
            sel.reason = "the only generation that passed the rules" if len(passed) == 1 else "best rule total"
        else:
            item = JudgeItem(
                question=question_text(group.prompt),
                candidates={f"#{i}": texts[i] for i in passed},
                gold=None if group.answer is None else str(group.answer),
                id=group.id,
            )
            to_judge.append((sel, item))
    if to_judge:
        verdicts = judge.judge_many([item for _, item in to_judge], progress=progress)
        for (sel, _), verdict in zip(to_judge, verdicts, strict=True):
            best_rule = max(sel.passed, key=lambda i: sel.rule_totals[i])
            if isinstance(verdict, Verdict) and verdict.winner is not None:
                sel.picked, sel.picked_by = int(verdict.winner[1:]), "judge"
                sel.reason = f"the judge's pick among {len(sel.passed)} that passed the rules"
            else:
                why = "the judge's shuffles tied" if isinstance(verdict, Verdict) else f"the judge failed: {verdict}"
                sel.picked, sel.picked_by = best_rule, "rules"
                sel.reason = f"best rule total ({why})"
            sel.verdict = verdict.to_dict() if isinstance(verdict, Verdict) else None
    for sel in selections:
        if sel.picked is not None:
            text = completion_text(sel.group.completions[sel.picked]) or ""
            sel.record = {"messages": sft_messages(sel.group.prompt, text, c, system)}
    return selections


def group_rows(rows: Sequence[dict[str, Any]], prompt_fields, completion_fields, answer_fields, id_fields, group_field):
    """Groups from dump rows: a row with a `completions` list is a group; else rows sharing a prompt are one."""
    import json

    def first(row: dict[str, Any], names: Sequence[str]) -> Any:
        return next((row[n] for n in names if row.get(n) is not None), None)

    groups: dict[str, Group] = {}
    for row in rows:
        prompt = first(row, prompt_fields)
        if isinstance(row.get("completions"), list):
            key = f"row:{len(groups)}"
            groups[key] = Group(prompt, list(row["completions"]), first(row, answer_fields), first(row, id_fields))
            continue
        key = str(row.get(group_field)) if group_field and row.get(group_field) is not None else json.dumps(prompt)
        if key not in groups:
            gid = row.get(group_field) if group_field else first(row, id_fields)
            groups[key] = Group(prompt, [], first(row, answer_fields), gid)
        groups[key].completions.append(first(row, completion_fields))
    return list(groups.values())
