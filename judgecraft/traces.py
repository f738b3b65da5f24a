"""Chain-of-thought traces: pull the <think> trace out of a completion, split it into steps, make SFT records.

Steps follow the Shannon V1.5 write-up: a new step starts on a new line that begins with a
numbered marker ("1.", "2)"), "Step 1:", an ordinal connective ("First,", "Next,", "Then,",
"Finally,") or a bullet ("- "). Trace records carry the write-up's fields (thinking_trace,
parsed_steps, final_output, num_steps, total_thinking_tokens) so they drop into its pipeline.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from judgecraft.construct import Construct, load_construct
from judgecraft.parse import parse
from judgecraft.text import split_steps


@dataclass(frozen=True)
class TraceRecord:
    thinking_trace: str
    parsed_steps: list[str]
    final_output: str
    num_steps: int
    total_thinking_tokens: int
    well_formed: bool  # the trace opened and closed properly

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def extract_trace(
    text: str, construct: str | Construct = "think", prefill: str = "", tokenizer: Any = None
) -> TraceRecord:
    """Turn one completion into a trace record (tokens counted by `tokenizer`, else by words)."""
    c = load_construct(construct)
    parsed = parse(text, c, prefill=prefill)
    section = c.reasoning_sections[0] if c.reasoning_sections else c.root
    trace = parsed.section_text(section).strip()
    if tokenizer is not None:
        encode = getattr(tokenizer, "encode", None) or tokenizer
        tokens = len(encode(trace, add_special_tokens=False)) if trace else 0
    else:
        tokens = len(trace.split())
    sec = parsed.section(section)
    steps = split_steps(trace)
    return TraceRecord(
        thinking_trace=trace,
        parsed_steps=steps,
        final_output=parsed.final_answer,
        num_steps=len(steps),
        total_thinking_tokens=tokens,
        well_formed=bool(sec and sec.closed and not parsed.leaked),
    )


def to_sft_record(prompt: str, trace: TraceRecord, open_tag: str = "think") -> dict[str, Any]:
    """An SFT example: prompt/completion (what `judgecraft train` stage 1 reads), the trace, and TRL's `messages`."""
    completion = f"<{open_tag}>\n{trace.thinking_trace}\n</{open_tag}>\n{trace.final_output}"
    return {
        "prompt": prompt,
        "completion": completion,
        "thinking_trace": trace.thinking_trace,
        "final_answer": trace.final_output,
        "messages": [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": completion},
        ],
    }
