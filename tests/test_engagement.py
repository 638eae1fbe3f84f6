"""The engagement figures of the issue-36 studies (benchmarks/engagement.py), from a run's metrics.jsonl."""

import json

import pytest

from tests.helpers import load_benchmark

engagement = load_benchmark("engagement")


def write_run(run_dir, steps):
    run_dir.mkdir()
    rows = [{"step": 0, "eval/accuracy": 0.2}] + [
        {"step": s, "reward/mean": 0.0, **row} for s, row in enumerate(steps, 1)
    ]
    (run_dir / "metrics.jsonl").write_text("\n".join(json.dumps(row) for row in rows))


def test_the_boundary_share_adds_both_sides_and_averages_over_training_steps_only(tmp_path):
    write_run(
        tmp_path / "run",
        [
            {"loss/clipfrac_low": 0.10, "loss/clipfrac_high": 0.02},
            {"loss/clipfrac_low": 0.04, "loss/clipfrac_high": None},  # undefined on a step: nothing outside
        ],
    )
    found = engagement.engagement(tmp_path / "run")
    assert found["steps"] == 2
    assert found["boundary"] == pytest.approx(0.08)
    assert (found["boundary_low"], found["boundary_high"]) == pytest.approx((0.07, 0.01))
    assert "objective" not in found


def test_the_objective_below_uniform_is_one_minus_the_ratio_of_the_run_means(tmp_path):
    def step(allocated, uniform):
        return {
            "allocation/bernoulli_variance": allocated,
            "allocation/bernoulli_variance_uniform": uniform,
            "allocation/bernoulli_variance_optimal": allocated / 2,
        }

    write_run(tmp_path / "run", [step(0.04, 0.04), step(0.02, 0.06), step(0.0, 0.0)])
    found = engagement.engagement(tmp_path / "run")
    assert found["below_uniform"] == pytest.approx(1 - 0.02 / (0.1 / 3))
    assert found["below_uniform_by_step"] == pytest.approx([0.0, 2 / 3, 0.0])
    assert found["objective_optimal"] == pytest.approx(0.01)
