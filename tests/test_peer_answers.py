"""judgecraft's answer checking on peers' public cases (tests/data/peer_answers), against math-verify's figures.

The pairs come from math-verify's own test files and issues, TRL's and verl's reward tests, labelled
as a careful grader would (see the data README). The accuracy test re-judges every pair with
judgecraft and compares, per math-verify source file, with math-verify 0.9.0's accuracy recorded by
benchmarks/bench_answers.py in benchmarks/results/answers.json: judgecraft must be at least as good
on every file, reach 95% over all of math-verify's public cases, and add no false positive (an
accepted wrong answer is a reward-hacking route) beyond what the committed benchmark recorded.
It is marked `slow` (the math-verify fallback runs for the symbolic pairs).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "peer_answers"
RESULTS = ROOT / "benchmarks" / "results" / "answers.json"
FIELDS = {"gold": str, "candidate": str, "equal": bool, "source": str, "note": str}
MV = "huggingface/Math-Verify"


def _rows() -> list[dict]:
    return [
        {**json.loads(line), "file": path.name}
        for path in sorted(DATA.glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


ROWS = _rows()


def _source_file(row: dict) -> str:
    """The unit accuracy is reported on; the same grouping as benchmarks/bench_answers.py."""
    if row["source"].startswith(f"https://github.com/{MV}/issues/"):
        return f"{MV} issues"
    return row["source"].split("::", 1)[0]


MV_SOURCES = sorted({_source_file(r) for r in ROWS if r["source"].startswith(MV) or "/Math-Verify/" in r["source"]})


def test_peer_data_is_complete_and_labelled():
    assert len(ROWS) >= 350
    for row in ROWS:
        for field, kind in FIELDS.items():
            assert isinstance(row.get(field), kind), (field, row["source"])
        assert row["mv_expected"] in (True, False, None)
        assert row["gold"].strip() and row["candidate"].strip() and row["source"].strip()
        if row["mv_expected"] is not None and row["mv_expected"] != row["equal"] and row["file"] != "verl.jsonl":
            assert row["note"], f"a label that differs from the recorded verdict must say why: {row['source']}"
    per_file = defaultdict(int)
    for row in ROWS:
        per_file[row["file"]] += 1
    assert set(per_file) == {"math_verify_tests.jsonl", "math_verify_issues.jsonl", "trl.jsonl", "verl.jsonl"}
    assert {s.rsplit("/", 1)[-1] for s in MV_SOURCES} >= {
        "test_all.py",
        "test_numina_cases.py",
        "test_open_thoughts.py",
    }


@pytest.fixture(scope="module")
def verdicts() -> dict[str, list[tuple[bool, bool]]]:
    """(judgecraft's verdict, the label) for every pair, grouped by source file."""
    from judgecraft import Scorer
    from judgecraft.answer import AnswerChecker

    checker, scorers, out = AnswerChecker(), {}, defaultdict(list)
    for row in ROWS:
        construct = row.get("construct")
        if construct:
            scorer = scorers.setdefault(construct, Scorer(construct))
            said = scorer.score(row["candidate"], answer=row["gold"]).values()["correctness"] == 1.0
        else:
            said = checker.check(row["candidate"], row["gold"]).equal
        out[_source_file(row)].append((bool(said), row["equal"]))
    return out


@pytest.fixture(scope="module")
def recorded() -> dict:
    assert RESULTS.exists(), "run benchmarks/bench_answers.py first: it records math-verify's figures"
    return json.loads(RESULTS.read_text(encoding="utf-8"))["accuracy"]


def _accuracy(pairs: list[tuple[bool, bool]]) -> float:
    return sum(said == truth for said, truth in pairs) / len(pairs)


@pytest.mark.slow
@pytest.mark.parametrize("source", MV_SOURCES)
def test_at_least_math_verify_on_each_of_its_sources(verdicts, recorded, source):
    theirs = recorded["per_source_file"][source]["math_verify"]
    assert theirs["n"] == len(verdicts[source]), "answers.json is stale: rerun benchmarks/bench_answers.py"
    assert _accuracy(verdicts[source]) >= theirs["accuracy"] - 1e-9, source


@pytest.mark.slow
def test_at_least_95_percent_over_math_verify_public_cases(verdicts):
    pairs = [p for source in MV_SOURCES for p in verdicts[source]]
    assert _accuracy(pairs) >= 0.95


@pytest.mark.slow
def test_no_new_false_positive_on_peer_cases(verdicts, recorded):
    false_positives = sum(said and not truth for pairs in verdicts.values() for said, truth in pairs)
    assert false_positives <= recorded["overall"]["judgecraft"]["false_positives"]
