"""Agent training end to end on the tiny model in a toy environment: every credit estimator, resume, evaluating a
run's checkpoint again."""

import json
import math

import pytest
import torch

from grpokit.agent.manager import Answer
from grpokit.agent.prompts import expert_answer
from grpokit.config import UserError, load_config
from grpokit.core.credit import episode_balance_weights
from grpokit.envs import ENVS
from grpokit.train import agent_trainer
from grpokit.train.agent_trainer import EVAL_EPISODES_FILE, TRAIN_EPISODES_FILE, AgentTrainer
from grpokit.train.factory import build_trainer, evaluate_run, resume_trainer
from grpokit.train.logger import read_metrics
from grpokit.train.trainer import Trainer
from tests.helpers import ParityRoom, run_metrics, tiny_agent_config


def parameters(model):
    return torch.cat([p.detach().flatten().float() for p in model.parameters()])


@pytest.mark.parametrize(
    ("credit", "params"),
    [("grpo", "{}"), ("gigpo", "{}"), ("proxmo", "{variant: paper}"), ("proxmo", "{variant: official}")],
)
def test_agent_training_runs_with_each_credit_estimator(tmp_path, credit, params):
    trainer = build_trainer(
        tiny_agent_config(tmp_path, f"agent.credit={credit}", f"agent.credit_params={params}", "steps=2"), quiet=True
    )
    assert isinstance(trainer, AgentTrainer)
    before = parameters(trainer.model)
    summary = trainer.train()
    rows = [r for r in read_metrics(tmp_path) if "agent/rows" in r]
    assert len(rows) == 2
    for row in rows:
        assert row["agent/rows"] == 2 * 3 * 2  # tasks × group × turns
        assert 0 <= row["agent/success"] <= 1 and row["agent/episode_length"] == 2
        assert all(v == v for v in row.values() if isinstance(v, float))
        if credit in ("grpo", "gigpo"):  # both centre over the group's rows, so the row mean is 0
            assert abs(row["agent/advantage_row_mean"]) < 1e-5
    assert not torch.equal(before, parameters(trainer.model))
    assert summary["problems"] == 2
    assert summary["baseline_expert"] == 1.0 and 0 <= summary["baseline_random"] <= 1  # played on the held-out games
    assert json.loads((tmp_path / "eval.json").read_text())["baseline_expert"] == 1.0


class ShortParityRoom(ParityRoom):
    """The parity room, but an odd action ends the episode: episodes of one or two steps."""

    name = "test-short-parity-room"

    def step(self, action: str):
        observation, reward, done, info = super().step(action)
        return observation, reward, done or reward == 0, info


if ShortParityRoom.name not in ENVS:
    ENVS.register(ShortParityRoom.name)(ShortParityRoom)


def test_balanced_episodes_scale_each_step_advantage_by_its_episode_length(tmp_path, monkeypatch):
    rows, advantages = {}, {}  # per value of the option: each step's trajectory id, the advantages the update got
    original_play = AgentTrainer._play

    def record_rows(self, *args):
        episodes = original_play(self, *args)
        rows[self.config.agent.balance_episodes] = [e.traj_id for e in episodes for _ in e.records]
        return episodes

    def record_update(self, batch):
        advantages[self.config.agent.balance_episodes] = batch.advantages.double()
        return {}

    monkeypatch.setattr(AgentTrainer, "_play", record_rows)
    monkeypatch.setattr(Trainer, "update", record_update)
    for balance in (False, True):
        config = tiny_agent_config(
            tmp_path / str(balance), f"agent.env={ShortParityRoom.name}", f"agent.balance_episodes={balance}"
        )
        build_trainer(config, quiet=True).train_step()
    played = rows[False]
    assert rows[True] == played and {played.count(t) for t in played} == {1, 2}  # the same episodes, 1 and 2 steps
    assert advantages[True].tolist() == pytest.approx((advantages[False] * episode_balance_weights(played)).tolist())
    assert not torch.allclose(advantages[True], advantages[False])


class SizedParityRoom(ParityRoom):
    """The parity room with episodes of ``turns`` steps."""

    name = "test-sized-parity-room"

    def __init__(self, *, split: str = "train", turns: int = 2):
        super().__init__(split=split)
        self.max_turns = turns

    def step(self, action: str):
        observation, reward, _, info = super().step(action)
        return observation, reward, self.turn >= self.max_turns, info


if SizedParityRoom.name not in ENVS:
    ENVS.register(SizedParityRoom.name)(SizedParityRoom)


def test_curriculum_stages_play_their_environment_parameters_first(tmp_path):
    stages = "[{steps: 1, env_params: {turns: 1}}, {steps: 2, env_params: {turns: 3}}]"
    config = tiny_agent_config(tmp_path, f"agent.env={SizedParityRoom.name}", f"agent.curriculum={stages}", "steps=4")
    build_trainer(config, quiet=True).train()
    lengths = [row["agent/episode_length"] for row in read_metrics(tmp_path) if "agent/rows" in row]
    assert lengths == [1, 3, 3, 2]  # the stages in order, then agent.env_params (the room's default, 2 turns)


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        ("[{steps: 1}]", r"agent.curriculum\[0\] must be a mapping with the keys steps and env_params"),
        ("[{steps: 0, env_params: {}}]", r"agent.curriculum\[0\].steps must be >= 1, got 0"),
        ("[{steps: true, env_params: {}}]", r"agent.curriculum\[0\].steps: expected int, got True"),
        ("[{steps: 1, env_params: 3}]", r"agent.curriculum\[0\].env_params: expected a mapping, got 3"),
        ("[{steps: 1, env_params: {rooms: 3}}]", r"agent.curriculum\[0\].env_params: .* unknown parameter\(s\) rooms"),
    ],
)
def test_a_bad_curriculum_stage_is_named(tmp_path, stages, message):
    with pytest.raises(UserError, match=message):
        build_trainer(tiny_agent_config(tmp_path, f"agent.env={SizedParityRoom.name}", f"agent.curriculum={stages}"))


def test_each_training_episode_is_logged_with_the_advantages_its_turns_were_trained_on(tmp_path, monkeypatch):
    trained = []

    def record_update(self, batch):
        trained.append(batch.advantages.tolist())
        return {}

    monkeypatch.setattr(Trainer, "update", record_update)
    build_trainer(tiny_agent_config(tmp_path, "steps=2", "agent.credit=proxmo"), quiet=True).train()
    episodes = [json.loads(line) for line in (tmp_path / TRAIN_EPISODES_FILE).read_text().splitlines()]
    assert [e["step"] for e in episodes] == [1] * 6 + [2] * 6  # 2 tasks × 3 episodes a step
    for step in (1, 2):
        logged = [t["advantage"] for e in episodes if e["step"] == step for t in e["turns"]]
        assert logged == pytest.approx(trained[step - 1], abs=1e-4)
    assert any(a != 0 for a in logged)
    assert all(
        e["length"] == len(e["turns"]) == 2 and {"observation", "action"} <= e["turns"][0].keys() for e in episodes
    )


def test_a_resumed_agent_run_equals_the_uninterrupted_run(tmp_path, monkeypatch):
    overrides = ["steps=3", "checkpoint_every=1", "eval.every=1", "agent.credit=proxmo"]
    build_trainer(tiny_agent_config(tmp_path / "full", *overrides), quiet=True).train()

    original_save = AgentTrainer.save

    def crash_saving_step_two(self):  # after step 2's evaluation was logged: it must not be kept twice
        if self.step == 2:
            raise KeyboardInterrupt("killed")
        return original_save(self)

    monkeypatch.setattr(AgentTrainer, "save", crash_saving_step_two)
    with pytest.raises(KeyboardInterrupt):
        build_trainer(tiny_agent_config(tmp_path / "cut", *overrides), quiet=True).train()
    monkeypatch.setattr(AgentTrainer, "save", original_save)
    resumed = resume_trainer(tmp_path / "cut", quiet=True)
    assert isinstance(resumed, AgentTrainer) and resumed.step == 1
    resumed.train()

    assert run_metrics(tmp_path / "cut") == run_metrics(tmp_path / "full")
    for name in ("eval.json", EVAL_EPISODES_FILE, TRAIN_EPISODES_FILE):
        assert (tmp_path / "cut" / name).read_text() == (tmp_path / "full" / name).read_text()


def test_success_at_k_counts_a_task_won_by_any_of_its_samples(tmp_path):
    trainer = build_trainer(tiny_agent_config(tmp_path, "eval.samples=3"), quiet=True)

    def every_third_turn_says_aa(params, generator, batch_size):  # of each batch of turns, answers 0, 3, ... are even
        return lambda turns: [Answer(expert_answer("aa" if i % 3 == 0 else "b")) for i in range(len(turns))]

    trainer._policy = every_third_turn_says_aa
    result = trainer.run_eval()
    assert result.correct == [1.0, 0.0]  # greedy: one episode per task, turns 0 and 1 of each batch
    assert result.k == 3
    assert result.avg_at_k == pytest.approx(2 / 6)  # sampled: the first of each task's three episodes wins
    assert result.sampled == pytest.approx([1 / 3, 1 / 3])  # per task, for the paired avg@k gain
    assert result.pass_at_k == 1.0
    assert result.metrics()["eval/pass@3"] == 1.0
    games = [json.loads(line) for line in (tmp_path / "eval_episodes.jsonl").read_text().splitlines()]
    assert [g["won"] for g in games] == [True, False]  # the greedy games only, not the sampled ones
    assert [[t["action"] for t in g["turns"]] for g in games] == [["aa", "aa"], ["b", "b"]]
    assert games[1]["turns"][0]["answer"] == expert_answer("b") and games[1]["turns"][0]["observation"]


def test_agent_evaluation_counts_answers_cut_at_the_token_limit(tmp_path):
    trainer = build_trainer(tiny_agent_config(tmp_path, "eval.max_new_tokens=1"), quiet=True)
    result = trainer.run_eval()  # one token a turn: the tiny model's answers never end
    assert result.truncated_rate == 1.0 and math.isnan(result.untruncated_accuracy)

    def first_task_wins_cut_off(params, generator, batch_size):  # each batch of turns: task 0, then task 1
        return lambda turns: [
            Answer(expert_answer("aa" if i == 0 else "b"), truncated=i == 0) for i in range(len(turns))
        ]

    trainer._policy = first_task_wins_cut_off
    result = trainer.run_eval()
    assert result.correct == [1.0, 0.0] and result.truncated_rate == 0.5
    assert result.untruncated_accuracy == 0.0  # only the second game ended every answer, and it lost


def test_agent_turns_are_generated_eval_batch_size_at_a_time_in_evaluation(tmp_path, monkeypatch):
    config = tiny_agent_config(tmp_path, "steps=1", "generation_batch_size=5", "eval.batch_size=1")
    trainer = build_trainer(config, quiet=True)
    sizes = []
    generate = agent_trainer.generate

    def recording_generate(*args, batch_size, **kwargs):
        sizes.append(batch_size)
        return generate(*args, batch_size=batch_size, **kwargs)

    monkeypatch.setattr(agent_trainer, "generate", recording_generate)
    trainer.run_eval()
    assert set(sizes) == {1}
    sizes.clear()
    trainer.train_step()
    assert set(sizes) == {5}


def test_an_unknown_environment_or_credit_is_named(tmp_path):
    with pytest.raises(ValueError, match="unknown environment 'mars'"):
        build_trainer(tiny_agent_config(tmp_path, "agent.env=mars"), quiet=True)
    with pytest.raises(ValueError, match="unknown credit estimator 'ppo'"):
        build_trainer(tiny_agent_config(tmp_path, "agent.credit=ppo"), quiet=True)


@pytest.mark.slow
def test_tiny_model_trains_in_webshop(tmp_path):
    config = tiny_agent_config(
        tmp_path,
        "agent.env=webshop",
        "agent.env_params={num_products: 60, num_test_goals: 10}",
        "agent.max_turns=2",
        "agent.tasks_per_step=1",
        "group_size=2",
        "eval.problems=1",
        "steps=1",
        "micro_batch_tokens=2048",
    )
    summary = build_trainer(config, quiet=True).train()
    row = next(r for r in read_metrics(tmp_path) if "agent/rows" in r)
    assert row["agent/rows"] == 4 and "agent/score" in row and "agent/invalid_action_rate" in row
    assert summary["steps"] == 1


def test_a_runs_checkpoint_evaluated_again_plays_the_runs_final_games(tmp_path):
    run = tmp_path / "run"
    overrides = ["steps=1", "eval.problems=4", "agent.warm_start_steps=4", "agent.warm_start_lr=1e-2"]
    build_trainer(tiny_agent_config(run, *overrides, "keep_checkpoints=2"), quiet=True).train()
    games = [json.loads(line) for line in (run / EVAL_EPISODES_FILE).read_text().splitlines()]
    base, cloned, after = games[:4], games[4:8], games[-4:]
    assert [g["step"] for g in after] == [1] * 4
    assert [g["turns"] for g in base] != [g["turns"] for g in after]  # the checkpoint plays unlike the base model

    result, folder = evaluate_run(run)
    again = [json.loads(line) for line in (folder / EVAL_EPISODES_FILE).read_text().splitlines()]
    assert folder == run / "evals" / "step_000001-test"
    assert again == after
    assert result.accuracy == json.loads((run / "eval.json").read_text())["accuracy_after"]

    result, folder = evaluate_run(run, ["eval.split=valid", "eval.problems=3"])
    assert folder.name == "step_000001-valid" and len(result.correct) == 3
    assert load_config(folder / "config.yaml").eval.split == "valid"

    result, folder = evaluate_run(run, step=0)  # the cloned model, kept as the starting point
    assert [json.loads(line) for line in (folder / EVAL_EPISODES_FILE).read_text().splitlines()] == cloned
    assert result.accuracy == json.loads((run / "eval.json").read_text())["accuracy_before"]
    with pytest.raises(UserError, match=r"keeps no checkpoint of step 5; it keeps steps \[0, 1\]"):
        evaluate_run(run, step=5)


def test_a_run_killed_in_its_first_rl_step_resumes_after_cloning(tmp_path, monkeypatch):
    overrides = ["steps=2", "agent.warm_start_steps=2", "agent.warm_start_lr=1e-2"]
    build_trainer(tiny_agent_config(tmp_path / "full", *overrides), quiet=True).train()

    def killed(self):
        raise KeyboardInterrupt("killed")

    with monkeypatch.context() as patch:
        patch.setattr(AgentTrainer, "train_step", killed)
        with pytest.raises(KeyboardInterrupt):
            build_trainer(tiny_agent_config(tmp_path / "cut", *overrides), quiet=True).train()
    resumed = resume_trainer(tmp_path / "cut", quiet=True)
    monkeypatch.setattr(AgentTrainer, "warm_start", killed)  # cloning must not run again
    resumed.train()

    assert run_metrics(tmp_path / "cut") == run_metrics(tmp_path / "full")
    for name in ("eval.json", "warm_start.json", EVAL_EPISODES_FILE, TRAIN_EPISODES_FILE):
        assert (tmp_path / "cut" / name).read_text() == (tmp_path / "full" / name).read_text()


def test_eval_split_is_the_environments_split_even_with_eval_params(tmp_path):
    trainer = build_trainer(tiny_agent_config(tmp_path, "eval.params={}", "eval.split=valid"), quiet=True)
    assert trainer.eval_envs.get(1)[0].split == "valid"


def test_every_seed_of_a_preset_plays_the_same_held_out_games_and_none_of_its_training_games(tmp_path):
    trainers = [build_trainer(tiny_agent_config(tmp_path / f"s{seed}", f"seed={seed}"), quiet=True) for seed in (0, 3)]
    assert trainers[0].eval_seeds == trainers[1].eval_seeds
    assert len(set(trainers[0].eval_seeds)) == trainers[0].config.eval.problems
    for trainer in trainers:
        training = trainer._task_seeds(trainer.config.seed * 1_000_003, 1, 1000)
        assert not set(training) & set(trainer.eval_seeds)


# ------------------------------------------------------------------------------------------- whole-episode rows
def test_episode_rows_train_each_answer_with_its_own_steps_advantage(tmp_path, monkeypatch):
    trained = []

    def record_update(self, batch):
        trained.append(batch)
        return {}

    monkeypatch.setattr(Trainer, "update", record_update)
    config = tiny_agent_config(tmp_path, "steps=1", "agent.credit=proxmo", "agent.rows=episode")
    trainer = build_trainer(config, quiet=True)
    trainer.train()
    (batch,) = trained
    episodes = [json.loads(line) for line in (tmp_path / TRAIN_EPISODES_FILE).read_text().splitlines()]
    assert len(batch) == len(episodes) == 2 * 3  # one row per episode
    tokenizer = trainer.tokenizer
    for row, episode in enumerate(episodes):
        trained_tokens = batch.response_mask[row].bool()
        spans = torch.nonzero(torch.diff(trained_tokens.int(), prepend=torch.tensor([0])) == 1).flatten().tolist()
        assert len(spans) == len(episode["turns"]) == 2  # each answer is a run of trained tokens
        for start, turn in zip(spans, episode["turns"], strict=True):
            end = start
            while end < len(trained_tokens) and trained_tokens[end]:
                end += 1
            assert batch.advantages[row, start:end].tolist() == pytest.approx(
                [turn["advantage"]] * (end - start), abs=1e-4
            )
            response = batch.input_ids[row, -batch.response_length :]
            assert tokenizer.decode(response[start:end], skip_special_tokens=True) == turn["answer"]
        text = tokenizer.decode(batch.input_ids[row][batch.attention_mask[row].bool()])
        assert episode["turns"][1]["observation"] in text  # the observations between the answers: in, untrained
    assert (batch.advantages[batch.response_mask == 0] == 0).all()


def test_episode_rows_clone_and_train_end_to_end(tmp_path):
    config = tiny_agent_config(
        tmp_path, "steps=2", "agent.rows=episode", "agent.warm_start_steps=2", "agent.warm_start_lr=1e-2"
    )
    trainer = build_trainer(config, quiet=True)
    before = parameters(trainer.model)
    summary = trainer.train()
    assert not torch.equal(before, parameters(trainer.model))
    rows = [r for r in read_metrics(tmp_path) if "agent/rows" in r]
    assert len(rows) == 2 and all(math.isfinite(r["loss/policy"]) for r in rows)
    assert all(r["agent/rows"] == 2 * 3 and r["agent/steps"] == 2 * 3 * 2 for r in rows)  # a row per episode
    assert json.loads((tmp_path / "warm_start.json").read_text())["loss"][0] > 0
    assert summary["problems"] == 2
    turns = [json.loads(line)["turns"] for line in (tmp_path / EVAL_EPISODES_FILE).read_text().splitlines()]
    assert all(len(t) == 2 for t in turns)


def test_unknown_rows_are_named(tmp_path):
    with pytest.raises(UserError, match=r"agent\.rows"):
        build_trainer(tiny_agent_config(tmp_path, "agent.rows=turn"), quiet=True)


def test_two_runs_of_a_preset_compare_game_by_game_and_other_games_are_refused(tmp_path, capsys):
    from grpokit.cli import main

    build_trainer(tiny_agent_config(tmp_path / "rl", "steps=1", "eval.problems=4"), quiet=True).train()
    build_trainer(tiny_agent_config(tmp_path / "control", "steps=0", "eval.problems=4"), quiet=True).train()
    assert main(["compare", str(tmp_path / "rl"), str(tmp_path / "control")]) == 0
    record = json.loads(capsys.readouterr().out)
    won = {
        name: [json.loads(line)["won"] for line in (tmp_path / name / EVAL_EPISODES_FILE).read_text().splitlines()][-4:]
        for name in ("rl", "control")
    }
    assert record["games"] == 4
    assert record["accuracy_a"] == sum(won["rl"]) / 4 and record["accuracy_b"] == sum(won["control"]) / 4
    assert record["difference"] == pytest.approx(record["accuracy_a"] - record["accuracy_b"])
    assert record["won_by_a_only"] == sum(a and not b for a, b in zip(won["rl"], won["control"], strict=True))

    build_trainer(tiny_agent_config(tmp_path / "other", "steps=0", "eval.problems=3"), quiet=True).train()
    assert main(["compare", str(tmp_path / "rl"), str(tmp_path / "other")]) == 2
    assert "did not play the same held-out games" in capsys.readouterr().err
    assert main(["compare", str(tmp_path / "rl"), str(tmp_path)]) == 2


@pytest.mark.parametrize("lora", ["model.lora_r=0", "model.lora_r=4"])
def test_the_cloning_control_clones_on_from_rls_start_and_scores_on_rls_games(tmp_path, monkeypatch, lora):
    overrides = ["steps=2", "eval.problems=4", "agent.warm_start_steps=2", "agent.warm_start_lr=1e-2", lora]
    entered = []
    original_clone = AgentTrainer._clone

    def recording_clone(self, steps, first_step=0):
        entered.append((first_step, agent_trainer.trainable_weights(self.model)))
        losses = original_clone(self, steps, first_step)
        assert len(losses) == steps
        return losses

    monkeypatch.setattr(AgentTrainer, "_clone", recording_clone)
    trainer = build_trainer(tiny_agent_config(tmp_path, *overrides, "agent.control_steps=3"), quiet=True)
    summary = trainer.train()

    (_, before_cloning), (control_first_step, control_start) = entered
    assert control_first_step == 2  # the expert episodes after the warm start's: 3 steps of them (above)
    assert not all(torch.equal(control_start[k], before_cloning[k]) for k in control_start)
    assert all(torch.equal(control_start[k], trainer.control_start[k]) for k in control_start)
    final = agent_trainer.trainable_weights(trainer.model)  # RL's model is back in place
    saved = resume_trainer(tmp_path, quiet=True)
    assert all(torch.equal(final[k], agent_trainer.trainable_weights(saved.model)[k]) for k in final)

    rl = [json.loads(line) for line in (tmp_path / EVAL_EPISODES_FILE).read_text().splitlines()][-4:]
    control = [json.loads(line) for line in (tmp_path / agent_trainer.CONTROL_EPISODES_FILE).read_text().splitlines()]
    assert [(g["task"], g["turns"][0]["observation"]) for g in control] == [
        (g["task"], g["turns"][0]["observation"]) for g in rl
    ]
    differences = [float(a["won"]) - float(b["won"]) for a, b in zip(rl, control, strict=True)]
    assert summary["control_steps"] == 3
    assert summary["accuracy_control"] == sum(g["won"] for g in control) / 4
    assert summary["rl_minus_control"] == pytest.approx(sum(differences) / 4)
    assert summary["rl_seconds"] > 0 and summary["control_seconds"] > 0
    assert json.loads((tmp_path / "eval.json").read_text()) == summary


def test_a_run_killed_in_its_cloning_control_plays_the_control_again_on_resume(tmp_path, monkeypatch):
    overrides = ["steps=1", "eval.problems=4", "agent.warm_start_steps=1", "agent.control_steps=2"]
    build_trainer(tiny_agent_config(tmp_path / "full", *overrides), quiet=True).train()
    original_eval = AgentTrainer.run_eval

    def killed_in_the_control(self, problems=None, episodes_file=EVAL_EPISODES_FILE):
        result = original_eval(self, problems, episodes_file)
        if episodes_file == agent_trainer.CONTROL_EPISODES_FILE:
            raise KeyboardInterrupt("killed")
        return result

    with monkeypatch.context() as patch:
        patch.setattr(AgentTrainer, "run_eval", killed_in_the_control)
        with pytest.raises(KeyboardInterrupt):
            build_trainer(tiny_agent_config(tmp_path / "cut", *overrides), quiet=True).train()
    assert not (tmp_path / "cut" / "eval.json").exists()
    resumed = resume_trainer(tmp_path / "cut", quiet=True)
    monkeypatch.setattr(AgentTrainer, "train_step", lambda self: pytest.fail("RL ran again"))
    resumed.train()
    full, cut = (json.loads((tmp_path / run / "eval.json").read_text()) for run in ("full", "cut"))
    assert {k: v for k, v in cut.items() if not k.endswith("_seconds")} == {
        k: v for k, v in full.items() if not k.endswith("_seconds")
    }
    assert run_metrics(tmp_path / "cut") == run_metrics(tmp_path / "full")  # the final evaluation was not played again
    for name in (agent_trainer.CONTROL_EPISODES_FILE, TRAIN_EPISODES_FILE, EVAL_EPISODES_FILE):
        assert (tmp_path / "cut" / name).read_text() == (tmp_path / "full" / name).read_text()


def test_a_checkpoint_without_the_controls_start_is_refused_when_resumed_with_a_control(tmp_path):
    build_trainer(tiny_agent_config(tmp_path, "steps=2"), quiet=True).train()
    config = tmp_path / "config.yaml"
    config.write_text(config.read_text().replace("control_steps: 0", "control_steps: 2"))
    with pytest.raises(UserError, match=r"agent\.control_steps"):
        resume_trainer(tmp_path, quiet=True)
