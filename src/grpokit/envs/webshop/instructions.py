"""Shopping goals generated from target products, and WebShop's train/test goal split (arXiv 2207.01206, §3.1).

A goal names a target product's type, a subset of its attributes, one value per option group and, as in WebShop's
``get_human_goals``, a price bound drawn from the next multiples of ten above the target's price.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from grpokit.envs.webshop.catalog import Product

# WebShop's ``PRICE_RANGE``: candidate upper bounds are multiples of ten.
PRICE_RANGE = [10.0 * i for i in range(1, 100)]
NO_PRICE_LIMIT = 1_000_000.0
OPENINGS = ("i need", "i am looking for", "i want", "find me", "i'm searching for")
OPTION_PHRASES = {"color": "in {} color", "size": "in size {}", "flavor": "in {} flavor", "pack": "in a {}"}


@dataclass(frozen=True)
class Goal:
    """What to buy: WebShop's goal dict (``asin``, ``instruction_text``, ``attributes``, ``goal_options``,
    ``price_upper``) plus the target's ``query``, ``product_category`` and ``name`` used by the type reward."""

    asin: str
    instruction: str
    attributes: tuple[str, ...]
    options: dict[str, str]
    price_upper: float
    query: str
    product_category: str
    name: str


def price_bound(rng: random.Random, price: float) -> tuple[float, str]:
    """WebShop's rule: pick the larger of two of the next four multiples of ten above ``price``, else no bound."""
    candidates = [p for p in PRICE_RANGE if p > price][:4]
    if len(candidates) < 2:
        return NO_PRICE_LIMIT, ""
    upper = sorted(rng.sample(candidates, 2))[1]
    return upper, f", and price lower than {upper:.2f} dollars"


def make_goal(rng: random.Random, product: Product) -> Goal:
    """One human-style instruction for ``product``, e.g. "i need a long lasting lipstick in red color, and price
    lower than 30.00 dollars"."""
    attributes = tuple(rng.sample(product.attributes, rng.randint(1, min(3, len(product.attributes)))))
    options = {name: rng.choice(values) for name, values in sorted(product.options.items())}
    upper, price_text = price_bound(rng, product.price)
    option_text = " and ".join(OPTION_PHRASES.get(n, f"with {n} {{}}").format(v) for n, v in options.items())
    article = "an" if attributes[0][0] in "aeiou" else "a"
    text = f"{rng.choice(OPENINGS)} {article} {' and '.join(attributes)} {product.query}"
    text += f" {option_text}" if option_text else ""
    return Goal(
        asin=product.asin,
        instruction=text + price_text,
        attributes=attributes,
        options=options,
        price_upper=upper,
        query=product.query,
        product_category=product.product_category,
        name=product.title,
    )


def generate_goals(products: list[Product], seed: int = 0, goals_per_product: int = 2) -> list[Goal]:
    """Up to ``goals_per_product`` goals per product, duplicates of an instruction dropped, shuffled by ``seed``
    (WebShop shuffles its goals with a fixed seed too), so every instruction text occurs once."""
    rng = random.Random(seed)
    goals: dict[str, Goal] = {}
    for product in products:
        for _ in range(goals_per_product):
            goal = make_goal(rng, product)
            goals.setdefault(goal.instruction, goal)
    ordered = list(goals.values())
    rng.shuffle(ordered)
    return ordered


def split_goals(goals: list[Goal], split: str, num_test: int = 500) -> list[Goal]:
    """WebShop's split by goal index: "test" is goals[:num_test], "train" the rest (as in verl-agent's WebShop)."""
    if split == "test":
        return goals[:num_test]
    if split == "train":
        return goals[num_test:]
    raise ValueError(f"unknown WebShop split {split!r}; known: test, train")
