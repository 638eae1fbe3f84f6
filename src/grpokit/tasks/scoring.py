"""Compare an extracted answer with the reference: normalised string equality, then math-verify.

math-verify (``verify(parse(gold), parse(pred))``) decides mathematical equivalence: "0.5" equals ``\\frac{1}{2}``,
"1,234" equals "1234", ``x=3`` equals "3". Both sides are wrapped in ``\\boxed{}`` first, so a bare LaTeX answer
such as ``\\left( 3, \\frac{\\pi}{2} \\right)`` parses whole instead of as its first number.

math-verify bounds each parse and comparison with ``signal.alarm``, which works only in the main thread; here the
bound is 1 s in the main thread and there is none in other threads (math-verify would raise there). An answer like
``10^{10^{10}}`` can then stall a worker thread, so score in the main thread or in worker processes.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import Any

from grpokit.tasks.extraction import extract_answer
from grpokit.tasks.problem import Score

_TIMEOUT_S = 1


def score_answer(response: str, answer: str) -> Score:
    """Score ``response`` against the reference ``answer``: reward 1.0 when its extracted answer is equivalent.

    Never raises on odd model output: anything math-verify cannot handle counts as not equivalent.
    """
    extracted = extract_answer(response)
    if extracted is None:
        return Score(reward=0.0, correct=False, parsed=False, extracted=None)
    correct = answers_match(extracted, answer)
    return Score(reward=float(correct), correct=correct, parsed=True, extracted=extracted)


def answers_match(pred: str, gold: str) -> bool:
    """Whether the answer ``pred`` is equivalent to the reference ``gold`` (both bare, without ``\\boxed``)."""
    pred_norm, gold_norm = normalise(pred), normalise(gold)
    if pred_norm and pred_norm == gold_norm:
        return True
    from math_verify import verify
    from math_verify.errors import TimeoutException

    try:
        gold_parsed, pred_parsed = _parse(gold), _parse(pred)
        if not gold_parsed or not pred_parsed:
            return False
        return bool(verify(gold_parsed, pred_parsed, timeout_seconds=_timeout()))
    except (Exception, TimeoutException):  # TimeoutException is a BaseException
        return False


def normalise(text: str) -> str:
    """A canonical spelling for exact comparison: no ``$``, spaces, ``\\left``/``\\right``, ``\\text{}`` wrappers,
    thin spaces, thousands commas or trailing period; ``\\dfrac``/``\\tfrac`` become ``\\frac``."""
    text = text.strip().strip("$")
    text = re.sub(r"\\text\{([^{}]*)\}", r"\1", text)
    text = re.sub(r"\\(?:left|right)(?![a-zA-Z])", "", text)
    text = re.sub(r"\\[dt]frac", r"\\frac", text)
    text = re.sub(r"\\[,!; ]", "", text)
    text = re.sub(r"\s+", "", text)
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)
    return text.rstrip(".")


@lru_cache(maxsize=8192)
def _parse(answer: str) -> list[Any]:
    """math-verify's parse of ``answer`` wrapped in ``\\boxed{}``; cached, since groups repeat answers."""
    from math_verify import parse

    return parse(f"\\boxed{{{answer}}}", parsing_timeout=_timeout())


def _timeout() -> int | None:
    return _TIMEOUT_S if threading.current_thread() is threading.main_thread() else None
