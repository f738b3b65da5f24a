"""The math-verify worker: `python -m judgecraft.verify_worker`, one JSON request per line on stdin.

Request: {"gold": "<latex>", "candidates": ["<text>", ...]}. Reply: {"equal": true|false} or
{"error": "..."}. Its address space is capped, so a sympy bomb ends in MemoryError rather than
swapping the machine; the parent kills it when it takes too long. math-verify's own signal-based
timeouts are off: the parent's hard kill is the bound.
"""

from __future__ import annotations

import contextlib
import json
import logging
import resource
import sys
from functools import lru_cache

MEMORY_LIMIT_BYTES = 2 * 1024**3


@lru_cache(maxsize=4096)
def parse_gold(gold: str):
    """A gold answer is parsed once per worker and reused for every candidate."""
    from math_verify import parse

    return parse(f"${gold}$", parsing_timeout=None) or parse(gold, parsing_timeout=None)


def verify(gold: str, candidates: list[str]) -> bool:
    from math_verify import parse, verify

    gold_parsed = parse_gold(gold)
    if not gold_parsed:
        return False
    for candidate in candidates:
        parsed = parse(candidate, parsing_timeout=None)
        if parsed and verify(gold_parsed, parsed, timeout_seconds=None):
            return True
    return False


def main() -> None:
    with contextlib.suppress(ValueError, OSError):  # some sandboxes forbid it; the parent's kill still bounds us
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    logging.disable(logging.WARNING)  # math-verify warns that its own timeouts are off: they are, on purpose
    import math_verify  # noqa: F401  (imported before "ready", so start-up never eats a request's timeout)

    sys.stdout.write(json.dumps({"ready": True}) + "\n")
    sys.stdout.flush()
    for line in sys.stdin:
        try:
            request = json.loads(line)
            reply = {"equal": verify(request["gold"], list(request["candidates"]))}
        except MemoryError:
            reply = {"error": "out of memory"}
        except Exception as err:  # a sympy failure is an answer ("not equal, and why"), never a dead worker
            reply = {"error": f"{type(err).__name__}: {err}"[:300]}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
