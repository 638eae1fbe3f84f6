"""CHAMP: the numeric-answer competition problems of the champ-dataset package, as a test-only set."""

import re
import sys
from importlib.util import find_spec

import pytest

from grpokit.tasks import make_task, score_answer
from grpokit.tasks.champ import load_champ

needs_champ = pytest.mark.skipif(
    find_spec("champ_dataset") is None, reason="champ-dataset (the 'champ' extra) is missing"
)


@needs_champ
def test_the_numeric_subset_is_the_whole_test_split():
    problems = make_task("champ").problems("test")
    assert len(problems) == 85
    assert len({p.id for p in problems}) == 85
    assert all(re.fullmatch(r"-?\d+(/\d+)?", p.answer) for p in problems)
    assert sum("/" in p.answer for p in problems) == 6
    first = problems[0]
    assert (first.id, first.answer, first.source, first.meta) == (
        "champ/P_Combinatorics_1",
        "239",
        "champ",
        {"category": "Combinatorics"},
    )
    assert first.question.startswith("Let a string consist of digit 1, 2, 3.")


@needs_champ
def test_count_and_seed_pick_a_reproducible_subset():
    task = make_task("champ")
    assert task.problems("test", 10, seed=3) == task.problems("test", 10, seed=3)
    assert task.problems("test", 10, seed=3) != task.problems("test", 10, seed=4)


@needs_champ
def test_reference_answers_score_as_correct():
    for problem in make_task("champ").problems("test"):
        assert score_answer(f"\\boxed{{{problem.answer}}}", problem.answer).correct


def test_there_is_no_training_split():
    with pytest.raises(ValueError, match="held-out evaluation set with only a 'test' split, not 'train'"):
        make_task("champ").problems("train")


def test_a_missing_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "champ_dataset", None)
    load_champ.cache_clear()
    with pytest.raises(ImportError, match=r"pip install 'grpokit\[champ\]'"):
        make_task("champ").problems("test")
