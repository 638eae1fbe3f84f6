"""The reasoning-gym adapter: hash splits over its generators and scoring by each dataset's own scorer."""

import sys
from importlib.util import find_spec

import pytest

from grpokit.tasks import Problem, make_task, score_batch
from grpokit.tasks.reasoning_gym import extract_final

needs_reasoning_gym = pytest.mark.skipif(
    find_spec("reasoning_gym") is None, reason="reasoning-gym (the 'reasoning-gym' extra) is not installed"
)
SUMS = {"dataset": "basic_arithmetic", "config": {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 2}}


def test_the_final_answer_is_the_last_box_or_else_the_last_line():
    assert extract_final("work\n\\boxed{cat}\nthanks") == "cat"
    assert extract_final("work\n  the answer: dog  \n\n") == "the answer: dog"
    assert extract_final(" \n ") is None


def test_a_missing_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "reasoning_gym", None)
    with pytest.raises(ImportError, match=r"pip install 'grpokit\[reasoning-gym\]'"):
        make_task("reasoning_gym")


@needs_reasoning_gym
def test_problems_are_reproducible_and_named():
    task = make_task("reasoning_gym", **SUMS)
    problems = task.problems("train", 20, seed=1)
    assert problems == make_task("reasoning_gym", **SUMS).problems("train", 20, seed=1)
    assert problems != task.problems("train", 20, seed=2)
    assert len({p.id for p in problems}) == 20
    assert all(p.id.startswith("reasoning_gym/basic_arithmetic/") for p in problems)
    assert all(p.source == task.name == "reasoning_gym/basic_arithmetic" for p in problems)
    assert len(make_task("reasoning_gym", size=7, **SUMS).problems("test")) == 7


@needs_reasoning_gym
def test_train_and_test_never_share_a_question_even_across_seeds():
    task = make_task("reasoning_gym", **SUMS)
    train = {p.question for seed in (0, 1) for p in task.problems("train", 40, seed=seed)}
    test = {p.question for seed in (0, 1) for p in task.problems("test", 15, seed=seed)}
    assert not train & test


@needs_reasoning_gym
def test_config_reaches_the_generator():
    two = make_task("reasoning_gym", **SUMS).problems("train", 10)
    assert all(p.meta["entry"]["metadata"]["num_terms"] == 2 for p in two)
    four = make_task("reasoning_gym", dataset="basic_arithmetic", config={"min_terms": 4, "max_terms": 4})
    assert all(p.meta["entry"]["metadata"]["num_terms"] == 4 for p in four.problems("train", 10))


@needs_reasoning_gym
def test_the_dataset_scorer_judges_responses():
    task = make_task("reasoning_gym", **SUMS)
    problems = task.problems("test", 5)
    right = score_batch(task, problems, [f"thinking...\n\\boxed{{{p.answer}}}" for p in problems])
    assert all(s.correct and s.reward == 1.0 for s in right)
    last_line = task.score(problems[0], f"so\n{problems[0].answer}")
    assert last_line.correct and last_line.extracted == problems[0].answer
    wrong = task.score(problems[0], "\\boxed{not a number}")
    assert (wrong.correct, wrong.parsed, wrong.reward < 1.0) == (False, True, True)
    assert task.score(problems[0], "") == task.score(problems[0], "  \n")
    assert task.score(problems[0], "").parsed is False


@needs_reasoning_gym
def test_score_calls_the_dataset_scorer_with_the_stored_entry(monkeypatch):
    task = make_task("reasoning_gym", **SUMS)
    (problem,) = task.problems("test", 1)
    calls = []

    def scorer(answer, entry):
        calls.append((answer, entry))
        return 0.25

    monkeypatch.setattr(task._scorer, "score_answer", scorer)
    score = task.score(problem, "\\boxed{17}")
    assert calls == [("17", problem.meta["entry"])]
    assert (score.reward, score.correct, score.extracted) == (0.25, False, "17")


@needs_reasoning_gym
def test_a_crashing_scorer_is_a_wrong_answer(monkeypatch):
    task = make_task("reasoning_gym", **SUMS)
    (problem,) = task.problems("test", 1)
    monkeypatch.setattr(task._scorer, "score_answer", lambda answer, entry: 1 / 0)
    assert task.score(problem, "\\boxed{1}").reward == 0.0


@needs_reasoning_gym
def test_errors_name_the_dataset_and_field():
    with pytest.raises(ValueError, match=r"unknown reasoning-gym dataset 'basic_arithmetc'; known: .*basic_arithmetic"):
        make_task("reasoning_gym", dataset="basic_arithmetc")
    with pytest.raises(TypeError, match=r"reasoning-gym dataset 'basic_arithmetic': .*num_termz"):
        make_task("reasoning_gym", dataset="basic_arithmetic", config={"num_termz": 3})
    with pytest.raises(ValueError, match="set seed, size through problems"):
        make_task("reasoning_gym", config={"size": 5, "seed": 1})
    with pytest.raises(ValueError, match="is not from reasoning_gym/basic_arithmetic"):
        make_task("reasoning_gym").score(Problem(id="x", question="q", answer="1", source="x"), "\\boxed{1}")
