"""Generate the example dump: real completions of the small model for examples/questions.jsonl.

Every question is asked in two styles, both under the pkv construct's system prompt (the seed's,
verbatim):

* plain   - the chat ends with the user's question; the model starts its answer from nothing;
* prefill - the chat ends with an assistant message holding the construct's opening tags
            ("<competition>\\n<pirate>\\n"), which the model continues. The row keeps that message
            in `prompt` and its text in `prefill`; `completion` is only what the model wrote.

Generation runs SmolLM2-135M-Instruct through vLLM in this process on the CPU, at the seed author's
recommended temperature (0.5), with one fixed seed per row so a rerun reproduces the dump.

    python examples/generate_dump.py --out examples/dump.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SOURCE = "smollm2-135m-vllm-cpu"
STYLES = ("plain", "prefill")
CHUNK = 32  # requests per vLLM call: big enough to batch well, small enough for a live progress bar


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=Path, default=HERE / "questions.jsonl", help="JSONL of id/question/answer")
    parser.add_argument("--out", type=Path, default=HERE / "dump.jsonl", help="where to write the dump (JSONL)")
    parser.add_argument("--samples", type=int, default=2, help="completions per question and style")
    parser.add_argument("--temperature", type=float, default=0.5, help="the seed author's recommendation")
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--max-tokens", type=int, default=448)
    parser.add_argument("--seed", type=int, default=1234, help="base of the per-row seeds")
    parser.add_argument("--limit", type=int, default=None, help="only the first N questions (a quick trial)")
    return parser.parse_args()


def read_questions(path: Path, limit: int | None) -> list[dict[str, str]]:
    """The question set; each row needs id, question and answer."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in rows:
        missing = {"id", "question", "answer"} - row.keys()
        if missing:
            raise ValueError(f"{path}: row {row.get('id')!r} lacks {sorted(missing)}")
    return rows[:limit] if limit is not None else rows


def build_jobs(questions: list[dict[str, str]], system_prompt: str, prefill: str, args: argparse.Namespace):
    """One job per (question, style, sample): its chat messages, its seed and the row it will become."""
    jobs = []
    for q_index, question in enumerate(questions):
        for s_index, style in enumerate(STYLES):
            messages = [
                {"role": "system", "content": system_prompt},
                {"role": "user", "content": question["question"]},
            ]
            if style == "prefill":
                messages.append({"role": "assistant", "content": prefill})
            for sample in range(args.samples):
                seed = args.seed + 1000 * q_index + 100 * s_index + sample
                row = {
                    "id": f"{question['id']}-{style}-{sample}",
                    "prompt": messages,
                    "completion": None,
                    "answer": question["answer"],
                    "prefill": prefill if style == "prefill" else None,
                    "source": SOURCE,
                    "sampling": {
                        "temperature": args.temperature,
                        "top_p": args.top_p,
                        "max_tokens": args.max_tokens,
                        "seed": seed,
                    },
                }
                jobs.append((style, row))
    return jobs


def main() -> None:
    args = parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from vllm import LLM, SamplingParams

    from judgecraft import load_construct
    from judgecraft.models import small_model_dir

    console = Console(stderr=True)
    construct = load_construct("pkv")
    questions = read_questions(args.questions, args.limit)
    jobs = build_jobs(questions, construct.system_prompt, construct.prefill, args)

    started = time.perf_counter()
    # Per-request seeds crash the CPU engine unless chunked prefill is off.
    llm = LLM(model=str(small_model_dir()), dtype="float32", max_model_len=2048, enable_chunked_prefill=False, seed=0)
    load_s = time.perf_counter() - started

    generated_tokens = 0
    gen_started = time.perf_counter()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("generating", total=len(jobs))
        for style in STYLES:
            batch = [row for s, row in jobs if s == style]
            for start in range(0, len(batch), CHUNK):
                chunk = batch[start : start + CHUNK]
                params = [
                    SamplingParams(
                        temperature=row["sampling"]["temperature"],
                        top_p=row["sampling"]["top_p"],
                        max_tokens=row["sampling"]["max_tokens"],
                        seed=row["sampling"]["seed"],
                    )
                    for row in chunk
                ]
                outputs = llm.chat(
                    [row["prompt"] for row in chunk],
                    params,
                    use_tqdm=False,
                    add_generation_prompt=style == "plain",
                    continue_final_message=style == "prefill",
                )
                for row, output in zip(chunk, outputs, strict=True):
                    out = output.outputs[0]
                    row["completion"] = out.text
                    row["sampling"]["finish_reason"] = out.finish_reason
                    row["sampling"]["completion_tokens"] = len(out.token_ids)
                    generated_tokens += len(out.token_ids)
                progress.update(task, advance=len(chunk), description=f"generating ({style})")
    gen_s = time.perf_counter() - gen_started

    rows = [row for _, row in jobs]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_suffix(args.out.suffix + ".partial")
    with partial.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    partial.replace(args.out)

    console.print(summary_line(rows, load_s, gen_s, generated_tokens, args.out))


def summary_line(rows: list[dict[str, Any]], load_s: float, gen_s: float, tokens: int, out: Path) -> str:
    """Rows, timing, throughput, and how often the model produced the construct at all."""
    # A prefilled row already holds "<competition>" and "<pirate>" in its prefill.
    whole = [(row["prefill"] or "") + row["completion"] for row in rows]
    with_root = sum("<competition>" in text for text in whole)
    closed = sum("</competition>" in text for text in whole)
    with_winner = sum("<winner>" in text for text in whole)
    truncated = sum(row["sampling"]["finish_reason"] == "length" for row in rows)
    return (
        f"wrote {len(rows)} rows to {out} | load {load_s:.0f} s, generate {gen_s:.0f} s, "
        f"{tokens} tokens ({tokens / max(gen_s, 1e-9):.0f} tok/s) | "
        f"<competition> {with_root}, </competition> {closed}, <winner> {with_winner}, hit max_tokens {truncated}"
    )


if __name__ == "__main__":
    main()
