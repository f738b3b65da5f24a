"""Columnar batches scored in one call: Ray Data actors and `datasets.map`, decoded like `judgecraft score`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from judgecraft.offline.record import score_record
from judgecraft.outputs import safe_text
from judgecraft.rows import Fields, Record, record_from_line, record_from_mapping, row_id
from judgecraft.settings import ScoringSettings


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
        self.settings = ScoringSettings(construct, stage, weights, params)
        self.fields = fields or Fields()
        self.scorer = self.settings.build()
        self.keep = tuple(keep)
        self.jsonl_column = jsonl_column
        self.jsonl_encoding = jsonl_encoding
        self.columns = ["total", *self.scorer.components, "error"]

    def _record(self, data: dict[str, Any], index: int) -> Record:
        fields = self.fields
        if self.jsonl_column is None:
            record = record_from_mapping(data, index, fields)
            record.id = None if row_id(data.get(fields.id), -1) == -1 else record.id  # no row number here
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
            try:
                row, _ = score_record(self.scorer, record)
            except Exception as err:  # a value too deeply nested to format: the row says so, the batch goes on
                record = Record(i, None, error=f"row cannot be scored: {type(err).__name__}")
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
