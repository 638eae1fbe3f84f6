"""Evaluation statistics: unbiased pass@k, standard errors, paired gain."""

import itertools
import math

import pytest

from grpokit.evaluate import EvalResult, compare, paired_gain, pass_at_k, standard_error


@pytest.mark.parametrize(("n", "c", "k"), [(5, 0, 1), (5, 2, 1), (5, 2, 3), (6, 5, 2), (4, 4, 4)])
def test_pass_at_k_equals_the_fraction_of_k_subsets_with_a_hit(n, c, k):
    outcomes = [1] * c + [0] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    expected = sum(any(outcomes[i] for i in s) for s in subsets) / len(subsets)
    assert pass_at_k(n, c, k) == pytest.approx(expected)


def test_pass_at_k_rejects_impossible_counts():
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)


def test_standard_error_and_paired_gain():
    assert standard_error([1.0, 0.0, 1.0, 0.0]) == pytest.approx(math.sqrt(1 / 3 / 4))
    before = EvalResult(correct=[0, 0, 1, 1], parsed_rate=1, mean_length=1)
    after = EvalResult(correct=[1, 0, 1, 1], parsed_rate=1, mean_length=1)
    gain, se = paired_gain(before.correct, after.correct)
    assert gain == 0.25 and se == pytest.approx(standard_error([1, 0, 0, 0]))
    assert after.metrics()["eval/accuracy"] == 0.75


def test_compare_records_both_accuracies_and_the_paired_gain():
    before = EvalResult(correct=[0, 0, 1, 1], parsed_rate=1, mean_length=1)
    after = EvalResult(correct=[1, 0, 1, 1], parsed_rate=1, mean_length=1)
    record = compare(before, after)
    assert record["accuracy_before"] == 0.5 and record["accuracy_after"] == 0.75
    assert record["accuracy_before_se"] == before.accuracy_se and record["accuracy_after_se"] == after.accuracy_se
    assert record["gain"] == 0.25 and record["gain_se"] == pytest.approx(standard_error([1, 0, 0, 0]))
    assert "avg_at_k_gain" not in record  # greedy only
    before.record_samples([0, 1, 2, 2], k=2)
    after.record_samples([2, 1, 2, 2], k=2)
    record = compare(before, after)
    assert record["samples"] == 2 and record["avg_at_k_before"] == 0.625 and record["avg_at_k_after"] == 0.875
    assert record["avg_at_k_gain"] == 0.25 and record["avg_at_k_gain_se"] == pytest.approx(standard_error([1, 0, 0, 0]))
    assert record["pass_at_k_before"] == 0.75 and record["pass_at_k_after"] == 1.0
