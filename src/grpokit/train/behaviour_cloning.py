"""Behaviour cloning from an environment's expert: a supervised warm start before agent RL.

A small model (SmolLM2-135M) almost never writes a well-formed ``<action>`` answer on its own, so every reward,
advantage and gradient of agent RL is zero. A few supervised steps on the expert's actions (``info["expert_action"]``:
a step on a shortest known path), written in the answer format the prompt asks for, give RL a policy that acts —
the usual SFT-then-RL recipe. The loss is the token-mean negative log-likelihood of the expert answers.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from grpokit.agent.conversation import EpisodeTokens
from grpokit.agent.manager import Answer, EnvPool, Episode, Turn, run_episodes, step_rows
from grpokit.agent.prompts import expert_answer
from grpokit.models import Precision
from grpokit.rollout import encode_prompts, token_log_probs
from grpokit.train.trainer import TrainBatch


def expert_policy(prompt_style: str = "full") -> Callable[[list[Turn]], list[Answer]]:
    """A policy answering every turn with the environment's expert action, in ``prompt_style``'s format."""

    def answer(turns: list[Turn]) -> list[Answer]:
        if any(turn.expert_action is None for turn in turns):
            raise ValueError(
                "behaviour cloning needs the environment's info['expert_action'] (ALFWorld: expert=observed or planner)"
            )
        return [Answer(expert_answer(turn.expert_action, prompt_style)) for turn in turns]

    return answer


def expert_batch(tokenizer, conversations: list[list[dict[str, str]]], answers: list[str]) -> TrainBatch:
    """Prompts (chat-templated as in rollouts) and expert answers ending in the end-of-sequence token."""
    prompt_ids, prompt_mask = encode_prompts(tokenizer, conversations)
    prompts = [ids[mask.bool()] for ids, mask in zip(prompt_ids, prompt_mask, strict=True)]
    responses = [
        torch.tensor(tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id])
        for text in answers
    ]
    zeros = [torch.zeros(len(r)) for r in responses]
    return TrainBatch.from_sequences(prompts, responses, zeros, torch.zeros(len(prompts)), tokenizer.pad_token_id)


def chat_batch(chats: list[EpisodeTokens], answer_advantages: list[list[float]], pad: int) -> TrainBatch:
    """One row per whole-episode chat, its answers trained, each with its own advantage."""
    rows = [chat.row(advantages) for chat, advantages in zip(chats, answer_advantages, strict=True)]
    prompts, responses, trained, log_probs, token_advantages = (list(part) for part in zip(*rows, strict=True))
    return TrainBatch.from_sequences(prompts, responses, log_probs, token_advantages, pad, trained=trained)


def expert_episode_batch(tokenizer, episodes: list[Episode]) -> TrainBatch:
    """One row per expert episode: its whole chat (each turn's prompt holds the chat before it), answers trained."""
    chats = [
        EpisodeTokens.from_texts(
            tokenizer, [*e.records[-1].prompt, {"role": "assistant", "content": e.records[-1].answer.text}]
        )
        for e in episodes
    ]
    return chat_batch(chats, [[0.0] * len(chat.answers) for chat in chats], tokenizer.pad_token_id)


def clone_expert(
    model,
    tokenizer,
    envs: EnvPool,
    seeds: Callable[[int], list[int]],
    *,
    steps: int,
    lr: float,
    max_turns: int | None,
    history_length: int,
    token_budget: int,
    precision: Precision,
    prompt_style: str = "full",
    rows: str = "step",
    report: Callable[[int, float], None] | None = None,
) -> list[float]:
    """``steps`` AdamW steps, each on the expert episodes of ``seeds(step)``; returns the loss of every step.

    ``rows`` as in RL (``agent.rows``): a row per expert step, or per expert episode (its whole chat, every answer
    trained), so that the clone learns the prompts RL will show it.

    ``report(step, loss)`` is called after every step (progress output). The forward passes run in ``precision``;
    the weights and AdamW state stay as loaded (float32, see ``grpokit.models.Precision``).
    """
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    losses = []
    for step in range(steps):
        episodes = run_episodes(
            envs,
            seeds(step),
            1,
            expert_policy(prompt_style),
            max_turns=max_turns,
            history_length=history_length,
            prompt_style=prompt_style,
            rows=rows,
        )
        steps_played = step_rows(episodes)
        if not steps_played:
            continue
        if rows == "episode":
            batch = expert_episode_batch(tokenizer, [e for e in episodes if e.records])
        else:
            batch = expert_batch(tokenizer, [r.prompt for r in steps_played], [r.answer.text for r in steps_played])
        tokens = batch.response_mask.sum().item()
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for micro in batch.micro_batches(torch.arange(len(batch)), token_budget):
            sub = batch.select(micro, precision.device)
            with precision.autocast():
                log_probs, _ = token_log_probs(
                    model, sub.input_ids, sub.attention_mask, sub.response_length, scored=sub.response_mask
                )
            loss = -(log_probs * sub.response_mask).sum() / tokens
            loss.backward()
            total += loss.item()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        optimizer.step()
        losses.append(total)
        if report is not None:
            report(step + 1, total)
    optimizer.zero_grad(set_to_none=True)
    return losses
