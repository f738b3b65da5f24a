"""The GRPO loop: rollouts with vLLM, rewards from the Scorer, group advantages, a clipped LoRA update.

One step, in the order it runs:
  1. take the next `prompts_per_step` questions (a seeded order, so a resumed run sees the same ones);
  2. hand vLLM the current policy (merged weights, or the LoRA adapter) and sample `group_size` completions per prompt;
  3. score every completion (the construct's stage weights, the judge's verdicts when configured);
  4. advantages = rewards normalised within each prompt's group; groups with equal rewards are counted
     and, when there is no KL term, skipped entirely (they would add exactly zero gradient);
  5. the clipped surrogate over completion tokens only, in micro-batches, log-probs in chunks;
  6. one optimiser step, metrics to metrics.jsonl, a checkpoint every `save_every` steps.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from judgecraft.grpo.config import TrainConfig, read_training_rows
from judgecraft.grpo.losses import group_advantages
from judgecraft.grpo.monitor import CopyDetector, copyable_components, monitor_row
from judgecraft.grpo.policy import Policy, load_policy, resolve_model
from judgecraft.grpo.rollout import Sample
from judgecraft.grpo.scoring import StepScorer
from judgecraft.grpo.update import Rollouts, policy_update


@dataclass
class Question:
    question: str
    answer: Any
    prompt_ids: list[int]


def read_questions(path: str | Path, question_field: str, answer_field: str) -> list[dict[str, Any]]:
    """Rows of a JSONL file that have a question; a broken line is an error that names its line."""
    rows = read_training_rows(
        path, lambda r: isinstance(r.get(question_field), str), f"no text field {question_field!r}", "questions"
    )
    return [{"question": r[question_field], "answer": r.get(answer_field)} for r in rows]


def prompt_order(n: int, seed: int, start: int, count: int) -> list[int]:
    """Indices `start..start+count` of an endless sequence of seeded shuffles of range(n)."""
    out = []
    for k in range(start, start + count):
        epoch, pos = divmod(k, n)
        perm = list(range(n))
        random.Random(seed * 7919 + epoch).shuffle(perm)
        out.append(perm[pos])
    return out


class MetricsLog:
    """metrics.jsonl, one line per step; a resumed run drops the lines of steps it will redo."""

    def __init__(self, path: Path, resume_from: int):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        kept = []
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    if json.loads(line).get("step", math.inf) < resume_from:
                        kept.append(line)
                except (json.JSONDecodeError, AttributeError):
                    continue
        path.write_text("".join(k + "\n" for k in kept), encoding="utf-8")

    def write(self, row: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())


class GRPOTrainer:
    """Runs `config.steps` GRPO steps; `run()` resumes from the last checkpoint in `output_dir` if there is one."""

    def __init__(self, config: TrainConfig, on_step: Callable[[dict[str, Any]], None] | None = None):
        self.config = config
        self.out = Path(config.output_dir)
        self.on_step = on_step
        self.scoring = StepScorer(config)
        c = self.scoring.construct
        self.system_prompt = c.system_prompt if config.system_prompt is None else config.system_prompt
        self.prefill = config.prefill if isinstance(config.prefill, str) else (c.prefill if config.prefill else "")
        self.copies = CopyDetector(self.system_prompt or "")
        self.copyable = copyable_components(self.scoring.scorer, self.system_prompt or "", self.prefill)
        self.eval_questions: list[Question] = []
        self.policy: Policy | None = None
        self.rollout: Any = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.questions: list[Question] = []
        self.start_step = 0

    # ------------------------------------------------------------------ set-up

    def latest_checkpoint(self) -> Path | None:
        pointer = self.out / "latest"
        if not pointer.exists():
            return None
        path = self.out / pointer.read_text(encoding="utf-8").strip()
        return path if (path / "state.pt").exists() else None

    def setup(self, resume: bool = True) -> None:
        cfg = self.config
        checkpoint = self.latest_checkpoint() if resume else None
        self.policy = load_policy(
            cfg.model,
            lora_rank=cfg.lora_rank,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            lora_targets=cfg.lora_targets,
            dtype=cfg.dtype,
            gradient_checkpointing=cfg.gradient_checkpointing,
            adapter=checkpoint,
        )
        params = self.policy.trainable_parameters()
        self.optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        if checkpoint is not None:
            state = torch.load(checkpoint / "state.pt", weights_only=False)
            self.optimizer.load_state_dict(state["optimizer"])
            self.start_step = int(state["next_step"])
        self.questions = self._tokenize_questions(cfg.data)
        self.eval_questions = self._tokenize_questions(cfg.eval_data) if cfg.eval_every else []
        if cfg.rollout == "vllm":
            from judgecraft.grpo.rollout import VLLMRollout

            longest = max(len(q.prompt_ids) for q in self.questions + self.eval_questions)
            self.rollout = VLLMRollout(
                resolve_model(cfg.model),
                max_lora_rank=cfg.vllm_max_lora_rank,
                max_model_len=longest + cfg.max_completion_tokens,
                dtype=cfg.dtype,
                memory_fraction=cfg.vllm_memory_fraction,
                sleep=cfg.vllm_sleep,
                seed=cfg.seed,
                weight_sync=cfg.weight_sync(torch.cuda.is_available()),
            )
        else:
            from judgecraft.grpo.rollout import HFRollout

            self.rollout = HFRollout(self.policy)

    def prompt_text(self, question: str) -> str:
        messages = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        messages.append({"role": "user", "content": question})
        tok = self.policy.tokenizer
        return tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False) + self.prefill

    def _tokenize_questions(self, path: str) -> list[Question]:
        cfg = self.config
        tok = self.policy.tokenizer
        out = []
        for row in read_questions(path, cfg.question_field, cfg.answer_field):
            ids = tok(self.prompt_text(row["question"]), add_special_tokens=False)["input_ids"]
            if len(ids) <= cfg.max_prompt_tokens:
                out.append(Question(row["question"], row["answer"], ids))
        if not out:
            raise ValueError(f"{path}: every prompt is longer than max_prompt_tokens={cfg.max_prompt_tokens}")
        return out

    # ------------------------------------------------------------------ one step

    def sample(self, questions: list[Question], n: int, step: int, seed: int, temperature: float) -> list[Sample]:
        """n completions per question from the current policy (vLLM gets its merged weights, or the adapter)."""
        adapter_dir = None
        if self.config.rollout == "vllm" and self.rollout.weight_sync == "merge":
            self.rollout.load_policy(self.policy.model)
        elif self.config.rollout == "vllm":
            adapter_dir = self.out / "rollout-adapter"
            shutil.rmtree(adapter_dir, ignore_errors=True)
            self.policy.save_adapter(adapter_dir)
        return self.rollout.generate(
            [q.prompt_ids for q in questions],
            n,
            max_tokens=self.config.max_completion_tokens,
            temperature=temperature,
            adapter_dir=adapter_dir,
            seed=seed,
            step=step,
        )

    def step(self, step: int) -> dict[str, Any]:
        cfg = self.config
        t0 = time.perf_counter()
        order = prompt_order(len(self.questions), cfg.seed, step * cfg.prompts_per_step, cfg.prompts_per_step)
        picked = [self.questions[i] for i in order]
        samples = self.sample(picked, cfg.group_size, step, cfg.seed, cfg.temperature)
        t_rollout = time.perf_counter()
        texts = [s.text for s in samples]
        scored = self.scoring.score(
            [picked[s.prompt_index].question for s in samples],
            texts,
            [picked[s.prompt_index].answer for s in samples],
            [len(s.completion_ids) for s in samples],
            self.prefill,
        )
        advantages = group_advantages(scored.rewards, cfg.group_size, cfg.effective_scale)
        t_score = time.perf_counter()
        for group in self.optimizer.param_groups:
            group["lr"] = cfg.lr_at(step)
        data = Rollouts(
            [picked[s.prompt_index].prompt_ids for s in samples],
            [s.completion_ids for s in samples],
            advantages.values,
            [s.logprobs for s in samples],
            [s.finished or not cfg.mask_truncated for s in samples],
        )
        update = policy_update(cfg, self.policy, self.optimizer, data)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()  # hand the update's activations back before vLLM wakes (the plan assumes it)
        t_end = time.perf_counter()
        lengths = [len(s.completion_ids) for s in samples]
        row: dict[str, Any] = {"step": step, **update, "reward_mean": float(scored.rewards.mean())}
        row["reward_std"] = float(scored.rewards.std()) if len(samples) > 1 else 0.0
        for name, values in scored.components.items():
            present = [v for v in values if v is not None]
            row[f"reward/{name}"] = statistics.fmean(present) if present else None
        row.update(monitor_row(self.copies, texts, [s.finished for s in samples], scored.components, cfg.group_size))
        row.update(
            {
                "copyable_components": self.copyable,
                "completion_tokens": statistics.fmean(lengths),
                "truncated_share": sum(not s.finished for s in samples) / len(samples),
                "zero_std_share": advantages.zero_std_share,
                "tokens_per_s": sum(lengths) / (t_end - t0),
                "step_seconds": t_end - t0,
                "rollout_seconds": t_rollout - t0,
                "score_seconds": t_score - t_rollout,
                "update_seconds": t_end - t_score,
                "lr": cfg.lr_at(step),
                "sample": samples[0].text[:500],
            }
        )
        return row

    def evaluate(self, step: int) -> dict[str, Any]:
        """Greedy completions for the held-out questions, scored like training ones: `eval/<component>` means."""
        samples = self.sample(self.eval_questions, 1, step, self.config.seed, temperature=0.0)
        scored = self.scoring.score(
            [self.eval_questions[s.prompt_index].question for s in samples],
            [s.text for s in samples],
            [self.eval_questions[s.prompt_index].answer for s in samples],
            [len(s.completion_ids) for s in samples],
            self.prefill,
        )
        row: dict[str, Any] = {"eval/reward": float(scored.rewards.mean())}
        for name, values in scored.components.items():
            present = [v for v in values if v is not None]
            row[f"eval/{name}"] = statistics.fmean(present) if present else None
        row["eval/copy_share"] = sum(self.copies.copies(s.text) for s in samples) / max(1, len(samples))
        row["eval/sample"] = samples[0].text[:300]
        return row

    # ------------------------------------------------------------------ checkpoints and the run

    def save_checkpoint(self, next_step: int) -> Path:
        """Adapter + optimiser + step, written to a new folder; `latest` is switched to it atomically."""
        path = self.out / f"checkpoint-{next_step:06d}"
        shutil.rmtree(path, ignore_errors=True)
        self.policy.save_adapter(path)
        torch.save(
            {"optimizer": self.optimizer.state_dict(), "next_step": next_step, "config": self.config.to_dict()},
            path / "state.pt",
        )
        previous = self.latest_checkpoint()
        tmp = self.out / "latest.tmp"
        tmp.write_text(path.name, encoding="utf-8")
        os.replace(tmp, self.out / "latest")
        if previous is not None and previous != path:
            shutil.rmtree(previous, ignore_errors=True)
        return path

    def run_sft_stage(self, progress: bool = True) -> list[dict[str, Any]]:
        """Stage 1 (Shannon recipe): SFT the adapter on trace records, then checkpoint it as step 0.

        The checkpoint is what makes the stage run once: a resumed run finds it and goes straight to GRPO.
        """
        from judgecraft.grpo.sft import run_sft

        path = self.out / "sft-metrics.jsonl"
        path.unlink(missing_ok=True)
        rows = run_sft(
            self.policy,
            self.config.sft,
            system_prompt=self.system_prompt,
            seed=self.config.seed,
            logprob_chunk=self.config.logprob_chunk,
            metrics_path=path,
            progress=progress,
        )
        self.save_checkpoint(0)
        return rows

    def close(self) -> None:
        """Release the rollout engine (vLLM's worker processes)."""
        if self.rollout is not None:
            self.rollout.close()
            self.rollout = None

    def run(self, resume: bool = True, progress: bool = True, close: bool = True) -> list[dict[str, Any]]:
        """All remaining steps; `close=False` keeps vLLM up for more work with this trainer afterwards."""
        try:
            return self._run(resume, progress)
        finally:
            if close:
                self.close()

    def _run(self, resume: bool, progress: bool) -> list[dict[str, Any]]:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        cfg = self.config
        if self.policy is None:
            self.setup(resume=resume)
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2), encoding="utf-8")
        if cfg.sft.steps > 0 and self.latest_checkpoint() is None:
            self.run_sft_stage(progress)
        log = MetricsLog(self.out / "metrics.jsonl", self.start_step)
        evals = MetricsLog(self.out / "eval.jsonl", self.start_step)  # step s: the policy after s updates
        rows: list[dict[str, Any]] = []
        columns = [
            TextColumn("grpo"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
        ]
        with Progress(*columns, disable=not progress, transient=False) as bar:
            task = bar.add_task("", total=cfg.steps, completed=self.start_step)
            for step in range(self.start_step, cfg.steps):
                if cfg.eval_every and step % cfg.eval_every == 0:
                    evals.write({"step": step, **self.evaluate(step)})
                row = self.step(step)
                log.write(row)
                rows.append(row)
                if self.on_step:
                    self.on_step(row)
                if (step + 1) % cfg.save_every == 0 or step + 1 == cfg.steps:
                    self.save_checkpoint(step + 1)
                bar.update(
                    task,
                    advance=1,
                    description=f"reward {row['reward_mean']:.3f}±{row['reward_std']:.3f} kl {row['kl']:.4f} "
                    f"len {row['completion_tokens']:.0f} {row['tokens_per_s']:.0f} tok/s",
                )
        if cfg.eval_every and rows:
            evals.write({"step": cfg.steps, **self.evaluate(cfg.steps)})
        return rows


def summary_line(rows: list[dict[str, Any]]) -> str:
    """One line a person reads at the end of a run."""
    if not rows:
        return "grpo: nothing to do (already at the last step)"
    k = max(1, len(rows) // 5)
    first = statistics.fmean(r["reward_mean"] for r in rows[:k])
    last = statistics.fmean(r["reward_mean"] for r in rows[-k:])
    seconds = sum(r["step_seconds"] for r in rows)
    tokens = statistics.fmean(r["tokens_per_s"] for r in rows)
    return (
        f"grpo: {len(rows)} steps in {seconds:.0f}s ({seconds / len(rows):.1f} s/step, {tokens:.0f} tok/s); "
        f"reward {first:.3f} -> {last:.3f} (mean of first/last {k} steps)"
    )
