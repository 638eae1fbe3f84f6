"""The grpokit command as a user runs it: list, train (and resume), eval, plot, errors."""

import json

import pytest

from grpokit.cli import main
from tests.helpers import PARITY, REPO


def test_list_shows_every_registry(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    names = ("dgpo", "cispo", "grpo", "rloo", "proxmo", "gigpo", "neyman", "arithmetic", "webshop", "alfworld")
    for name in (*names, "smollm2-135m-instruct"):
        assert name in out


@pytest.mark.slow
def test_train_then_resume_then_plot(tmp_path, capsys):
    run = tmp_path / "run"
    args = [
        "train",
        "--config",
        str(REPO / "configs" / "tiny-test.yaml"),
        f"run_dir={run}",
        f"task.name={PARITY}",
        "task.params={}",
        "task.train_size=8",
        "tensorboard=true",
        "steps=2",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "held-out accuracy before training" in out and "gain" in out
    for name in ("config.yaml", "metrics.jsonl", "eval.json", "checkpoints/latest"):
        assert (run / name).exists(), name
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert json.loads((run / "eval.json").read_text())["steps"] == 2

    assert main(["train", "--resume", str(run)]) == 0  # already at its last step: re-evaluates and saves
    assert main(["plot", str(run)]) == 0
    assert (run / "plots" / "curves.png").stat().st_size > 10_000


def test_train_with_an_unknown_key_names_it(capsys):
    assert main(["train", "--config", str(REPO / "configs" / "tiny-test.yaml"), "stepz=3"]) == 2
    assert "unknown config key 'stepz'; did you mean steps?" in capsys.readouterr().err


def test_resume_without_a_checkpoint_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "has no checkpoint" in capsys.readouterr().err


def test_eval_prints_json(capsys):
    code = main(
        [
            "eval",
            "--model",
            "tiny-random",
            "--task",
            "arithmetic",
            "--problems",
            "3",
            "--max-new-tokens",
            "4",
            "--samples",
            "2",
            "--device",
            "cpu",
            "digits=1",
            "operations=+",
            "test_fraction=0.5",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["problems"] == 3 and 0 <= result["accuracy"] <= 1 and "pass@2" in result


def test_help_config_lists_keys(capsys):
    assert main(["train", "--help-config"]) == 0
    assert "allocation.rule" in capsys.readouterr().out
