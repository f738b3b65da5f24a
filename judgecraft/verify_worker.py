"""The math-verify worker: `python -m judgecraft.verify_worker`, one JSON request per line on stdin.

Request: {"gold": "<latex>", "pred": "<latex>"} (the answer span, already extracted and screened
for bombs by the parent). Reply: {"equal": true|false} or {"error": "..."}. Its address space is
capped, so a sympy bomb that slipped through ends in MemoryError rather than swapping the machine;
the parent kills it when it takes too long. math-verify's own signal-based timeouts are off: the
parent's hard kill is the bound.
"""

from __future__ import annotations

import contextlib
import json
import logging
import resource
import sys
from functools import lru_cache

MEMORY_LIMIT_BYTES = 2 * 1024**3


LATEX_MARKS = ("\\", "^", "{", "_")


@lru_cache(maxsize=1)
def _targets(latex_only: bool) -> tuple:
    from math_verify import ExprExtractionConfig, LatexExtractionConfig

    latex = LatexExtractionConfig(boxed_match_priority=0)
    return (latex,) if latex_only else (latex, ExprExtractionConfig())


@lru_cache(maxsize=4096)
def parse_once(span: str) -> list:
    """A span is parsed once per worker (a gold answer is reused for every prediction). A LaTeX span
    is read as LaTeX only: the plain-expression reader would find a number inside a formula it
    cannot parse ('2' in '2^{10}.') and decide on that."""
    from math_verify import parse

    return parse(span, _targets(any(mark in span for mark in LATEX_MARKS)), parsing_timeout=None)


def _exactly_different(gold: object, pred: object) -> bool:
    """Two exact numbers (no decimals) that math-verify's float rounding calls equal: 1/2004! and 1/2006!."""
    import sympy

    if not (isinstance(gold, sympy.Expr) and isinstance(pred, sympy.Expr)):
        return False
    if not (gold.is_number and pred.is_number) or gold.atoms(sympy.Float) or pred.atoms(sympy.Float):
        return False
    try:
        difference = sympy.simplify(gold - pred)
        return bool(difference.is_number and difference != 0 and difference.is_zero is False)
    except Exception:
        return False


def verify(gold: str, pred: str) -> bool:
    from math_verify import verify

    gold_parsed = parse_once(gold)
    pred_parsed = parse_once(pred)
    if not (gold_parsed and pred_parsed and verify(gold_parsed, pred_parsed, timeout_seconds=None)):
        return False
    return not _exactly_different(gold_parsed[0], pred_parsed[0])


def main() -> None:
    with contextlib.suppress(ValueError, OSError):  # some sandboxes forbid it; the parent's kill still bounds us
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    logging.disable(logging.WARNING)  # math-verify warns that its own timeouts are off: they are, on purpose
    # Imports and sympy's first-use caches are paid before "ready", so start-up never eats a request's timeout.
    verify("$x+1$", "$\\frac{2x+2}{2}$")

    sys.stdout.write(json.dumps({"ready": True}) + "\n")
    sys.stdout.flush()
    for line in sys.stdin:
        try:
            request = json.loads(line)
            reply = {"equal": verify(str(request["gold"]), str(request["pred"]))}
        except MemoryError:
            reply = {"error": "out of memory"}
        except Exception as err:  # a sympy failure is an answer ("not equal, and why"), never a dead worker
            reply = {"error": f"{type(err).__name__}: {err}"[:300]}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
