"""The offline WebShop environment: protocol, pages, search, splits and the expert plan (arXiv 2207.01206)."""

import os

import pytest

import grpokit.envs.webshop  # noqa: F401  (registers "webshop")
from grpokit.envs import INFO_KEYS, make
from grpokit.envs.webshop.catalog import generate_catalog
from grpokit.envs.webshop.instructions import generate_goals

NUM_PRODUCTS = 300


def make_generated(split):
    """A small generated-catalogue WebShop, whatever ``WEBSHOP_DATA`` says on this machine."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("WEBSHOP_DATA", raising=False)
        return make("webshop", split=split, num_products=NUM_PRODUCTS, num_test_goals=100)


@pytest.fixture(scope="module", params=["train", "test"])
def env(request):
    return make_generated(request.param)


@pytest.fixture(scope="module")
def test_env():
    return make_generated("test")


def play_expert(env, seed, limit=30):
    _, info = env.reset(seed)
    done, steps, reward = False, 0, 0.0
    while not done and steps < limit:
        assert info["expert_action"] in info["admissible_actions"] or info["expert_action"].startswith("search[")
        _, reward, done, info = env.step(info["expert_action"])
        steps += 1
    return reward, steps, info


def test_reset_and_step_protocol(env):
    assert env.name == "webshop" and env.max_turns == 15
    obs, info = env.reset(3)
    assert set(INFO_KEYS) <= set(info) and "score" in info
    assert obs == f"WebShop [SEP] Instruction: [SEP] {info['task']} [SEP] Search"
    assert info["admissible_actions"] == ["search[<your query>]", "click[search]"]
    assert info["won"] is False and info["score"] == 0.0 and info["expert_action"].startswith("search[")
    obs, reward, done, info = env.step(f"search[{info['task']}]")
    assert reward == 0.0 and done is False and set(INFO_KEYS) <= set(info)
    assert "search[<your query>]" not in info["admissible_actions"]


def test_results_and_item_pages_use_sep_style(test_env):
    _, info = test_env.reset(0)
    obs, *_, info = test_env.step(f"search[{info['task']}]")
    parts = obs.split(" [SEP] ")
    assert parts[:6] == [
        "WebShop",
        "Instruction:",
        info["task"],
        "Back to Search",
        "Page 1 (Total results: 50)",
        "Next >",
    ]
    asin, title, price = parts[6:9]
    assert f"click[{asin.lower()}]" in info["admissible_actions"] and price.startswith("$")
    assert info["admissible_actions"][:2] == ["click[back to search]", "click[next >]"]
    obs, *_, info = test_env.step(f"click[{asin}]")  # ids are matched case-insensitively, as WebShop lower-cases
    product = test_env.catalog[asin]
    assert title == product.title and f"Price: ${product.price:.2f}" in obs and obs.endswith("Buy Now")
    for clickable in ["back to search", "< prev", "description", "features", "reviews", "buy now"]:
        assert f"click[{clickable}]" in info["admissible_actions"]
    for values in product.options.values():
        assert all(f"click[{v}]" in info["admissible_actions"] for v in values)
    obs, *_ = test_env.step("click[description]")
    assert obs.endswith(f"Back to Search [SEP] < Prev [SEP] {product.description}")
    obs, *_ = test_env.step("click[< prev]")
    assert obs.endswith("Buy Now")
    obs, *_ = test_env.step("click[< prev]")
    assert "Page 1 (Total results: 50)" in obs
    obs, *_ = test_env.step("click[back to search]")
    assert obs.endswith(" [SEP] Search")


def test_pagination(test_env):
    _, info = test_env.reset(1)
    first, *_ = test_env.step(f"search[{info['task']}]")
    seen = set(first.split(" [SEP] ")[6::3])
    for page in range(2, 6):
        obs, *_, info = test_env.step("click[next >]")
        assert f"Page {page} (Total results: 50)" in obs and "click[< prev]" in info["admissible_actions"]
        ids = set(obs.split(" [SEP] ")[7 if page == 5 else 8 :: 3])
        assert len(ids) == 10 and not ids & seen
        seen |= ids
    assert "click[next >]" not in info["admissible_actions"]  # the last page has no "Next >"
    obs, *_ = test_env.step("click[next >]")  # so clicking it is a no-op
    assert "Page 5 (Total results: 50)" in obs
    obs, *_ = test_env.step("click[< prev]")
    assert "Page 4 (Total results: 50)" in obs


@pytest.mark.parametrize(
    "action", ["", "jump", "click[nowhere]", "click[]", "search[]", "click[search]", "click[buy now]", "click[next >"]
)
def test_bad_actions_are_no_ops(test_env, action):
    _, info = test_env.reset(2)
    before, *_ = test_env.step(f"search[{info['task']}]")
    obs, reward, done, info = test_env.step(action)
    assert obs == before and reward == 0.0 and done is False and info["score"] == 0.0


def test_expert_reaches_score_one(env):
    for seed in range(40):
        reward, steps, info = play_expert(env, seed)
        assert reward == 1.0 and info["score"] == 1.0 and info["won"] is True, seed
        assert steps <= env.max_turns and info["expert_action"] is None


def test_expert_recovers_from_a_wrong_turn(test_env):
    _, info = test_env.reset(5)
    obs, _, _, info = test_env.step("search[zzz nothing matches]")
    assert "Total results: 0" in obs and info["expert_action"] == "click[back to search]"
    test_env.step("click[back to search]")
    other_type = "granola" if "granola" not in info["task"] else "lipstick"
    obs, _, _, info = test_env.step(f"search[{other_type}]")
    _, _, _, info = test_env.step(f"click[{obs.split(' [SEP] ')[6]}]")
    assert info["expert_action"] == "click[back to search]"
    reward, steps, done = 0.0, 0, False
    while not done and steps < 30:
        _, reward, done, info = test_env.step(info["expert_action"])
        steps += 1
    assert reward == 1.0 and steps == 4 + len(test_env.goal.options)


def test_buying_the_wrong_thing_ends_with_partial_score(test_env):
    _, info = test_env.reset(7)
    obs, *_ = test_env.step(f"search[{info['task']}]")
    target = test_env.goal.asin
    other = next(a for a in obs.split(" [SEP] ")[6::3] if a != target)
    test_env.step(f"click[{other}]")
    obs, reward, done, info = test_env.step("click[buy now]")
    assert done and reward == info["score"] < 1.0 and info["won"] is False and obs.startswith("Thank you")
    again = test_env.step("click[buy now]")
    assert again[0] == obs and again[1] == 0.0 and again[2] is True


def test_train_and_test_goals_are_disjoint():
    train, test = make_generated("train"), make_generated("test")
    train_tasks = {g.instruction for g in train.goals}
    test_tasks = {g.instruction for g in test.goals}
    assert len(test_tasks) == 100 and len(train_tasks) == len(train.goals) > 100
    assert not train_tasks & test_tasks
    assert {test.reset(s)[1]["task"] for s in range(100)} == test_tasks


def test_catalogue_and_goals_are_reproducible():
    a, b = generate_catalog(7, 50), generate_catalog(7, 50)
    assert a == b and a != generate_catalog(8, 50)
    assert len({p.asin for p in a}) == 50 and all(len(p.asin) == 10 and p.asin.startswith("B0") for p in a)
    assert generate_goals(a, 7) == generate_goals(b, 7)
    assert {p.category for p in a} == {"beauty", "electronics", "fashion", "food", "home"}


def test_search_ranks_the_target_high(test_env):
    ranks = []
    for goal in test_env.goals:
        results = test_env.engine.search(goal.instruction)
        ranks.append(results.index(goal.asin) if goal.asin in results else 99)
    ranks.sort()
    assert ranks[len(ranks) // 2] < 10  # the median target is on the first results page
    assert sum(r < 50 for r in ranks) >= 0.95 * len(ranks)
    title = test_env.catalog[test_env.goals[0].asin].title
    assert test_env.engine.search(title)[0] == test_env.goals[0].asin
    assert test_env.engine.search("the and of") == ()


def test_unknown_split_and_parameter_are_named():
    with pytest.raises(ValueError, match="unknown WebShop split 'dev'"):
        make("webshop", split="dev", num_products=30)
    with pytest.raises(TypeError, match="splt"):
        make("webshop", splt="train")


def test_search_keeps_jax_from_taking_the_gpu():
    # bm25s calls JAX at import when it is installed; preallocation would take 75% of a GPU from the policy.
    import grpokit.envs.webshop.search  # noqa: F401

    assert os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
