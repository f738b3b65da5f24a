"""Readers and resumable writers: every input row becomes exactly one Record, whatever is wrong with it."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from judgecraft.io import (
    Checkpoint,
    Fields,
    JsonlOutput,
    ParquetOutput,
    answers_from,
    completion_text,
    decode_chunk,
    detect_format,
    first_present,
    gold_text,
    iter_raw_chunks,
    iter_raw_rows,
    read_output,
    read_records,
)

ROOT = Path(__file__).resolve().parent.parent
COMPLETION = "<competition>\n<pirate>\nArr, 4.\n</pirate>\n</competition>\nThe answer is 4."

# Every kind of bad row the issue names, each as raw bytes of one JSONL line, with the error it must produce.
BAD_LINES = {
    "bad JSON": (b'{"id": "a", "completion": "unterminated', "not JSON"),
    "empty line": (b"", "empty line"),
    "blank line": (b"   \t", "empty line"),
    "missing completion": (b'{"id": "b", "answer": "7"}', "missing field 'completion'"),
    "completion not a string": (b'{"id": "c", "completion": 11}', "'completion' is int"),
    "completion null": (b'{"id": "d", "completion": null}', "'completion' is null"),
    "completion a dict without content": (b'{"id": "e", "completion": {"role": "assistant"}}', "'completion' is"),
    "invalid UTF-8": (b'{"id": "f", "completion": "caf\xc3\x28 bad"}', "not valid UTF-8"),
    "not an object": (b'["not", "an", "object"]', "not an object"),
    "a number": (b"42", "not an object"),
    "a string": (b'"text"', "not an object"),
    "JSON null": (b"null", "not an object"),
    "nested lists (recursion bomb)": (b"[" * 1000 + b"]" * 1000, "nested too deeply"),
    "nested objects (recursion bomb)": (b'{"a":' * 1200 + b"1" + b"}" * 1200, "nested too deeply"),
    "unclosed nesting": (b"[" * 5000, "not JSON"),
    "huge integer": (b'{"id": 1, "completion": ' + b"9" * 5000 + b"}", "not JSON"),
    "UTF-16": ('{"id": "u", "completion": "x"}'.encode("utf-16"), "not valid UTF-8"),
    "over the line limit": (b'{"id": "big", "completion": "' + b"a" * 9000 + b'"}', "too long"),
}
LIMIT = 8192  # the line bound these tests read with


def write_lines(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def good_line(i: int, **extra) -> bytes:
    return json.dumps({"id": f"ok{i}", "completion": COMPLETION, "answer": "4", **extra}).encode()


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_each_bad_row_becomes_one_record_with_an_error(tmp_path, case):
    raw, expected = BAD_LINES[case]
    path = write_lines(tmp_path / "d.jsonl", [good_line(0), raw, good_line(2)])
    records = list(read_records(path, max_line_bytes=LIMIT))
    assert [r.row for r in records] == [0, 1, 2]  # nothing dropped, nothing merged
    assert records[0].error is None and records[2].error is None
    assert records[1].completion is None
    assert expected in records[1].error


def test_nan_and_infinity_are_read_as_null_and_the_row_is_still_scored(tmp_path):
    lines = [
        b'{"id": NaN, "completion": "The answer is 4.", "answer": "4"}',
        b'{"id": "inf", "completion": "The answer is 4.", "answer": Infinity}',
        b'\xef\xbb\xbf{"id": "bom", "completion": "x"}',
    ]
    nan_id, inf_answer, bom = read_records(write_lines(tmp_path / "d.jsonl", lines))
    assert nan_id.id == 0 and nan_id.completion == "The answer is 4." and "NaN read as null" in nan_id.error
    assert inf_answer.answer is None and "Infinity read as null" in inf_answer.error
    assert bom.id == "bom" and bom.error is None


def test_a_line_over_the_limit_is_read_past_not_kept(tmp_path):
    big = b'{"id": "big", "completion": "' + b"a" * 5_000_000 + b'"}'
    path = write_lines(tmp_path / "d.jsonl", [good_line(0), big, good_line(2)])
    chunks = list(iter_raw_chunks(path, max_line_bytes=LIMIT))
    assert [len(c) for c in chunks] == [3]
    assert chunks[0].lines[1] == len(big) + 1  # only its length travels (newline included)
    records = [r for c in chunks for r in decode_chunk(c, Fields(), LIMIT)]
    assert [r.row for r in records] == [0, 1, 2] and records[2].error is None
    assert "too long" in records[1].error


def test_bad_utf8_keeps_the_rows_id(tmp_path):
    path = write_lines(tmp_path / "d.jsonl", [BAD_LINES["invalid UTF-8"][0]])
    (record,) = read_records(path)
    assert record.id == "f" and "UTF-8" in record.error


def test_the_example_malformed_dump_keeps_every_line(tmp_path):
    path = ROOT / "examples" / "malformed.jsonl"
    if not path.exists():
        pytest.skip("examples/malformed.jsonl not generated yet")
    lines = path.read_bytes().split(b"\n")
    n_lines = len(lines) - (1 if lines[-1] == b"" else 0)
    records = list(read_records(path))
    assert len(records) == n_lines
    assert sum(r.error is None for r in records) >= 2
    assert all(r.completion is None for r in records if r.error)


def test_conversational_rows_and_configurable_fields(tmp_path):
    messages = [{"role": "system", "content": "be a pirate"}, {"role": "user", "content": "2+2?"}]
    rows = [
        {"key": 7, "question": messages, "response": [{"role": "assistant", "content": COMPLETION}], "gold": "4"},
        {"key": 8, "question": "2+2?", "response": [{"role": "assistant", "content": [{"type": "text", "text": "4"}]}]},
        {"key": 9, "question": 5, "response": "The answer is 4.", "solution": "\\boxed{4}"},
    ]
    path = tmp_path / "chat.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    fields = Fields(prompt="question", completion="response", answer=("gold", "solution"), id="key")
    a, b, c = read_records(path, fields)
    assert (a.id, a.completion, a.prompt, a.answer, a.error) == (7, COMPLETION, messages, "4", None)
    assert (b.completion, b.answer) == ("4", None)
    assert c.completion == "The answer is 4." and c.answer == "\\boxed{4}"
    assert c.prompt is None and "ignored" in c.error  # an unusable prompt is reported, the row still scored


def test_completion_text_shapes():
    assert completion_text("x") == "x"
    assert completion_text([{"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}]) == "ab"
    assert completion_text([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]) == "a"
    assert completion_text({"role": "assistant", "content": "a"}) == "a"
    assert completion_text([{"content": [{"type": "text", "text": "t"}]}]) == "t"
    for bad in (None, 3, [], [1, 2], [{"role": "assistant", "content": 5}], b"x"):
        assert completion_text(bad) is None


def test_gold_answers_and_answer_columns_read_one_way():
    assert [gold_text(x) for x in (["24", "x"], 24, "  ", None, float("nan"), [])] == [
        "24",
        "24",
        None,
        None,
        None,
        None,
    ]
    columns = {"solution": ["\\boxed{1}", " ", ["2", "two"]], "answer": ["short"]}
    assert answers_from(columns, 3, ("answer", "solution")) == ["\\boxed{1}", None, "2"]
    assert answers_from(columns, 3, ("gold",)) == [None, None, None]
    assert first_present({"a": None, "b": 0, "c": 1}, ("a", "b", "c")) == 0


def test_jsonl_resume_from_an_offset_and_shards(tmp_path):
    path = write_lines(tmp_path / "d.jsonl", [good_line(i) for i in range(10)])
    raws = list(iter_raw_rows(path))
    assert [r.row for r in raws] == list(range(10))
    resumed = [r.row for r in iter_raw_rows(path, start_row=4, start_offset=raws[3].end)]
    assert resumed == list(range(4, 10))
    shards = [[r.row for r in iter_raw_rows(path, shard=(i, 3))] for i in range(3)]
    assert sorted(row for shard in shards for row in shard) == list(range(10))
    assert shards[1] == [1, 4, 7]


def test_parquet_reader_streams_batches_and_resumes(tmp_path):
    n = 50
    table = pa.table(
        {
            "id": [f"p{i}" for i in range(n)],
            "prompt": [[{"role": "user", "content": f"q{i}"}] for i in range(n)],
            "completion": [None if i == 7 else f"The answer is {i}." for i in range(n)],
            "answer": [str(i) for i in range(n)],
            "unused": list(range(n)),
        }
    )
    path = tmp_path / "d.parquet"
    pq.write_table(table, path, row_group_size=8)
    records = list(read_records(path, batch_size=3))
    assert [r.row for r in records] == list(range(n))
    assert records[7].completion is None and "null" in records[7].error
    assert records[3].prompt == [{"role": "user", "content": "q3"}] and records[3].answer == "3"
    assert [r.row for r in read_records(path, start_row=21)] == list(range(21, n))
    assert [r.row for r in read_records(path, shard=(2, 5))] == list(range(2, n, 5))


def test_parquet_binary_completion_with_invalid_utf8(tmp_path):
    table = pa.table({"completion": pa.array([b"The answer is 4.", b"\xff\xfe bad"], type=pa.binary())})
    path = tmp_path / "b.parquet"
    pq.write_table(table, path)
    good, bad = read_records(path)
    assert good.completion == "The answer is 4." and good.id == 0
    assert bad.completion is None and "UTF-8" in bad.error and bad.id == 1


def test_parquet_without_the_completion_column(tmp_path):
    path = tmp_path / "n.parquet"
    pq.write_table(pa.table({"text": ["a", "b"]}), path)
    records = list(read_records(path))
    assert len(records) == 2 and all("missing field" in r.error for r in records)


def test_jsonl_writer_truncates_to_the_checkpoint(tmp_path):
    out = tmp_path / "o.jsonl"
    ck = Checkpoint({"x": 1})
    writer = JsonlOutput(out)
    writer.write_lines(['{"row": 0}\n', '{"row": 1}\n'])
    writer.sync(ck)
    ck.save(out)
    writer.write_lines(['{"row": 2}\n', '{"row": 3, "half'])  # written after the checkpoint: a crash loses it
    writer.close()
    resumed = Checkpoint.load(out)
    assert resumed is not None and resumed.output_bytes == len('{"row": 0}\n{"row": 1}\n')
    writer = JsonlOutput(out, resume=resumed)
    writer.write_lines(['{"row": 2}\n'])
    writer.finish()
    assert [r["row"] for r in read_output(out)] == [0, 1, 2]


def test_parquet_writer_parts_survive_a_crash_and_merge(tmp_path):
    out = tmp_path / "o.parquet"
    ck = Checkpoint({"x": 1})
    writer = ParquetOutput(out, ["total"])
    writer.write_rows([{"id": "a", "row": 0, "total": 1.0, "error": None}])
    writer.sync(ck)
    ck.save(out)
    writer.write_rows([{"id": "b", "row": 1, "total": 0.5, "error": None}])
    writer.sync(Checkpoint({"x": 1}))  # a part written, but the crash comes before its checkpoint
    (writer.parts_dir / ".part-000009.parquet.tmp").write_bytes(b"half")
    writer = ParquetOutput(out, ["total"], resume=Checkpoint.load(out))
    assert sorted(p.name for p in writer.parts_dir.iterdir()) == ["part-000000.parquet"]
    writer.write_rows([{"id": "\ud800x", "row": 1, "total": None, "error": "lone \udfff surrogate"}])
    writer.sync(ck)
    writer.finish()
    rows = read_output(out)
    assert [r["row"] for r in rows] == [0, 1]
    assert rows[1]["total"] is None and rows[1]["id"] == "\\ud800x"
    assert not writer.parts_dir.exists()


def test_detect_format():
    assert detect_format("a/b.JSONL") == "jsonl" and detect_format("x.parquet") == "parquet"
    with pytest.raises(ValueError):
        detect_format("x.csv")


def test_docstring_examples_run():
    import doctest

    import judgecraft.rows
    import judgecraft.settings

    for module in (judgecraft.rows, judgecraft.settings):
        failed, tried = doctest.testmod(module)
        assert tried > 0 and failed == 0, module.__name__
