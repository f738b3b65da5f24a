"""Judging a whole dump: read through `judgecraft.io` (JSONL or Parquet, chat messages, bad rows kept),
write one JSONL row per input row, and resume after a crash exactly like `judgecraft score`.

Rows are judged a batch at a time; after each batch the output is fsync'ed and then the checkpoint
(input rows accounted for, where the input resumes, how much output is durable, the running
counts) is replaced atomically. A rerun with the same settings cuts the output back to the
checkpoint and goes on from there, so every input row lands in the output exactly once; a rerun
with other settings is refused (ask for `--restart`). Verdicts already judged before a crash are
in the judge cache too, so even the batch in flight costs nothing twice.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict
from itertools import islice
from pathlib import Path
from typing import Any

from judgecraft.io import Checkpoint, Fields, JsonlOutput, RawRow, Record, decode_row, detect_format, iter_raw_rows
from judgecraft.judge.agreement import checker_says_right, judge_says_right, kappa, table
from judgecraft.judge.verdict import Verdict


class ResumeMismatch(ValueError):
    """A checkpoint from a run with other settings is in the way."""


def run_fingerprint(input_path: Path, settings: dict[str, Any]) -> dict[str, Any]:
    stat = input_path.stat()
    source = {"path": str(input_path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    return json.loads(json.dumps({"input": source, "settings": settings}, default=str))


def _batches(rows: Iterator[RawRow], size: int) -> Iterator[list[RawRow]]:
    while batch := list(islice(rows, size)):
        yield batch


def judge_dump(
    judge: Any,
    input_path: str | Path,
    output_path: str | Path,
    fields: Fields,
    settings: dict[str, Any],
    *,
    batch_size: int = 64,
    restart: bool = False,
    on_batch: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Judge every row of `input_path` into `output_path` (JSONL); return the run's counts and agreement."""
    input_path, output_path = Path(input_path), Path(output_path)
    detect_format(input_path)
    if detect_format(output_path) != "jsonl":
        raise ValueError(f"{output_path}: judge output is JSONL (verdicts are nested)")
    if input_path.resolve() == output_path.resolve():
        raise ValueError("the output would overwrite the input")
    fingerprint = run_fingerprint(input_path, {**settings, "fields": asdict(fields)})
    checkpoint = None if restart else Checkpoint.load(output_path)
    if checkpoint is not None and checkpoint.fingerprint != fingerprint:
        raise ResumeMismatch(
            f"{Checkpoint.path_for(output_path)} belongs to a run with other settings; "
            "rerun with --restart to start over (or pick another --out)"
        )
    state = checkpoint or Checkpoint(fingerprint)
    counts: Counter[str] = Counter(state.summary)
    resumed = state.rows_read if checkpoint else 0
    writer = JsonlOutput(output_path, resume=checkpoint)
    scorers = _scorers(judge)

    def save() -> None:
        writer.sync(state)  # the output first, durable; only then the checkpoint that points past it
        state.summary = dict(counts)
        state.save(output_path)

    try:
        if checkpoint is None:
            save()
        if not state.complete:
            raw = iter_raw_rows(input_path, fields, start_row=state.rows_read, start_offset=state.input_offset)
            for batch in _batches(raw, batch_size):
                records = [decode_row(r, fields) for r in batch]
                lines = [json.dumps(row, ensure_ascii=False, default=str) + "\n"
                         for row in judge_records(judge, scorers, records, counts)]  # fmt: skip
                writer.write_lines(lines)
                state.rows_read, state.input_offset = batch[-1].row + 1, batch[-1].end
                state.written += len(lines)
                save()
                if on_batch is not None:
                    on_batch(state.rows_read)
            state.complete = True
            save()
        writer.finish()
    finally:
        writer.close()
    Checkpoint.remove(output_path)
    return {**summary(counts), "resumed_at_row": resumed}


def _scorers(judge: Any) -> tuple[Any, Any]:
    from judgecraft.scorer import Scorer

    construct = judge.construct
    judged = Scorer(construct, components=[n for n in construct.components if n.startswith("judge_")])
    checker = Scorer(construct, components=["correctness"])
    return judged, checker


def judge_records(judge: Any, scorers: tuple[Any, Any], records: list[Record], counts: Counter[str]) -> list[dict]:
    """One output row per record: the judge components, the verdict (or its error), the checker's call."""
    judged, checker = scorers
    good = [r for r in records if r.completion is not None]
    items = [judge.item(r.prompt, r.completion, r.answer, r.id) for r in good]
    verdicts = dict(zip((r.row for r in good), judge.judge_many(items), strict=True)) if items else {}
    rows = []
    for r in records:
        counts["rows"] += 1
        row: dict[str, Any] = {"row": r.row, "id": r.id}
        if r.row not in verdicts:
            counts["bad rows"] += 1
            rows.append({**row, "judge": None, "answer_right": None, "error": r.error})
            continue
        v = verdicts[r.row]
        bd = judged.score(r.completion, answer=r.answer, prompt=r.prompt, verdict=v, prefill=r.prefill)
        right = checker_says_right(checker, r.completion, r.answer, r.prompt)
        verdict_ok = isinstance(v, Verdict)
        counts["judged" if verdict_ok else "judge errors"] += 1
        for key, n in table([(judge_says_right(v), right)]).items():
            counts[f"agreement.{key}"] += n
        rows.append({**row, **bd.values(), "judge": v.to_dict(), "answer_right": right,
                     "error": None if verdict_ok else str(v)})  # fmt: skip
    return rows


def summary(counts: Counter[str] | dict[str, int]) -> dict[str, Any]:
    agreement = kappa({k.split(".", 1)[1]: v for k, v in counts.items() if k.startswith("agreement.")})
    plain = {k: counts.get(k, 0) for k in ("rows", "judged", "judge errors", "bad rows")}
    return {**plain, "judge_verifier": agreement}
