"""Behaviour cloning from the expert before agent RL (grpokit.train.behaviour_cloning)."""

import json

import pytest
import torch

from grpokit.agent.manager import EnvPool, Turn
from grpokit.agent.projection import project_action
from grpokit.agent.prompts import expert_answer
from grpokit.envs import make
from grpokit.models import Precision, load_policy
from grpokit.rollout import token_log_probs
from grpokit.train import agent_trainer
from grpokit.train.behaviour_cloning import clone_expert, expert_batch, expert_policy
from grpokit.train.factory import build_trainer
from tests.helpers import ParityRoom, tiny_agent_config


def test_the_expert_answer_is_a_valid_answer_for_its_action_in_each_prompt_style():
    assert project_action(expert_answer("go to desk 1")) == ("go to desk 1", True)
    for style in ("compact", "compact_actions"):
        compact = expert_answer("go to desk 1", style)
        assert compact == "<action>go to desk 1</action>"
        assert project_action(compact, think=False) == ("go to desk 1", True)


def test_an_environment_without_an_expert_is_a_clear_error():
    turn = Turn([{"role": "user", "content": "hi"}], "obs", ["look"], "task", expert_action=None)
    with pytest.raises(ValueError, match="expert_action"):
        expert_policy()([turn])


def test_the_batch_trains_on_the_answer_tokens_and_its_end():
    _, tokenizer = load_policy("tiny-random")
    batch = expert_batch(tokenizer, [[{"role": "user", "content": "hello"}]], ["<action>aa</action>"])
    answer = tokenizer("<action>aa</action>", add_special_tokens=False)["input_ids"]
    assert batch.response_mask.sum().item() == len(answer) + 1
    assert batch.input_ids[0, -1].item() == tokenizer.eos_token_id
    assert batch.input_ids[0, -len(answer) - 1 : -1].tolist() == answer


def test_cloning_raises_the_likelihood_of_the_expert_answer():
    model, tokenizer = load_policy("tiny-random")
    envs = EnvPool(lambda: make(ParityRoom.name))
    probe = expert_batch(tokenizer, [[{"role": "user", "content": "x"}]], [expert_answer("aa")])

    def expert_log_likelihood():
        with torch.no_grad():
            log_probs, _ = token_log_probs(model, probe.input_ids, probe.attention_mask, probe.response_length)
        return (log_probs * probe.response_mask).sum().item()

    before = expert_log_likelihood()
    losses = clone_expert(
        model,
        tokenizer,
        envs,
        lambda step: [step, step + 100],
        steps=8,
        lr=3e-3,
        max_turns=None,
        history_length=1,
        token_budget=4096,
        precision=Precision.resolve("float32", "cpu"),
    )
    assert len(losses) == 8 and losses[-1] < losses[0] - 1.0
    assert expert_log_likelihood() > before


def test_a_warm_started_agent_run_records_its_cloning_and_moves_the_reference(tmp_path):
    config = tiny_agent_config(
        tmp_path, "agent.warm_start_steps=3", "agent.warm_start_lr=3e-3", "steps=1", "kl_coef=0.01"
    )
    trainer = build_trainer(config, quiet=True)
    initial = [p.detach().clone() for p in trainer.reference.parameters()]
    trainer.train()
    losses = json.loads((tmp_path / "warm_start.json").read_text())["loss"]
    assert len(losses) == 3 and losses[-1] < losses[0]
    moved = [not torch.equal(a, b) for a, b in zip(initial, trainer.reference.parameters(), strict=True)]
    assert any(moved)


def test_eval_json_records_the_base_the_cloned_and_the_trained_model(tmp_path):
    config = tiny_agent_config(tmp_path, "agent.warm_start_steps=3", "agent.warm_start_lr=3e-3", "steps=1")
    trainer = build_trainer(config, quiet=True)
    initial = [p.detach().clone() for p in trainer.model.parameters()]
    evaluated, weights_seen = [], []
    run_eval = trainer.run_eval

    def recording_eval(problems=None):
        weights_seen.append([p.detach().clone() for p in trainer.model.parameters()])
        evaluated.append(run_eval(problems))
        return evaluated[-1]

    trainer.run_eval = recording_eval
    summary = trainer.train()
    base, cloned, trained = evaluated
    untouched = [all(torch.equal(a, b) for a, b in zip(initial, seen, strict=True)) for seen in weights_seen]
    assert untouched == [True, False, False]  # the base model was evaluated before cloning changed it
    assert summary["accuracy_base"] == base.accuracy and summary["accuracy_base_se"] == base.accuracy_se
    assert summary["accuracy_before"] == cloned.accuracy and summary["accuracy_after"] == trained.accuracy
    assert json.loads((tmp_path / "eval.json").read_text()) == summary
    games = [json.loads(line) for line in (tmp_path / "eval_episodes.jsonl").read_text().splitlines()]
    assert [g["step"] for g in games] == [0, 0, 0, 0, 1, 1]  # base and cloned at step 0, then trained, 2 games each
    assert [float(g["won"]) for g in games] == base.correct + cloned.correct + trained.correct


def test_the_base_model_plays_the_first_eval_base_problems_games(tmp_path):
    config = tiny_agent_config(
        tmp_path, "agent.warm_start_steps=1", "steps=1", "eval.problems=3", "eval.base_problems=1"
    )
    summary = build_trainer(config, quiet=True).train()
    games = [json.loads(line) for line in (tmp_path / "eval_episodes.jsonl").read_text().splitlines()]
    assert [g["step"] for g in games] == [0, 0, 0, 0, 1, 1, 1]  # 1 base game, then 3 cloned and 3 trained
    rooms = [g["turns"][0]["observation"] for g in games]  # the toy room names its seed
    assert rooms[0] == rooms[1] != rooms[2]  # the base model played the first held-out game
    assert summary["problems_base"] == 1 and summary["problems"] == 3


def test_cloning_plays_warm_start_tasks_per_step_whatever_rl_plays(tmp_path, monkeypatch):
    config = tiny_agent_config(tmp_path, "agent.warm_start_steps=2", "agent.warm_start_tasks=3", "steps=1")
    trainer = build_trainer(config, quiet=True)
    seen = []

    def recording_clone(model, tokenizer, envs, seeds, **kwargs):
        seen.extend(seeds(step) for step in range(kwargs["steps"]))
        return [0.0] * kwargs["steps"]

    monkeypatch.setattr(agent_trainer, "clone_expert", recording_clone)
    trainer.warm_start()
    assert [len(s) for s in seen] == [3, 3] and len(set(seen[0] + seen[1])) == 6  # RL plays 2 tasks a step
