"""Pull the final answer out of a model's response: the last ``\\boxed{}``, else the last number."""

from __future__ import annotations

import re

_BOX = re.compile(r"\\(?:boxed|fbox)\b")
# A number that does not start inside a word or another number: optional minus (not a binary minus after a word,
# digit or closing bracket), thousands groups or plain digits, optional decimals, optional "/denominator".
_NUMBER = re.compile(
    r"(?<![\w.])(?:(?<![\w)\]}])-)?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?(?:/\d+)?",
)


def extract_answer(response: str) -> str | None:
    """The answer a response commits to, or None when it has none.

    The content of the last well-formed, non-empty ``\\boxed{...}`` or ``\\fbox{...}`` (braces balanced, so
    ``\\boxed{\\frac{1}{2}}`` gives ``\\frac{1}{2}``); failing that the last number in the text (integers, decimals,
    negatives, fractions like ``3/4``, thousands commas dropped: "1,234" gives "1234").
    """
    boxed = last_boxed(response)
    if boxed is not None:
        return boxed
    return last_number(response)


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{}``/``\\fbox{}`` whose braces close and that is not empty, stripped."""
    for match in reversed(list(_BOX.finditer(text))):
        content = _braced_group(text, match.end())
        if content is not None and content.strip():
            return content.strip()
    return None


def last_number(text: str) -> str | None:
    """The last number in ``text`` with thousands commas removed, or None."""
    numbers = _NUMBER.findall(text)
    return numbers[-1].replace(",", "") if numbers else None


def _braced_group(text: str, start: int) -> str | None:
    """Content of the ``{...}`` group that opens at ``start`` (after spaces); escaped braces ``\\{`` don't count."""
    i = start
    while i < len(text) and text[i].isspace():
        i += 1
    if i >= len(text) or text[i] != "{":
        return None
    depth = 0
    j = i
    while j < len(text):
        char = text[j]
        if char == "\\":
            j += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j]
        j += 1
    return None
