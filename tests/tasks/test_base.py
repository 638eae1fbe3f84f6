"""The task registry, make_task and the shared scoring hook."""

import pytest

from grpokit.tasks import TASKS, Problem, Score, Task, make_task, score_batch


class EchoTask(Task):
    name = "echo"

    def problems(self, split, count=None, *, seed=0):
        return [Problem(id="echo/1", question="What is 1 + 1?", answer="2", source="echo")]


def test_every_task_is_registered():
    assert {"arithmetic", "champ", "jsonl", "parquet", "reasoning_gym"} <= set(TASKS.names())


def test_an_unknown_task_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown task 'gsm9k'; known: arithmetic, champ, jsonl, mixture, parquet"):
        make_task("gsm9k")


def test_an_unknown_parameter_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match=r"task 'arithmetic' got unknown parameter\(s\) digitz; it accepts: digits"):
        make_task("arithmetic", digitz=3)
    with pytest.raises(TypeError, match="sheet"):
        make_task("jsonl", path="x.jsonl", sheet=1)


def test_make_task_passes_parameters_through():
    assert make_task("arithmetic", digits=3).digits == 3


def test_the_default_score_is_math_answer_scoring():
    task = EchoTask()
    (problem,) = task.problems("test")
    assert task.score(problem, "so \\boxed{2}") == Score(reward=1.0, correct=True, parsed=True, extracted="2")
    assert task.score(problem, "no idea").parsed is False


def test_score_batch_scores_aligned_pairs_and_rejects_misaligned_ones():
    task = EchoTask()
    problems = task.problems("test") * 3
    scores = score_batch(task, problems, ["\\boxed{2}", "\\boxed{3}", "nothing"])
    assert [s.reward for s in scores] == [1.0, 0.0, 0.0]
    assert [s.parsed for s in scores] == [True, True, False]
    with pytest.raises(ValueError, match="3 problems but 2 responses"):
        score_batch(task, problems, ["a", "b"])


def test_problems_are_hashable_by_their_text_fields():
    a = Problem(id="a", question="q", answer="1", source="s", meta={"x": [1]})
    b = Problem(id="a", question="q", answer="1", source="s", meta={"x": [1]})
    assert a == b and hash(a) == hash(b)
    assert Problem(id="a", question="q", answer="1", source="s").meta == {}
