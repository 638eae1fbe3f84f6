"""Turn prompts for text agents, in the spirit of verl-agent / ProxMO's templates (proxmo.md §10), own wording.

Each turn is a fresh single-turn chat: one user message with the task, the current observation, the admissible
actions and, after the first turn, the last ``history_length`` observation/action pairs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ANSWER_FORMAT = (
    "First reason step by step about the current situation inside <think> </think>. Then choose one admissible "
    "action and write it inside <action> </action>."
)

OPENINGS = {
    "alfworld": "You are an expert agent acting in the ALFRED household environment.",
    "webshop": "You are an expert autonomous agent shopping in the WebShop e-commerce environment.",
}


@dataclass
class History:
    """The last ``length`` (observation, action) pairs of one trajectory."""

    length: int = 2
    records: list[tuple[str, str]] = field(default_factory=list)

    def add(self, observation: str, action: str) -> None:
        self.records.append((observation, action))

    def render(self) -> str:
        start = len(self.records) - self.length
        recent = self.records[max(start, 0) :]
        first = max(start, 0) + 1
        return "\n".join(
            f"[Observation {first + i}: '{obs}', Action {first + i}: '{act}']" for i, (obs, act) in enumerate(recent)
        )


def expert_answer(action: str) -> str:
    """An answer in the requested format that takes ``action`` (the target of behaviour cloning)."""
    return f"<think>The next step of my plan is: {action}.</think><action>{action}</action>"


def format_actions(actions: list[str]) -> str:
    return "\n ".join(f"'{a}'" for a in actions if a != "help")


def turn_prompt(env_name: str, task: str, observation: str, actions: list[str], history: History) -> str:
    """The user message for one turn of ``env_name`` (alfworld, webshop, or any other: a generic opening)."""
    opening = OPENINGS.get(env_name, "You are an expert agent acting in a text environment.")
    parts = [opening, f"Your task is to: {task}"]
    if history.records and history.length > 0:
        steps = len(history.records)
        parts.append(
            f"Before this step you have taken {steps} step(s). The most recent observations and the actions you "
            f"took are:\n{history.render()}"
        )
        parts.append(f"You are now at step {steps + 1} and your current observation is: {observation}")
    else:
        parts.append(f"Your current observation is: {observation}")
    parts.append(f"Your admissible actions are: [{format_actions(actions)}]")
    parts.append(ANSWER_FORMAT)
    return "\n\n".join(parts)
