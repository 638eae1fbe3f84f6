"""The study report (benchmarks/loss_study.py): every finished seed is shown, means use the seeds all arms share."""

import json
import math
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from tests.helpers import load_benchmark

loss_study = load_benchmark("loss_study")


def finished_run(run_dir: Path, gain: float, after: float, success: float, rewards=(0.1, 0.2)) -> None:
    run_dir.mkdir(parents=True)
    summary = {"gain": gain, "gain_se": 0.1, "accuracy_after": after}
    (run_dir / "eval.json").write_text(json.dumps(summary))
    steps = [
        {
            "step": s,
            "time/step_s": 60.0,
            "agent/success": success,
            "agent/singleton_anchor_share": 0.1,
            "reward/mean": reward,
            "train/grad_norm": 1.0 + s,
        }
        for s, reward in enumerate(rewards, start=1)
    ]
    (run_dir / "metrics.jsonl").write_text("\n".join(json.dumps(row) for row in steps))


def row_of(table: str, arm: str) -> list[str]:
    line = next(line for line in table.splitlines() if line.startswith(f"| {arm} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_report_reads_every_finished_seed_and_averages_over_shared_seeds(tmp_path):
    study = replace(loss_study.STUDIES["credit"], doc=tmp_path / "credit-study")
    root = tmp_path / "runs"
    for seed, gain in [(0, 0.2), (1, -0.1), (2, 0.4)]:
        finished_run(root / "GRPO" / f"seed{seed}", gain, after=0.5 + gain, success=0.5)
    for seed, gain in [(0, 0.3), (1, 0.1)]:
        finished_run(root / "GiGPO" / f"seed{seed}", gain, after=0.6, success=0.25)
    (root / "GiGPO" / "seed2").mkdir()  # an interrupted run: no eval.json, not in the table

    table = loss_study.report(study, root)

    assert "mean gain ± SE over seeds 0, 1 |" in table
    grpo, gigpo = row_of(table, "GRPO"), row_of(table, "GiGPO")
    assert grpo[1] == "0: +20.0 ± 10.0, 1: -10.0 ± 10.0, 2: +40.0 ± 10.0"  # seed 2 shown ...
    assert grpo[2] == "+5.0 ± 15.0"  # ... but the mean is over seeds 0 and 1 only
    assert grpo[3] == "55.0%"  # (70% + 40%) / 2; seed 2 (90%) left out
    assert gigpo[1] == "0: +30.0 ± 10.0, 1: +10.0 ± 10.0"
    assert gigpo[2] == "+20.0 ± 10.0"
    assert gigpo[4] == "25.00%"  # mean training success over steps and shared seeds
    assert not any(line.startswith("| ProxMO") for line in table.splitlines())  # arms without runs are left out
    assert (tmp_path / "credit-study.png").exists()


def test_report_without_finished_runs_is_none(tmp_path):
    study = replace(loss_study.STUDIES["credit"], doc=tmp_path / "credit-study")
    assert loss_study.report(study, tmp_path / "runs") is None


def test_report_pairs_each_arm_with_its_baseline_and_counts_collapsed_runs(tmp_path):
    study = replace(
        loss_study.STUDIES["credit"],
        doc=tmp_path / "credit-study",
        baselines={"GiGPO": "GRPO"},
        maxima={"max |g|": "train/grad_norm"},
        collapse=True,
    )
    root = tmp_path / "runs"
    for seed, gain in [(0, 0.2), (1, -0.1)]:
        finished_run(root / "GRPO" / f"seed{seed}", gain, after=0.5, success=0.5)
    finished_run(root / "GiGPO" / "seed0", 0.3, after=0.6, success=0.25, rewards=(0.5, 0.4, 0.3, 0.2))
    finished_run(root / "GiGPO" / "seed1", 0.2, after=0.6, success=0.25)

    table = loss_study.report(study, root)

    grpo, gigpo = row_of(table, "GRPO"), row_of(table, "GiGPO")
    assert gigpo[4] == "GRPO: 0: +10.0, 1: +30.0" and gigpo[5] == "+20.0 ± 10.0"
    assert grpo[4] == grpo[5] == ""
    assert gigpo[-2] == "60"  # s/step
    assert gigpo[-3] == "4" and grpo[-3] == "3"  # the largest gradient norm of a run, averaged over seeds
    assert grpo[-1] == "1 of 2 (seeds 1)"  # held-out gain below 0
    assert gigpo[-1] == "1 of 2 (seeds 0)"  # training reward ended below its start


def test_report_outlives_its_runs_through_the_record(tmp_path):
    study = replace(loss_study.STUDIES["credit"], doc=tmp_path / "credit-study")
    root = tmp_path / "runs"
    for seed, gain in [(0, 0.2), (1, -0.1)]:
        finished_run(root / "GRPO" / f"seed{seed}", gain, after=0.5 + gain, success=0.5)
    first = loss_study.report(study, root)
    shutil.rmtree(root)  # the machine with runs/ is gone; the committed record is not

    assert loss_study.report(study, root) == first
    finished_run(root / "GRPO" / "seed2", 0.4, after=0.9, success=0.5)  # a new run joins the recorded ones
    assert row_of(loss_study.report(study, root), "GRPO")[1] == "0: +20.0 ± 10.0, 1: -10.0 ± 10.0, 2: +40.0 ± 10.0"
    records = (tmp_path / "credit-study-runs.jsonl").read_text().splitlines()
    assert [(r["arm"], r["seed"]) for r in map(json.loads, records)] == [("GRPO", 0), ("GRPO", 1), ("GRPO", 2)]


def test_a_figure_missing_from_a_record_is_left_out_of_its_mean(tmp_path):
    study = replace(loss_study.STUDIES["credit"], doc=tmp_path / "credit-study")
    recovered = {"gain": 0.1, "gain_se": 0.05, "after": 0.4, "train success": math.nan, "singleton anchors": 0.2}
    recovered |= {"s/step": 50.0, "collapsed": 0.0, "curve": []}
    (tmp_path / "credit-study-runs.jsonl").write_text(json.dumps({"arm": "GRPO", "seed": 0, **recovered}) + "\n")
    finished_run(tmp_path / "runs" / "GRPO" / "seed1", 0.3, after=0.6, success=0.5)

    grpo = row_of(loss_study.report(study, tmp_path / "runs"), "GRPO")

    assert grpo[2] == "+20.0 ± 10.0" and grpo[3] == "50.0%"  # both seeds' gains and accuracies
    assert grpo[4] == "50.00%"  # training success: seed 1's alone (seed 0 recorded none)
    assert (tmp_path / "credit-study.png").exists()  # plotted from the one run with a curve


def test_a_record_of_an_arm_the_study_lacks_is_refused_by_file_and_line(tmp_path):
    study = replace(loss_study.STUDIES["credit"], doc=tmp_path / "credit-study")
    record = {"arm": "GRPO", "seed": 0, "gain": 0.1, "gain_se": 0.05, "after": 0.4, "curve": []}
    lines = [json.dumps(record), json.dumps({**record, "arm": "renamed"})]
    (tmp_path / "credit-study-runs.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"credit-study-runs.jsonl:2: arm 'renamed' is not in the study"):
        loss_study.report(study, tmp_path / "runs")
