"""judgecraft: judge and score reasoning constructs, and turn the scores into GRPO rewards."""

from judgecraft.answer import AnswerChecker, Extracted, Match, extract_answer, parse_gold
from judgecraft.construct import Construct, ConstructError, load_construct
from judgecraft.parse import Parsed, parse
from judgecraft.scorer import Breakdown, ComponentScore, Scorer
from judgecraft.traces import TraceRecord, extract_trace, split_steps, to_sft_record

__version__ = "0.1.0"

__all__ = [
    "AnswerChecker",
    "Breakdown",
    "ComponentScore",
    "Construct",
    "ConstructError",
    "Extracted",
    "Match",
    "Parsed",
    "Scorer",
    "TraceRecord",
    "extract_answer",
    "extract_trace",
    "load_construct",
    "parse",
    "parse_gold",
    "split_steps",
    "to_sft_record",
]
