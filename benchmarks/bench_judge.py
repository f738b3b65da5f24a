"""What judgecraft's judge costs over vLLM alone, and what its verdicts are worth (position bias, probe, kappa).

Overhead, for both backends, with shuffles 1 and 3: the same rendered judge prompts, the same
verdict schema as structured output, the same sampling and max_tokens, greedy.
- in-process: "vLLM alone" is `LLM.chat(messages, params)` plus `json.loads` of each output;
  "judgecraft" is `Judge.judge_many` over a `VLLMBackend` on the same engine (rendering,
  tokenising, a fresh SQLite cache read and written, schema validation, logprob weighting,
  labels mapped back, shuffles folded).
- HTTP, against vLLM's own OpenAI-compatible server: "vLLM alone" is the `openai` async client
  sending the same request bodies at the same concurrency plus `json.loads`; "judgecraft" is
  `Judge.judge_many` over an `HTTPBackend`.
Each pair alternates order over `--repeats` runs; medians are compared, of wall seconds and of
CPU-seconds of the whole process tree (this process, the engine and its workers, or the server),
which a busy neighbour disturbs much less than wall time. Generated token counts
are checked call by call (a strict zip over the same calls, both sides recorded per request).

Position bias (in-process): the example items judged in their original order and in 3 rotations
(judgecraft/judge/bias.py), with the judge-verifier kappa; the probe (judgecraft/judge/probe.py)
on handwritten solutions the answer checker finds right.

    nice -n 10 .venv/bin/python benchmarks/bench_judge.py   [--items 2 --repeats 3 --bias-items 4 --probe-cases 2]
Writes benchmarks/results/judge.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results" / "judge.json"
CFG = {"rationale_max_chars": 60, "max_tokens": 200, "max_chars_per_candidate": 300}
ENGINE = {"dtype": "float32", "max_model_len": 4096, "enforce_eager": True}


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def example_records():
    from judgecraft.io import read_records

    for name in ("handwritten.jsonl", "dump.jsonl"):
        path = ROOT / "examples" / name
        if path.exists():
            yield from (r for r in read_records(path) if r.completion)


def example_items(judge, limit: int):
    """Items from the example dumps whose every persona wrote something, with the checker's call."""
    from judgecraft.judge.agreement import checker_says_right
    from judgecraft.scorer import Scorer

    checker = Scorer(judge.construct, components=["correctness"])
    items, calls = [], []
    for r in example_records():
        item = judge.item(r.prompt, r.completion, r.answer, r.id)
        if all(t.strip() for t in item.candidates.values()):
            items.append(item)
            calls.append(checker_says_right(checker, r.completion, r.answer, r.prompt))
        if len(items) >= limit:
            break
    return items, calls


def request_key(request) -> str:
    return json.dumps([request.messages, request.schema], sort_keys=True)


def recording(cls):
    """A backend class that also records each request's generated token count (by request)."""

    class Recording(cls):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.generated: dict[str, int | None] = {}

        async def agenerate(self, requests, on_result=None, deadline=None):
            results = await super().agenerate(requests, on_result, deadline)
            for r, g in zip(requests, results, strict=True):
                self.generated[request_key(r)] = getattr(g, "completion_tokens", None)
            return results

    return Recording


def compare(calls, base_tokens, backend, times, judge) -> dict:
    jc_tokens = [backend.generated.get(request_key(c.request)) for c in calls]
    pairs = list(zip(base_tokens, jc_tokens, strict=True))  # the same calls, in the same order
    b, j = statistics.median(times["base"]), statistics.median(times["jc"])
    bc, jc = statistics.median(times["base_cpu"]), statistics.median(times["jc_cpu"])
    return {
        "judge_calls": len(calls),
        "generated_tokens": sum(base_tokens),
        "token_counts_equal_per_call": sum(x == y for x, y in pairs),
        "token_counts_checked": len(pairs),
        "malformed_retries": judge.stats.get("malformed_retries", 0),
        "vllm_alone_s": [round(t, 3) for t in times["base"]],
        "judgecraft_s": [round(t, 3) for t in times["jc"]],
        "vllm_alone_median_s": round(b, 3),
        "judgecraft_median_s": round(j, 3),
        "overhead_ratio": round(j / b, 4),
        "overhead_pct": round(100 * (j / b - 1), 2),
        "vllm_alone_cpu_s": [round(t, 2) for t in times["base_cpu"]],
        "judgecraft_cpu_s": [round(t, 2) for t in times["jc_cpu"]],
        "cpu_overhead_ratio": round(jc / bc, 4) if bc else None,
    }


def line(run: dict) -> str:
    equal = f"{run['token_counts_equal_per_call']}/{run['judge_calls']} token counts equal"
    return (f"vLLM alone {run['vllm_alone_median_s']}s, judgecraft {run['judgecraft_median_s']}s -> "
            f"x{run['overhead_ratio']} wall, x{run['cpu_overhead_ratio']} CPU-seconds ({equal})")  # fmt: skip


def tree_cpu() -> float:
    """CPU-seconds used so far by this process and every live descendant (the engine, its workers, a server)."""
    import psutil

    total = 0.0
    for proc in [psutil.Process(), *psutil.Process().children(recursive=True)]:
        try:
            t = proc.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def alternate(repeats: int, base, judgecraft) -> tuple[dict[str, list[float]], object]:
    """Run both sides `repeats` times, alternating which goes first; wall and CPU seconds of each run."""
    times: dict[str, list[float]] = {"base": [], "jc": [], "base_cpu": [], "jc_cpu": []}
    base_out = None
    for r in range(repeats):
        for side in ("base", "jc") if r % 2 == 0 else ("jc", "base"):
            cpu, start = tree_cpu(), time.perf_counter()
            if side == "base":
                base_out = base()
            else:
                judgecraft(r)
            times[side].append(time.perf_counter() - start)
            times[f"{side}_cpu"].append(tree_cpu() - cpu)
    return times, base_out


def inprocess_overhead(backend, items, shuffles: int, repeats: int, tmp: Path) -> dict:
    from vllm import SamplingParams
    from vllm.sampling_params import StructuredOutputsParams

    from judgecraft.judge.core import Judge

    probe = Judge(backend, "pkv", cache=False, shuffles=shuffles, **CFG)
    identity = backend.identity()
    calls = [c for i, item in enumerate(items) for c in probe._calls(i, item, shuffles, identity)]
    messages = [c.request.messages for c in calls]
    params = [
        SamplingParams(
            max_tokens=c.request.sampling.max_tokens,
            temperature=0.0,
            logprobs=c.request.sampling.top_logprobs or None,
            structured_outputs=StructuredOutputsParams(json=c.request.schema),
        )
        for c in calls
    ]

    def base():
        outs = backend.llm.chat(messages, params, use_tqdm=False)
        for o in outs:
            with contextlib.suppress(json.JSONDecodeError):  # cut at max_tokens: judgecraft calls it malformed
                json.loads(o.outputs[0].text)
        return outs

    judges = []

    def judgecraft(r: int):
        judge = Judge(backend, "pkv", cache=tmp / f"inproc-{shuffles}-{r}.sqlite", shuffles=shuffles, **CFG)
        judges.append(judge)
        return judge.judge_many(items)

    warm = base()  # compiles the grammar, warms the engine
    same_prompt = all(list(o.prompt_token_ids) == backend.prompt_ids(m) for o, m in zip(warm, messages, strict=True))
    times, outs = alternate(repeats, base, judgecraft)
    base_tokens = [len(o.outputs[0].token_ids) for o in outs]
    return {"shuffles": shuffles, "same_prompt_tokens": same_prompt,
            **compare(calls, base_tokens, backend, times, judges[-1])}  # fmt: skip


def http_overhead(server, items, shuffles: int, repeats: int, tmp: Path, concurrency: int = 8) -> dict:
    from openai import AsyncOpenAI

    from judgecraft.judge.backend_http import HTTPBackend
    from judgecraft.judge.core import Judge

    backend_cls = recording(HTTPBackend)
    shared = backend_cls(server.url, server.name, concurrency=concurrency)
    probe = Judge(shared, "pkv", cache=False, shuffles=shuffles, **CFG)
    calls = [c for i, item in enumerate(items) for c in probe._calls(i, item, shuffles, shared.identity())]
    bodies = [shared.body(c.request) for c in calls]

    async def send_all():
        client = AsyncOpenAI(base_url=server.url, api_key="EMPTY", timeout=600)
        gate = asyncio.Semaphore(concurrency)

        async def one(body):
            async with gate:
                resp = await client.chat.completions.create(**body)
            with contextlib.suppress(json.JSONDecodeError, TypeError):
                json.loads(resp.choices[0].message.content)
            return resp

        try:
            return await asyncio.gather(*(one(b) for b in bodies))
        finally:
            await client.close()

    def base():
        return asyncio.run(send_all())

    judges = []

    def judgecraft(r: int):
        judge = Judge(shared, "pkv", cache=tmp / f"http-{shuffles}-{r}.sqlite", shuffles=shuffles, **CFG)
        judges.append(judge)
        return judge.judge_many(items)

    base()  # warm: grammars compiled, connections made
    times, outs = alternate(repeats, base, judgecraft)
    base_tokens = [o.usage.completion_tokens for o in outs]
    return {"shuffles": shuffles, "concurrency": concurrency,
            **compare(calls, base_tokens, shared, times, judges[-1])}  # fmt: skip


def quality(backend, args) -> dict:
    """Position bias with kappa, and the probe, on the in-process engine."""
    from judgecraft.judge.bias import measure_position_bias
    from judgecraft.judge.config import DEFAULT_TEMPLATE
    from judgecraft.judge.core import Judge
    from judgecraft.judge.probe import ProbeCase, run_probe
    from judgecraft.judge.prompts import question_text

    judge = Judge(backend, "pkv", cache=False, **CFG)
    items, calls = example_items(judge, args.bias_items)
    start = time.perf_counter()
    report = measure_position_bias(judge, items, shuffles=3, tolerance=5.0, answer_right=calls)
    bias = {**report.to_dict(), "seconds": round(time.perf_counter() - start, 1),
            "target": "shuffled: shown-position deviation reported next to the unshuffled baseline"}  # fmt: skip
    u, s = report.unshuffled, report.shuffled
    say(f"bias: {report.items} items; shown deviation unshuffled {u.shown_deviation} / shuffled {s.shown_deviation} "
        f"pts, original {u.original_deviation} / {s.original_deviation} pts, agreement {s.agreement}%")  # fmt: skip
    cases = []
    for r in example_records():
        ok = [c for c, i in zip(calls, items, strict=True) if i.id == r.id]
        if r.answer is not None and ok and ok[0]:
            cases.append(ProbeCase(question_text(r.prompt), r.completion, str(r.answer)))
        if len(cases) >= args.probe_cases:
            break
    generic = Judge(backend, "pkv", cache=False, template=DEFAULT_TEMPLATE, **CFG)
    start = time.perf_counter()
    probe = {**run_probe(generic, cases), "seconds": round(time.perf_counter() - start, 1)}
    say(f"probe: fooled by {probe['fooled_by'] or 'nothing'}; " + ", ".join(
        f"{k} {v['correctness']}" for k, v in probe["kinds"].items()))  # fmt: skip
    return {"position_bias": bias, "judge_verifier": report.judge_verifier, "probe": probe}


def write(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="judge model folder (default: the small SmolLM2)")
    ap.add_argument("--items", type=int, default=2, help="items per overhead run (x shuffles judge calls)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--bias-items", type=int, default=4)
    ap.add_argument("--probe-cases", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()

    from judgecraft.judge.backend_vllm import VLLMBackend
    from judgecraft.judge.core import Judge
    from judgecraft.judge.server import JudgeServer
    from judgecraft.models import small_model_dir

    model = Path(args.model) if args.model else small_model_dir()
    tmp = Path(tempfile.mkdtemp(prefix="bench-judge-"))
    started = time.perf_counter()
    result: dict = {
        "benchmark": "judge",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "model": model.name,
        "engine": "vLLM on the CPU, float32, enforce_eager, max_model_len 4096, greedy, compact JSON",
        "verdict_settings": CFG,
        "args": {k: str(v) for k, v in vars(args).items()},
        "target": "judgecraft adds at most 10% to vLLM alone (overhead_ratio <= 1.10), both backends",
        "in_process": [],
        "http": [],
    }
    backend = recording(VLLMBackend)(model, **ENGINE)
    _ = backend.llm
    items, _ = example_items(Judge(backend, "pkv", cache=False, **CFG), args.items)
    try:
        for shuffles in (1, 3):
            run = inprocess_overhead(backend, items, shuffles, args.repeats, tmp)
            result["in_process"].append(run)
            say(f"in-process x{shuffles}: " + line(run))
        result.update(quality(backend, args))
    finally:
        backend.close()
    write(args.out, result)  # what is measured so far survives a failure below
    try:
        with JudgeServer(model, "judge", dtype=ENGINE["dtype"], max_model_len=ENGINE["max_model_len"],
                         extra_args=["--enforce-eager"]) as server:  # fmt: skip
            for shuffles in (1, 3):
                run = http_overhead(server, items, shuffles, args.repeats, tmp)
                result["http"].append(run)
                say(f"http x{shuffles}: " + line(run))
    except Exception as err:  # recorded, not hidden: the in-process figures still stand
        result["http_error"] = f"{type(err).__name__}: {err}"
        say(f"http part failed: {result['http_error']}")
    runs = result["in_process"] + result["http"]
    parts = [k for k in ("in_process", "http") if result[k]]
    result["overhead_ratio_max"] = {k: max(r["overhead_ratio"] for r in result[k]) for k in parts}
    result["cpu_overhead_ratio_max"] = {k: max(r["cpu_overhead_ratio"] or 0 for r in result[k]) for k in parts}
    result["overhead_target_met"] = all(r["overhead_ratio"] <= 1.10 for r in runs)
    result["cpu_overhead_target_met"] = all((r["cpu_overhead_ratio"] or 9) <= 1.10 for r in runs)
    result["token_counts_all_equal"] = all(r["token_counts_equal_per_call"] == r["token_counts_checked"] for r in runs)
    result["seconds"] = round(time.perf_counter() - started, 1)
    write(args.out, result)
    say(f"wrote {args.out} in {result['seconds']}s: max overhead {result['overhead_ratio_max']}, target met "
        f"{result['overhead_target_met']}, token counts equal {result['token_counts_all_equal']}")  # fmt: skip


if __name__ == "__main__":
    main()
