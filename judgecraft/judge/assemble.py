"""The seed's second training set-up: outside trajectories -> judge picks -> a data set that trains the judging.

Trajectories from other models, methods or people are shown to the judge (shuffled, unlabelled),
and its pick is checked against the gold answer: an example is kept only when the judge picked a
trajectory whose own answer is right. A judge that picked a wrong trajectory, or a question where
no trajectory is right, teaches nothing good and is dropped (counted, with the reason).

Two formats:
- `verdict`: the judge's prompt -> its verdict JSON (the same schema), one example per shuffle
  that picked the checked winner, so the data also teaches the answer not to depend on the order.
  Trains a stand-alone judge model.
- `construct`: the construct's own format with the trajectories as its personas (pirate, knight,
  viking), the judge's grades and pick written into <result> and <winner>, then the answer from the
  winner. Trains the judging inside the construct, which is the seed's meta-evaluation model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from judgecraft.construct import Construct, load_construct
from judgecraft.judge.prompts import JudgeItem, render
from judgecraft.judge.verdict import ShuffleVerdict, Verdict

FORMATS = ("verdict", "construct")


@dataclass
class Trajectories:
    question: str
    trajectories: list[tuple[str, str]]  # (source name, text)
    answer: Any = None
    id: Any = None


@dataclass
class Assembled:
    group: Trajectories
    kept: bool
    reason: str
    winner: str | None = None  # the source the judge picked
    correct: dict[str, bool | None] = field(default_factory=dict)  # source -> its answer is right (None: no gold)
    records: list[dict[str, Any]] = field(default_factory=list)

    def meta(self) -> dict[str, Any]:
        return {
            "id": self.group.id,
            "kept": self.kept,
            "reason": self.reason,
            "winner": self.winner,
            "correct": self.correct,
            "examples": len(self.records),
        }


def verdict_json(shuffle: ShuffleVerdict) -> str:
    """A shuffle's verdict as the judge wrote it (labels, written grades), in the schema's key order."""
    label_of = dict(zip(shuffle.order, shuffle.labels, strict=True))
    data: dict[str, Any] = {
        "rationale": shuffle.rationale,
        "scores": {label_of[name]: shuffle.written[name] for name in shuffle.order},
    }
    if shuffle.winner is not None:
        data["winner"] = label_of[shuffle.winner]
    return json.dumps(data, ensure_ascii=False)


def construct_text(
    construct: Construct, personas: dict[str, str], verdict: Verdict, scale: tuple[int, int], answer: str
) -> str:
    """A full construct with the trajectories as personas and the judge's verdict as its <result>."""
    lines = [f"<{construct.root}>"]
    for name, text in personas.items():
        lines += [f"<{name}>", text.strip(), f"</{name}>"]
    low, high = scale
    grades = []
    for name in personas:
        s = verdict.scores[name]
        parts = ", ".join(
            f"{crit.replace('_', ' ')} {round(low + v * (high - low), 1):g}/{high}" for crit, v in s.items()
        )
        grades.append(f"- {name}: {parts}")
    result = ["Grades:", *grades, f"The {verdict.winner} wins: the most trustworthy reasoning and answer."]
    winner_tag = construct.winner_tag or "winner"
    result_tag = construct.tag(winner_tag).parent if construct.winner_tag else None
    if result_tag and result_tag != construct.root:
        lines += [
            f"<{result_tag}>",
            *result,
            f"<{winner_tag}>",
            str(verdict.winner),
            f"</{winner_tag}>",
            f"</{result_tag}>",
        ]
    else:
        lines += [*result, f"<{winner_tag}>", str(verdict.winner), f"</{winner_tag}>"]
    lines.append(f"</{construct.root}>")
    lines.append(f"Based on the {verdict.winner}'s solution, the answer is {answer}.")
    return "\n".join(lines)


def assemble(
    groups: Sequence[Trajectories],
    construct: str | Construct = "pkv",
    judge: Any = None,
    *,
    format: str = "verdict",
    keep_unchecked: bool = False,
    progress: bool = False,
) -> list[Assembled]:
    """Judge each group's trajectories, check the pick with the gold answer, build training examples."""
    from judgecraft.answer import AnswerChecker, extract_answer, parse_gold

    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    if judge is None:
        raise ValueError("assemble needs a judge (make_judge(spec, construct))")
    c = load_construct(construct)
    checker = AnswerChecker()
    out: list[Assembled] = []
    items: list[JudgeItem | None] = []
    for g in groups:
        done = Assembled(g, False, "")
        out.append(done)
        names = [name for name, _ in g.trajectories]
        if len(g.trajectories) < 2:
            done.reason = "fewer than two trajectories: nothing to choose between"
        elif len(set(names)) != len(names):
            done.reason = f"trajectory sources repeat: {names}"
        elif format == "construct" and len(g.trajectories) != len(c.personas):
            done.reason = f"{len(g.trajectories)} trajectories but the construct has {len(c.personas)} personas"
        if done.reason:
            items.append(None)
            continue
        if format == "construct":  # the trajectories become the personas, in order
            candidates = {p: text for p, (_, text) in zip(c.personas, g.trajectories, strict=True)}
        else:
            candidates = dict(g.trajectories)
        items.append(JudgeItem(g.question, candidates, None if g.answer is None else str(g.answer), g.id))
    todo = [i for i, item in enumerate(items) if item is not None]
    verdicts = judge.judge_many([items[i] for i in todo], progress=progress) if todo else []
    for i, verdict in zip(todo, verdicts, strict=True):
        done, item = out[i], items[i]
        assert item is not None
        gold = parse_gold(str(item.gold)) if item.gold not in (None, "") else None
        answers = {name: extract_answer(text) for name, text in item.candidates.items()}
        done.correct = {
            name: (checker.compare(answers[name], gold, text).equal if gold is not None else None)
            for name, text in item.candidates.items()
        }
        if not isinstance(verdict, Verdict):
            done.reason = f"the judge failed: {verdict}"
            continue
        if verdict.winner is None:
            done.reason = "the judge's shuffles tied"
            continue
        done.winner = verdict.winner
        right = done.correct[verdict.winner]
        if right is None and not keep_unchecked:
            done.reason = "no gold answer to check the judge's pick (use keep_unchecked)"
            continue
        if right is False:
            any_right = any(done.correct.values())
            done.reason = "the judge picked a wrong trajectory" if any_right else "no trajectory is right"
            continue
        done.kept = True
        done.reason = "the judge's pick is right" if right else "kept unchecked (no gold answer)"
        if format == "verdict":
            for shuffle in verdict.shuffles:
                if shuffle.winner != verdict.winner:
                    continue  # a shuffle that disagreed with the checked pick teaches the wrong answer
                messages, _ = render(item, shuffle.order, judge.config)
                done.records.append({"messages": [*messages, {"role": "assistant", "content": verdict_json(shuffle)}]})
        else:
            final = answers[verdict.winner].segment.strip() or str(item.gold or "")
            text = construct_text(c, item.candidates, verdict, judge.config.scale, final)
            messages = [{"role": "system", "content": c.system_prompt}] if c.system_prompt else []
            messages += [{"role": "user", "content": item.question}, {"role": "assistant", "content": text}]
            done.records.append({"messages": messages})
    return out


def trajectory_groups(rows: Sequence[dict[str, Any]], question_fields, answer_fields, id_fields) -> list[Trajectories]:
    """Groups from dump rows: a `trajectories` list per row (strings or {"source", "text"} objects)."""

    def first(row: dict[str, Any], names: Sequence[str]) -> Any:
        return next((row[n] for n in names if row.get(n) is not None), None)

    groups = []
    for row in rows:
        raw = row.get("trajectories")
        if not isinstance(raw, list):
            raise ValueError("each row needs a `trajectories` list (strings or objects with `text` and `source`)")
        trajs: list[tuple[str, str]] = []
        for j, t in enumerate(raw):
            if isinstance(t, dict):
                trajs.append((str(t.get("source") or t.get("name") or f"t{j + 1}"), str(t.get("text", ""))))
            else:
                trajs.append((f"t{j + 1}", str(t)))
        question = first(row, question_fields)
        from judgecraft.judge.prompts import question_text

        groups.append(Trajectories(question_text(question), trajs, first(row, answer_fields), first(row, id_fields)))
    return groups
