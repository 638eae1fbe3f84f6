"""What an agent turn costs on this machine, by prompt style: tokens, generation and update seconds, side by side.

    .venv/bin/python benchmarks/agent_turn_cost.py [--tasks 4] [--batch 16]

The observed expert plays ``--tasks`` generated pick-and-place games in whole floor plans without distractor objects
(20 turns, history 2; the CPU preset now cuts rooms to 4 receptacles, which shortens both styles' action lists); each
prompt style turns the same steps into prompts and expert answers. Then SmolLM2-135M with rank-16
LoRA, as in the CPU preset: **generation**: the policy answers every step's prompt, ``--batch`` prompts at a time
(as many environments are active together in an RL step of 4 tasks x 4 episodes) at temperature 1;
**update**: one forward and backward pass over every step's prompt and expert answer (what a policy update over
those rows costs). Printed per 100 agent steps, the unit from which a run's time follows (an RL step of 16
episodes took 319 agent steps in whole rooms with 20 turns, 124-159 with the CPU preset's 4 receptacles and 10 turns).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from grpokit.agent.manager import EnvPool, run_episodes, step_rows
from grpokit.agent.prompts import PROMPT_STYLES
from grpokit.envs import make
from grpokit.models import LoraSettings, load_policy
from grpokit.rollout import SamplingParams, generate, token_log_probs
from grpokit.train.behaviour_cloning import expert_batch, expert_policy

MAX_NEW_TOKENS = {"full": 48, "compact": 24}


def measure(style: str, model, tokenizer, envs: EnvPool, seeds: list[int], batch: int) -> dict[str, float]:
    episodes = run_episodes(envs, seeds, 1, expert_policy(style), history_length=2, prompt_style=style)
    rows = step_rows(episodes)
    prompts = [row.prompt for row in rows]
    train = expert_batch(tokenizer, prompts, [row.answer.text for row in rows])
    prompt_tokens = train.attention_mask.sum(1) - train.response_mask.sum(1)

    generator = torch.Generator().manual_seed(0)
    started = time.perf_counter()
    with torch.no_grad():
        rollout = generate(
            model,
            tokenizer,
            prompts,
            SamplingParams(1.0, 1.0, MAX_NEW_TOKENS[style]),
            generator=generator,
            batch_size=batch,
        )
    generation_s = time.perf_counter() - started

    started = time.perf_counter()
    for micro in train.micro_batches(torch.arange(len(train)), 8192):
        sub = train.select(micro, torch.device("cpu"))
        log_probs, _ = token_log_probs(model, sub.input_ids, sub.attention_mask, sub.response_length)
        (-(log_probs * sub.response_mask).sum()).backward()
    update_s = time.perf_counter() - started
    model.zero_grad(set_to_none=True)
    per_100 = 100 / len(rows)
    return {
        "agent steps": len(rows),
        "prompt tokens": statistics.mean(prompt_tokens.tolist()),
        "answer tokens (expert)": statistics.mean(train.response_mask.sum(1).tolist()),
        "answer tokens (sampled)": statistics.mean(rollout.response_mask.sum(1).tolist()),
        "generation s / 100 steps": generation_s * per_100,
        "update s / 100 steps": update_s * per_100,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    model, tokenizer = load_policy("smollm2-135m-instruct", lora=LoraSettings(r=16))
    seeds = [20_000_000 + i for i in range(args.tasks)]
    envs = EnvPool(  # the CPU preset's training games, played by the observed expert
        lambda: make(
            "alfworld",
            split="train",
            task_types=["pick_and_place_simple"],
            distractor_types=0,
            max_turns=20,
            expert="observed",
        )
    )
    results = {style: measure(style, model, tokenizer, envs, seeds, args.batch) for style in PROMPT_STYLES}
    print(f"{'':28}{'full':>10}{'compact':>10}{'ratio':>8}")
    for key in results["full"]:
        full, compact = results["full"][key], results["compact"][key]
        print(f"{key:28}{full:>10.1f}{compact:>10.1f}{full / compact:>8.2f}")
    print(f"threads: {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
