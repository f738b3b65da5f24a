"""`judgecraft report` on metrics.jsonl files written here: a real PNG, a self-contained HTML page, escaped samples."""

from __future__ import annotations

import base64
import json
import math
import re
from pathlib import Path

import pytest
from matplotlib.image import imread

from judgecraft.grpo.report import load_run, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_metrics(folder: Path, steps: int, slope: float, broken: bool = True) -> Path:
    """A metrics.jsonl shaped like the loop's, rewards rising with `slope`, plus one broken line mid-file."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for step in range(steps):
        lines.append(
            json.dumps(
                {
                    "step": step,
                    "loss": 0.5 * math.exp(-step / 10),
                    "kl": 0.001 * step,
                    "clip_fraction": 0.05,
                    "grad_norm": 1.0 / (1 + step),
                    "reward_mean": slope * step,
                    "reward_std": 0.1 + 0.01 * (step % 3),
                    "reward/tags": min(1.0, 0.05 * step),
                    "reward/correctness": None if step % 4 == 0 else 0.02 * step,
                    "completion_tokens": 60 + step,
                    "truncated_share": 0.0,
                    "zero_std_share": 0.25 if step % 2 else 0.0,
                    "tokens_per_s": 200.0 + step,
                    "step_seconds": 2.0,
                    "sample": f"<competition><pirate>step {step} & more</pirate></competition>",
                }
            )
        )
        if broken and step == steps // 2:
            lines.append('{"step": 99, "loss": ')  # a run killed mid-write
    (folder / "metrics.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_report_writes_png_and_escaped_html(tmp_path: Path) -> None:
    run = write_metrics(tmp_path / "run-a", steps=23, slope=0.02)
    png_path, html_path = write_report([run], tmp_path / "out")

    data = png_path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 1000
    height, width, channels = imread(png_path).shape
    assert height > 100 and width > 100 and channels in (3, 4)

    page = html_path.read_text(encoding="utf-8")
    embedded = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert embedded is not None and base64.b64decode(embedded.group(1)) == data
    assert '<span class="steps">23</span>' in page
    assert "skipped 1 broken line" in page
    assert "&lt;competition&gt;&lt;pirate&gt;step 22 &amp; more" in page
    assert "<competition>" not in page and "<pirate>" not in page
    assert "step 19 &amp;" not in page  # only the last 3 samples are shown


def test_report_summary_numbers(tmp_path: Path) -> None:
    run = write_metrics(tmp_path / "rising", steps=20, slope=0.05, broken=False)
    _, html_path = write_report([run / "metrics.jsonl"], tmp_path / "report.html")
    page = html_path.read_text(encoding="utf-8")
    # first five rewards 0, .05, .1, .15, .2 -> 0.100; last five 0.75 .. 0.95 -> 0.850
    assert "<td>0.100</td>" in page and "<td>0.850</td>" in page
    assert "<td>2.000</td>" in page  # seconds per step
    assert "broken line" not in page
    assert html_path.with_suffix(".png").exists()


def test_several_runs_overlay(tmp_path: Path) -> None:
    a = write_metrics(tmp_path / "a" / "run", steps=12, slope=0.03)
    b = write_metrics(tmp_path / "b" / "run", steps=30, slope=0.01)
    png_path, html_path = write_report([a, b], tmp_path / "both")
    page = html_path.read_text(encoding="utf-8")
    assert "a/run" in page and "b/run" in page  # same folder names are told apart
    assert '<span class="steps">12</span>' in page and '<span class="steps">30</span>' in page
    assert imread(png_path).shape[0] > 100


def test_null_components_are_gaps_not_errors(tmp_path: Path) -> None:
    run = load_run(write_metrics(tmp_path / "r", steps=8, slope=0.1))
    steps, values = run.series("reward/correctness")
    assert len(steps) == 8 and math.isnan(values[0]) and math.isnan(values[4]) and values[1] == pytest.approx(0.02)
    assert run.components() == ["reward/correctness", "reward/tags"]
    assert run.broken == 1


def test_missing_or_empty_metrics_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"no metrics file"):
        write_report([tmp_path / "nowhere"], tmp_path / "out")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "metrics.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match=r"no metrics rows"):
        write_report([tmp_path / "empty"], tmp_path / "out")
    (tmp_path / "junk.jsonl").write_text("not json\n[1, 2]\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"no metrics rows \(2 broken lines\)"):
        write_report([tmp_path / "junk.jsonl"], tmp_path / "out")
    with pytest.raises(ValueError, match="no runs"):
        write_report([], tmp_path / "out")


def test_monitor_panels_held_out_curves_and_the_copying_warning(tmp_path: Path) -> None:
    run = tmp_path / "copier"
    run.mkdir()
    rows = [
        {"step": s, "reward_mean": 0.1 * s, "reward/tags": 0.1 * s, "reward/correctness": 0.0}
        | {"copy_share": s / 10, "length_limit_share": 0.9, "zero_var/correctness": 1.0}
        | {"copyable_components": ["tags"], "sample": "Arr, 2 + 3 be 5."}
        for s in range(10)
    ]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    evals = [{"step": s, "eval/reward": 0.0, "eval/correctness": 0.0} for s in (0, 5, 10)]
    (run / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in evals), encoding="utf-8")
    loaded = load_run(run)
    assert loaded.evals() == ["eval/correctness", "eval/reward"] and len(loaded.eval_rows) == 3
    assert "copy" in loaded.flag and "tags" in loaded.flag
    _, html_path = write_report([run], tmp_path / "out")
    assert 'class="flag"' in html_path.read_text()
    honest = write_metrics(tmp_path / "honest", steps=10, slope=0.05, broken=False)
    assert load_run(honest).flag is None  # no copy_share logged: nothing to flag
