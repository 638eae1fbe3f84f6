"""WebShop's purchase reward (Yao et al. 2022, arXiv 2207.01206, §3.1 "Reward"; code ``engine/goal.py:get_reward``).

    score = r_type · (|U_att ∩ Y_att| + |U_opt ∩ Y_opt| + 1[y_price ≤ u_price]) / (|U_att| + |U_opt| + 1)

* r_att: a goal attribute counts when some product attribute has ``token_set_ratio`` > 85 with it, or it occurs as a
  substring of the title, bullet points or description (lower-cased), as in ``get_attribute_reward``.
* r_option: a goal option value counts when some chosen option value has ``token_set_ratio`` > 85 with it, after
  both are reduced to a colour name when they contain one (``normalize_color``), as in ``get_option_reward``. The
  goal's option *values* are compared (WebShop's synthetic goals pass ``dict.items()`` there, a known quirk).
* r_price: 1 when the price is at most the goal's upper bound (goals without a bound use 1,000,000, as WebShop).
* r_type (``get_type_reward``): 1 when the query matches, or ≥ 2 levels of ``product_category`` match, or
  title_score > 0.2; else 0.5; then 0.1 if title_score < 0.1 and 0 if title_score = 0. title_score is the share of
  the goal name's type words found in the bought product's name. WebShop keeps spaCy NOUN/PROPN tokens; without a
  tagger (and a model download) we keep every non-stop-word token, a documented approximation.
"""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz import fuzz, utils

from grpokit.envs.webshop.catalog import CATEGORY_SEP, Product
from grpokit.envs.webshop.instructions import Goal
from grpokit.envs.webshop.search import tokenize

FUZZY_THRESHOLD = 85
# A subset of WebShop's ``normalize.COLOR_SET``.
COLOR_SET = (
    "beige", "berry", "black", "blue", "brown", "clear", "coral", "gold", "green", "grey", "gray", "navy", "nude",
    "olive", "orange", "pink", "purple", "red", "silver", "white", "yellow",
)  # fmt: skip


@dataclass(frozen=True)
class RewardParts:
    """The score and its WebShop sub-components (``get_reward(..., verbose=True)``)."""

    score: float
    r_type: float
    num_attr_matches: int
    num_option_matches: int
    r_price: bool
    title_score: float


def similar(a: str, b: str) -> bool:
    """WebShop's fuzzy test: ``token_set_ratio`` > 85 after thefuzz's default processing (lower-case, punctuation to
    spaces), so e.g. "x-small" matches "small" as it does in WebShop."""
    return fuzz.token_set_ratio(a, b, processor=utils.default_process) > FUZZY_THRESHOLD


def normalize_color(text: str) -> str:
    """The first colour name contained in ``text``, else ``text`` (WebShop's ``normalize_color``)."""
    return next((c for c in COLOR_SET if c in text), text)


def attribute_matches(product: Product, goal: Goal) -> int:
    """How many goal attributes the product has (fuzzy attribute match, else a substring of its texts)."""
    texts = " ".join([product.title, " ".join(product.bullet_points), product.description]).lower()
    return sum(any(similar(p, g) for p in product.attributes) or g in texts for g in goal.attributes)


def option_matches(chosen: dict[str, str], goal: Goal) -> int:
    """How many goal option values are among the chosen ones (fuzzy, colours normalized)."""
    picked = [normalize_color(v) for v in chosen.values()]
    return sum(any(similar(p, normalize_color(g)) for p in picked) for g in goal.options.values())


def type_reward(product: Product, goal: Goal) -> tuple[float, float]:
    """``(r_type, title_score)`` from query, category and title overlap (``get_type_reward``)."""
    query_match = product.query == goal.query
    bought_levels = {x.strip() for x in product.product_category.split(CATEGORY_SEP.strip())}
    goal_levels = {x.strip() for x in goal.product_category.split(CATEGORY_SEP.strip())}
    category_match = len(bought_levels & goal_levels) >= 2
    desired = set(tokenize(goal.name))
    title_score = len(set(tokenize(product.title)) & desired) / len(desired) if desired else 0.2
    r_type = 1.0 if query_match or category_match or title_score > 0.2 else 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return r_type, title_score


def get_reward(product: Product, goal: Goal, chosen: dict[str, str], price: float | None = None) -> RewardParts:
    """WebShop's score ∈ [0, 1] for buying ``product`` with options ``chosen`` at ``price`` (default its price)."""
    r_type, title_score = type_reward(product, goal)
    n_att = attribute_matches(product, goal)
    n_opt = option_matches(chosen, goal)
    r_price = (product.price if price is None else price) <= goal.price_upper
    score = r_type * (n_att + n_opt + r_price) / (len(goal.attributes) + len(goal.options) + 1)
    return RewardParts(score, r_type, n_att, n_opt, r_price, title_score)
