"""GRPO seconds per step: TRL's GRPOTrainer against judgecraft's loop, equal work on both sides.

Both sides train SmolLM2-135M (float32, CPU) with the same LoRA (r16 on every linear layer), the same
prompts in the same order (judgecraft's seeded order, handed to TRL unshuffled), 2 prompts x 4
completions x 32 tokens per step, temperature 1 over the full vocabulary, the pkv round-1 reward, the
GRPO loss without KL, AdamW at a constant learning rate with gradient clipping at 1, and gradient
checkpointing off on both sides (TRL 1.16 turns it on by default). Each side runs in its own process
for `--steps` steps; the first is a warm-up and is not timed; the figures are medians of the rest.
The sides take turns step by step (one step of each in a round, never two steps at once), so a slow
spell of the machine falls on every side alike instead of on whichever side was running then.

Three sides: TRL; judgecraft as it ships (completions whose advantage is 0 skip the update pass: their
gradient is exactly 0); and judgecraft training every completion, as TRL does (the equal-work figure).
Rollout tokens/s are timed alone too (TRL's `_generate`, judgecraft's rollout phase).
Writes benchmarks/results/grpo.json.

    nice -n 10 python benchmarks/bench_grpo.py [--steps 9]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "grpo.json"
PROMPTS, GROUP, TOKENS = 2, 4, 32
LEARNING_RATE, SEED = 1e-4, 0
LORA = dict(r=16, alpha=32, targets=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])


def wait_for_turn() -> None:
    """Block until the coordinator lets this side run its next step (no-op when run alone).

    The side says it is idle ("r") and waits for "g"; its end of the pipe closing tells the coordinator
    it has finished.
    """
    fds = os.environ.get("BENCH_GRPO_TURN")
    if fds:
        go, ready = map(int, fds.split(","))
        os.write(ready, b"r")
        if not os.read(go, 1):
            raise SystemExit("bench_grpo: the coordinator is gone")


def system_prompt() -> str:
    """The one-shot format prompt of the example run: without it the small model never writes a tag, every
    group's rewards are equal and judgecraft would skip the update entirely (an unfair comparison)."""
    return tomllib.loads((ROOT / "examples" / "grpo-smollm2.toml").read_text())["system_prompt"]


def arithmetic(n: int) -> list[dict[str, str]]:
    rows = [json.loads(line) for line in (ROOT / "examples" / "arithmetic.jsonl").read_text().splitlines()]
    return rows[:n]


def ordered_prompts(steps: int) -> list[dict[str, str]]:
    """The questions in the order judgecraft's loop takes them (TRL gets exactly this list, unshuffled)."""
    from judgecraft.grpo.loop import prompt_order

    rows = arithmetic(64)
    return [rows[i] for i in prompt_order(len(rows), SEED, 0, steps * PROMPTS)]


def trl_config(config_class: type, out: Path, steps: int, weights: list[float]) -> Any:
    """TRL's settings, set equal to judgecraft's wherever TRL's default differs."""
    return config_class(
        output_dir=str(out),
        max_steps=steps,
        per_device_train_batch_size=PROMPTS * GROUP,
        num_generations=GROUP,
        max_completion_length=TOKENS,
        learning_rate=LEARNING_RATE,
        lr_scheduler_type="constant",
        optim="adamw_torch",
        weight_decay=0.0,
        max_grad_norm=1.0,
        gradient_checkpointing=False,
        shuffle_dataset=False,
        beta=0.0,
        loss_type="grpo",
        temperature=1.0,
        top_p=1.0,
        top_k=0,
        logging_steps=1,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        bf16=False,
        seed=SEED,
        reward_weights=weights,
        dataloader_num_workers=0,
    )


def run_trl(steps: int, out: Path) -> dict:
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from judgecraft.models import small_model_dir
    from judgecraft.rewards import trl_rewards

    data = Dataset.from_list(
        [
            {
                "prompt": [{"role": "system", "content": system_prompt()}, {"role": "user", "content": r["question"]}],
                "answer": r["answer"],
            }
            for r in ordered_prompts(steps)
        ]
    )
    funcs, weights = trl_rewards("pkv", stage="round1")
    times: list[float] = []
    rollout: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            wait_for_turn()
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            times.append(time.perf_counter() - self.t0)

    config = trl_config(GRPOConfig, out, steps, weights)
    peft = LoraConfig(r=LORA["r"], lora_alpha=LORA["alpha"], target_modules=LORA["targets"], task_type="CAUSAL_LM")
    trainer = GRPOTrainer(
        model=str(small_model_dir()),
        reward_funcs=funcs,
        args=config,
        train_dataset=data,
        peft_config=peft,
        callbacks=[Clock()],
    )
    generate = trainer._generate

    def timed_generate(*args, **kwargs):  # times TRL's own generation; the work is unchanged
        t0 = time.perf_counter()
        out = generate(*args, **kwargs)
        rollout.append(time.perf_counter() - t0)
        return out

    trainer._generate = timed_generate
    trainer.train()
    lengths = [e["completions/mean_length"] for e in trainer.state.log_history if "completions/mean_length" in e]
    return {
        "step_seconds": times,
        "completion_tokens": [x * PROMPTS * GROUP for x in lengths],
        "rollout_seconds": rollout,
    }


def run_judgecraft(steps: int, out: Path, skip_zero_advantage: bool = True) -> dict:
    from judgecraft.grpo.config import load_train_config
    from judgecraft.grpo.loop import GRPOTrainer

    data = out / "arithmetic.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in arithmetic(64)))
    cfg = load_train_config(
        None,
        model="smollm2",
        data=str(data),
        construct="pkv",
        stage="round1",
        system_prompt=system_prompt(),
        steps=steps,
        prompts_per_step=PROMPTS,
        group_size=GROUP,
        max_completion_tokens=TOKENS,
        temperature=1.0,
        loss="grpo",
        kl_coef=0.0,
        learning_rate=LEARNING_RATE,
        lr_schedule="constant",
        gradient_checkpointing=False,
        is_cap=0.0,  # TRL without vLLM has no sampler/trainer mismatch to correct
        seed=SEED,
        lora_rank=LORA["r"],
        lora_alpha=LORA["alpha"],
        lora_targets=LORA["targets"],
        micro_batch=PROMPTS * GROUP,
        output_dir=str(out / "run"),
        save_every=10_000,
        skip_zero_advantage=skip_zero_advantage,
    )
    trainer = GRPOTrainer(cfg)
    trainer.setup(resume=False)
    trainer.on_step = lambda row: wait_for_turn()  # between steps: the step's clock has stopped
    wait_for_turn()
    rows = trainer.run(resume=False, progress=False)
    return {
        "step_seconds": [r["step_seconds"] for r in rows],
        "completion_tokens": [r["completion_tokens"] * PROMPTS * GROUP for r in rows],
        "trained_sequences": [r["trained_sequences"] for r in rows],
        "rollout_seconds": [r["rollout_seconds"] for r in rows],
        "update_seconds": [r["update_seconds"] for r in rows],
    }


SIDES = {
    "trl": run_trl,
    "judgecraft": run_judgecraft,
    "judgecraft_equal_work": lambda steps, out: run_judgecraft(steps, out, skip_zero_advantage=False),
}


def run_sides(names: list[str], steps: int) -> dict[str, dict]:
    """Run each side in its own process, taking turns: one step of each side per round, one at a time.

    Every side sets up at once (untimed), then the coordinator hands the machine to one side for one
    step, waits until it is idle again, and moves on to the next, until every side has ended. A side
    whose coordinator is gone finds its pipe closed at its next turn and exits.
    """
    with tempfile.TemporaryDirectory() as tmp:
        procs, go, ready = {}, {}, {}
        for name in names:
            go_r, go[name] = os.pipe()
            ready[name], ready_w = os.pipe()
            result = Path(tmp) / f"{name}.json"
            cmd = [sys.executable, __file__, "--side", name, "--steps", str(steps), "--out", str(result)]
            env = {**os.environ, "HF_HUB_OFFLINE": "1", "BENCH_GRPO_TURN": f"{go_r},{ready_w}"}
            procs[name] = subprocess.Popen(cmd, env=env, pass_fds=(go_r, ready_w))
            os.close(go_r)
            os.close(ready_w)
        live = [name for name in names if os.read(ready[name], 1)]  # every side set up and idle
        rounds = 0
        while live:
            rounds += 1
            print(f"bench_grpo: round {rounds}/{steps + 1} ({', '.join(live)})", flush=True)
            for name in list(live):
                os.write(go[name], b"g")
                if not os.read(ready[name], 1):  # its last step done: it wrote its result and exited
                    live.remove(name)
        results = {}
        for name, proc in procs.items():
            if proc.wait() != 0:
                raise SystemExit(f"bench_grpo: side {name} failed (exit {proc.returncode})")
            results[name] = json.loads((Path(tmp) / f"{name}.json").read_text())
        return results


def summarise(raw: dict) -> dict:
    """Medians over the timed steps (the first step warms up: allocations, vLLM set-up, LoRA load)."""
    timed = raw["step_seconds"][1:]
    tokens = raw["completion_tokens"][1 : 1 + len(timed)]
    rollout = raw["rollout_seconds"][1 : 1 + len(timed)]
    seconds = statistics.median(timed)
    return {
        "seconds_per_step": round(seconds, 3),
        "steps_per_second": round(1 / seconds, 4),
        "completion_tokens_per_second": round(statistics.median(t / s for t, s in zip(tokens, timed, strict=False)), 2),
        "rollout_tokens_per_second": round(statistics.median(t / s for t, s in zip(tokens, rollout, strict=False)), 2),
        "timed_steps": len(timed),
        "raw": raw,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=9)
    parser.add_argument("--side", choices=list(SIDES))
    parser.add_argument("--out", type=Path)
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the report goes")
    args = parser.parse_args()
    if args.side:
        with tempfile.TemporaryDirectory() as tmp:
            args.out.write_text(json.dumps(SIDES[args.side](args.steps, Path(tmp))))
        return

    print(f"bench_grpo: {', '.join(SIDES)}, {args.steps} steps each, taking turns ...", flush=True)
    results = {name: summarise(raw) for name, raw in run_sides(list(SIDES), args.steps).items()}
    ratio = results["trl"]["seconds_per_step"] / results["judgecraft"]["seconds_per_step"]
    equal = results["trl"]["seconds_per_step"] / results["judgecraft_equal_work"]["seconds_per_step"]
    rollout = (
        results["judgecraft_equal_work"]["rollout_tokens_per_second"] / results["trl"]["rollout_tokens_per_second"]
    )
    report = {
        "setup": {
            "model": "SmolLM2-135M-Instruct (float32, CPU)",
            "prompts_per_step": PROMPTS,
            "group_size": GROUP,
            "max_completion_tokens": TOKENS,
            "lora": LORA,
            "reward": "pkv round1 (tags + structure + correctness)",
            "optimiser": f"AdamW lr {LEARNING_RATE} constant, weight decay 0, grad norm 1; loss grpo, no KL",
            "gradient_checkpointing": False,
            "prompt_order": "judgecraft's seeded order on both sides (TRL: shuffle_dataset=False)",
            "statistic": "median over the timed steps (the first step is a warm-up)",
            "cpu_cores": len(os.sched_getaffinity(0)),
            "trl_generation": "transformers generate (TRL's default, use_vllm=False)",
            "judgecraft_generation": (
                "in-process vLLM; the LoRA adapter merged into vLLM's weights every step (vllm_weight_sync auto:"
                " merge on the CPU in float32), so vLLM runs a plain model"
            ),
            "judgecraft_update": (
                "each distinct prompt of a micro-batch runs once and its KV cache serves the group's completions"
                " (same log-probs and gradients as full rows); no separate old-log-prob pass (one update per batch)"
            ),
            "trl_options_checked": (
                "TRL 1.16 has no option that runs a group's shared prompt once in the update; its vLLM modes"
                " (server, colocate) were not tried on this CPU: TRL's side is its default path, transformers"
                " generate"
            ),
        },
        **results,
        "speedup_steps_per_second": round(ratio, 3),
        # judgecraft skips the update pass of completions whose advantage is 0 (their gradient is exactly 0);
        # TRL runs it for every completion. The equal-work side trains every completion, like TRL.
        "speedup_equal_work": round(equal, 3),
        "speedup_rollout_tokens_per_second": round(rollout, 3),
        "target": 2.0,
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"bench_grpo: TRL {results['trl']['seconds_per_step']:.1f} s/step, judgecraft "
        f"{results['judgecraft']['seconds_per_step']:.1f} s/step -> {ratio:.2f}x steps/s (target 2x); "
        f"{equal:.2f}x when judgecraft also trains zero-advantage completions (equal work); "
        f"rollout alone {rollout:.2f}x tokens/s; {args.results}"
    )


if __name__ == "__main__":
    main()
