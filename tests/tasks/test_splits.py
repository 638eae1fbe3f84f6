"""Hash splits, seeded subsets and the sampler that fills a split."""

import pytest

from grpokit.tasks import Problem
from grpokit.tasks.splits import check_split, digest, draw_budget, sample_split, split_of, take

PROBLEMS = [Problem(id=f"p/{i}", question=f"q{i}", answer=str(i), source="p") for i in range(20)]


def test_split_of_is_a_stable_share_of_keys():
    keys = [f"key {i}" for i in range(4000)]
    tests = [k for k in keys if split_of(k, 0.2) == "test"]
    assert 0.17 < len(tests) / len(keys) < 0.23
    assert [split_of(k, 0.2) for k in keys] == [split_of(k, 0.2) for k in keys]
    assert digest("abc") == "ba7816bf8f01cfea"


def test_take_returns_everything_in_order_or_a_seeded_subset():
    assert take(PROBLEMS, None, 0, "p") == PROBLEMS
    assert take(PROBLEMS, 5, 1, "p") == take(PROBLEMS, 5, 1, "p")
    assert take(PROBLEMS, 5, 1, "p") != take(PROBLEMS, 5, 2, "p")
    assert take(PROBLEMS, 5, 1, "p") == take(PROBLEMS, 10, 1, "p")[:5]
    with pytest.raises(ValueError, match="p has 20 problems; cannot take count=21"):
        take(PROBLEMS, 21, 0, "p")


def test_sample_split_keeps_distinct_problems_of_the_split():
    def draw(index):
        problem = PROBLEMS[index % 20]
        return problem.question, problem

    chosen = sample_split(draw, "train", 5, 0.5, max_draws=100, what="demo")
    assert len({p.id for p in chosen}) == 5
    assert all(split_of(p.question, 0.5) == "train" for p in chosen)
    with pytest.raises(ValueError, match=r"demo: found only \d+ distinct 'train' problems in 100 draws, 19 requested"):
        sample_split(draw, "train", 19, 0.5, max_draws=100, what="demo")


def test_draw_budget_grows_with_rarity():
    assert draw_budget(100, "test", 0.2) > draw_budget(100, "train", 0.2) >= 100


def test_check_split_names_the_known_splits():
    with pytest.raises(ValueError, match="task 'x' has no split 'dev'; it has: train, test"):
        check_split("dev", "x")
