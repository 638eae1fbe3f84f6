"""``metrics.jsonl`` is strict JSON: an undefined metric is null, never a bare NaN."""

import json
import math

import numpy as np
import torch

from grpokit.train.logger import METRICS_FILE, RunLogger, read_metrics


def strict(line):
    """``json.loads`` that refuses NaN and ±Infinity, as every JSON parser outside Python does."""

    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(line, parse_constant=refuse)


class Scalars:
    """A stand-in for TensorBoard's writer that records what it is given."""

    def __init__(self):
        self.added = {}

    def add_scalar(self, key, value, step):
        self.added[key] = value

    def flush(self):
        pass


def test_an_undefined_metric_is_written_as_null_and_the_line_is_strict_json(tmp_path):
    logger = RunLogger(tmp_path, tensorboard=False)
    logger.writer = Scalars()
    logger.log(
        3,
        {
            "eval/accuracy": 0.0,
            "eval/untruncated_accuracy": math.nan,  # every answer was cut off
            "train/grad_norm": np.float32("inf"),
            "loss/ppo_kl": torch.tensor(float("nan")),
            "allocation/counts": [2, 4],
            "reward/by_group": [0.5, -math.inf],
        },
    )
    (line,) = (tmp_path / METRICS_FILE).read_text().splitlines()
    row = strict(line)
    assert row == {
        "step": 3,
        "eval/accuracy": 0.0,
        "eval/untruncated_accuracy": None,
        "train/grad_norm": None,
        "loss/ppo_kl": None,
        "allocation/counts": [2, 4],
        "reward/by_group": [0.5, None],
    }
    assert read_metrics(tmp_path) == [row]
    assert logger.writer.added == {"eval/accuracy": 0.0}  # TensorBoard gets the finite scalars only


def test_a_file_from_before_with_a_bare_nan_still_reads(tmp_path):
    (tmp_path / METRICS_FILE).write_text('{"step": 1, "eval/untruncated_accuracy": NaN}\n')
    assert math.isnan(read_metrics(tmp_path)[0]["eval/untruncated_accuracy"])
