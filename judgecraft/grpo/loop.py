"""The GRPO loop: rollouts with vLLM, rewards from the Scorer, group advantages, a clipped LoRA update.

One step, in the order it runs:
  1. take the next `prompts_per_step` questions (a seeded order, so a resumed run sees the same ones);
  2. save the LoRA adapter and sample `group_size` completions per prompt with it (vLLM + LoRARequest);
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
from judgecraft.grpo.logprobs import completion_logprobs, make_batch
from judgecraft.grpo.losses import LossNormaliser, group_advantages, policy_loss
from judgecraft.grpo.policy import Policy, load_policy, resolve_model
from judgecraft.scorer import Scorer


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
        self.scorer = Scorer(
            config.construct, stage=config.stage, weights=config.weights or None, params=config.params or None
        )
        c = self.scorer.construct
        self.system_prompt = c.system_prompt if config.system_prompt is None else config.system_prompt
        self.prefill = config.prefill if isinstance(config.prefill, str) else (c.prefill if config.prefill else "")
        self.judge = None
        if config.judge:
            from judgecraft.judge.core import make_judge

            self.judge = make_judge(config.judge, c)
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
        self.questions = self._tokenize_questions()
        if cfg.rollout == "vllm":
            from judgecraft.grpo.rollout import VLLMRollout

            longest = max(len(q.prompt_ids) for q in self.questions)
            self.rollout = VLLMRollout(
                resolve_model(cfg.model),
                lora_rank=cfg.lora_rank,
                max_model_len=longest + cfg.max_completion_tokens,
                dtype=cfg.dtype,
                memory_fraction=cfg.vllm_memory_fraction,
                sleep=cfg.vllm_sleep,
                seed=cfg.seed,
            )
        else:
            from judgecraft.grpo.rollout import HFRollout

            self.rollout = HFRollout(self.policy)

    def prompt_text(self, question: str) -> str:
        messages = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        messages.append({"role": "user", "content": question})
        tok = self.policy.tokenizer
        return tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False) + self.prefill

    def _tokenize_questions(self) -> list[Question]:
        cfg = self.config
        tok = self.policy.tokenizer
        out = []
        for row in read_questions(cfg.data, cfg.question_field, cfg.answer_field):
            ids = tok(self.prompt_text(row["question"]), add_special_tokens=False)["input_ids"]
            if len(ids) <= cfg.max_prompt_tokens:
                out.append(Question(row["question"], row["answer"], ids))
        if not out:
            raise ValueError(f"{cfg.data}: every prompt is longer than max_prompt_tokens={cfg.max_prompt_tokens}")
        return out

    # ------------------------------------------------------------------ one step

    def step(self, step: int) -> dict[str, Any]:
        cfg = self.config
        t0 = time.perf_counter()
        picked = [
            self.questions[i]
            for i in prompt_order(len(self.questions), cfg.seed, step * cfg.prompts_per_step, cfg.prompts_per_step)
        ]
        adapter_dir = None
        if cfg.rollout == "vllm":
            adapter_dir = self.out / "rollout-adapter"
            shutil.rmtree(adapter_dir, ignore_errors=True)
            self.policy.save_adapter(adapter_dir)
        samples = self.rollout.generate(
            [q.prompt_ids for q in picked],
            cfg.group_size,
            max_tokens=cfg.max_completion_tokens,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            adapter_dir=adapter_dir,
            seed=cfg.seed * 1_000_003 + step * 1009,
        )
        t_rollout = time.perf_counter()

        verdicts: list[Any] = [None] * len(samples)
        if self.judge is not None:
            verdicts = self.judge.judge_completions(
                [picked[s.prompt_index].question for s in samples],
                [self.prefill + s.text for s in samples],
                [picked[s.prompt_index].answer for s in samples],
            )
        breakdowns = [
            self.scorer.score(s.text, answer=picked[s.prompt_index].answer, prefill=self.prefill, verdict=v)
            for s, v in zip(samples, verdicts, strict=True)
        ]
        rewards = torch.tensor([bd.total for bd in breakdowns], dtype=torch.float32)
        advantages = group_advantages(rewards, cfg.group_size, cfg.effective_scale)
        t_score = time.perf_counter()

        update = self.update(
            [picked[s.prompt_index].prompt_ids for s in samples], [s.completion_ids for s in samples], advantages.values
        )
        if torch.cuda.is_available():
            torch.cuda.empty_cache()  # hand the update's activations back before vLLM wakes (the plan assumes it)
        t_end = time.perf_counter()

        lengths = [len(s.completion_ids) for s in samples]
        row: dict[str, Any] = {
            "step": step,
            **update,
            "reward_mean": float(rewards.mean()),
            "reward_std": float(rewards.std()) if len(rewards) > 1 else 0.0,
        }
        for name in self.scorer.active:
            values = [bd.components[name].value for bd in breakdowns if bd.components[name].value is not None]
            row[f"reward/{name}"] = statistics.fmean(values) if values else None
        row.update(
            {
                "completion_tokens": statistics.fmean(lengths),
                "truncated_share": sum(not s.finished for s in samples) / len(samples),
                "zero_std_share": advantages.zero_std_share,
                "tokens_per_s": sum(lengths) / (t_end - t0),
                "step_seconds": t_end - t0,
                "rollout_seconds": t_rollout - t0,
                "score_seconds": t_score - t_rollout,
                "update_seconds": t_end - t_score,
                "lr": cfg.learning_rate,
                "sample": samples[0].text[:500],
            }
        )
        return row

    def update(
        self, prompts: list[list[int]], completions: list[list[int]], advantages: torch.Tensor
    ) -> dict[str, Any]:
        """The policy update on one batch of rollouts; returns loss, kl and clip statistics."""
        cfg = self.config
        model = self.policy.model
        device = next(model.parameters()).device
        normaliser = LossNormaliser(
            cfg.loss, len(completions), sum(len(c) for c in completions), cfg.max_completion_tokens
        )
        # Zero-advantage completions add nothing to the surrogate; without a KL term they are skipped.
        skip = cfg.skip_zero_advantage and cfg.kl_coef == 0
        keep = [i for i in range(len(completions)) if not skip or advantages[i] != 0]
        stats = {"loss": 0.0, "kl": 0.0, "clip_fraction": 0.0, "trained_sequences": len(keep), "grad_norm": 0.0}
        if not keep:
            return stats
        pad = self.policy.tokenizer.pad_token_id
        micro = [keep[i : i + cfg.micro_batch] for i in range(0, len(keep), cfg.micro_batch)]
        batches = [make_batch([prompts[i] for i in m], [completions[i] for i in m], pad).to(device) for m in micro]
        old: list[torch.Tensor | None] = [None] * len(batches)
        ref: list[torch.Tensor | None] = [None] * len(batches)
        with torch.no_grad():
            for j, b in enumerate(batches):
                if cfg.updates_per_batch > 1:
                    old[j] = completion_logprobs(model, b, cfg.logprob_chunk, cfg.temperature)
                if cfg.kl_coef > 0:
                    with self.policy.reference():
                        ref[j] = completion_logprobs(model, b, cfg.logprob_chunk, cfg.temperature)
        params = self.policy.trainable_parameters()
        model.train()
        totals = {"loss": 0.0, "kl": 0.0, "clip_fraction": 0.0}
        for _ in range(cfg.updates_per_batch):
            self.optimizer.zero_grad(set_to_none=True)
            for j, (m, b) in enumerate(zip(micro, batches, strict=True)):
                logp = completion_logprobs(model, b, cfg.logprob_chunk, cfg.temperature)
                old_logp = old[j] if old[j] is not None else logp.detach()
                loss, s = policy_loss(
                    logp,
                    old_logp,
                    advantages[m].to(device),
                    b.completion_mask,
                    normaliser,
                    clip_low=cfg.clip_low,
                    clip_high=cfg.effective_clip_high,
                    kl_coef=cfg.kl_coef,
                    ref_logp=ref[j],
                )
                loss.backward()
                share = len(m) / len(keep)
                totals["loss"] += s.loss / cfg.updates_per_batch
                totals["kl"] += s.kl * share / cfg.updates_per_batch
                totals["clip_fraction"] += s.clip_fraction * share / cfg.updates_per_batch
            norm = torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            self.optimizer.step()
        stats.update(totals)
        stats["grad_norm"] = float(norm)
        return stats

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
