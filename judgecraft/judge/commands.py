"""The judge's command-line commands: `judge` (a dump, --bias-report or --probe), `judge serve`, `select`, `assemble`.

Register them on the root app (judgecraft/cli.py registers them lazily):

    from judgecraft.judge.commands import assemble_command, judge_app, select_command
    app.add_typer(judge_app, name="judge")
    app.command("select")(select_command)
    app.command("assemble")(assemble_command)

The judge spec (`--judge`) is `vllm:/path/to/model` or `http://host:port/v1#model-name`, or the
environment variable JUDGECRAFT_JUDGE. Dumps are read through `judgecraft.io` (JSONL or Parquet).
"""

from __future__ import annotations

import contextlib
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

console = Console(stderr=True)


class _DumpByDefault(TyperGroup):
    """`judgecraft judge DUMP ...` means `judgecraft judge run DUMP ...`; `serve` stays a subcommand."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


judge_app = typer.Typer(
    cls=_DumpByDefault,
    no_args_is_help=True,
    help="Judge a dump with an LLM (judgecraft judge DUMP --judge SPEC), or serve a judge model (judge serve).",
)

JudgeSpec = Annotated[
    str,
    typer.Option("--judge", "-j", envvar="JUDGECRAFT_JUDGE", help="vllm:/path/to/model or http://host:port/v1#name"),
]
ConstructOpt = Annotated[str, typer.Option("--construct", "-c", help="built-in construct name or path to a TOML spec")]
CacheOpt = Annotated[
    Path | None, typer.Option("--cache", help="SQLite cache file (default: ~/.cache/judgecraft/judge.sqlite)")
]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="do not read or write the judge cache")]
ShufflesOpt = Annotated[
    int | None, typer.Option("--shuffles", help="orders per item (0: original order; default: the construct's)")
]
LabelsOpt = Annotated[
    str | None, typer.Option("--labels", help="neutral labels, comma-separated (A,B,C), or 'names' to show names")
]
MaxTokensOpt = Annotated[int | None, typer.Option("--max-tokens", help="verdict token budget")]
RationaleOpt = Annotated[int | None, typer.Option("--rationale-max-chars", help="cap on the verdict's rationale")]
PromptField = Annotated[str, typer.Option(help="column with the prompt (text or chat messages)")]
CompletionField = Annotated[str, typer.Option(help="column with the completion (text or chat messages)")]
AnswerField = Annotated[list[str] | None, typer.Option(help="gold-answer column (repeat: first present wins)")]
IdField = Annotated[str, typer.Option(help="column with the row id")]
MetaOut = Annotated[Path | None, typer.Option(help="JSONL of why each prompt got (or lost) its pick")]


@contextlib.contextmanager
def opened_judge(spec: str, construct: str, cache: Path | None, no_cache: bool, **options: Any) -> Iterator[Any]:
    """The judge for a command: set-up errors (no server, no model, a bad option) end it with exit code 2."""
    from judgecraft.judge.core import make_judge
    from judgecraft.judge.verdict import JudgeSetupError

    labels = options.pop("labels", None)
    if labels is not None:
        options["labels"] = (
            [] if labels.strip().lower() == "names" else [x.strip() for x in labels.split(",") if x.strip()]
        )
    judge = None
    try:
        judge = make_judge(spec, construct, cache=False if no_cache else (cache or True), progress=True,
                           **{k: v for k, v in options.items() if v is not None})  # fmt: skip
        yield judge
    except (JudgeSetupError, ValueError) as err:
        console.print(f"[red]judge: {err}")
        raise typer.Exit(2) from None
    finally:
        if judge is not None:
            judge.close()


def _summary(title: str, counts: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=title, show_header=False)
    for key, value in counts.items():
        table.add_row(key, str(value))
    console.print(table)


def _fields(prompt: str, completion: str, answer: list[str] | None, id_: str) -> Any:
    from judgecraft.io import DEFAULT_ANSWER_FIELDS, Fields

    return Fields(prompt=prompt, completion=completion, answer=tuple(answer or DEFAULT_ANSWER_FIELDS), id=id_)


@judge_app.command("run", hidden=True)
def judge_command(
    dump: Annotated[Path, typer.Argument(help="JSONL or Parquet dump: prompt, completion, answer, id per row")],
    judge: JudgeSpec,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="JSONL output, one row per input row")] = None,
    construct: ConstructOpt = "pkv",
    shuffles: ShufflesOpt = None,
    labels: LabelsOpt = None,
    weighting: Annotated[str | None, typer.Option(help="logprobs | argmax")] = None,
    max_tokens: MaxTokensOpt = None,
    rationale_max_chars: RationaleOpt = None,
    cache: CacheOpt = None,
    no_cache: NoCacheOpt = False,
    bias_report: Annotated[bool, typer.Option("--bias-report", help="measure position bias instead")] = False,
    probe: Annotated[bool, typer.Option("--probe", help="grade known judge attacks next to real solutions")] = False,
    report_json: Annotated[
        Path | None, typer.Option("--bias-json", "--report-json", help="write the report as JSON")
    ] = None,
    tolerance: Annotated[float, typer.Option(help="bias report: points from uniform that pass")] = 5.0,
    limit: Annotated[int, typer.Option(help="bias report / probe: rows to use at most")] = 200,
    batch_size: Annotated[int, typer.Option(help="rows per judge batch (and per checkpoint)")] = 64,
    restart: Annotated[bool, typer.Option(help="ignore a checkpoint left by an interrupted run")] = False,
    prompt_field: PromptField = "prompt",
    completion_field: CompletionField = "completion",
    answer_field: AnswerField = None,
    id_field: IdField = "id",
) -> None:
    """Judge every row of a dump (one output row per input row: verdict, judge components, error), resumably."""
    from judgecraft.judge import report

    if not dump.exists():
        raise typer.BadParameter(f"{dump} does not exist", param_hint="DUMP")
    if out is None and not (bias_report or probe):
        raise typer.BadParameter("give --out (or --bias-report / --probe)", param_hint="--out")
    fields = _fields(prompt_field, completion_field, answer_field, id_field)
    settings = {"shuffles": shuffles, "labels": labels, "weighting": weighting, "max_tokens": max_tokens,
                "rationale_max_chars": rationale_max_chars}  # fmt: skip
    if probe:  # single solutions are graded on their own: the generic template, not the persona one
        from judgecraft.judge.config import DEFAULT_TEMPLATE

        settings["template"] = DEFAULT_TEMPLATE
    started = time.monotonic()
    with opened_judge(judge, construct, cache, no_cache, **settings) as j:
        if bias_report or probe:
            found = (report.bias if bias_report else report.probe)(j, dump, fields, tolerance, limit, shuffles)
            if report_json:
                report_json.parent.mkdir(parents=True, exist_ok=True)
                report_json.write_text(json.dumps(found, indent=2))
            return
        assert out is not None
        counts = report.judge_to_file(j, dump, out, fields, {"judge": judge, "construct": construct, **settings},
                                      batch_size, restart)  # fmt: skip
    counts["seconds"] = round(time.monotonic() - started, 1)
    report.print_run_summary(dump, out, counts)


@judge_app.command("serve")
def serve_command(
    model: Annotated[Path, typer.Option("--model", "-m", help="Hugging Face model folder")],
    name: Annotated[str, typer.Option("--name", help="served model name (the part after # in the spec)")] = "judge",
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    max_model_len: Annotated[int, typer.Option(help="context length")] = 4096,
    dtype: Annotated[str, typer.Option(help="weights dtype (auto, bfloat16, float32)")] = "auto",
    enforce_eager: Annotated[bool, typer.Option(help="skip torch.compile (faster start, CPU tests)")] = False,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the server to answer")] = 900.0,
    extra: Annotated[list[str] | None, typer.Argument(help="more vLLM server arguments, after --")] = None,
) -> None:
    """Start vLLM's OpenAI-compatible server for a judge model; wait until it answers; run until Ctrl-C."""
    from judgecraft.judge.server import JudgeServer
    from judgecraft.judge.verdict import JudgeSetupError

    args = list(extra or []) + (["--enforce-eager"] if enforce_eager else [])
    try:
        server = JudgeServer(model, name, host, port, max_model_len=max_model_len, dtype=dtype, extra_args=args)
        console.print(f"starting vLLM for {model} (log: {server.log_path}) ...")
        server.start(timeout)
    except JudgeSetupError as err:
        console.print(f"[red]{err}")
        raise typer.Exit(2) from None
    console.print(f"[green]judge server ready[/]: --judge '{server.spec}'   (Ctrl-C stops it)")
    stop = False

    def on_signal(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    try:
        while not stop and server.running:
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    if server.exit_code not in (0, -15, None) and not stop:
        console.print(f"[red]the server exited with {server.exit_code}; log tail:\n{server.log_tail()}")
        raise typer.Exit(1)


def select_command(
    dump: Annotated[
        Path, typer.Argument(help="JSONL/Parquet: rows sharing a prompt, or rows with a `completions` list")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="SFT set (TRL conversational JSONL: messages)")],
    judge: Annotated[
        str | None, typer.Option("--judge", "-j", envvar="JUDGECRAFT_JUDGE", help="judge spec; omit for rules only")
    ] = None,
    construct: ConstructOpt = "pkv",
    stage: Annotated[str | None, typer.Option(help="stage whose rule total must reach --min-score")] = None,
    min_score: Annotated[float, typer.Option(help="minimum rule total to be considered")] = 0.0,
    require_correct: Annotated[bool, typer.Option(help="with a gold answer, keep only right generations")] = True,
    system: Annotated[bool, typer.Option(help="put the construct's system prompt first (string prompts)")] = True,
    meta_out: MetaOut = None,
    group_field: Annotated[str | None, typer.Option(help="field that groups rows (default: the prompt)")] = None,
    shuffles: ShufflesOpt = None,
    max_tokens: MaxTokensOpt = None,
    rationale_max_chars: RationaleOpt = None,
    cache: CacheOpt = None,
    no_cache: NoCacheOpt = False,
    prompt_field: PromptField = "prompt",
    completion_field: CompletionField = "completion",
    answer_field: AnswerField = None,
    id_field: IdField = "id",
) -> None:
    """Several generations per prompt -> rules and the judge pick one -> an SFT data set of winners only."""
    from judgecraft.judge import report
    from judgecraft.judge.config import DEFAULT_TEMPLATE
    from judgecraft.judge.select_sft import select_winners

    fields = _fields(prompt_field, completion_field, answer_field, id_field)
    groups, bad = report.select_groups(dump, fields, group_field)
    # whole generations are compared, not the construct's personas: the generic template
    settings = {"shuffles": shuffles, "max_tokens": max_tokens, "rationale_max_chars": rationale_max_chars,
                "template": DEFAULT_TEMPLATE}  # fmt: skip
    with contextlib.ExitStack() as stack:
        j = stack.enter_context(opened_judge(judge, construct, cache, no_cache, **settings)) if judge else None
        selections = select_winners(
            groups, construct, j, stage=stage, min_score=min_score, require_correct=require_correct, system=system
        )
    report.write_selections(dump, out, meta_out, groups, selections, bad)


def assemble_command(
    dump: Annotated[
        Path, typer.Argument(help="JSONL/Parquet: question, answer (gold), trajectories: [text | {source, text}]")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="judge-training set (TRL conversational JSONL)")],
    judge: JudgeSpec,
    construct: ConstructOpt = "pkv",
    format: Annotated[
        str, typer.Option("--format", help="verdict (train a judge) | construct (judging in <result>)")
    ] = "verdict",
    keep_unchecked: Annotated[bool, typer.Option(help="keep picks that no gold answer can check")] = False,
    meta_out: MetaOut = None,
    shuffles: ShufflesOpt = None,
    max_tokens: MaxTokensOpt = None,
    rationale_max_chars: RationaleOpt = None,
    cache: CacheOpt = None,
    no_cache: NoCacheOpt = False,
    prompt_field: Annotated[str, typer.Option(help="column with the question")] = "question",
    answer_field: AnswerField = None,
    id_field: IdField = "id",
) -> None:
    """Trajectories from other models or people -> the judge picks -> examples that train the judging itself."""
    from judgecraft.judge import report
    from judgecraft.judge.assemble import FORMATS, assemble
    from judgecraft.judge.config import DEFAULT_TEMPLATE

    if format not in FORMATS:
        raise typer.BadParameter(f"one of {FORMATS}", param_hint="--format")
    fields = _fields(prompt_field, "trajectories", answer_field, id_field)
    groups, rows, bad = report.trajectory_rows(dump, fields)
    settings: dict[str, Any] = {
        "shuffles": shuffles,
        "max_tokens": max_tokens,
        "rationale_max_chars": rationale_max_chars,
    }
    if format == "verdict":
        settings["template"] = DEFAULT_TEMPLATE  # outside trajectories are not role-played personas
    with opened_judge(judge, construct, cache, no_cache, **settings) as j:
        results = assemble(groups, construct, j, format=format, keep_unchecked=keep_unchecked)
    report.write_assembled(dump, out, meta_out, groups, rows, results, bad)
