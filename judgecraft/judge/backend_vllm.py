"""The in-process backend: `vllm.LLM` for offline batches (the judge and the prompts in one process).

The whole batch goes to vLLM at once (in chunks of `batch_size`, so the cache fills as it goes and
a crash loses at most one chunk of work). Prompts are rendered with the model's chat template and
tokenised here, so a prompt that cannot fit the context is reported for its own row instead of
vLLM rejecting the whole batch. Verdicts are compact JSON (no free whitespace): fewer tokens, and
no room for a small model to pad its answer with blank lines.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from judgecraft.judge.backend import BackendError, Generation, OnResult, Request
from judgecraft.judge.verdict import JudgeSetupError

COMPACT_JSON = {"backend": "xgrammar", "disable_any_whitespace": True}  # verdicts without free whitespace


def check_model_dir(model: str | Path) -> Path:
    """A usable Hugging Face model folder, or a JudgeSetupError that says what is wrong."""
    path = Path(model).expanduser()
    if not path.exists():
        raise JudgeSetupError(f"judge model folder {path} does not exist")
    if not path.is_dir():
        raise JudgeSetupError(f"judge model {path} is not a folder (expected a Hugging Face model folder)")
    if not (path / "config.json").exists():
        raise JudgeSetupError(f"judge model folder {path} has no config.json: not a Hugging Face model folder")
    return path.resolve()


IDENTITY_FILES = (
    "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
    "vocab.json", "merges.txt", "tokenizer.model", "added_tokens.json", "chat_template.jinja", "chat_template.json",
)  # fmt: skip


def model_fingerprint(path: Path) -> str:
    """The folder's path, the content of its config, tokenizer and chat-template files, and its weight files
    (names, sizes, times): a retrained model, a new chat template or tokenizer is a new cache key."""
    h = hashlib.sha256()
    for name in IDENTITY_FILES:
        f = path / name
        if f.is_file():
            h.update(name.encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    for f in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return f"{path}@{h.hexdigest()[:16]}"


class VLLMBackend:
    """Judge with a `vllm.LLM` in this process. Pass a model folder (loaded on first use) or a ready LLM."""

    kind = "vllm"

    def __init__(
        self,
        model: str | Path | Any,
        *,
        max_model_len: int | None = 4096,
        dtype: str = "auto",
        seed: int = 0,
        batch_size: int = 256,
        compact_json: bool = True,
        **llm_kwargs: Any,
    ):
        self.batch_size = batch_size
        self.requests = 0
        self._lock = threading.Lock()
        if isinstance(model, str | Path):
            self.model_dir: Path | None = check_model_dir(model)
            self.model_id = f"vllm:{model_fingerprint(self.model_dir)}"
            self._llm = None
            self._llm_kwargs = {
                "model": str(self.model_dir),
                "dtype": dtype,
                "max_model_len": max_model_len,
                "seed": seed,
                "enable_chunked_prefill": False,  # per-request seeds need it off on the CPU
                **({"structured_outputs_config": COMPACT_JSON} if compact_json else {}),
                **llm_kwargs,
            }
        else:  # an LLM the caller built (shares the engine with their own generation)
            self._llm = model
            self._llm_kwargs = {}
            name = str(model.llm_engine.model_config.model)
            self.model_dir = Path(name) if Path(name).is_dir() else None
            self.model_id = f"vllm:{model_fingerprint(self.model_dir) if self.model_dir else name}"

    def identity(self) -> str:
        """The model's fingerprint and the engine settings that change outputs (dtype, compact JSON, ...)."""
        settings = {k: v for k, v in self._llm_kwargs.items() if k not in ("model", "max_model_len", "seed")}
        blob = json.dumps(settings, sort_keys=True, default=str)
        return f"{self.model_id}|{hashlib.sha256(blob.encode()).hexdigest()[:16]}"

    @property
    def llm(self) -> Any:
        """The engine, loaded on first use (tens of seconds)."""
        if self._llm is None:
            from vllm import LLM

            self._llm = LLM(**{k: v for k, v in self._llm_kwargs.items() if v is not None})
        return self._llm

    @property
    def max_model_len(self) -> int:
        return int(self.llm.llm_engine.model_config.max_model_len)

    def check(self) -> None:
        if self.model_dir is not None:
            check_model_dir(self.model_dir)

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        """The prompt's token ids, rendered with the model's chat template as `LLM.chat` would."""
        tokenizer = self.llm.get_tokenizer()
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return list(tokenizer.encode(text, add_special_tokens=False))

    def _params(self, request: Request) -> Any:
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        s = request.sampling
        return SamplingParams(
            max_tokens=s.max_tokens,
            temperature=s.temperature,
            top_p=s.top_p,
            seed=s.seed if s.temperature > 0 else None,
            logprobs=s.top_logprobs or None,
            structured_outputs=StructuredOutputsParams(json=request.schema),
        )

    def generate(
        self, requests: Sequence[Request], on_result: OnResult | None = None
    ) -> list[Generation | BackendError]:
        """Generate every request (blocking); results in order, a BackendError in place of a failed one."""
        from vllm.inputs import TokensPrompt

        results: list[Generation | BackendError | None] = [None] * len(requests)
        with self._lock:  # one engine, one batch at a time
            limit = self.max_model_len
            for start in range(0, len(requests), self.batch_size):
                chunk = range(start, min(start + self.batch_size, len(requests)))
                prompts, params, index = [], [], []
                for i in chunk:
                    r = requests[i]
                    try:
                        ids = self.prompt_ids(r.messages)
                    except Exception as err:  # a chat template that cannot render this row: its own error
                        results[i] = BackendError(f"cannot render the judge prompt: {type(err).__name__}: {err}")
                        if on_result:
                            on_result(i, results[i])  # type: ignore[arg-type]
                        continue
                    if len(ids) + r.sampling.max_tokens > limit:
                        results[i] = BackendError(
                            f"judge prompt has {len(ids)} tokens; with max_tokens={r.sampling.max_tokens} it does "
                            f"not fit the judge's context of {limit} (lower max_chars_per_candidate or raise "
                            "max_model_len)",
                            "too_long",
                        )
                        if on_result:
                            on_result(i, results[i])  # type: ignore[arg-type]
                        continue
                    prompts.append(TokensPrompt(prompt_token_ids=ids))
                    params.append(self._params(r))
                    index.append(i)
                if not prompts:
                    continue
                self.requests += len(prompts)
                try:
                    outputs = self.llm.generate(prompts, params, use_tqdm=False)
                except Exception as err:  # the engine failed the batch: every row of it gets the reason
                    for i in index:
                        results[i] = BackendError(f"vLLM failed: {type(err).__name__}: {err}")
                        if on_result:
                            on_result(i, results[i])  # type: ignore[arg-type]
                    continue
                for i, out in zip(index, outputs, strict=True):
                    try:
                        results[i] = _generation(out)
                    except Exception as err:  # an output that cannot be read costs its own row only
                        results[i] = BackendError(f"unreadable vLLM output: {type(err).__name__}: {err}")
                    if on_result:
                        on_result(i, results[i])  # type: ignore[arg-type]
        return results  # type: ignore[return-value]

    async def agenerate(
        self, requests: Sequence[Request], on_result: OnResult | None = None, deadline: float | None = None
    ) -> list[Generation | BackendError]:
        """The batch in a worker thread, so the event loop stays free (the deadline is not enforced in-process)."""
        _ = self.llm  # load the engine on the caller's thread: vLLM sets itself up from the main thread
        return await asyncio.to_thread(self.generate, requests, on_result)

    def close(self) -> None:
        """Shut the engine's worker processes down (the engine is unusable afterwards)."""
        llm, self._llm = self._llm, None
        if llm is None:
            return
        core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            core.shutdown()


def _generation(out: Any) -> Generation:
    completion = out.outputs[0]
    tokens = None
    if completion.logprobs is not None:
        tokens = []
        for token_id, position in zip(completion.token_ids, completion.logprobs, strict=False):
            chosen = position.get(token_id)
            alts: dict[str, float] = {}
            for lp in position.values():
                if lp.decoded_token is None or lp.logprob == -math.inf:
                    continue
                alts[lp.decoded_token] = max(lp.logprob, alts.get(lp.decoded_token, -math.inf))
            text = chosen.decoded_token if chosen is not None and chosen.decoded_token is not None else ""
            tokens.append([text, chosen.logprob if chosen is not None else None, alts])
    return Generation(
        text=completion.text,
        finish_reason=completion.finish_reason,
        tokens=tokens,
        prompt_tokens=len(out.prompt_token_ids or []),
        completion_tokens=len(completion.token_ids),
    )
