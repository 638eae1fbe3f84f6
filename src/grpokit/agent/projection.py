"""From a model's answer to an environment action (ProxMO / verl-agent convention, proxmo.md §10).

The model answers ``<think>…</think><action>…</action>``. The action is the lower-cased text between the first
``<action>`` and the first ``</action>`` after it. The answer is *valid* only when both tag pairs are present (with
``think=False``, for the compact prompt's ``<action>…</action>`` answers, the action tags suffice) and it has no CJK
characters; validity does not check the admissible list (the environment answers an inadmissible command itself).
Without action tags, the action is the last ``fallback_chars`` characters of the answer (30 for
ALFWorld, 20 for WebShop in the official code) and the answer is invalid.
"""

from __future__ import annotations

import re

_CJK = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf\u3040-\u30ff\uac00-\ud7af]")


def project_action(response: str, *, fallback_chars: int = 30, think: bool = True) -> tuple[str, bool]:
    """``(action, valid)`` for one model answer."""
    text = response.lower()
    start = text.find("<action>")
    end = text.find("</action>", start + len("<action>")) if start != -1 else -1
    if start == -1 or end == -1:
        return text[-fallback_chars:].strip(), False
    action = text[start + len("<action>") : end].strip()
    valid = (not think or ("<think>" in text and "</think>" in text)) and not _CJK.search(text)
    return action, valid
