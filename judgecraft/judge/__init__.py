"""The LLM judge: verdicts from vLLM (in-process or any OpenAI-compatible server), cached and bias-controlled.

    from judgecraft.judge import make_judge
    judge = make_judge("http://127.0.0.1:8000/v1#judge", construct="pkv")   # or "vllm:/path/to/model"
    verdicts = judge.judge_completions(prompts, completions)               # Verdict | JudgeError per row
    Scorer("pkv", weights={"judge_quality": 1.0}).score(completion, verdict=verdicts[0])

Names are imported lazily: the score components import `judgecraft.judge.verdict`, and loading
them must not pull in vLLM, openai or jsonschema.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Judge": "judgecraft.judge.core",
    "make_judge": "judgecraft.judge.core",
    "JudgeConfig": "judgecraft.judge.config",
    "JudgeItem": "judgecraft.judge.prompts",
    "Verdict": "judgecraft.judge.verdict",
    "ShuffleVerdict": "judgecraft.judge.verdict",
    "JudgeError": "judgecraft.judge.verdict",
    "JudgeSetupError": "judgecraft.judge.verdict",
    "as_verdict": "judgecraft.judge.verdict",
    "GenerationCache": "judgecraft.judge.cache",
    "VLLMBackend": "judgecraft.judge.backend_vllm",
    "HTTPBackend": "judgecraft.judge.backend_http",
    "verdict_schema": "judgecraft.judge.schema",
    "JudgeReward": "judgecraft.judge.reward",
    "measure_position_bias": "judgecraft.judge.bias",
    "run_probe": "judgecraft.judge.probe",
    "judge_dump": "judgecraft.judge.run",
    "serve": "judgecraft.judge.server",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'judgecraft.judge' has no attribute {name!r}")
