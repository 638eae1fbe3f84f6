"""The mixture task: parts in their shares, each problem labelled and scored by its part."""

import pytest

from grpokit.tasks import make_task

EASY = {"label": "easy", "name": "arithmetic", "params": {"digits": 1, "operations": "+"}, "share": 1}
HARD = {"label": "hard", "name": "arithmetic", "params": {"digits": 3, "operations": "*"}, "share": 2}


def test_parts_come_in_their_shares_labelled_and_shuffled_reproducibly():
    task = make_task("mixture", parts=[EASY, HARD])
    problems = task.problems("train", 30, seed=3)
    labels = [p.meta["part"] for p in problems]
    assert labels.count("easy") == 10 and labels.count("hard") == 20
    assert labels != sorted(labels)  # shuffled together
    assert problems == task.problems("train", 30, seed=3)
    assert all(("*" in p.question) == (p.meta["part"] == "hard") for p in problems)
    test_ids = {p.id for p in task.problems("test", 30, seed=3)}
    assert test_ids and not test_ids & {p.id for p in problems}


def test_a_problem_is_scored_by_its_own_part():
    task = make_task("mixture", parts=[EASY, HARD])
    problem = task.problems("train", 3, seed=0)[0]
    assert task.score(problem, f"The answer is \\boxed{{{problem.answer}}}").correct
    assert not task.score(problem, "The answer is \\boxed{-1}").correct


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ([], "parts must name at least one task"),
        ([{"label": "x"}], r"part 0 needs 'name'"),
        ([{**EASY, "weight": 2}], r"part 0 needs 'name' and takes label, params, share"),
        ([{**EASY, "share": 0}], "part 0 share must be > 0"),
        ([EASY, {**HARD, "label": "easy"}], "part labels must differ"),
        ([{"name": "gsm9k"}], "unknown task 'gsm9k'"),
    ],
)
def test_a_bad_part_is_named(parts, message):
    with pytest.raises(ValueError, match=message):
        make_task("mixture", parts=parts)
