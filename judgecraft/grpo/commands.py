"""`judgecraft train`, `judgecraft report` and `judgecraft traces`: the training commands of the CLI.

They are registered lazily (see judgecraft.cli.LAZY_COMMANDS), so `judgecraft score` never imports
torch, peft or vLLM.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

console = Console(stderr=True)


def train_command(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="run.toml (defaults train SmolLM2 on the CPU)")
    ] = None,
    plan: Annotated[
        bool, typer.Option("--plan", help="print the GPU memory the run needs, load nothing, exit")
    ] = False,
    gpu_memory_gib: Annotated[float, typer.Option("--gpu-memory-gib", help="--plan: the GPU to fit")] = 80.0,
    steps: Annotated[int | None, typer.Option(help="override the config's steps")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="override the config's output_dir")] = None,
    model: Annotated[str | None, typer.Option(help="override the config's model (a folder, or smollm2)")] = None,
    no_resume: Annotated[bool, typer.Option("--no-resume", help="start again even if a checkpoint exists")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
) -> None:
    """Train a LoRA policy with GRPO on judgecraft's rewards (SFT on traces first when [sft] asks for it)."""
    from judgecraft.grpo.config import TrainConfigError, load_train_config

    try:
        cfg = load_train_config(config, steps=steps, output_dir=str(output) if output else None, model=model)
    except TrainConfigError as err:
        console.print(f"error: {err}", style="red", markup=False)
        raise typer.Exit(2) from None
    if plan:
        from judgecraft.grpo.plan import plan_memory

        try:
            memory = plan_memory(cfg, gpu_bytes=int(gpu_memory_gib * 2**30))
        except ValueError as err:
            console.print(f"error: {err}", style="red", markup=False)
            raise typer.Exit(2) from None
        print(memory.render())
        return

    from judgecraft.grpo.loop import GRPOTrainer, summary_line

    try:
        cfg.check_inputs(str(config) if config else "<defaults>")
        trainer = GRPOTrainer(cfg)
    except (TrainConfigError, ValueError) as err:  # bad files or scoring settings: before anything loads
        console.print(f"error: {err}", style="red", markup=False)
        raise typer.Exit(2) from None
    rows = trainer.run(resume=not no_resume, progress=not quiet)
    print(summary_line(rows))
    print(f"metrics: {Path(cfg.output_dir) / 'metrics.jsonl'}  checkpoint: {trainer.latest_checkpoint()}")


def report_command(
    runs: Annotated[list[Path], typer.Argument(help="run folders (or metrics.jsonl files) to draw, overlaid")],
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for report.png and report.html")] = Path(
        "out/report"
    ),
) -> None:
    """Draw the learning curves of one or more runs to PNG and a self-contained HTML page."""
    from judgecraft.grpo.report import load_runs, write_report

    try:
        png, html = write_report(runs, out)
        flags = [(run.name, run.flag) for run in load_runs(runs) if run.flag]
    except ValueError as err:
        console.print(f"error: {err}", style="red", markup=False)
        raise typer.Exit(2) from None
    for name, flag in flags:
        console.print(f"warning: {name}: {flag}", style="yellow", markup=False)
    print(f"report: {png}  {html}")


def traces_command(
    dump: Annotated[Path, typer.Argument(help="JSONL or Parquet dump with a prompt and a completion per row")],
    out: Annotated[Path, typer.Option("--out", "-o", help="trace records, one JSONL line per input row")],
    sft: Annotated[Path | None, typer.Option("--sft", help="also write SFT examples (well-formed traces only)")] = None,
    construct: Annotated[str, typer.Option(help="the construct whose reasoning section holds the trace")] = "think",
    prefill: Annotated[bool, typer.Option(help="completions continue the construct's prefill")] = False,
    correct_only: Annotated[bool, typer.Option(help="--sft: keep only rows whose final answer is right")] = False,
    min_steps: Annotated[int, typer.Option(help="--sft: keep only traces with at least this many steps")] = 1,
    tokenizer: Annotated[str | None, typer.Option(help="count trace tokens with this tokenizer (else words)")] = None,
) -> None:
    """Turn <think> completions into trace records (parsed steps) and SFT examples for stage 1 of training."""
    from judgecraft.construct import load_construct
    from judgecraft.io import read_records
    from judgecraft.traces import extract_trace, to_sft_record

    c = load_construct(construct)
    tok = _tokenizer(tokenizer)
    scorer = None
    if correct_only:
        from judgecraft.scorer import Scorer

        scorer = Scorer(c, components=["correctness"], weights={"correctness": 1.0})
    out.parent.mkdir(parents=True, exist_ok=True)
    counts = {"rows": 0, "traces": 0, "errors": 0, "sft": 0}
    sft_file = sft.open("w", encoding="utf-8") if sft else None
    try:
        with out.open("w", encoding="utf-8") as f:
            for record in read_records(dump):
                counts["rows"] += 1
                row: dict[str, Any] = {"row": record.row, "id": record.id}
                if record.completion is None:
                    counts["errors"] += 1
                    f.write(json.dumps({**row, "error": record.error}) + "\n")
                    continue
                pre = record.prefill if record.prefill is not None else (c.prefill if prefill else "")
                trace = extract_trace(record.completion, c, prefill=pre, tokenizer=tok)
                counts["traces"] += 1
                f.write(json.dumps({**row, **trace.to_dict()}) + "\n")
                if sft_file is None or not trace.well_formed or trace.num_steps < min_steps:
                    continue
                if scorer is not None:
                    value = scorer.score(record.completion, answer=record.answer, prefill=pre).values()["correctness"]
                    if not value or value <= 0:
                        continue
                prompt = _prompt_text(record.prompt)
                sft_file.write(json.dumps({"id": record.id, **to_sft_record(prompt, trace, c.root)}) + "\n")
                counts["sft"] += 1
    finally:
        if sft_file:
            sft_file.close()
    print(
        f"traces: {counts['rows']} rows, {counts['traces']} trace records, {counts['errors']} rows with errors"
        + (f", {counts['sft']} SFT examples -> {sft}" if sft else "")
    )


def _tokenizer(name: str | None) -> Any:
    if not name:
        return None
    from transformers import AutoTokenizer

    from judgecraft.grpo.policy import resolve_model

    return AutoTokenizer.from_pretrained(resolve_model(name))


def _prompt_text(prompt: Any) -> str:
    """The user's question from a text prompt or the last user message of a chat prompt."""
    if isinstance(prompt, list):
        users = [m.get("content") for m in prompt if m.get("role") == "user" and isinstance(m.get("content"), str)]
        return users[-1] if users else ""
    return prompt or ""
