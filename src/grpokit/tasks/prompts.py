"""Turn a problem into chat messages that ask for a brief reasoning and a ``\\boxed{}`` final answer."""

from __future__ import annotations

from grpokit.tasks.problem import Problem

DEFAULT_INSTRUCTION = "Reason briefly, then put your final answer in \\boxed{}."


def build_messages(problem: Problem, *, instruction: str = DEFAULT_INSTRUCTION) -> list[dict[str, str]]:
    """One user message: the question, a blank line, then ``instruction`` (omitted when empty)."""
    content = f"{problem.question}\n\n{instruction}" if instruction else problem.question
    return [{"role": "user", "content": content}]
