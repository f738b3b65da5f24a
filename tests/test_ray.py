"""The Ray Data recipe on a real local Ray cluster: same rows and scores as `judgecraft score`, bad lines included."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from judgecraft.io import read_output
from judgecraft.offline import BatchScorer, ScoreConfig, score_dump
from judgecraft.strategies import example_completion

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # a local Ray cluster: seconds to start; make test runs it, test-fast skips it
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


def small_dump(path: Path) -> list[bytes]:
    rows = []
    source = ROOT / "examples" / "dump.jsonl"
    if source.exists():
        rows = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines()[:60] if line.strip()]
    rows += [
        {"id": f"gen{i}", "completion": s.text, "answer": s.answer}
        for i, s in enumerate(example_completion("pkv", answer=str(i), seed=i) for i in range(10))
    ]
    lines = [json.dumps(r).encode() for r in rows]
    lines[5:5] = [b"", b'{"id": "broken", "completion": "unterminated', b'{"id": "utf8", "completion": "caf\xc3\x28"}']
    lines[9:9] = [b"[" * 1000 + b"]" * 1000, b'{"id": NaN, "completion": "The answer is 4.", "answer": "4"}']
    path.write_bytes(b"\n".join(lines) + b"\n")
    return lines


def test_ray_data_recipe_scores_like_the_cli(local_ray, tmp_path):
    dump = tmp_path / "dump.jsonl"
    lines = small_dump(dump)
    # The recipe (README): read raw lines, score them in an actor pool, write Parquet.
    ds = ray.data.read_text(str(dump), encoding="latin-1", drop_empty_lines=False)
    scored = ds.map_batches(
        BatchScorer,
        fn_constructor_kwargs={
            "construct": "pkv",
            "stage": "round2",
            "jsonl_column": "text",
            "jsonl_encoding": "latin-1",
        },
        batch_format="pyarrow",
        batch_size=16,
        compute=ray.data.ActorPoolStrategy(size=2),
        num_cpus=0.5,  # leave a core for reading on a two-core cluster
    )
    scored.write_parquet(str(tmp_path / "ray-out"))
    got = pq.read_table(tmp_path / "ray-out").to_pylist()

    cli_out = tmp_path / "cli.jsonl"
    score_dump(dump, cli_out, ScoreConfig("pkv", stage="round2"))
    expected = read_output(cli_out)
    assert len(got) == len(expected) == len(lines)  # every line, the bad ones too

    # The CLI numbers rows without a readable id; a Ray batch cannot know the row number, so it leaves them None.
    expected_pairs = sorted((r["id"] if isinstance(r["id"], str) else "", r["total"] or 0.0) for r in expected)
    assert sorted((r["id"] or "", r["total"] or 0.0) for r in got) == expected_pairs
    errors = sorted(r["error"].split(" (")[0].split(":")[0] for r in got if r["error"])
    assert errors == ["empty line", "line is not JSON", "line is not JSON", "line is not valid UTF-8",
                      "non-JSON constant NaN read as null"]  # fmt: skip
    components = {k for k in got[0] if k not in ("id", "error")}
    assert {"total", "tags", "structure", "reflection", "originality", "winner", "correctness"} <= components


def test_batch_scorer_on_columns_and_pandas():
    sample = example_completion("pkv", answer="24")
    scorer = BatchScorer(keep=("source",))
    out = scorer({"completion": [sample.text, None], "answer": ["24", "1"], "source": ["a", "b"], "id": [1, None]})
    assert out["id"] == ["1", None] and out["source"] == ["a", "b"]
    assert out["tags"][0] == 1.0 and out["correctness"][0] == 1.0
    assert out["total"][1] is None and "null" in out["error"][1]
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({"completion": [sample.text], "answer": ["24"]})
    assert scorer(frame)["total"] == out["total"][:1]


def test_batch_scorer_gives_one_row_per_hostile_line():
    """What used to stop a Ray job (a RecursionError in one line) is one row with an error, in every batch form."""
    pa = pytest.importorskip("pyarrow")
    lines = [
        b"[" * 1000 + b"]" * 1000,
        b'{"id": "deep", "completion": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"id": NaN, "completion": "The answer is 4.", "answer": "4"}',
        b'{"id": "i", "completion": "' + b"a" * 100 + b'", "answer": Infinity}',
        "x".encode("utf-16"),
        b"null",
        b"",
        b'{"id": "ok", "completion": "The answer is 4.", "answer": "4"}',
    ]
    texts = [line.decode("latin-1") for line in lines]
    scorer = BatchScorer(jsonl_column="text", jsonl_encoding="latin-1", keep=("text",))
    as_dict = scorer({"text": texts})
    assert len(as_dict["total"]) == len(as_dict["error"]) == len(lines)
    assert as_dict["id"][2] is None and as_dict["total"][2] is not None  # a NaN id is no id, the row is scored
    assert as_dict["correctness"][-1] == 1.0 and as_dict["error"][-1] is None
    assert all(as_dict["error"][i] and as_dict["total"][i] is None for i in (0, 1, 4, 5, 6))
    table = scorer(pa.table({"text": texts}))
    assert table.num_rows == len(lines) and table.column("total").to_pylist() == as_dict["total"]
