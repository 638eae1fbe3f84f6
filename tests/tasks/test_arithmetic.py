"""Procedural arithmetic: reproducible, disjoint splits, knobs that matter, answers Python agrees with."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grpokit.tasks import make_task
from grpokit.tasks.arithmetic import render, running_values


def expressions(problems):
    return {p.meta["expression"] for p in problems}


def test_same_arguments_give_identical_problems():
    task = make_task("arithmetic", operations="+-*", steps=2)
    assert task.problems("train", 50, seed=3) == make_task("arithmetic", operations="+-*", steps=2).problems(
        "train", 50, seed=3
    )
    assert task.problems("train", 50, seed=3) != task.problems("train", 50, seed=4)


def test_a_smaller_count_is_a_prefix():
    task = make_task("arithmetic")
    assert task.problems("test", 10, seed=1) == task.problems("test", 30, seed=1)[:10]


def test_count_defaults_to_size_and_ids_are_unique():
    problems = make_task("arithmetic", size=300).problems("train")
    assert len(problems) == 300
    assert len({p.id for p in problems}) == 300
    assert all(re.fullmatch(r"arithmetic/[0-9a-f]{16}", p.id) for p in problems)


def test_train_and_test_never_share_an_expression_whatever_the_seed_or_wording():
    train = make_task("arithmetic", digits=1, operations="+-")
    worded = make_task("arithmetic", digits=1, operations="+-", word_problems=True)
    train_exprs = expressions(train.problems("train", 120, seed=0) + worded.problems("train", 60, seed=9))
    test_exprs = expressions(train.problems("test", 30, seed=1) + worded.problems("test", 30, seed=2))
    assert train_exprs and test_exprs
    assert not train_exprs & test_exprs


def test_small_spaces_run_out_with_a_clear_error():
    task = make_task("arithmetic", digits=1, operations="+", steps=1)  # 100 expressions in all
    with pytest.raises(
        ValueError, match=r"arithmetic\(digits=1, min_digits=None, operations='\+', steps=1\): found only \d+"
    ):
        task.problems("train", 100)


def test_digits_set_operand_lengths():
    for digits in (1, 2, 4):
        operands = [
            int(o)
            for problem in make_task("arithmetic", digits=digits).problems("train", 40)
            for o in re.findall(r"\d+", problem.meta["expression"])
        ]
        assert max(operands) < 10**digits
        assert min(operands) >= (10 ** (digits - 1) if digits > 1 else 0)
        assert max(operands) >= 10 ** (digits - 1) * 5


def test_steps_and_operations_shape_the_expression():
    problems = make_task("arithmetic", operations="*", steps=3).problems("train", 20)
    for problem in problems:
        assert problem.meta["expression"].count("*") == 3
        assert not set(problem.meta["expression"]) & set("+-()")
    plus_only = make_task("arithmetic", operations="+", steps=2).problems("train", 20)
    assert all(p.meta["expression"].count("+") == 2 for p in plus_only)


def test_allow_negative_false_keeps_every_answer_non_negative():
    signed = make_task("arithmetic", operations="-", steps=2).problems("train", 60)
    assert any(int(p.answer) < 0 for p in signed)
    unsigned = make_task("arithmetic", operations="-", steps=2, allow_negative=False).problems("train", 60)
    assert all(int(p.answer) >= 0 for p in unsigned)


def test_word_problems_tell_the_same_arithmetic():
    problems = make_task("arithmetic", operations="+-*", steps=2, word_problems=True).problems("test", 30, seed=5)
    for problem in problems:
        assert problem.question.startswith(tuple(("Ava", "Ben", "Chloe", "Dev", "Emma", "Finn", "Grace", "Hugo")))
        assert problem.question.endswith("have now?")
        numbers = [int(n) for n in re.findall(r"\d+", problem.question)]
        assert numbers == [int(n) for n in re.findall(r"\d+", problem.meta["expression"])]
        assert int(problem.answer) == eval(problem.meta["expression"]) >= 0


def test_render_parenthesises_so_precedence_means_left_to_right():
    assert render([1, 2, 3], ["+", "*"]) == "(1 + 2) * 3"
    assert render([1, 2, 3, 4], ["-", "*", "*"]) == "(1 - 2) * 3 * 4"
    assert render([1, 2, 3, 4], ["*", "+", "*"]) == "(1 * 2 + 3) * 4"
    assert render([5, 2, 3], ["-", "-"]) == "5 - 2 - 3"
    assert running_values([1, 2, 3], ["+", "*"]) == [1, 3, 9]


@given(
    digits=st.integers(1, 3),
    operations=st.sampled_from(["+", "-", "*", "+-", "+*", "-*", "+-*"]),
    steps=st.integers(1, 4),
    seed=st.integers(0, 1000),
)
def test_python_agrees_with_every_answer(digits, operations, steps, seed):
    task = make_task("arithmetic", digits=digits, operations=operations, steps=steps)
    for problem in task.problems("train", 3, seed=seed):
        assert problem.question == f"What is {problem.meta['expression']}?"
        assert problem.answer == str(eval(problem.meta["expression"]))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"digits": 0}, "digits must be >= 1"),
        ({"steps": 0}, "steps must be >= 1"),
        ({"operations": "+/"}, "operations must be a non-empty subset of '\\+-\\*', got '\\+/'"),
        ({"operations": ""}, "operations must be a non-empty subset"),
        ({"test_fraction": 1.0}, "test_fraction must lie strictly between 0 and 1"),
    ],
)
def test_bad_knobs_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        make_task("arithmetic", **params)


def test_only_train_and_test_exist():
    with pytest.raises(ValueError, match="task 'arithmetic' has no split 'validation'; it has: train, test"):
        make_task("arithmetic").problems("validation", 1)


def test_impossible_non_negative_chains_are_reported():
    task = make_task("arithmetic", digits=3, operations="-", steps=8, allow_negative=False)
    with pytest.raises(ValueError, match="no expression with non-negative running values"):
        task.problems("train", 1)


def test_min_digits_mixes_operand_sizes():
    task = make_task("arithmetic", digits=2, min_digits=1, operations="+")
    operands = [int(x) for p in task.problems("train", 200) for x in p.meta["expression"].split(" + ")]
    assert any(x < 10 for x in operands) and any(x >= 10 for x in operands)
    assert sum(x < 10 for x in operands) > len(operands) / 4  # a digit count drawn per operand, not per value
    with pytest.raises(ValueError, match=r"min_digits must be in 1\.\.digits"):
        make_task("arithmetic", digits=2, min_digits=3)
