"""`judgecraft score | validate | explain`: every row once, the Scorer's scores, resumable after a real kill -9."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from processes import children_of, cmdline, descendants, parents, wait_for
from typer.testing import CliRunner

from judgecraft import Scorer
from judgecraft.cli import app
from judgecraft.io import Checkpoint, read_output
from judgecraft.strategies import example_completion

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()
BAD_LINES = [
    b"",
    b'{"id": "bad-json", "completion": "unterminated',
    b'{"id": "no-completion", "answer": "3"}',
    b'{"id": "int-completion", "completion": 11, "answer": "11"}',
    b'{"id": "null-completion", "completion": null}',
    b'{"id": "bad-utf8", "completion": "caf\xc3\x28", "answer": "2"}',
    b'["a", "list"]',
    b"   ",
]


def example_rows() -> list[dict]:
    rows = []
    for name in ("handwritten.jsonl", "dump.jsonl"):
        path = ROOT / "examples" / name
        if path.exists():
            rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not rows:
        samples = [example_completion("pkv", answer=str(i), seed=i) for i in range(30)]
        rows = [{"prompt": "q", "completion": s.text, "answer": s.answer} for s in samples]
    return rows


def make_dump(path: Path, copies: int = 1, bad_every: int = 0) -> list[bytes]:
    """A JSONL dump of the example rows (ids made unique), with the bad lines sprinkled in."""
    lines: list[bytes] = []
    bad = 0
    for copy in range(copies):
        for i, row in enumerate(example_rows()):
            lines.append(json.dumps({**row, "id": f"{row.get('id', i)}-{copy}"}).encode())
            if bad_every and len(lines) % bad_every == 0:
                lines.append(BAD_LINES[bad % len(BAD_LINES)])
                bad += 1
    path.write_bytes(b"\n".join(lines) + b"\n")
    return lines


def score_cli(*args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "judgecraft.cli", "score", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    if check:
        assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc


def test_scores_every_row_like_the_scorer_and_summarises(tmp_path):
    dump, out, summary = tmp_path / "d.jsonl", tmp_path / "o.jsonl", tmp_path / "s.json"
    lines = make_dump(dump, bad_every=9)
    options = ["--out", str(out), "--summary-json", str(summary), "--stage", "round2", "--no-progress"]
    result = runner.invoke(app, ["score", str(dump), *options])
    assert result.exit_code == 0, result.output
    rows = read_output(out)
    assert [r["row"] for r in rows] == list(range(len(lines)))  # one output row per input line, in order
    scorer = Scorer("pkv", stage="round2")
    good = [json.loads(line) for line in lines if line.strip() and line not in BAD_LINES]
    scored = [r for r in rows if r["total"] is not None]
    assert len(scored) == len(good)
    for row, data in zip(scored, good, strict=True):
        bd = scorer.score(data["completion"], answer=data.get("answer"), prompt=data.get("prompt"))
        assert row["id"] == data["id"] and row["total"] == bd.total
        assert {k: row[k] for k in bd.values()} == bd.values()
    report = json.loads(summary.read_text())
    malformed = [r for r in rows if r["total"] is None]
    assert report["rows"] == len(lines) and report["malformed"] == len(malformed) == len(lines) - len(good)
    assert all(r["error"] for r in malformed)
    assert report["means"]["total"] == pytest.approx(sum(r["total"] for r in scored) / len(scored))
    correct = [r["correctness"] == 1.0 for r in scored if r["correctness"] is not None]
    assert report["accuracy"] == pytest.approx(sum(correct) / len(correct))
    assert "valid format" in result.output and "accuracy" in result.output and "rows with errors" in result.output
    assert not Checkpoint.path_for(out).exists()  # a finished run leaves no checkpoint behind


def test_each_bad_row_kind_is_reported_not_dropped(tmp_path):
    dump, out = tmp_path / "bad.jsonl", tmp_path / "bad.jsonl.out.jsonl"
    good = json.dumps({"id": "good", "completion": "The answer is 4.", "answer": "4"}).encode()
    dump.write_bytes(b"\n".join([good, *BAD_LINES, good]) + b"\n")
    result = runner.invoke(app, ["score", str(dump), "-o", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    rows = read_output(out)
    assert len(rows) == len(BAD_LINES) + 2
    assert [r["id"] for r in rows][4:7] == ["int-completion", "null-completion", "bad-utf8"]
    for row in rows[1:-1]:
        assert row["total"] is None and row["error"], row
    assert rows[0]["correctness"] == rows[-1]["correctness"] == 1.0


HOSTILE_LINES = [
    b"[" * 1000 + b"]" * 1000,  # a recursion bomb: used to kill the whole run with RecursionError
    b'{"id": "deep", "completion": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"id": "long", "completion": "' + b"a" * 70_000 + b'"}',  # over --max-line-bytes below
    b'{"id": NaN, "completion": "The answer is 4.", "answer": "4"}',  # a NaN id: written as valid JSON
    b'{"id": "inf", "completion": "x", "answer": Infinity}',
    '{"id": "utf16", "completion": "x"}'.encode("utf-16"),
    b'"just a string"',
    b"null",
    b"\xff\xfe\x00garbage",
    b'{"id": "' + b"9" * 5000 + b'", "completion": 1' + b"0" * 5000 + b"}",
    *BAD_LINES,
]


def _strict_json(line: str) -> dict:
    def refuse(name: str) -> None:
        raise AssertionError(f"{name} written into the output")

    return json.loads(line, parse_constant=refuse)


@pytest.mark.parametrize(("suffix", "workers"), [("jsonl", 1), ("jsonl", 2), ("parquet", 1), ("parquet", 2)])
def test_every_kind_of_bad_row_gives_exactly_one_output_row(tmp_path, suffix, workers):
    dump, out, summary = tmp_path / "hostile.jsonl", tmp_path / f"out.{suffix}", tmp_path / "s.json"
    good = json.dumps({"id": "good", "completion": "The answer is 4.", "answer": "4"}).encode()
    lines = [good, *HOSTILE_LINES, good, *HOSTILE_LINES[::-1], good]
    dump.write_bytes(b"\n".join(lines) + b"\n")
    options = ["-o", str(out), "--workers", str(workers), "--chunk-size", "5", "--max-line-bytes", "65536"]
    score_cli(str(dump), *options, "--summary-json", str(summary), "--no-progress", "--answer-timeout", "60")
    rows = read_output(out)
    assert [r["row"] for r in rows] == list(range(len(lines)))  # one output row per input row, in order
    assert json.loads(summary.read_text())["rows"] == len(lines)
    if suffix == "jsonl":
        rows = [_strict_json(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert rows[0]["correctness"] == rows[-1]["correctness"] == 1.0 and rows[0]["error"] is None
    assert "too long" in rows[3]["error"] and rows[3]["total"] is None  # read past: not even its id is kept
    nan_row = rows[4]
    assert nan_row["id"] in (4, "4") and nan_row["total"] is not None and "NaN read as null" in nan_row["error"]
    unscored = [r for r in rows if r["total"] is None]
    assert all(r["error"] for r in unscored) and len(unscored) == 2 * (len(HOSTILE_LINES) - 2)


def test_parquet_in_and_out_with_conversational_rows_and_custom_fields(tmp_path):
    data = example_rows()[:25]
    table = pa.table(
        {
            "uid": [f"u{i}" for i in range(len(data))],
            "messages": [r.get("prompt") if isinstance(r.get("prompt"), list) else None for r in data],
            "response": [[{"role": "assistant", "content": r["completion"]}] for r in data],
            "solution": [r.get("answer") for r in data],
        }
    )
    dump, out = tmp_path / "chat.parquet", tmp_path / "scores.parquet"
    pq.write_table(table, dump, row_group_size=7)
    fields = ["--prompt-field", "messages", "--completion-field", "response", "--id-field", "uid"]
    result = runner.invoke(
        app, ["score", str(dump), "-o", str(out), *fields, "--answer-field", "solution", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    rows = pq.read_table(out).to_pylist()
    scorer = Scorer("pkv")
    assert [r["id"] for r in rows] == [f"u{i}" for i in range(len(data))]
    for row, d in zip(rows, data, strict=True):
        prompt = d.get("prompt") if isinstance(d.get("prompt"), list) else None
        assert row["total"] == scorer.score(d["completion"], answer=d.get("answer"), prompt=prompt).total


@pytest.mark.slow
def test_workers_and_shards_give_the_same_rows(tmp_path):
    dump = tmp_path / "d.jsonl"
    make_dump(dump, copies=3, bad_every=17)
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    score_cli(str(dump), "-o", str(one), "--chunk-size", "32", "--answer-timeout", "60")
    score_cli(str(dump), "-o", str(two), "--workers", "2", "--chunk-size", "32", "--answer-timeout", "60")
    reference = read_output(one)
    assert read_output(two) == reference
    shards = []
    for i in range(3):
        part = tmp_path / f"shard{i}.jsonl"
        options = ["-o", str(part), "--shard", f"{i}/3", "--no-progress", "--answer-timeout", "60"]
        result = runner.invoke(app, ["score", str(dump), *options])
        assert result.exit_code == 0, result.output
        shards += read_output(part)
    assert sorted(shards, key=lambda r: r["row"]) == reference


def test_a_checkpoint_from_other_settings_is_not_resumed(tmp_path):
    dump, out = tmp_path / "d.jsonl", tmp_path / "o.jsonl"
    make_dump(dump)
    Checkpoint({"input": "somewhere else"}).save(out)
    out.write_text("stale\n")
    result = runner.invoke(app, ["score", str(dump), "-o", str(out), "--no-progress"])
    assert result.exit_code == 2 and "--restart" in result.output
    assert out.read_text() == "stale\n"  # untouched
    result = runner.invoke(app, ["score", str(dump), "-o", str(out), "--no-progress", "--restart"])
    assert result.exit_code == 0 and read_output(out)[0]["row"] == 0


def _checkpoint_now(out: Path) -> Checkpoint | None:
    try:
        return Checkpoint.load(out)
    except (OSError, ValueError):  # removed at the end of the run, between the check and the read
        return None


@pytest.mark.slow
@pytest.mark.parametrize(("suffix", "workers"), [("jsonl", "2"), ("parquet", "1")])
def test_sigkill_mid_run_then_rerun_gives_every_row_once_with_identical_scores(tmp_path, suffix, workers):
    dump = tmp_path / "big.jsonl"
    lines = make_dump(dump, copies=5, bad_every=50)
    args = ["--workers", workers, "--chunk-size", "24", "--checkpoint-rows", "48", "--answer-timeout", "60"]
    reference_out = tmp_path / f"reference.{suffix}"
    score_cli(str(dump), "-o", str(reference_out), *args)
    reference = read_output(reference_out)
    assert len(reference) == len(lines)

    out = tmp_path / f"killed.{suffix}"
    rng = random.Random()
    for attempt in range(4):  # the kill must land mid-run: once a random number of rows is durable
        target = rng.uniform(0.1, 0.7) * len(lines) / (attempt + 1)
        proc = subprocess.Popen(
            [sys.executable, "-m", "judgecraft.cli", "score", str(dump), "-o", str(out), *args, "--no-progress"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        while proc.poll() is None:
            progress = _checkpoint_now(out)
            if progress is not None and progress.written >= target:
                break
            time.sleep(0.02)
        if proc.poll() is None:
            break
        out.unlink(missing_ok=True)
    else:
        pytest.fail("the run always finished before the kill")
    helpers = descendants({proc.pid})  # scoring processes, math-verify workers and their guardians
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    checkpoint = Checkpoint.load(out)
    assert checkpoint is not None and not checkpoint.complete  # killed mid-run, with durable progress recorded
    assert 0 < checkpoint.written < len(lines)
    wait_for(lambda: not (helpers | descendants(helpers)) & set(parents()), "helpers of a killed run to exit")

    rerun = score_cli(str(dump), "-o", str(out), *args, "--no-progress")
    assert f"{checkpoint.written} rows were already done" in rerun.stdout
    rows = read_output(out)
    assert [r["row"] for r in rows] == list(range(len(lines)))  # every row exactly once, in order
    assert rows == reference  # and with the scores of the uninterrupted run
    assert not Checkpoint.path_for(out).exists()


@pytest.mark.parametrize("suffix", ["jsonl", "parquet"])
def test_two_runs_on_one_output_one_writes_the_other_exits_2(tmp_path, suffix):
    """Both start for real on one output. The input is a named pipe, so the winner holds the lock (and
    waits for its input) for as long as the test needs: who wins is decided by states, not timing."""
    source = tmp_path / "source.jsonl"
    source.write_bytes(b"\n".join(make_dump(source, bad_every=9)[:80]) + b"\n")
    options = ["--no-progress", "--answer-timeout", "60", "--chunk-size", "16"]
    reference = tmp_path / f"reference.{suffix}"
    result = runner.invoke(app, ["score", str(source), "-o", str(reference), *options])
    assert result.exit_code == 0, result.output
    fifo, out = tmp_path / "fifo.jsonl", tmp_path / f"out.{suffix}"
    os.mkfifo(fifo)
    command = [sys.executable, "-m", "judgecraft.cli", "score", str(fifo), "-o", str(out), *options]
    runs = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]  # fmt: skip
    try:
        wait_for(lambda: any(p.poll() is not None for p in runs), "one run to give up")
        loser = next(p for p in runs if p.poll() is not None)
        winner = next(p for p in runs if p is not loser)
        assert winner.poll() is None  # still holding the output, waiting on its input
        _, err = loser.communicate()
        assert loser.returncode == 2, err
        err = " ".join(err.split())
        assert "being written by another run" in err and f"pid {winner.pid} on " in err and "started" in err
        with open(fifo, "wb") as f:
            f.write(source.read_bytes())
        _, err = winner.communicate(timeout=600)
        assert winner.returncode == 0, err
    finally:
        for p in runs:
            if p.poll() is None:
                p.kill()
    assert read_output(out) == read_output(reference)  # complete, in order, uncorrupted
    assert not out.with_name(out.name + ".lock").exists()


@pytest.mark.slow
def test_a_scoring_process_killed_mid_run_does_not_stop_the_run(tmp_path):
    """The OOM killer (here: kill -9) takes one scoring process: its chunk is scored again, the run goes on."""
    dump, out, reference = tmp_path / "d.jsonl", tmp_path / "o.jsonl", tmp_path / "reference.jsonl"
    lines = make_dump(dump, copies=4, bad_every=40)
    args = [
        "--workers",
        "2",
        "--chunk-size",
        "24",
        "--checkpoint-rows",
        "48",
        "--answer-timeout",
        "60",
        "--no-progress",
    ]
    result = runner.invoke(app, ["score", str(dump), "-o", str(reference), *args])
    assert result.exit_code == 0, result.output
    for _ in range(4):  # the kill must land while the run is scoring
        out.unlink(missing_ok=True)
        proc = subprocess.Popen([sys.executable, "-m", "judgecraft.cli", "score", str(dump), "-o", str(out), *args],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
        wait_for(lambda p=proc: p.poll() is not None or _scoring_processes(p.pid), "scoring processes to start")
        wait_for(lambda p=proc: p.poll() is not None or (_checkpoint_now(out) or Checkpoint({})).written > 0, "rows")
        victims = _scoring_processes(proc.pid)
        if proc.poll() is None and victims:
            os.kill(min(victims), signal.SIGKILL)
            _, err = proc.communicate(timeout=900)
            break
        proc.communicate()
    else:
        pytest.fail("the run always finished before a scoring process could be killed")
    assert proc.returncode == 0, err
    rows = read_output(out)
    assert len(rows) == len(lines) and rows == read_output(reference)  # every row scored, none lost or doubled


def _scoring_processes(pid: int) -> list[int]:
    return [child for child in children_of(pid) if "spawn_main" in cmdline(child)]


def test_score_does_not_import_torch_or_vllm(tmp_path):
    dump, out = tmp_path / "d.jsonl", tmp_path / "o.jsonl"
    make_dump(dump)
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom judgecraft.cli import app\n"
        f"r = CliRunner().invoke(app, ['score', {str(dump)!r}, '-o', {str(out)!r}, '--no-progress'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print(sorted(m for m in ('torch', 'vllm', 'transformers', 'trl') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_lazy_commands_are_listed_and_missing_ones_are_not():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "score" in result.output and "validate" in result.output and "explain" in result.output
    from judgecraft.cli import LAZY_COMMANDS, _module_exists

    for name, (module, _) in LAZY_COMMANDS.items():
        assert (f"│ {name} " in result.output) == _module_exists(module), name


def test_validate_prints_the_construct_and_fails_on_a_bad_spec(tmp_path):
    result = runner.invoke(app, ["validate", "pkv"])
    assert result.exit_code == 0, result.output
    for word in ("<competition>", "<pirate>", "persona", "winner", "round1", "round3", "correctness"):
        assert word in result.output
    assert '"structure": 1.0' in result.output  # its generated well-formed example scores full structure
    spec = (
        (ROOT / "constructs" / "pkv.toml")
        .read_text()
        .replace('parent = "competition"\npersona', 'parent = "nowhere"\npersona', 1)
    )
    bad = tmp_path / "bad.toml"
    bad.write_text(spec)
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 1
    assert "bad.toml" in result.output and "parent" in result.output
    result = runner.invoke(app, ["validate", str(tmp_path / "missing.toml")])
    assert result.exit_code == 1 and "does not exist" in result.output


def test_validate_a_users_four_persona_construct(tmp_path):
    spec = (ROOT / "constructs" / "pkv.toml").read_text()
    spec = spec.replace(
        '[[tags]]\nname = "result"',
        '[[tags]]\nname = "ninja"\nparent = "competition"\npersona = true\n\n[[tags]]\nname = "result"',
    )
    path = tmp_path / "four.toml"
    path.write_text(spec.replace('name = "pkv"', 'name = "four"'))
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "<ninja>" in result.output and '"tags": 1.0' in result.output


def test_explain_shows_components_spans_and_problems(tmp_path):
    sample = example_completion("pkv", answer="24")
    broken = sample.text.replace("<knight>", "<Knight id=2>").replace("24.", "24. <winner>", 1)
    path = tmp_path / "c.txt"
    path.write_text(broken)
    result = runner.invoke(app, ["explain", str(path), "--answer", "24", "--stage", "round2"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for word in ("components", "structure", "sections found", "<pirate>", "tag format variants", "final answer"):
        assert word in result.output, word
    as_json = runner.invoke(app, ["explain", str(path), "--answer", "24", "--json"])
    data = json.loads(as_json.output)
    assert data["total"] == Scorer("pkv").score(broken, answer="24").total


def test_explain_a_dump_row_by_id():
    path = ROOT / "examples" / "handwritten.jsonl"
    if not path.exists():
        pytest.skip("examples/handwritten.jsonl not generated yet")
    first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    result = runner.invoke(app, ["explain", str(path), "--id", first["id"], "--no-text"], terminal_width=200)
    assert result.exit_code == 0, result.output
    total = Scorer("pkv").score(first["completion"], answer=first["answer"], prompt=first.get("prompt")).total
    assert f"total {total:.4f}" in result.output
