"""The trainer end to end on the tiny model: every loss with DynaMO on and off, resume, faults, checkpoints."""

import json

import pytest
import torch

from grpokit.evaluate import standard_error
from grpokit.train.checkpoint import latest_checkpoint
from grpokit.train.factory import build_trainer, resume_trainer
from grpokit.train.logger import read_metrics
from grpokit.train.trainer import Trainer, TrainingDivergedError
from tests.helpers import run_metrics, tiny_agent_config, tiny_config


def parameters(model):
    return torch.cat([p.detach().flatten().float() for p in model.parameters()])


@pytest.mark.parametrize("loss", ["ppo", "dgpo", "cispo", "gppo"])
@pytest.mark.parametrize("dynamo", [False, True])
def test_each_loss_trains_with_and_without_dynamo(tmp_path, loss, dynamo):
    overrides = [f"loss={loss}", "steps=2", "eval.problems=4"]
    if dynamo:
        overrides += ["allocation.enabled=true", "modulation.enabled=true", "allocation.n_min=2", "allocation.n_max=6"]
    trainer = Trainer(tiny_config(tmp_path, *overrides), quiet=True)
    before = parameters(trainer.model)
    summary = trainer.train()
    rows = [r for r in read_metrics(tmp_path) if "reward/mean" in r]
    assert len(rows) == 2
    for row in rows:
        numbers = [v for v in row.values() if isinstance(v, float)]
        assert all(v == v and abs(v) != float("inf") for v in numbers)  # finite
        assert row["reward/mixed_groups"] > 0.0
        assert sum(row["allocation/counts"]) == 16
    assert not torch.equal(before, parameters(trainer.model))
    assert summary["problems"] == 4


def test_allocation_repeats_each_prompt_and_records_every_rollout(tmp_path):
    trainer = Trainer(
        tiny_config(tmp_path, "steps=4", "allocation.enabled=true", "allocation.n_min=1", "allocation.n_max=8"),
        quiet=True,
    )
    counts, steps = [], []
    for _ in range(4):  # 8 training problems, 4 per step: priorities refresh after every second step
        steps.append(trainer.train_step())
        counts.append(steps[-1]["allocation/counts"])
    assert all(sum(c) == 16 for c in counts)
    kinds = ("new", "mastered", "mixed", "unsolved")
    for step in steps:  # every rollout is spent on a prompt of one kind; nothing beats the optimum
        assert sum(step[f"allocation/rollouts_{kind}"] for kind in kinds) == pytest.approx(1.0)
        assert step["allocation/bernoulli_variance_optimal"] <= step["allocation/bernoulli_variance"] + 1e-12
    assert steps[0]["allocation/rollouts_new"] == 1.0 and steps[3]["allocation/rollouts_new"] == 0.0
    total = sum(trainer.stats.sample_count(p.id) for p in trainer.train_problems)
    assert total == 64
    assert all(trainer.stats.priority(p.id) != -1.0 for p in trainer.train_problems)


def test_resumed_run_equals_the_uninterrupted_run(tmp_path, monkeypatch):
    overrides = ["steps=4", "checkpoint_every=2", "eval.problems=4"]
    Trainer(tiny_config(tmp_path / "full", *overrides), quiet=True).train()

    original_step = Trainer.train_step

    def crash_after_checkpoint(self):
        if self.step == 3:
            raise KeyboardInterrupt("killed")
        return original_step(self)

    monkeypatch.setattr(Trainer, "train_step", crash_after_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        Trainer(tiny_config(tmp_path / "cut", *overrides), quiet=True).train()
    assert latest_checkpoint(tmp_path / "cut").name == "step_000002"
    monkeypatch.setattr(Trainer, "train_step", original_step)
    resume_trainer(tmp_path / "cut", quiet=True).train()

    assert run_metrics(tmp_path / "cut") == run_metrics(tmp_path / "full")
    full = json.loads((tmp_path / "full" / "eval.json").read_text())
    assert json.loads((tmp_path / "cut" / "eval.json").read_text()) == full


def test_a_non_finite_update_is_skipped_and_too_many_stop_the_run(tmp_path, monkeypatch):
    trainer = Trainer(tiny_config(tmp_path, "steps=3", "max_bad_steps=3"), quiet=True)
    original = Trainer._micro_batch_loss
    poisoned = {"left": 1}

    def sometimes_nan(self, *args):
        loss, metrics = original(self, *args)
        if poisoned["left"] > 0:
            poisoned["left"] -= 1
            return loss * float("nan"), metrics
        return loss, metrics

    monkeypatch.setattr(Trainer, "_micro_batch_loss", sometimes_nan)
    before = parameters(trainer.model)
    metrics = trainer.train_step()
    assert metrics["train/skipped_updates"] == 1
    assert trainer.bad_updates_in_row == 0  # the next update was good
    assert not torch.equal(before, parameters(trainer.model))

    poisoned["left"] = 10**6
    with pytest.raises(TrainingDivergedError, match="3 non-finite updates in a row"):
        for _ in range(3):
            trainer.train_step()


def test_a_crash_while_saving_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    trainer = Trainer(tiny_config(tmp_path, "steps=1"), quiet=True)
    trainer.train_step()
    first = trainer.save()
    trainer.train_step()

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("grpokit.train.checkpoint.torch.save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        trainer.save()
    assert latest_checkpoint(tmp_path) == first
    assert [p.name for p in (tmp_path / "checkpoints").iterdir() if p.is_dir()] == [first.name]


def test_kl_to_reference_and_entropy_bonus_are_logged(tmp_path):
    trainer = Trainer(
        tiny_config(tmp_path, "kl_coef=0.1", "entropy_coef=0.01", "recompute_old_log_probs=false"), quiet=True
    )
    metrics = trainer.train_step()
    assert metrics["train/kl_ref"] >= 0
    assert metrics["train/entropy"] > 0


def test_truncated_reward_replaces_the_score_of_responses_cut_off_at_the_limit(tmp_path):
    scored = Trainer(tiny_config(tmp_path / "scored", "max_new_tokens=2"), quiet=True).train_step()
    replaced = Trainer(
        tiny_config(tmp_path / "replaced", "max_new_tokens=2", "truncated_reward=-0.5"), quiet=True
    ).train_step()
    assert scored["response/truncated_rate"] == replaced["response/truncated_rate"] == 1.0
    assert scored["reward/mean"] > 0  # the parity task pays for half of the responses
    assert replaced["reward/mean"] == -0.5
    assert replaced["reward/accuracy"] == scored["reward/accuracy"]  # correctness is still what the task says


@pytest.mark.parametrize("make_config", [tiny_config, tiny_agent_config], ids=["single-turn", "agent"])
def test_eval_json_records_avg_at_k_before_and_after_with_its_paired_gain(tmp_path, make_config):
    trainer = build_trainer(make_config(tmp_path, "eval.samples=3", "eval.problems=4", "steps=1"), quiet=True)
    evaluated = []
    run_eval = trainer.run_eval
    trainer.run_eval = lambda: evaluated.append(run_eval()) or evaluated[-1]
    summary = trainer.train()
    before, after = evaluated
    assert len(before.sampled) == len(after.sampled) == summary["problems"]
    assert all(share in (0, 1 / 3, 2 / 3, 1) for share in before.sampled + after.sampled)  # k = 3 samples each
    differences = [a - b for a, b in zip(after.sampled, before.sampled, strict=True)]
    assert summary["samples"] == 3
    assert summary["avg_at_k_before"] == pytest.approx(sum(before.sampled) / len(before.sampled))
    assert summary["avg_at_k_after_se"] == pytest.approx(standard_error(after.sampled))
    assert summary["avg_at_k_gain"] == pytest.approx(sum(differences) / len(differences))
    assert summary["avg_at_k_gain_se"] == pytest.approx(standard_error(differences))
    assert summary["pass_at_k_before"] == before.pass_at_k
    assert json.loads((tmp_path / "eval.json").read_text()) == summary
