"""`judgecraft report`: learning curves of one or more GRPO runs as a PNG and a self-contained HTML page.

A run is a folder holding the loop's metrics.jsonl (or the file itself). Broken lines (a run killed
mid-write, a hand edit) are skipped and counted, never fatal; a component that did not apply at a
step is null and leaves a gap in its curve. The HTML embeds the PNG, so it can be mailed or attached
to an issue as one file.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure  # the object API renders with Agg and never touches pyplot's global state
from matplotlib.lines import Line2D

from judgecraft.grpo.monitor import copying_flag

# The fixed panels after the reward and its components: (metrics key, title).
PANELS = [
    ("loss", "loss"),
    ("kl", "KL to the reference"),
    ("completion_tokens", "completion tokens (mean)"),
    ("zero_std_share", "share of zero-variance groups"),
    ("tokens_per_s", "tokens / s"),
    ("copy_share", "monitor: share copying the prompt"),
    ("length_limit_share", "monitor: share at the length limit"),
    ("logprob_gap_abs", "sampler/trainer |log-prob gap|"),
]
SAMPLES_PER_RUN = 3


@dataclass
class RunMetrics:
    name: str
    path: Path
    rows: list[dict[str, Any]]
    broken: int  # lines that were not JSON objects
    eval_rows: list[dict[str, Any]] = field(default_factory=list)  # eval.jsonl beside metrics.jsonl (held-out)

    def series(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of one metric; missing, null or non-numeric values are NaN (gaps in the curve)."""
        rows = self.eval_rows if key.startswith("eval/") else self.rows
        steps = np.array([_number(r.get("step"), i) for i, r in enumerate(rows)], dtype=float)
        return steps, np.array([_number(r.get(key)) for r in rows], dtype=float)

    def evals(self) -> list[str]:
        return sorted({k for r in self.eval_rows for k in r if k.startswith("eval/") and k != "eval/sample"})

    @property
    def flag(self) -> str | None:
        """The reward-hacking monitor's warning for this run (see judgecraft.grpo.monitor), if any."""
        return copying_flag(self.rows)

    def components(self) -> list[str]:
        return sorted({k for r in self.rows for k in r if k.startswith("reward/")})

    def zero_variance(self) -> list[str]:
        return sorted({k for r in self.rows for k in r if k.startswith("zero_var/")})


def _number(value: Any, default: float = math.nan) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(value)


def metrics_path(run: str | Path) -> Path:
    path = Path(run)
    return path / "metrics.jsonl" if path.is_dir() else path


def load_run(run: str | Path) -> RunMetrics:
    """Read one run's metrics.jsonl (and eval.jsonl beside it); a file without a valid row is a ValueError."""
    path = metrics_path(run)
    if not path.is_file():
        raise ValueError(f"{path}: no metrics file (a run folder must contain metrics.jsonl)")
    rows, broken = read_rows(path)
    if not rows:
        raise ValueError(f"{path}: no metrics rows ({broken} broken lines)")
    name = path.parent.name if path.name == "metrics.jsonl" else path.stem
    evals = path.with_name("eval.jsonl")
    eval_rows = read_rows(evals)[0] if path.name == "metrics.jsonl" and evals.is_file() else []
    return RunMetrics(name or str(path), path, rows, broken, eval_rows)


def read_rows(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The JSON objects of a JSONL file and the count of broken lines."""
    rows: list[dict[str, Any]] = []
    broken = 0
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                broken += 1
                continue
            if isinstance(row, dict):
                rows.append(row)
            else:
                broken += 1
    return rows, broken


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over the last `window` finite values (NaNs are skipped, not spread)."""
    out = np.full_like(values, np.nan)
    for i in range(len(values)):
        recent = values[max(0, i - window + 1) : i + 1]
        recent = recent[np.isfinite(recent)]
        if recent.size:
            out[i] = recent.mean()
    return out


def draw(runs: list[RunMetrics]) -> Figure:
    """A grid: reward mean ± std (+ smoothed), each reward component, then the fixed PANELS."""
    components = sorted({c for run in runs for c in run.components()})
    panels = [("reward_mean", "reward (mean ± std, smoothed)")]
    panels += [(c, c) for c in components] + PANELS
    panels += [(z, f"monitor: {z}") for z in sorted({z for run in runs for z in run.zero_variance()})]
    panels += [(e, f"held out: {e}") for e in sorted({e for run in runs for e in run.evals() if e.startswith("eval/")})]
    cols = 3
    rows = math.ceil(len(panels) / cols)
    fig = Figure(figsize=(5 * cols, 3.3 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    colors = [f"C{i % 10}" for i in range(len(runs))]
    for ax, (key, title) in zip(axes, panels, strict=False):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.grid(alpha=0.3)
        for run, color in zip(runs, colors, strict=True):
            steps, values = run.series(key)
            if not np.isfinite(values).any():
                continue
            if key == "reward_mean":
                _, std = run.series("reward_std")
                std = np.nan_to_num(std)
                ax.fill_between(steps, values - std, values + std, color=color, alpha=0.15, linewidth=0)
                ax.plot(steps, values, color=color, alpha=0.45, linewidth=1)
                window = max(1, len(values) // 10)
                ax.plot(steps, smooth(values, window), color=color, linewidth=2, label=run.name)
            else:
                ax.plot(steps, values, color=color, linewidth=1.5, marker="." if len(steps) < 40 else None)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    if runs:
        fig.legend(
            handles=[Line2D([], [], color=c, linewidth=2) for c in colors],
            labels=[run.name for run in runs],
            loc="outside upper center",
            ncols=min(len(runs), 4),
        )
    return fig


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return statistics.fmean(finite) if finite else math.nan


def summary(run: RunMetrics) -> dict[str, Any]:
    """Steps, mean reward over the first and last 5 steps, seconds per step and tokens per second."""
    reward = [_number(r.get("reward_mean")) for r in run.rows]
    return {
        "steps": len(run.rows),
        "last_step": max((_number(r.get("step"), -1) for r in run.rows), default=-1),
        "reward_first5": _mean(reward[:5]),
        "reward_last5": _mean(reward[-5:]),
        "seconds_per_step": _mean([_number(r.get("step_seconds")) for r in run.rows]),
        "tokens_per_s": _mean([_number(r.get("tokens_per_s")) for r in run.rows]),
        "broken_lines": run.broken,
    }


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    return html.escape(str(value))


def render_html(runs: list[RunMetrics], png: bytes, title: str) -> str:
    """One page: the curves (PNG inlined as base64), a summary table and each run's last samples, all escaped."""
    esc = html.escape
    head = ["run", "steps", "last step", "reward (first 5)", "reward (last 5)", "s / step", "tokens / s", "broken"]
    body = []
    for run in runs:
        s = summary(run)
        cells = [
            esc(run.name),
            f'<span class="steps">{s["steps"]}</span>',
            _cell(int(s["last_step"])),
            _cell(s["reward_first5"]),
            _cell(s["reward_last5"]),
            _cell(s["seconds_per_step"]),
            _cell(s["tokens_per_s"]),
            _cell(s["broken_lines"]),
        ]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    notes = [f'<p class="flag">{esc(run.name)}: {esc(run.flag)}</p>' for run in runs if run.flag]
    notes += [
        f"<p>{esc(run.name)}: skipped {run.broken} broken line{'s' * (run.broken != 1)} of {esc(str(run.path))}.</p>"
        for run in runs
        if run.broken
    ]
    samples = []
    for run in runs:
        picked = [r for r in run.rows if isinstance(r.get("sample"), str)][-SAMPLES_PER_RUN:]
        for row in picked:
            samples.append(
                f"<h3>{esc(run.name)} · step {esc(str(row.get('step', '?')))}</h3><pre>{esc(row['sample'])}</pre>"
            )
    image = base64.b64encode(png).decode("ascii")
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{esc(title)}</title>",
            "<style>body{font-family:sans-serif;margin:2em;max-width:1400px}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
            "td:first-child{text-align:left}img{max-width:100%}"
            "pre{background:#f6f6f6;padding:8px;white-space:pre-wrap}</style>",
            "</head><body>",
            f"<h1>{esc(title)}</h1>",
            "<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr>",
            *body,
            "</table>",
            *notes,
            f'<img alt="learning curves" src="data:image/png;base64,{image}">',
            "<h2>Last samples</h2>",
            *samples,
            "</body></html>",
        ]
    )


def output_paths(out: str | Path) -> tuple[Path, Path]:
    """`out` is a folder (report.png + report.html inside) or a .html/.png path (its sibling gets the other)."""
    out = Path(out)
    if out.suffix.lower() in (".html", ".png"):
        return out.with_suffix(".png"), out.with_suffix(".html")
    return out / "report.png", out / "report.html"


def write_report(runs: list[str | Path], out: str | Path, title: str = "GRPO learning curves") -> tuple[Path, Path]:
    """Draw the runs' curves and write (png_path, html_path)."""
    if not runs:
        raise ValueError("no runs given")
    loaded = load_runs(runs)
    png_path, html_path = output_paths(out)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    draw(loaded).savefig(buffer, format="png", dpi=100)
    png = buffer.getvalue()
    png_path.write_bytes(png)
    html_path.write_text(render_html(loaded, png, title), encoding="utf-8")
    return png_path, html_path


def load_runs(runs: list[str | Path]) -> list[RunMetrics]:
    """Load every run; runs that share a folder name get their parent folder in the legend to tell them apart."""
    loaded = [load_run(run) for run in runs]
    names = [run.name for run in loaded]
    for run in loaded:
        if names.count(run.name) > 1:
            run.name = (
                f"{run.path.parent.parent.name}/{run.name}" if run.path.name == "metrics.jsonl" else str(run.path)
            )
    return loaded
