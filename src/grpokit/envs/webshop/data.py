"""Loading WebShop's own data files (arXiv 2207.01206; code ``web_agent_site/engine/engine.py:load_products`` and
``engine/goal.py:get_synthetic_goals``), used when they are on disk; nothing is downloaded.

* ``items_shuffle_1000.json``: a list of products with ``asin``, ``name`` (title), ``category``, ``query``,
  ``product_category``, ``full_description``, ``small_description`` (bullet points), ``pricing`` ("$a" or "$a$b") and
  ``customization_options`` ({group: [{"value": ...}]}).
* ``items_ins_v2_1000.json``: {asin: {"attributes", "instruction", "instruction_attributes"}}.

Goals are WebShop's synthetic goals (``human_goals=False``, as verl-agent uses): one per combination of option values,
"<instruction> with <group>: <value>, and ... , and price lower than X dollars". Prices are drawn uniformly within a
price range and goals shuffled with ``random.Random(seed)`` rather than WebShop's global ``random`` state, so goal order
and prices differ from WebShop's own run.
"""

from __future__ import annotations

import itertools
import json
import random
import re
from pathlib import Path
from typing import Any

from grpokit.envs.webshop.catalog import Product
from grpokit.envs.webshop.instructions import Goal, price_bound

PRODUCTS_FILE, ATTRIBUTES_FILE = "items_shuffle_1000.json", "items_ins_v2_1000.json"


def parse_price(rng: random.Random, pricing: str | None) -> float:
    """WebShop's price: 100 without pricing, the price itself, or uniform within "$low$high"."""
    prices = [float(re.sub(r"[^\d.]", "", p) or 0) for p in (pricing or "").split("$")[1:]]
    if not prices:
        return 100.0
    return prices[0] if len(prices) == 1 else rng.uniform(*prices[:2])


def load_product(rng: random.Random, raw: dict[str, Any], attributes: dict[str, Any]) -> Product:
    """One product as ``load_products`` cleans it (option values lower-cased, "/" → " | ")."""
    bullets = raw.get("small_description") or []
    options = {
        name.lower(): tuple(o["value"].strip().replace("/", " | ").lower() for o in contents)
        for name, contents in (raw.get("customization_options") or {}).items()
        if contents
    }
    return Product(
        asin=raw["asin"],
        title=raw["name"],
        category=raw["category"],
        query=raw["query"].lower().strip(),
        product_category=raw["product_category"],
        attributes=tuple(attributes.get(raw["asin"], {}).get("attributes") or ["DUMMY_ATTR"]),
        options=options,
        description=raw.get("full_description") or "",
        bullet_points=tuple(bullets if isinstance(bullets, list) else [bullets]),
        price=parse_price(rng, raw.get("pricing")),
    )


def synthetic_goals(rng: random.Random, product: Product, entry: dict[str, Any]) -> list[Goal]:
    """``get_synthetic_goals`` for one product: a goal per combination of its option values."""
    upper, price_text = price_bound(rng, product.price)
    names = sorted(product.options)
    goals = []
    for combination in itertools.product(*(product.options[n] for n in names)):
        options = dict(zip(names, combination, strict=True))
        option_text = ", and ".join(f"{k}: {v}" for k, v in options.items())
        option_text = f" with {option_text}" if option_text else ""
        goals.append(
            Goal(
                asin=product.asin,
                instruction=f"{entry['instruction']}{option_text}{price_text}",
                attributes=tuple(entry["instruction_attributes"]),
                options=options,
                price_upper=upper,
                query=product.query,
                product_category=product.product_category,
                name=product.title,
            )
        )
    return goals


def load_webshop(data_dir: str | Path, seed: int = 0) -> tuple[list[Product], list[Goal]]:
    """Products and shuffled synthetic goals from WebShop's files in ``data_dir``; a missing file is named."""
    folder = Path(data_dir)
    missing = [f for f in (PRODUCTS_FILE, ATTRIBUTES_FILE) if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(f"WebShop data folder {folder} lacks {', '.join(missing)}")
    raw_products = json.loads((folder / PRODUCTS_FILE).read_text())
    attributes = json.loads((folder / ATTRIBUTES_FILE).read_text())
    rng = random.Random(seed)
    products: dict[str, Product] = {}
    for raw in raw_products:
        asin = raw.get("asin", "nan")
        if asin != "nan" and len(asin) <= 10 and asin not in products:
            products[asin] = load_product(rng, raw, attributes)
    goals = [
        goal
        for asin, product in products.items()
        if (attributes.get(asin) or {}).get("instruction") and attributes[asin].get("instruction_attributes")
        for goal in synthetic_goals(rng, product, attributes[asin])
    ]
    rng.shuffle(goals)
    return list(products.values()), goals
