"""One Record to one output row: its scores (or why it has none), serialised the way the output wants it."""

from __future__ import annotations

import json
import math
from typing import Any

from judgecraft.outputs import parquet_safe, parquet_schema, safe_text
from judgecraft.rows import Record
from judgecraft.scorer import Breakdown, Scorer, prefill_from_prompt


def score_record(scorer: Scorer, record: Record) -> tuple[dict[str, Any], Breakdown | None]:
    """The output row for one Record (id, row, total, every component, error) and its Breakdown.

    A Record that could not be read gets null scores and its error; the scorer is never asked to
    guess. A scored row keeps the read warning (an ignored prompt) next to any scorer error. The
    Record is already normalised (text, gold text, usable prompt): only the prefill is resolved here.
    """
    out: dict[str, Any] = {"id": record.id, "row": record.row}
    if record.completion is None:
        return _unscored(out, scorer, record.error or "no completion"), None
    try:
        prefill = record.prefill
        if prefill is None:
            prefill = prefill_from_prompt(record.prompt, scorer.construct)
        bd = scorer.score(record.completion, answer=record.answer, prefill=prefill)
    except Exception as err:  # the scorer is total; this guards the run against a bug, and names the row
        return _unscored(out, scorer, f"scorer failed: {type(err).__name__}: {err}"[:500]), None
    out["total"] = bd.total
    out.update(bd.values())
    errors = ([record.error] if record.error else []) + bd.errors
    out["error"] = "; ".join(errors) or None
    return out, bd


def _unscored(out: dict[str, Any], scorer: Scorer, error: str) -> dict[str, Any]:
    out["total"] = None
    out.update(dict.fromkeys(scorer.components))
    out["error"] = error
    return out


def json_line(row: dict[str, Any]) -> bytes:
    """One JSONL line of strict JSON: an id or value JSON cannot hold (NaN, too deep) is written as text."""
    try:
        return json.dumps(row, allow_nan=False).encode() + b"\n"
    except (ValueError, TypeError, RecursionError):
        safe = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}
        safe["id"] = safe_text(row.get("id"))
        safe["error"] = "; ".join(filter(None, [safe_text(row.get("error")), "id written as text"]))
        return json.dumps(safe, allow_nan=False).encode() + b"\n"


def arrow_table(rows: list[dict[str, Any]], columns: list[str]) -> Any:
    """Output rows as an Arrow table of the Parquet output's schema (`columns` are the score columns)."""
    import pyarrow as pa

    return pa.Table.from_pylist([parquet_safe(r) for r in rows], schema=parquet_schema(columns))
