"""Checkpoints hold plain data only: the trainer state loads back with weights_only=True, anything else is refused."""

import os

import pytest
import torch

from grpokit.config import UserError
from grpokit.evaluate import EvalResult
from grpokit.train.checkpoint import load_trainer_state
from grpokit.train.trainer import Trainer
from tests.helpers import tiny_config


class RunsCode:
    """Unpickling this calls os.system, which here creates a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_the_trainer_state_is_plain_data_and_loads_back(tmp_path):
    trainer = Trainer(tiny_config(tmp_path, "allocation.enabled=true", "eval.problems=2"), quiet=True)
    trainer.baseline_eval = trainer.run_eval()
    trainer.train_step()
    state = load_trainer_state(trainer.save())  # weights_only=True
    assert state["step"] == 1 and len(state["prompt_stats"]["records"]) == 4
    assert state["prompt_stats"] == trainer.stats.state_dict()
    assert EvalResult(**state["baseline_eval"]).correct == trainer.baseline_eval.correct
    assert torch.equal(state["sampling_generator"], trainer.sampling_generator.get_state())


def test_a_state_that_would_run_code_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "executed"
    torch.save({"step": 1, "prompt_stats": RunsCode(marker)}, tmp_path / "trainer_state.pt")
    with pytest.raises(UserError, match=r"^refusing to load .*trainer_state.pt: it contains code/objects that are not"):
        load_trainer_state(tmp_path)
    assert not marker.exists()
