"""Turn prompts for text agents, in three styles.

With step rows each turn is a fresh single-turn chat: one user message with the task, the current observation, the
admissible actions and, after the first turn, the last ``history_length`` steps. With episode rows the first turn's
message is the same and each later one holds only the new observation and actions (``next_turn_prompt``).

- ``full``: in the spirit of verl-agent / ProxMO's templates (proxmo.md §10), own wording; the answer is
  ``<think>…</think><action>…</action>``.
- ``compact``: for CPU runs, where prefilling the prompt is most of a turn's cost: the recent steps as a game
  transcript (``> action`` then what it led to), the actions on one line, and an answer of ``<action>…</action>``
  alone (``benchmarks/agent_turn_cost.py``, small ALFWorld rooms: 228 prompt tokens and 13 answer tokens per turn
  where ``full`` takes 404 and 33).
- ``compact_actions``: ``compact`` plus one line listing the actions taken before the transcript's steps, so that a
  policy shown only its last steps still knows where it has been (which receptacles it searched).
- ``compact_moves``: ``compact``, but with episode rows a later turn lists its ``go to`` actions as one phrase: the
  places are those of the first turn's list, already in the chat. In ALFWorld rooms of 6 receptacles the moves are
  about half of a later turn's message (35-44 of 74-85 tokens), and every token of the chat is prefilled, replayed
  by each evaluation and trained through. With step rows it is ``compact``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

ANSWER_FORMAT = (
    "First reason step by step about the current situation inside <think> </think>. Then choose one admissible "
    "action and write it inside <action> </action>."
)
COMPACT_ANSWER_FORMAT = "Answer with one admissible action inside <action> </action>."


class PromptStyle(NamedTuple):
    think: bool  # the ProxMO template with a <think> part; otherwise the compact transcript and <action> alone
    earlier_actions: bool = False  # a line listing the actions that have left the transcript's window
    moves_once: bool = False  # episode rows: later turns name the `go to` actions by one phrase


PROMPT_STYLES = {
    "full": PromptStyle(think=True),
    "compact": PromptStyle(think=False),
    "compact_actions": PromptStyle(think=False, earlier_actions=True),
    "compact_moves": PromptStyle(think=False, moves_once=True),
}
MOVE = "go to "
MOVES_PHRASE = "go to a place of the first list"


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

    def recent(self) -> list[tuple[str, str]]:
        return self.records[max(len(self.records) - self.length, 0) :] if self.length > 0 else []

    def earlier_actions(self) -> list[str]:
        """The actions taken before the recent steps (all of them when ``length`` is 0)."""
        return [action for _, action in self.records[: len(self.records) - len(self.recent())]]

    def render(self) -> str:
        recent = self.recent()
        first = len(self.records) - len(recent) + 1
        return "\n".join(
            f"[Observation {first + i}: '{obs}', Action {first + i}: '{act}']" for i, (obs, act) in enumerate(recent)
        )

    def transcript(self, observation: str) -> str:
        """The recent actions, each followed by what it led to, ending with the current ``observation``."""
        recent = self.recent()
        if not recent:
            return observation
        results = [obs for obs, _ in recent[1:]] + [observation]
        return "\n".join(f"> {act}\n{result}" for (_, act), result in zip(recent, results, strict=True))


def expert_answer(action: str, style: str = "full") -> str:
    """An answer in ``style``'s format that takes ``action`` (the target of behaviour cloning)."""
    if not PROMPT_STYLES[style].think:
        return f"<action>{action}</action>"
    return f"<think>The next step of my plan is: {action}.</think><action>{action}</action>"


def shown_actions(actions: list[str]) -> list[str]:
    """The admissible actions a prompt lists (``help`` only prints the command list)."""
    return [a for a in actions if a != "help"]


def _admissible(actions: list[str]) -> str:
    """The full style's list of admissible actions."""
    listed = "\n ".join(f"'{a}'" for a in shown_actions(actions))
    return f"Your admissible actions are: [{listed}]"


def next_turn_prompt(observation: str, actions: list[str], style: str = "full") -> str:
    """The user message of a later turn when the whole episode is one chat (``agent.rows: episode``): the
    observation and the admissible actions; the task and every earlier step are already in the chat."""
    spec = PROMPT_STYLES[style]
    if not spec.think:
        shown = shown_actions(actions)
        if spec.moves_once and any(a.startswith(MOVE) for a in shown):
            shown = [MOVES_PHRASE, *(a for a in shown if not a.startswith(MOVE))]
        return f"{observation}\nActions: {', '.join(shown)}"
    return f"Your current observation is: {observation}\n\n{_admissible(actions)}\n\n{ANSWER_FORMAT}"


def turn_prompt(
    env_name: str, task: str, observation: str, actions: list[str], history: History, style: str = "full"
) -> str:
    """The user message for one turn of ``env_name`` (alfworld, webshop, or any other: a generic opening)."""
    spec = PROMPT_STYLES[style]
    if not spec.think:
        earlier = history.earlier_actions() if spec.earlier_actions else []
        memory = f"Earlier actions: {'; '.join(earlier)}\n" if earlier else ""
        listed = ", ".join(shown_actions(actions))
        return f"Task: {task}\n{memory}{history.transcript(observation)}\nActions: {listed}\n{COMPACT_ANSWER_FORMAT}"
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
    parts.append(_admissible(actions))
    parts.append(ANSWER_FORMAT)
    return "\n\n".join(parts)
