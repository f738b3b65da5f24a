"""Judging through judgecraft vs vLLM alone, for the same prompts and tokens, plus the position-bias report.

Overhead: one engine (`vllm.LLM`, SmolLM2-135M on the CPU unless --model), the same rendered judge
prompts, the same verdict schema as structured output, the same max_tokens, greedy decoding.
"vLLM alone" is `LLM.chat` on those messages plus `json.loads` of each output; "judgecraft" is
`Judge.judge_many` on the items (rendering, tokenising, a fresh SQLite cache looked up and written,
schema validation, logprob weighting, mapping labels back, aggregation). Both run in the same
process, alternating, several times; medians are compared. Generated tokens are checked to be the
same on both sides. Measured twice: with logprobs (top 20, judgecraft's default) and without.

Position bias: the same judge on the example set (examples/dump.jsonl and examples/handwritten.jsonl
when present; otherwise competitions built from examples/questions.jsonl), each item judged in
its original order and in 3 rotations; see judgecraft/judge/bias.py for what is measured.

    .venv/bin/python benchmarks/bench_judge.py [--items 24] [--repeats 3] [--bias-items 60]
Writes benchmarks/results/judge.json.
"""

from __future__ import annotations

import argparse
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
RESULTS = ROOT / "benchmarks" / "results" / "judge.json"


def example_items(judge, limit: int):
    """Judge items from the example dumps, or competitions built from the example questions."""
    from judgecraft.judge.dumps import ANSWER_FIELDS, COMPLETION_FIELDS, PROMPT_FIELDS, read_jsonl

    items, sources = [], []
    for name in ("dump.jsonl", "handwritten.jsonl"):
        path = ROOT / "examples" / name
        if not path.exists():
            continue
        rows = usable = 0
        for row in read_jsonl(path):
            rows += 1
            completion = row.get(COMPLETION_FIELDS)
            if isinstance(completion, str) and completion.strip():
                item = judge.item(row.get(PROMPT_FIELDS), completion, row.get(ANSWER_FIELDS))
                if all(t.strip() for t in item.candidates.values()):  # every persona wrote something
                    items.append(item)
                    usable += 1
        sources.append(f"{path.relative_to(ROOT)}: {usable} of {rows} rows have text in every persona section")
    if not items:
        sources.append("examples/questions.jsonl (competitions built by the benchmark: no dump yet)")
        for row in read_jsonl(ROOT / "examples" / "questions.jsonl"):
            q, a = row.data["question"], row.data["answer"]
            completion = (
                f"<competition>\n<pirate>\nArr, let me work it out step by step. The answer be {a}.\n</pirate>\n"
                f"<knight>\nHark! I shall compute it with care, and verily it is {a}.\n</knight>\n"
                f"<viking>\nBy Odin, I reckon it quickly: {a}, or close to it.\n</viking>\n"
                f"<result>\nAll three agree.\n<winner>\npirate\n</winner>\n</result>\n</competition>\n{a}"
            )
            items.append(judge.item(q, completion, a))
    return items[:limit], sources


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def overhead(backend, items_src, repeats: int, weighting: str, **cfg):
    """Median seconds of vLLM alone and of judgecraft over the same judge calls; token equality."""
    from vllm import SamplingParams
    from vllm.sampling_params import StructuredOutputsParams

    from judgecraft.judge.cache import GenerationCache
    from judgecraft.judge.core import Judge

    llm = backend.llm
    probe = Judge(backend, "pkv", cache=False, shuffles=1, weighting=weighting, **cfg)
    calls = [c for i, item in enumerate(items_src) for c in probe._calls(i, item, 1)]
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

    def vllm_alone():
        outs = llm.chat(messages, params, use_tqdm=False)
        for o in outs:
            # an output cut at max_tokens: judgecraft reports it as a malformed verdict
            with contextlib.suppress(json.JSONDecodeError):
                json.loads(o.outputs[0].text)
        return outs

    def judgecraft(cache_path):
        judge = Judge(backend, "pkv", cache=GenerationCache(cache_path), shuffles=1, weighting=weighting, **cfg)
        return judge.judge_many(items_src), judge

    warm = vllm_alone()  # compiles the grammar, warms the engine
    same_prompt = all(list(o.prompt_token_ids) == backend.prompt_ids(m) for o, m in zip(warm, messages, strict=True))
    base_times, jc_times = [], []
    tmp = Path(tempfile.mkdtemp(prefix="bench-judge-"))
    for r in range(repeats):
        order = [("base", vllm_alone), ("jc", None)] if r % 2 == 0 else [("jc", None), ("base", vllm_alone)]
        for name, fn in order:
            if name == "base":
                dt, base_out = timed(fn)
                base_times.append(dt)
            else:
                dt, (verdicts, _) = timed(lambda r=r: judgecraft(tmp / f"c{r}.sqlite"))
                jc_times.append(dt)
    cache = GenerationCache(tmp / f"c{repeats - 1}.sqlite")
    keys = [c.key for c in calls]
    stored = cache.get_many(keys)
    jc_texts = [stored[k]["text"] for k in keys if k in stored]
    base_texts = [o.outputs[0].text for o in base_out]
    tokens = sum(len(o.outputs[0].token_ids) for o in base_out)
    jc_tokens = sum(stored[k]["completion_tokens"] for k in keys if k in stored)
    b, j = statistics.median(base_times), statistics.median(jc_times)
    return {
        "weighting": weighting,
        "judge_calls": len(calls),
        "generated_tokens": tokens,
        "judgecraft_generated_tokens": jc_tokens,
        "same_outputs": sum(a == b for a, b in zip(base_texts, jc_texts, strict=False)) / len(base_texts),
        "same_prompt_tokens": same_prompt,
        "vllm_alone_s": [round(t, 3) for t in base_times],
        "judgecraft_s": [round(t, 3) for t in jc_times],
        "vllm_alone_median_s": round(b, 3),
        "judgecraft_median_s": round(j, 3),
        "overhead_ratio": round(j / b, 4),
        "overhead_pct": round(100 * (j / b - 1), 2),
        "verdicts_ok": sum(hasattr(v, "winner") for v in verdicts),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="judge model folder (default: the small SmolLM2)")
    ap.add_argument("--items", type=int, default=24, help="judge calls per overhead run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--bias-items", type=int, default=60)
    ap.add_argument("--skip-bias", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()

    from judgecraft.judge.backend_vllm import VLLMBackend
    from judgecraft.judge.bias import measure_position_bias
    from judgecraft.judge.core import Judge
    from judgecraft.models import small_model_dir

    model = Path(args.model) if args.model else small_model_dir()
    t0 = time.perf_counter()
    backend = VLLMBackend(model, dtype="float32", max_model_len=4096, enforce_eager=True)
    _ = backend.llm
    load_s = time.perf_counter() - t0
    cfg = {"rationale_max_chars": 120, "max_tokens": 300, "max_chars_per_candidate": 1500}
    probe = Judge(backend, "pkv", cache=False, **cfg)
    pool, sources = example_items(probe, max(args.items, args.bias_items))
    result = {
        "benchmark": "judge",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "model": str(model),
        "engine": "vllm.LLM in-process, float32, enforce_eager, max_model_len 4096, greedy, compact JSON",
        "engine_load_s": round(load_s, 1),
        "verdict_settings": cfg,
        "example_sources": sources,
        "target": "judgecraft adds at most 10% to vLLM alone (overhead_ratio <= 1.10)",
        "overhead": [],
    }
    try:
        for weighting in ("logprobs", "argmax"):
            run = overhead(backend, pool[: args.items], args.repeats, weighting, **cfg)
            result["overhead"].append(run)
            print(
                f"[{weighting}] vLLM alone {run['vllm_alone_median_s']}s, judgecraft {run['judgecraft_median_s']}s: "
                f"x{run['overhead_ratio']} ({run['generated_tokens']} tokens, same outputs {run['same_outputs']:.0%})",
                flush=True,
            )
        result["overhead_ratio_max"] = max(r["overhead_ratio"] for r in result["overhead"])
        result["overhead_target_met"] = result["overhead_ratio_max"] <= 1.10
        if not args.skip_bias:
            judge = Judge(backend, "pkv", cache=False, **cfg)
            start = time.perf_counter()
            report = measure_position_bias(judge, pool[: args.bias_items], shuffles=3, tolerance=5.0)
            result["position_bias"] = {
                **report.to_dict(),
                "seconds": round(time.perf_counter() - start, 1),
                "target": "shuffled: original-position picks within 5 points of uniform; unshuffled: not",
                "target_met": report.shuffled_within_tolerance and not report.unshuffled_within_tolerance,
            }
            u, s = report.unshuffled, report.shuffled
            print(
                f"[bias] {report.items} items; unshuffled picks by position {u.original} ({u.original_deviation} pts)"
            )
            print(f"[bias] shuffled x3: shown {s.shown}, original {s.original} ({s.original_deviation} pts)")
    finally:
        backend.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
