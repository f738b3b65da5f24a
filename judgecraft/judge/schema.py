"""The verdict's JSON schema, built per prompt from the labels actually shown, and its validation.

The schema is what vLLM's structured outputs constrain decoding to, so the shape is chosen for
what the model writes and for what can be read back from its logprobs:

- `rationale` comes first: the numbers are then conditioned on stated reasons (a short chain of
  thought), and `maxLength` bounds what those reasons can cost in tokens.
- `scores` holds one object per label shown, each with every criterion, all required, no extra
  keys, so a verdict that parses is complete.
- Scores are integers on a small scale, by default 1..9. Integers, because a model writes and
  compares whole grades more reliably than decimals. Single digits, because every common tokenizer
  writes "1".."9" as one token each (SmolLM2 and Qwen split "10" into "1" + "0", whose first token
  would then conflate 1 with 10): with one token per grade, the probability the model gives each
  grade is read straight off the logprobs, and a probability-weighted grade is exact. 1..9 also
  has a middle (5) and enough steps to separate solutions.
- `winner` is an enum of the labels shown (absent when a single candidate is judged): the judge
  cannot name a persona that was not in the prompt, or two of them.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from judgecraft.judge.verdict import JudgeError


def verdict_schema(
    labels: list[str] | tuple[str, ...],
    criteria: list[str] | tuple[str, ...],
    scale: tuple[int, int] = (1, 9),
    rationale_max_chars: int = 300,
) -> dict[str, Any]:
    """The JSON schema of a verdict over candidates shown under `labels`."""
    low, high = scale
    grade = {"type": "integer", "minimum": low, "maximum": high}
    per_candidate = {
        "type": "object",
        "properties": {c: grade for c in criteria},
        "required": list(criteria),
        "additionalProperties": False,
    }
    properties: dict[str, Any] = {
        "rationale": {"type": "string", "maxLength": rationale_max_chars},
        "scores": {
            "type": "object",
            "properties": {label: per_candidate for label in labels},
            "required": list(labels),
            "additionalProperties": False,
        },
    }
    if len(labels) > 1:
        properties["winner"] = {"type": "string", "enum": list(labels)}
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


@cache
def _validator(schema_json: str):
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(schema_json))


def parse_verdict(text: str, schema: dict[str, Any]) -> dict[str, Any]:
    """Parse the judge's output and check it against the schema; raise JudgeError("malformed") if it is not one.

    Structured outputs make this hold for vLLM, but not for every OpenAI-compatible server, nor for
    output cut at max_tokens or truncated on the way, so it is always checked.
    """
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, TypeError) as err:
        reason = err.msg if isinstance(err, json.JSONDecodeError) else str(err)
        raise JudgeError(f"verdict is not JSON ({reason}): {text[:160]!r}", "malformed") from None
    errors = sorted(_validator(json.dumps(schema, sort_keys=True)).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        where = "/".join(str(p) for p in errors[0].path) or "(root)"
        raise JudgeError(f"verdict does not match the schema at {where}: {errors[0].message[:200]}", "malformed")
    return data


def verdict_token_budget(n_labels: int, n_criteria: int, rationale_max_chars: int) -> int:
    """Tokens a complete verdict may need: the rationale (~3 characters a token) and every grade object.

    The judge asks for at least this many, so a large group (16 generations in `select`) is not cut
    off at a max_tokens chosen for three personas.
    """
    return rationale_max_chars // 3 + n_labels * (8 + 9 * n_criteria) + 32
