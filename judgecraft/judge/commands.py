"""The judge's command-line commands: `judge` (a dump, or --bias-report), `judge serve`, `select`, `assemble`.

Register them on the root app (judgecraft/cli.py):

    from judgecraft.judge.commands import assemble_command, judge_app, select_command
    app.add_typer(judge_app, name="judge")
    app.command("select")(select_command)
    app.command("assemble")(assemble_command)

`judgecraft judge DUMP ...` judges a dump; `judgecraft judge serve --model DIR` starts a server.
The judge spec (`--judge`) is `vllm:/path/to/model` or `http://host:port/v1#model-name`, or the
environment variable JUDGECRAFT_JUDGE.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from judgecraft.judge.dumps import (
    ANSWER_FIELDS,
    COMPLETION_FIELDS,
    ID_FIELDS,
    PROMPT_FIELDS,
    AtomicJsonlWriter,
    fields,
    read_jsonl,
)

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
FieldOpt = Annotated[str | None, typer.Option(help="field name (default: the usual spellings)")]


def _judge(spec: str, construct: str, cache: Path | None, no_cache: bool, **options: Any) -> Any:
    from judgecraft.judge.core import make_judge

    labels = options.pop("labels", None)
    if labels is not None:
        options["labels"] = (
            [] if labels.strip().lower() == "names" else [x.strip() for x in labels.split(",") if x.strip()]
        )
    return make_judge(spec, construct, cache=False if no_cache else (cache or True), progress=True, **options)


def _summary(title: str, counts: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=title, show_header=False)
    for key, value in counts.items():
        table.add_row(key, str(value))
    console.print(table)


@judge_app.command("run", hidden=True)
def judge_command(
    dump: Annotated[Path, typer.Argument(help="JSONL dump: prompt, completion, answer, id per line")],
    judge: JudgeSpec,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="JSONL output, one row per input line")] = None,
    construct: ConstructOpt = "pkv",
    shuffles: ShufflesOpt = None,
    labels: LabelsOpt = None,
    weighting: Annotated[str | None, typer.Option(help="logprobs | argmax")] = None,
    max_tokens: MaxTokensOpt = None,
    rationale_max_chars: RationaleOpt = None,
    cache: CacheOpt = None,
    no_cache: NoCacheOpt = False,
    bias_report: Annotated[bool, typer.Option("--bias-report", help="measure position bias instead")] = False,
    bias_json: Annotated[Path | None, typer.Option("--bias-json", help="write the bias report as JSON")] = None,
    tolerance: Annotated[float, typer.Option(help="bias report: points from uniform that pass")] = 5.0,
    batch_size: Annotated[int, typer.Option(help="rows per judge batch")] = 256,
    prompt_field: FieldOpt = None,
    completion_field: FieldOpt = None,
    answer_field: FieldOpt = None,
    id_field: FieldOpt = None,
) -> None:
    """Judge every completion of a dump; write one row per input line (verdict, judge components, error)."""
    from judgecraft.judge.verdict import JudgeSetupError
    from judgecraft.scorer import Scorer

    pf, cf = fields(prompt_field, PROMPT_FIELDS), fields(completion_field, COMPLETION_FIELDS)
    af, idf = fields(answer_field, ANSWER_FIELDS), fields(id_field, ID_FIELDS)
    if not dump.exists():
        raise typer.BadParameter(f"{dump} does not exist", param_hint="DUMP")
    if out is None and not bias_report:
        raise typer.BadParameter("give --out (or --bias-report)", param_hint="--out")
    try:
        j = _judge(judge, construct, cache, no_cache, shuffles=shuffles, labels=labels, weighting=weighting,
                   max_tokens=max_tokens, rationale_max_chars=rationale_max_chars)  # fmt: skip
    except (JudgeSetupError, ValueError) as err:
        console.print(f"[red]judge: {err}")
        raise typer.Exit(2) from None
    started = time.monotonic()
    try:
        if bias_report:
            _bias(j, dump, pf, cf, af, idf, tolerance, shuffles, bias_json)
            return
        scorer = Scorer(j.construct, components=[n for n in j.construct.components if n.startswith("judge_")])
        counts = {"rows": 0, "judged": 0, "judge errors": 0, "bad rows": 0}
        rows = list(read_jsonl(dump))
        assert out is not None
        with AtomicJsonlWriter(out) as writer:
            for start in range(0, len(rows), batch_size):
                batch = rows[start : start + batch_size]
                good = [r for r in batch if r.data is not None and r.get(cf) is not None]
                items = [j.item(r.get(pf), r.get(cf), r.get(af), r.get(idf)) for r in good]
                verdicts = dict(zip((r.line for r in good), j.judge_many(items), strict=True))
                for r in batch:
                    counts["rows"] += 1
                    row: dict[str, Any] = {"line": r.line, "id": r.get(idf)}
                    if r.line not in verdicts:
                        counts["bad rows"] += 1
                        row.update(judge=None, error=r.error or f"line {r.line} has no completion field {list(cf)}")
                        writer.write(row)
                        continue
                    v = verdicts[r.line]
                    bd = scorer.score(r.get(cf), answer=r.get(af), prompt=r.get(pf), verdict=v)
                    row.update({k: val for k, val in bd.values().items()})
                    row["judge"] = v.to_dict()
                    row["error"] = None if hasattr(v, "winner") else str(v)
                    counts["judged" if row["error"] is None else "judge errors"] += 1
                    writer.write(row)
    except JudgeSetupError as err:
        console.print(f"[red]judge: {err}")
        raise typer.Exit(2) from None
    finally:
        j.close()
    counts["backend calls"] = j.stats.get("backend_calls", 0)
    counts["cache hits"] = j.stats.get("cache_hits", 0)
    counts["seconds"] = round(time.monotonic() - started, 1)
    _summary(f"judged {dump} -> {out}", counts)
    console.print(
        f"{counts['judged']}/{counts['rows']} rows judged, {counts['judge errors']} judge errors, "
        f"{counts['bad rows']} bad rows, {counts['backend calls']} backend calls, {counts['cache hits']} cache hits"
    )


def _bias(j: Any, dump: Path, pf, cf, af, idf, tolerance: float, shuffles: int | None, bias_json: Path | None) -> None:
    from judgecraft.judge.bias import measure_position_bias

    items = [j.item(r.get(pf), r.get(cf), r.get(af), r.get(idf)) for r in read_jsonl(dump) if r.get(cf) is not None]
    report = measure_position_bias(j, items, shuffles=shuffles or None, tolerance=tolerance, progress=True)
    console.print(report.table())
    console.print(
        f"original-position pick: unshuffled {report.unshuffled.original_deviation:.1f} pts from uniform, "
        f"shuffled {report.shuffled.original_deviation:.1f} pts (tolerance {tolerance:g}): "
        + ("shuffling holds the bias within tolerance" if report.shuffled_within_tolerance else "outside tolerance")
    )
    if bias_json:
        bias_json.parent.mkdir(parents=True, exist_ok=True)
        bias_json.write_text(json.dumps(report.to_dict(), indent=2))


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
        while not stop and server.process is not None and server.process.poll() is None:
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    if server.process is not None and server.process.returncode not in (0, -15, None) and not stop:
        console.print(f"[red]the server exited with {server.process.returncode}; log tail:\n{server.log_tail()}")
        raise typer.Exit(1)


def select_command(
    dump: Annotated[Path, typer.Argument(help="JSONL: rows sharing a prompt, or rows with a `completions` list")],
    out: Annotated[Path, typer.Option("--out", "-o", help="SFT set (TRL conversational JSONL: messages)")],
    judge: Annotated[
        str | None, typer.Option("--judge", "-j", envvar="JUDGECRAFT_JUDGE", help="judge spec; omit for rules only")
    ] = None,
    construct: ConstructOpt = "pkv",
    stage: Annotated[str | None, typer.Option(help="stage whose rule total must reach --min-score")] = None,
    min_score: Annotated[float, typer.Option(help="minimum rule total to be considered")] = 0.0,
    require_correct: Annotated[bool, typer.Option(help="with a gold answer, keep only right generations")] = True,
    system: Annotated[bool, typer.Option(help="put the construct's system prompt first (string prompts)")] = True,
    meta_out: Annotated[Path | None, typer.Option(help="JSONL of why each prompt got (or lost) its pick")] = None,
    group_field: Annotated[str | None, typer.Option(help="field that groups rows (default: the prompt)")] = None,
    shuffles: ShufflesOpt = None,
    max_tokens: MaxTokensOpt = None,
    rationale_max_chars: RationaleOpt = None,
    cache: CacheOpt = None,
    no_cache: NoCacheOpt = False,
    prompt_field: FieldOpt = None,
    completion_field: FieldOpt = None,
    answer_field: FieldOpt = None,
    id_field: FieldOpt = None,
) -> None:
    """Several generations per prompt -> rules and the judge pick one -> an SFT data set of winners only."""
    from judgecraft.judge.config import DEFAULT_TEMPLATE
    from judgecraft.judge.select_sft import group_rows, select_winners
    from judgecraft.judge.verdict import JudgeSetupError

    rows = list(read_jsonl(dump))
    bad = [r for r in rows if r.data is None]
    groups = group_rows(
        [r.data for r in rows if r.data is not None],
        fields(prompt_field, PROMPT_FIELDS),
        fields(completion_field, COMPLETION_FIELDS),
        fields(answer_field, ANSWER_FIELDS),
        fields(id_field, ID_FIELDS),
        group_field,
    )
    j = None
    try:
        if judge:  # whole generations are compared: the generic template, not the construct's persona one
            j = _judge(judge, construct, cache, no_cache, shuffles=shuffles, max_tokens=max_tokens,
                       rationale_max_chars=rationale_max_chars, template=DEFAULT_TEMPLATE)  # fmt: skip
        selections = select_winners(
            groups, construct, j, stage=stage, min_score=min_score, require_correct=require_correct, system=system
        )
    except JudgeSetupError as err:
        console.print(f"[red]judge: {err}")
        raise typer.Exit(2) from None
    finally:
        if j is not None:
            j.close()
    with AtomicJsonlWriter(out) as writer:
        writer.write_all(s.record for s in selections if s.record is not None)
    if meta_out:
        with AtomicJsonlWriter(meta_out) as writer:
            writer.write_all(s.meta() for s in selections)
            writer.write_all({"line": r.line, "error": r.error} for r in bad)
    by = {k: sum(s.picked_by == k for s in selections) for k in ("judge", "rules")}
    _summary(
        f"select {dump} -> {out}",
        {"prompts": len(groups), "examples": by["judge"] + by["rules"], "picked by judge": by["judge"],
         "picked by rules": by["rules"], "no pick": sum(s.picked is None for s in selections), "bad rows": len(bad)},
    )  # fmt: skip
    console.print(f"{by['judge'] + by['rules']} SFT examples from {len(groups)} prompts ({len(bad)} bad rows)")


def assemble_command(
    dump: Annotated[Path, typer.Argument(help="JSONL: question, answer (gold), trajectories: [text | {source, text}]")],
    out: Annotated[Path, typer.Option("--out", "-o", help="judge-training set (TRL conversational JSONL)")],
    judge: JudgeSpec,
    construct: ConstructOpt = "pkv",
    format: Annotated[
        str, typer.Option("--format", help="verdict (train a judge) | construct (judging in <result>)")
    ] = "verdict",
    keep_unchecked: Annotated[bool, typer.Option(help="keep picks that no gold answer can check")] = False,
    meta_out: Annotated[Path | None, typer.Option(help="JSONL of why each question was kept or dropped")] = None,
    shuffles: ShufflesOpt = None,
    max_tokens: MaxTokensOpt = None,
    rationale_max_chars: RationaleOpt = None,
    cache: CacheOpt = None,
    no_cache: NoCacheOpt = False,
    prompt_field: FieldOpt = None,
    answer_field: FieldOpt = None,
    id_field: FieldOpt = None,
) -> None:
    """Trajectories from other models or people -> the judge picks -> examples that train the judging itself."""
    from judgecraft.judge.assemble import FORMATS, assemble, trajectory_groups
    from judgecraft.judge.config import DEFAULT_TEMPLATE
    from judgecraft.judge.verdict import JudgeSetupError

    if format not in FORMATS:
        raise typer.BadParameter(f"one of {FORMATS}", param_hint="--format")
    rows = list(read_jsonl(dump))
    bad = [{"line": r.line, "error": r.error} for r in rows if r.data is None]
    groups, lines = [], []
    for r in rows:
        if r.data is None:
            continue
        try:
            groups += trajectory_groups(
                [r.data], fields(prompt_field, PROMPT_FIELDS), fields(answer_field, ANSWER_FIELDS),
                fields(id_field, ID_FIELDS),
            )  # fmt: skip
            lines.append(r.line)
        except ValueError as err:
            bad.append({"line": r.line, "error": str(err)})
    overrides: dict[str, Any] = {
        "shuffles": shuffles,
        "max_tokens": max_tokens,
        "rationale_max_chars": rationale_max_chars,
    }
    if format == "verdict":
        overrides["template"] = DEFAULT_TEMPLATE  # outside trajectories are not role-played personas
    j = None
    try:
        j = _judge(judge, construct, cache, no_cache, **overrides)
        results = assemble(groups, construct, j, format=format, keep_unchecked=keep_unchecked)
    except JudgeSetupError as err:
        console.print(f"[red]judge: {err}")
        raise typer.Exit(2) from None
    finally:
        if j is not None:
            j.close()
    with AtomicJsonlWriter(out) as writer:
        for a in results:
            writer.write_all(a.records)
    if meta_out:
        with AtomicJsonlWriter(meta_out) as writer:
            writer.write_all({"line": line, **a.meta()} for line, a in zip(lines, results, strict=True))
            writer.write_all(bad)
    reasons: dict[str, int] = {}
    for a in results:
        reasons[a.reason] = reasons.get(a.reason, 0) + 1
    examples = sum(len(a.records) for a in results)
    _summary(
        f"assemble {dump} -> {out}",
        {"questions": len(groups), "kept": sum(a.kept for a in results), "examples": examples,
         "bad rows": len(bad), **{f"  {k}": v for k, v in sorted(reasons.items())}},
    )  # fmt: skip
    console.print(f"{examples} examples from {sum(a.kept for a in results)}/{len(groups)} questions kept")
