"""Golden scores: every built-in construct and stage over every row of examples/, compared exactly.

A refactor must not move a single score. This test scores every row of `examples/*.jsonl` (the
real SmolLM2 dump, the handwritten competitions, the malformed lines, and the question files with
their gold answer written as a plain answer) with every stage of every built-in construct, plus a
`<think>` rewrite of each handwritten row and fixed judge verdicts on some rows, and compares the
total, every component's value and the errors with the snapshot under tests/data/golden/, line
for line (floats as Python writes them: repr, so 0.30000000000000004 is not 0.3).

A change that is meant to move scores regenerates the snapshot and shows the diff for review:

    PYTHONPATH=$PWD .venv/bin/python tests/test_golden.py
    git diff --stat tests/data/golden/
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
GOLDEN = Path(__file__).resolve().parent / "data" / "golden"

# Extra configurations beside each built-in stage: parameters whose code paths no stage reaches.
EXTRA = {
    "pkv-round3-judge-winner": ("pkv", "round3", {"judge_quality": {"aggregate": "winner"}}),
    "pkv-round2-words-strict": ("pkv", "round2", {"length": {"unit": "words"}, "structure": {"strict_xml": True}}),
}

# A fixed verdict (the dict a judge dump stores), given to every third handwritten row.
VERDICT = {
    "candidates": ["pirate", "knight", "viking"],
    "winner": "knight",
    "scores": {
        "pirate": {"correctness": 0.5, "thoroughness": 0.75, "originality": 0.25, "self_reflection": 1.0},
        "knight": {"correctness": 1.0, "thoroughness": 0.5, "originality": 0.5, "self_reflection": 0.25},
        "viking": {"correctness": 0.0, "thoroughness": 0.25, "self_reflection": 0.5},
    },
    "votes": {"pirate": 1, "knight": 2, "viking": 0},
    "winner_probs": {"pirate": 0.3, "knight": 0.6, "viking": 0.1},
    "rationale": "fixed for the golden test",
}
JUDGE_ERROR = {"error": "the judge server went away", "kind": "backend", "attempts": 3, "key": None}

_PKV_TAG_RE = re.compile(r"</?\s*(?:competition|pirate|knight|viking|result|winner)\b[^<>]*>", re.IGNORECASE)


def configs() -> dict[str, tuple[str, str, dict | None]]:
    """Every stage of every built-in construct, then the extra configurations."""
    from judgecraft.construct import builtin_constructs, load_construct

    out: dict[str, tuple[str, str, dict | None]] = {}
    for name in builtin_constructs():
        for stage in load_construct(name).stages:
            out[f"{name}-{stage}"] = (name, stage, None)
    return out | EXTRA


def read_rows(path: Path) -> Iterator[tuple[int, Any]]:
    """Each line as JSON (invalid UTF-8 replaced, as a reader of dumps would), or the reason it is not."""
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            yield number, json.loads(raw.decode("utf-8", errors="replace"))
        except json.JSONDecodeError as err:
            yield number, f"invalid JSON: {err.msg}"


def as_think(completion: str) -> str:
    """A competition rewritten as a <think> trace: its reasoning without the tags, then its final answer."""
    head, sep, tail = completion.rpartition("</competition>")
    reasoning, answer = (head, tail) if sep else (completion, "")
    return f"<think>\n{_PKV_TAG_RE.sub('', reasoning).strip()}\n</think>\n{answer.strip()}"


def cases() -> Iterator[dict[str, Any]]:
    """Every row of examples/*.jsonl as Scorer.score arguments, plus the derived think rows."""
    for path in sorted(EXAMPLES.glob("*.jsonl")):
        for number, row in read_rows(path):
            key = {"file": path.name, "line": number}
            if not isinstance(row, dict):
                yield {**key, "skipped": row if isinstance(row, str) else f"not an object: {type(row).__name__}"}
                continue
            key["id"] = row.get("id")
            if "completion" not in row and "question" in row:  # a question file: its gold answer, as a plain answer
                completion = f"The answer is {row.get('answer')}."
            else:
                completion = row.get("completion")
            args = {"completion": completion, "answer": row.get("answer"), "prompt": row.get("prompt")}
            args["prefill"] = row.get("prefill")
            verdict = None
            if path.name == "handwritten.jsonl":
                verdict = (VERDICT, JUDGE_ERROR, None)[number % 3]
            yield {**key, "args": {**args, "verdict": verdict}}
            if path.name == "handwritten.jsonl" and isinstance(completion, str):
                think = {"completion": as_think(completion), "answer": row.get("answer"), "prefill": ""}
                yield {**key, "id": f"{row.get('id')}-think", "args": {**think, "verdict": verdict}}


def snapshot(name: str, construct: str, stage: str, params: dict | None) -> list[str]:
    """The golden lines of one configuration: a header with the resolved weights and parameters, then one line a row."""
    from judgecraft import Scorer

    # A generous math-verify timeout: on a busy machine a cold worker must not turn a match into a timeout.
    scorer = Scorer(construct, stage=stage, params=params, answer_timeout=60.0)
    header = {"config": name, "construct": construct, "stage": stage, "params_override": params}
    header |= {"weights": scorer.weights, "params": scorer.params, "components": list(scorer.components)}
    lines = [json.dumps(header, sort_keys=True, ensure_ascii=False)]
    for case in cases():
        args = case.pop("args", None)
        if args is not None:
            bd = scorer.score(**args)
            case |= {"total": bd.total, "values": bd.values(), "errors": bd.errors}
        lines.append(json.dumps(case, sort_keys=True, ensure_ascii=False))
    return lines


def regenerate() -> None:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for old in GOLDEN.glob("*.jsonl"):
        old.unlink()
    for name, (construct, stage, params) in configs().items():
        lines = snapshot(name, construct, stage, params)
        (GOLDEN / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"{name}: {len(lines) - 1} rows")


def test_the_snapshot_covers_every_configuration():
    assert sorted(p.stem for p in GOLDEN.glob("*.jsonl")) == sorted(configs())


def test_scores_on_the_examples_are_unchanged():
    differences = []
    for name, (construct, stage, params) in configs().items():
        path = GOLDEN / f"{name}.jsonl"
        want = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        got = snapshot(name, construct, stage, params)
        if len(got) != len(want):
            differences.append(f"{name}: {len(got) - 1} rows, the snapshot has {len(want) - 1}")
        for line, (g, w) in enumerate(zip(got, want, strict=False), start=1):
            if g != w:
                differences.append(f"{name}.jsonl line {line}:\n  now:      {g[:600]}\n  snapshot: {w[:600]}")
    assert not differences, f"{len(differences)} golden lines differ:\n" + "\n".join(differences[:8])


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    regenerate()
