"""The one bundle of scoring settings: what decides a Breakdown, shared by TRL, verl, the CLI and GRPO.

It is picklable (it travels to TRL's spawned reward process and to the `score` command's workers),
hashable by value (reward functions with equal settings share one scoring session), and has a
fingerprint (an interrupted `score` run resumes only with the same settings).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from judgecraft import __version__
from judgecraft.scorer import DEFAULT_MAX_SECTION_CHARS, Scorer


def _key_part(value: Any) -> Any:
    """A hashable, stable form of a setting (objects such as tokenizers count by identity)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict | list | tuple):
        try:
            return json.dumps(value, sort_keys=True)
        except TypeError:
            pass
    return ("object", id(value))


@dataclass(frozen=True, eq=False)
class ScoringSettings:
    """What decides a breakdown: the arguments of `Scorer`, plus the reward session's cache size.

    >>> ScoringSettings("pkv", stage="round2").build().stage
    'round2'
    """

    construct: Any = "pkv"  # a built-in name, a path to a TOML spec, or a Construct
    stage: str | None = None
    weights: dict[str, float] | None = None
    params: dict[str, dict[str, Any]] | None = None
    tokenizer: Any = None  # a Hugging Face name or a tokenizer object (for length in tokens)
    answer_timeout: float = 5.0
    use_math_verify: bool = True
    cache_size: int = 8192  # breakdowns a reward session keeps (not part of the scores)
    components: Any = None  # "all" (None), "weighted" (only what the total needs: fastest), or names
    max_section_chars: int | None = DEFAULT_MAX_SECTION_CHARS

    def key(self) -> tuple[Any, ...]:
        return tuple(_key_part(getattr(self, f.name)) for f in fields(self))

    def build(self) -> Scorer:
        return Scorer(
            self.construct,
            stage=self.stage,
            weights=self.weights,
            params=self.params,
            tokenizer=self.tokenizer,
            answer_timeout=self.answer_timeout,
            use_math_verify=self.use_math_verify,
            components=self.components,
            max_section_chars=self.max_section_chars,
        )

    scorer = build  # the name offline code used

    def fingerprint(self) -> dict[str, Any]:
        """What a resumed run must share with the interrupted one: every setting that changes a score."""
        construct = self.construct if isinstance(self.construct, str) else getattr(self.construct, "name", "?")
        spec = Path(construct)
        construct_hash = hashlib.sha256(spec.read_bytes()).hexdigest()[:16] if spec.is_file() else None
        data = {f.name: _key_part(getattr(self, f.name)) for f in fields(self) if f.name != "cache_size"}
        tokenizer = self.tokenizer
        if tokenizer is not None and not isinstance(tokenizer, str):  # an object: by its name, not its identity
            data["tokenizer"] = getattr(tokenizer, "name_or_path", type(tokenizer).__name__)
        data |= {"construct": construct, "construct_sha256": construct_hash, "judgecraft": __version__}
        return json.loads(json.dumps(data, sort_keys=True, default=str))


ScoreConfig = ScoringSettings  # the offline name, kept for code that imports it
