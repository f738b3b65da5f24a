"""Offline scoring of generation dumps: rows in, one scored row out per input row, resumable and parallel.

The main process only reads and writes: it ships undecoded rows (JSONL lines, Parquet row dicts)
in chunks to worker processes, which decode, score and serialise them and return the output lines
with a partial summary. Chunks come back in input order through a bounded window, so memory stays
constant and the output is written in order, which is what makes a checkpoint a single number.

Resumption (see `judgecraft.io`): the output is fsync'ed and a checkpoint saved every few seconds;
a rerun of the same command cuts the output back to the checkpoint and continues from the input row
after it. Scores are pure functions of the row, so the resumed output equals an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from judgecraft.io import (
    Checkpoint,
    Fields,
    JsonlOutput,
    ParquetOutput,
    RawRow,
    Record,
    decode_row,
    detect_format,
    iter_raw_rows,
    record_from_line,
    record_from_mapping,
    safe_text,
)
from judgecraft.scorer import Breakdown, Scorer

# ---------------------------------------------------------------- configuration


@dataclass(frozen=True)
class ScoreConfig:
    """Everything that decides a row's scores: travels to worker processes and into the checkpoint."""

    construct: str = "pkv"
    stage: str | None = None
    weights: dict[str, float] | None = None
    params: dict[str, dict[str, Any]] | None = None
    fields: Fields = field(default_factory=Fields)
    answer_timeout: float = 5.0

    def scorer(self) -> Scorer:
        return Scorer(self.construct, stage=self.stage, weights=self.weights, params=self.params,
                      answer_timeout=self.answer_timeout)  # fmt: skip

    def fingerprint(self) -> dict[str, Any]:
        """What a resumed run must share with the interrupted one (worker count and chunking do not matter)."""
        from judgecraft import __version__

        spec = Path(self.construct)
        construct_hash = hashlib.sha256(spec.read_bytes()).hexdigest()[:16] if spec.is_file() else None
        data = asdict(self) | {"construct_sha256": construct_hash, "judgecraft": __version__}
        return json.loads(json.dumps(data, sort_keys=True, default=str))


# ---------------------------------------------------------------- one row


def score_record(scorer: Scorer, record: Record) -> tuple[dict[str, Any], Breakdown | None]:
    """The output row for one Record (id, row, total, every component, error) and its Breakdown.

    A Record that could not be read gets null scores and its error; the scorer is never asked to
    guess. A scored row keeps the read warning (an ignored prompt) next to any scorer error.
    """
    out: dict[str, Any] = {"id": record.id, "row": record.row}
    if record.completion is None:
        out["total"] = None
        out.update(dict.fromkeys(scorer.components))
        out["error"] = record.error or "no completion"
        return out, None
    try:
        bd = scorer.score(record.completion, answer=record.answer, prompt=record.prompt, prefill=record.prefill)
    except Exception as err:  # the scorer is total; this guards the run against a bug, and names the row
        out["total"] = None
        out.update(dict.fromkeys(scorer.components))
        out["error"] = f"scorer failed: {type(err).__name__}: {err}"[:500]
        return out, None
    out["total"] = bd.total
    out.update(bd.values())
    errors = ([record.error] if record.error else []) + bd.errors
    out["error"] = "; ".join(errors) or None
    return out, bd


# ---------------------------------------------------------------- the summary


def _error_kind(message: str) -> str:
    """A short class of an error message for counting: the text before its details."""
    for stop in (" (", ": ", " at "):
        message = message.split(stop, 1)[0]
    return message[:60]


@dataclass
class Summary:
    """Mergeable totals over scored rows: worker processes build partial ones, the writer merges them."""

    rows: int = 0
    scored: int = 0
    malformed: int = 0  # rows that could not be read: null scores and an error
    with_errors: int = 0  # scored rows that carry an error note (a failed component, an ignored prompt)
    sums: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    format_rows: int = 0
    valid_format: int = 0  # every tag present, in order, correctly nested (structure "exact" or "variant")
    exact_format: int = 0
    graded: int = 0  # rows with a gold answer (correctness applies)
    correct: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)  # the first few errors, with their row

    MAX_EXAMPLES = 8

    def add(self, row: Mapping[str, Any], bd: Breakdown | None, scorer: Scorer) -> None:
        self.rows += 1
        error = row.get("error")
        if error:
            kind = _error_kind(str(error))
            self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1
            if len(self.examples) < self.MAX_EXAMPLES:
                self.examples.append(f"row {row['row']} (id {row['id']!r}): {error}"[:300])
        if bd is None:
            self.malformed += 1
            return
        self.scored += 1
        self.with_errors += bool(error)
        for name in ("total", *scorer.components):
            value = row.get(name)
            if value is not None:
                self.sums[name] = self.sums.get(name, 0.0) + value
                self.counts[name] = self.counts.get(name, 0) + 1
        structure = bd.components.get("structure")
        if structure is not None and structure.value is not None:
            self.format_rows += 1
            verdict = structure.detail.get("verdict")
            self.valid_format += verdict in ("exact", "variant")
            self.exact_format += verdict == "exact"
        correctness = bd.components.get("correctness")
        if correctness is not None and correctness.value is not None:
            self.graded += 1
            self.correct += correctness.value >= scorer.params["correctness"]["correct"]

    def merge(self, other: Summary) -> None:
        for name in ("rows", "scored", "malformed", "with_errors", "format_rows", "valid_format", "exact_format"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.graded += other.graded
        self.correct += other.correct
        for target, source in ((self.sums, other.sums), (self.counts, other.counts)):
            for k, v in source.items():
                target[k] = target.get(k, 0) + v
        for k, v in other.error_kinds.items():
            self.error_kinds[k] = self.error_kinds.get(k, 0) + v
        self.examples.extend(other.examples[: max(0, self.MAX_EXAMPLES - len(self.examples))])

    def means(self) -> dict[str, float | None]:
        return {k: (self.sums[k] / n if (n := self.counts.get(k)) else None) for k in self.counts}

    def report(self) -> dict[str, Any]:
        """The summary as printed and written by `--summary-json`."""

        def share(part: int, whole: int) -> float | None:
            return part / whole if whole else None

        means = self.means()
        return {
            "rows": self.rows,
            "scored": self.scored,
            "malformed": self.malformed,
            "scored_with_errors": self.with_errors,
            "means": means,
            "valid_format": share(self.valid_format, self.format_rows),
            "exact_format": share(self.exact_format, self.format_rows),
            "accuracy": share(self.correct, self.graded),
            "graded": self.graded,
            "judge_accuracy": means.get("judge_accuracy"),
            "error_kinds": dict(Counter(self.error_kinds).most_common()),
            "error_examples": list(self.examples),
        }

    def state(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items()}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Summary:
        return cls(**state) if state else cls()


# ---------------------------------------------------------------- chunks, in this process or in workers


@dataclass
class ChunkResult:
    output: list[Any]  # JSON lines (JSONL output) or row dicts (Parquet output)
    summary: Summary
    last_row: int
    last_end: int


class ChunkScorer:
    """Decodes, scores and serialises a chunk of raw rows (one per process)."""

    def __init__(self, config: ScoreConfig, out_format: str):
        self.config = config
        self.scorer = config.scorer()
        self.as_json = out_format == "jsonl"

    def __call__(self, chunk: Sequence[RawRow]) -> ChunkResult:
        summary = Summary()
        output: list[Any] = []
        fields = self.config.fields
        for raw in chunk:
            row, bd = score_record(self.scorer, decode_row(raw, fields))
            summary.add(row, bd, self.scorer)
            output.append(json.dumps(row) + "\n" if self.as_json else row)
        return ChunkResult(output, summary, chunk[-1].row, chunk[-1].end)


_worker: ChunkScorer | None = None


def _init_worker(config: ScoreConfig, out_format: str, parent: int) -> None:
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    _worker = ChunkScorer(config, out_format)


def _exit_with_parent(parent: int) -> None:
    """A worker whose main process was killed (kill -9 skips every cleanup) exits instead of lingering."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(1)


def _score_chunk(chunk: list[RawRow]) -> ChunkResult:
    assert _worker is not None
    return _worker(chunk)


def _chunks(rows: Iterable[RawRow], size: int) -> Iterator[list[RawRow]]:
    chunk: list[RawRow] = []
    for raw in rows:
        chunk.append(raw)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def scored_chunks(
    chunks: Iterable[list[RawRow]], config: ScoreConfig, out_format: str, workers: int
) -> Iterator[ChunkResult]:
    """Score chunks in order: inline with one worker, else in a spawn pool with a bounded in-flight window."""
    if workers <= 1:
        scorer = ChunkScorer(config, out_format)
        for chunk in chunks:
            yield scorer(chunk)
        return
    context = multiprocessing.get_context("spawn")  # no fork beside threads; workers import only judgecraft
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                               initargs=(config, out_format, os.getpid()))  # fmt: skip
    pending: deque[Future[ChunkResult]] = deque()
    try:
        for chunk in chunks:
            pending.append(pool.submit(_score_chunk, chunk))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=not pending, cancel_futures=True)


# ---------------------------------------------------------------- a whole run


class ResumeMismatch(RuntimeError):
    """A checkpoint exists, but for other settings or another input: resuming would mix two runs."""


@dataclass
class RunResult:
    summary: Summary
    output: Path
    resumed_rows: int  # rows already done by an earlier, interrupted run
    rows_this_run: int
    seconds: float
    columns: list[str]

    def report(self) -> dict[str, Any]:
        rate = self.rows_this_run / self.seconds if self.seconds > 0 else None
        return {
            **self.summary.report(),
            "output": str(self.output),
            "resumed_rows": self.resumed_rows,
            "rows_this_run": self.rows_this_run,
            "seconds": round(self.seconds, 3),
            "rows_per_second": rate,
        }


def input_fingerprint(path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def score_dump(
    input_path: str | Path,
    output_path: str | Path,
    config: ScoreConfig | None = None,
    *,
    workers: int = 1,
    shard: tuple[int, int] = (0, 1),
    chunk_size: int = 256,
    checkpoint_seconds: float = 5.0,
    checkpoint_rows: int = 50_000,
    restart: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
    on_resume: Callable[[Checkpoint], None] | None = None,
) -> RunResult:
    """Score every row of a dump (of one shard of it) into `output_path`, resuming an interrupted run.

    `on_progress(position, rows_written)` reports the input position reached (bytes for JSONL,
    rows for Parquet). Raises ResumeMismatch when a checkpoint from other settings is in the way.
    """
    config = config or ScoreConfig()
    input_path, output_path = Path(input_path), Path(output_path)
    detect_format(input_path)
    out_format = detect_format(output_path)
    if input_path.resolve() == output_path.resolve():
        raise ValueError("the output would overwrite the input")
    index, count = shard
    if not (count >= 1 and 0 <= index < count):
        raise ValueError(f"shard {index}/{count}: need 0 <= i < n")
    columns = list(config.scorer().components)
    fingerprint = {
        "input": input_fingerprint(input_path),
        "config": config.fingerprint(),
        "shard": [index, count],
        "output_format": out_format,
    }
    fingerprint = json.loads(json.dumps(fingerprint))

    checkpoint = None if restart else Checkpoint.load(output_path)
    if checkpoint is not None and checkpoint.fingerprint != fingerprint:
        changed = sorted(k for k in fingerprint if checkpoint.fingerprint.get(k) != fingerprint[k])
        raise ResumeMismatch(
            f"{Checkpoint.path_for(output_path)} belongs to a run with other {', '.join(changed)}; "
            "rerun with --restart to start over (or pick another --out)"
        )
    resumed_rows = checkpoint.written if checkpoint else 0
    if checkpoint is not None and on_resume is not None:
        on_resume(checkpoint)
    state = checkpoint or Checkpoint(fingerprint)
    summary = Summary.from_state(state.summary)
    writer: JsonlOutput | ParquetOutput = (
        JsonlOutput(output_path, resume=checkpoint)
        if out_format == "jsonl"
        else ParquetOutput(output_path, ["total", *columns], resume=checkpoint)
    )
    started = time.monotonic()
    written_now = 0

    def save() -> None:
        writer.sync(state)  # the output first, durable; only then the checkpoint that points past it
        state.summary = summary.state()
        state.save(output_path)

    try:
        if checkpoint is None:
            save()  # from the first moment, a crash leaves a checkpoint at row 0
        if not state.complete:
            raw_rows = iter_raw_rows(
                input_path, config.fields, start_row=state.rows_read, start_offset=state.input_offset, shard=shard
            )
            last_sync, since_sync = time.monotonic(), 0
            for result in scored_chunks(_chunks(raw_rows, chunk_size), config, out_format, workers):
                if out_format == "jsonl":
                    writer.write_lines(result.output)  # type: ignore[union-attr]
                else:
                    writer.write_rows(result.output)  # type: ignore[union-attr]
                summary.merge(result.summary)
                state.rows_read, state.input_offset = result.last_row + 1, result.last_end
                state.written += len(result.output)
                written_now += len(result.output)
                since_sync += len(result.output)
                if on_progress is not None:
                    on_progress(result.last_end, state.written)
                if since_sync >= checkpoint_rows or time.monotonic() - last_sync >= checkpoint_seconds:
                    save()
                    last_sync, since_sync = time.monotonic(), 0
            state.complete = True
            save()
        writer.finish()
    finally:
        writer.close()
    Checkpoint.remove(output_path)
    return RunResult(summary, output_path, resumed_rows, written_now, time.monotonic() - started, columns)


# ---------------------------------------------------------------- columnar batches (Ray Data, datasets.map)


class BatchScorer:
    """Scores a columnar batch: a dict of columns, a pandas DataFrame or a pyarrow Table.

    Made for Ray Data's `map_batches(BatchScorer, fn_constructor_kwargs=..., compute=ActorPoolStrategy(size=n))`
    (one Scorer per actor, built once) and `datasets.Dataset.map(BatchScorer(...), batched=True)`.
    A batch holds either the dump's columns (prompt, completion, answer, id, as named by `fields`),
    or, with `jsonl_column`, raw JSONL lines (Ray's `read_text`), which are then decoded exactly as
    `judgecraft score` decodes them, so a bad line is a row with an error here too. Read lines with
    `encoding="latin-1"` (and `jsonl_encoding="latin-1"`) so invalid UTF-8 reaches the scorer intact.

    Returns a pyarrow Table for a pyarrow Table, else a dict of lists: id, the `keep` columns, total,
    every component and error. Bad rows get null scores and an error, never an exception.
    """

    def __init__(
        self,
        construct: str = "pkv",
        stage: str | None = None,
        weights: dict[str, float] | None = None,
        params: dict[str, dict[str, Any]] | None = None,
        fields: Fields | None = None,
        keep: Sequence[str] = (),
        jsonl_column: str | None = None,
        jsonl_encoding: str = "utf-8",
    ):
        self.config = ScoreConfig(construct, stage, weights, params, fields or Fields())
        self.scorer = self.config.scorer()
        self.keep = tuple(keep)
        self.jsonl_column = jsonl_column
        self.jsonl_encoding = jsonl_encoding
        self.columns = ["total", *self.scorer.components, "error"]

    def _record(self, data: dict[str, Any], index: int) -> Record:
        fields = self.config.fields
        if self.jsonl_column is None:
            record = record_from_mapping(data, index, fields)
            record.id = data.get(fields.id)
            return record
        line = data.get(self.jsonl_column)
        raw = line.encode(self.jsonl_encoding, "surrogateescape") if isinstance(line, str) else bytes(line or b"")
        record = record_from_line(raw, index, fields)
        if record.id == index:  # a row number within this batch means nothing outside it
            record.id = None
        return record

    def __call__(self, batch: Any) -> Any:
        columns, as_arrow = _columns_of(batch)
        n = len(next(iter(columns.values()))) if columns else 0
        out: dict[str, list[Any]] = {name: [] for name in ("id", *self.keep, *self.columns)}
        for i in range(n):
            data = {name: _plain(values[i]) for name, values in columns.items()}
            record = self._record(data, i)
            row, _ = score_record(self.scorer, record)
            out["id"].append(safe_text(record.id))
            for name in self.keep:
                out[name].append(data.get(name))
            for name in self.columns:
                out[name].append(row[name])
        if as_arrow:
            import pyarrow as pa

            return pa.table(
                {"id": pa.array(out["id"], type=pa.string())}
                | {name: pa.array(out[name]) for name in self.keep}
                | {name: pa.array(out[name], type=pa.float64()) for name in self.columns[:-1]}
                | {"error": pa.array([safe_text(e) for e in out["error"]], type=pa.string())}
            )
        return out


def _columns_of(batch: Any) -> tuple[dict[str, Any], bool]:
    if hasattr(batch, "to_pydict") and hasattr(batch, "schema"):  # pyarrow Table / RecordBatch
        return batch.to_pydict(), True
    if hasattr(batch, "to_dict") and hasattr(batch, "columns"):  # pandas DataFrame
        return {c: batch[c].tolist() for c in batch.columns}, False
    return dict(batch), False


def _plain(value: Any) -> Any:
    """numpy values (from Ray's numpy batches) as plain Python, so the scorer sees str / list / dict."""
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):
        return value.tolist()
    return value
