"""``grpokit plot``: the curves of a run, the held-out accuracy with ± SE error bars."""

import json
import math

import pytest
from matplotlib.container import ErrorbarContainer

from grpokit.plot import curves_figure, plot_run, series

EVAL_ROWS = [
    {"step": 0, "eval/accuracy": 0.25, "eval/accuracy_se": 0.05},
    {"step": 2, "eval/accuracy": 0.5, "eval/accuracy_se": 0.1},
    {"step": 4, "eval/accuracy": 0.75, "eval/accuracy_se": None, "eval/untruncated_accuracy": None},  # undefined
]
TRAIN_ROWS = [{"step": s, "reward/mean": 0.1 * s} for s in (1, 2, 3)]


def panel(figure, title):
    return next(axis for axis in figure.axes if axis.get_title().startswith(title))


def test_the_held_out_accuracy_has_error_bars_of_one_standard_error():
    figure = curves_figure(EVAL_ROWS + TRAIN_ROWS)
    (bars,) = [c for c in panel(figure, "held-out accuracy").containers if isinstance(c, ErrorbarContainer)]
    data_line, _, (segments,) = bars.lines
    assert list(data_line.get_xdata()) == [0, 2, 4] and list(data_line.get_ydata()) == [0.25, 0.5, 0.75]
    ends = [(x, low, high) for (x, low), (_, high) in (s.tolist() for s in segments.get_segments() if len(s))]
    assert [x for x, _, _ in ends] == [0, 2]  # no bar at step 4, whose SE is null
    assert [y for _, low, high in ends for y in (low, high)] == pytest.approx([0.2, 0.3, 0.4, 0.6])  # value ∓ SE
    assert not panel(figure, "reward").containers  # a metric without a standard error stays a plain line


def test_a_series_skips_undefined_values_and_reads_the_standard_errors_beside_them():
    rows = [*EVAL_ROWS, {"step": 6, "eval/accuracy": math.nan}, {"step": 8}]
    accuracy = series(rows, "eval/accuracy")
    assert (accuracy.steps, accuracy.values) == ([0, 2, 4], [0.25, 0.5, 0.75])
    assert accuracy.errors[:2] == [0.05, 0.1] and math.isnan(accuracy.errors[2])
    assert series(TRAIN_ROWS, "reward/mean").errors is None


def test_a_run_with_null_metrics_is_plotted(tmp_path):
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in EVAL_ROWS + TRAIN_ROWS))
    assert [path.name for path in plot_run(tmp_path)] == ["curves.png"]
