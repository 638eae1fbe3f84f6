"""WebShop's purchase reward (arXiv 2207.01206 §3.1, ``get_reward``) on hand-computed cases."""

import pytest

from grpokit.envs.webshop.catalog import CATEGORY_SEP, Product
from grpokit.envs.webshop.instructions import Goal
from grpokit.envs.webshop.reward import get_reward, normalize_color, similar

LIPSTICK = Product(
    asin="B000000001",
    title="Velora Long Lasting Salon Lipstick",
    category="beauty",
    query="lipstick",
    product_category=CATEGORY_SEP.join(["Beauty & Personal Care", "Makeup", "Lips", "Lipstick"]),
    attributes=("long lasting", "cruelty free"),
    options={"color": ("red", "pink"), "size": ("small", "large")},
    description="This salon lipstick by Velora is long lasting, cruelty free.",
    bullet_points=("Long lasting lipstick for everyday use",),
    price=12.5,
)
GOAL = Goal(
    asin=LIPSTICK.asin,
    instruction="i need a long lasting and cruelty free lipstick in red color and in size large, and price lower "
    "than 30.00 dollars",
    attributes=("long lasting", "cruelty free"),
    options={"color": "red", "size": "large"},
    price_upper=30.0,
    query="lipstick",
    product_category=LIPSTICK.product_category,
    name=LIPSTICK.title,
)
RIGHT = {"color": "red", "size": "large"}


def with_fields(**changes):
    return Product(**{**LIPSTICK.__dict__, **changes})


def test_full_match_scores_one():
    parts = get_reward(LIPSTICK, GOAL, RIGHT)
    assert parts.score == 1.0 and parts.r_type == 1.0 and parts.r_price


def test_missing_attribute_costs_one_fifth():
    product = with_fields(
        attributes=("long lasting",), description="Long lasting.", bullet_points=("Long lasting lipstick",)
    )
    parts = get_reward(product, GOAL, RIGHT)
    assert parts.num_attr_matches == 1
    assert parts.score == pytest.approx(4 / 5)


def test_attribute_found_in_text_counts():
    product = with_fields(attributes=("long lasting",))  # "cruelty free" is still in the description
    assert get_reward(product, GOAL, RIGHT).score == 1.0


def test_wrong_option_and_missing_option():
    assert get_reward(LIPSTICK, GOAL, {"color": "pink", "size": "large"}).score == pytest.approx(4 / 5)
    assert get_reward(LIPSTICK, GOAL, {"color": "red"}).score == pytest.approx(4 / 5)
    assert get_reward(LIPSTICK, GOAL, {}).score == pytest.approx(3 / 5)


def test_over_budget_loses_the_price_term():
    parts = get_reward(with_fields(price=31.0), GOAL, RIGHT)
    assert not parts.r_price and parts.score == pytest.approx(4 / 5)
    assert get_reward(LIPSTICK, GOAL, RIGHT, price=30.0).score == 1.0  # the bound is inclusive


def test_wrong_category_scores_zero():
    pan = Product(
        asin="B000000002",
        title="Hoberqua Non Stick Modern Frying Pan",
        category="home",
        query="frying pan",
        product_category=CATEGORY_SEP.join(["Home & Kitchen", "Kitchen & Dining", "Cookware", "Frying Pan"]),
        attributes=("non stick",),
        options={"size": ("10 inch",)},
        description="This modern frying pan by Hoberqua is non stick.",
        bullet_points=("Non stick frying pan for everyday use",),
        price=20.0,
    )
    parts = get_reward(pan, GOAL, {"size": "10 inch"})
    assert parts.title_score == 0.0 and parts.r_type == 0.0 and parts.score == 0.0


def test_type_reward_levels():
    # The goal name "Velora Long Lasting Salon Lipstick" has 5 type words.
    same_category = with_fields(title="Kasil Lip Gloss")  # no shared word: title_score 0 overrides the category
    assert get_reward(same_category, GOAL, RIGHT).r_type == 0.0
    unrelated = {"query": "x", "product_category": CATEGORY_SEP.join(["A", "B"])}
    assert get_reward(with_fields(title="Salon Lipstick", **unrelated), GOAL, RIGHT).r_type == 1.0  # 2/5 > 0.2
    assert get_reward(with_fields(title="Lipstick", **unrelated), GOAL, RIGHT).r_type == 0.5  # 1/5, no match
    assert get_reward(with_fields(title="Lipstick"), GOAL, RIGHT).r_type == 1.0  # 1/5, but the query matches
    long_name = Goal(**{**GOAL.__dict__, "name": "a1 b1 c1 d1 e1 f1 g1 h1 i1 j1 lipstick"})
    parts = get_reward(with_fields(title="Lipstick"), long_name, RIGHT)
    assert parts.title_score == pytest.approx(1 / 11) and parts.r_type == 0.1
    assert parts.score == pytest.approx(0.1)


def test_colour_normalisation():
    assert normalize_color("dark red") == "red" and normalize_color("small") == "small"
    assert (
        get_reward(with_fields(options={"color": ("dark red",)}), GOAL, {"color": "dark red", "size": "large"}).score
        == 1
    )


def test_fuzzy_matching_follows_thefuzz_processing():
    assert similar("x-small", "small")  # punctuation becomes a space, then one token set contains the other
    assert similar("Long Lasting", "long lasting") and not similar("pink", "red")
