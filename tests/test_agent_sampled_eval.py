"""benchmarks/agent_sampled_eval.py: a finished cloned agent run re-evaluated with samples matches its eval.json."""

import json

import pytest

from grpokit.train.factory import build_trainer
from tests.helpers import load_benchmark, tiny_agent_config

agent_sampled_eval = load_benchmark("agent_sampled_eval")


def test_a_finished_cloned_run_is_cloned_again_and_evaluated_with_samples(tmp_path):
    overrides = ["agent.warm_start_steps=3", "agent.warm_start_lr=3e-3", "steps=1", "eval.problems=8"]
    build_trainer(tiny_agent_config(tmp_path, *overrides, "eval.samples=3"), quiet=True).train()
    recorded = json.loads((tmp_path / "eval.json").read_text())

    out = agent_sampled_eval.sampled_eval(tmp_path, samples=3)

    # the run sampled too, so the numbers must be the run's: the clone is made again, the checkpoint reloaded
    assert "steps" not in out and out["checkpoint"] == "step_000001"
    same = ["accuracy_before", "accuracy_after", "gain", "gain_se", "avg_at_k_before", "avg_at_k_after"]
    same += ["avg_at_k_gain", "avg_at_k_gain_se", "pass_at_k_before", "pass_at_k_after"]
    assert {key: out[key] for key in same} == {key: recorded[key] for key in same}
    assert 0 < out["avg_at_k_before"] < 1  # a sampled share that a different model would likely change


def test_a_run_without_cloning_is_refused(tmp_path):
    build_trainer(tiny_agent_config(tmp_path, "steps=1"), quiet=True).train()
    with pytest.raises(SystemExit, match=r"agent\.warm_start_steps is 0"):
        agent_sampled_eval.sampled_eval(tmp_path, samples=2)
