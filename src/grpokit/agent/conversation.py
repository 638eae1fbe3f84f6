"""A whole episode as one chat, kept as tokens: the row of ``agent.rows: episode``.

The first user message is chat-templated with the generation prompt; every later turn appends the template's text
between an answer and the next assistant turn (in ChatML ``<|im_end|>``, the user message, ``<|im_start|>assistant``),
tokenized on its own. Answers are kept as the tokens the policy sampled, never re-tokenized from their text, so the
trainer scores exactly the sequence the sampler produced.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

PLACEHOLDER = "\u2063ANSWER\u2063"  # stands for an answer when the template's text after it is wanted


@dataclass
class EpisodeTokens:
    """Token ids of one episode's chat, and where each answer (with its sampling log-probs) sits in them."""

    ids: list[int]
    prompt_length: int  # the first user message with its generation prompt
    answers: list[tuple[int, int]] = field(default_factory=list)  # [start, end) of each answer in ``ids``
    log_probs: list[float] = field(default_factory=list)  # the sampler's, one per answer token, in order
    ended: bool = True  # whether the last answer ended with the end-of-turn token

    @classmethod
    def start(cls, tokenizer, user_text: str) -> EpisodeTokens:
        ids = _encode(tokenizer, [{"role": "user", "content": user_text}])
        return cls(ids=ids, prompt_length=len(ids))

    @classmethod
    def from_texts(cls, tokenizer, conversation: list[dict[str, str]]) -> EpisodeTokens:
        """A chat given as texts (user, assistant, user, ...: an expert's episode), each answer tokenized and ended
        with the end-of-turn token as a sampled answer that ended would be (its log-probs 0)."""
        episode = cls.start(tokenizer, conversation[0]["content"])
        for message in conversation[1:]:
            if message["role"] == "assistant":
                ids = [*tokenizer(message["content"], add_special_tokens=False)["input_ids"], tokenizer.eos_token_id]
                episode.add_answer(ids, [0.0] * len(ids), ended=True)
            else:
                episode.next_user(tokenizer, message["content"])
        return episode

    def row(self, answer_advantages: list[float]) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """The training row: prompt ids, response ids (everything after the first prompt), which response tokens are
        trained (the answers), their sampling log-probs, and each token's advantage (its answer's)."""
        if len(answer_advantages) != len(self.answers):
            raise ValueError(f"{len(answer_advantages)} advantages for an episode of {len(self.answers)} answers")
        width = len(self.ids) - self.prompt_length
        trained = torch.zeros(width, dtype=torch.bool)
        log_probs = torch.zeros(width)
        advantages = torch.zeros(width)
        answer_log_probs = iter(self.log_probs)
        for (start, end), advantage in zip(self.answers, answer_advantages, strict=True):
            span = slice(start - self.prompt_length, end - self.prompt_length)
            trained[span] = True
            advantages[span] = advantage
            log_probs[span] = torch.tensor([next(answer_log_probs) for _ in range(end - start)])
        ids = torch.tensor(self.ids)
        return ids[: self.prompt_length], ids[self.prompt_length :], trained, log_probs, advantages

    def next_user(self, tokenizer, user_text: str) -> list[int]:
        """The tokens that close the last answer and open the next turn with ``user_text``; appended and returned."""
        conversation = [
            {"role": "user", "content": "-"},
            {"role": "assistant", "content": PLACEHOLDER},
            {"role": "user", "content": user_text},
        ]
        text = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
        if PLACEHOLDER not in text:
            raise ValueError(
                "this chat template rewrites assistant messages; agent.rows=episode needs one that keeps them"
            )
        after = text.split(PLACEHOLDER, 1)[1]
        if self.ended and tokenizer.eos_token and after.startswith(tokenizer.eos_token):
            after = after[len(tokenizer.eos_token) :]  # the sampled answer already ends with it
        new = tokenizer(after, add_special_tokens=False)["input_ids"]
        self.ids.extend(new)
        return new

    def add_answer(self, ids: list[int], log_probs: list[float], ended: bool) -> None:
        self.answers.append((len(self.ids), len(self.ids) + len(ids)))
        self.ids.extend(ids)
        self.log_probs.extend(log_probs)
        self.ended = ended


def _encode(tokenizer, conversation: list[dict[str, str]]) -> list[int]:
    text = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
    return tokenizer(text, add_special_tokens=False)["input_ids"]
