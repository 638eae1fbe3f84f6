"""A seeded, offline stand-in for WebShop's product catalogue (Yao et al. 2022, arXiv 2207.01206, §3.1).

Each product carries the fields WebShop's engine uses after ``load_products``: an ASIN-like id, ``title``,
``category`` and ``query`` (the search that scraped it), ``product_category`` (levels joined by ``CATEGORY_SEP``),
``attributes``, ``options`` (option group → values), ``description``, ``bullet_points`` (the "Features" page),
``reviews`` and one ``price``. Brands and title modifiers are drawn from per-category pools, so titles of different
categories share no content word (which is what makes WebShop's title-based type reward separate categories).
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field

# category → (product_category root, brand syllables, title modifiers)
CATEGORIES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "beauty": ("Beauty & Personal Care", ("lu", "ve", "ra", "sil", "ka"), ("professional", "salon", "glow")),
    "electronics": ("Electronics", ("tek", "vo", "zen", "trix", "ion"), ("smart", "digital", "portable")),
    "fashion": ("Clothing, Shoes & Jewelry", ("mo", "da", "lan", "ces", "ti"), ("casual", "classic", "slim")),
    "food": ("Grocery & Gourmet Food", ("nu", "bo", "fa", "mie", "gra"), ("organic", "artisan", "homestyle")),
    "home": ("Home & Kitchen", ("ho", "ber", "ne", "sto", "qua"), ("modern", "heavy duty", "compact")),
}

# product type → (category, sub-category path, attribute pool, option groups, price range)
PRODUCT_TYPES: dict[str, tuple[str, str, tuple[str, ...], dict[str, tuple[str, ...]], tuple[float, float]]] = {
    "lipstick": (
        "beauty",
        "Makeup/Lips",
        ("long lasting", "cruelty free", "paraben free", "highly pigmented"),
        {"color": ("red", "pink", "nude", "coral", "berry")},
        (5.0, 40.0),
    ),
    "shampoo": (
        "beauty",
        "Hair Care/Shampoo",
        ("sulfate free", "natural ingredients", "dry hair", "tea tree"),
        {"size": ("8 fl oz", "12 fl oz", "16 fl oz", "32 fl oz")},
        (6.0, 35.0),
    ),
    "face serum": (
        "beauty",
        "Skin Care/Face",
        ("hyaluronic acid", "fine lines", "fragrance free", "vitamin c"),
        {"size": ("1 fl oz", "2 fl oz")},
        (10.0, 60.0),
    ),
    "headphones": (
        "electronics",
        "Headphones/Over-Ear",
        ("noise cancelling", "long battery life", "fast charging", "hands free"),
        {"color": ("black", "white", "silver", "blue")},
        (20.0, 300.0),
    ),
    "phone case": (
        "electronics",
        "Cell Phone Accessories/Cases",
        ("shock absorbing", "easy install", "wireless charging compatible", "slim fit"),
        {"color": ("black", "clear", "purple", "green"), "size": ("iphone 13", "iphone 14", "galaxy s22")},
        (8.0, 30.0),
    ),
    "usb cable": (
        "electronics",
        "Computer Accessories/Cables",
        ("fast charging", "high speed", "braided nylon"),
        {"size": ("3 ft", "6 ft", "10 ft"), "pack": ("1 pack", "2 pack", "3 pack")},
        (5.0, 25.0),
    ),
    "t-shirt": (
        "fashion",
        "Men/Clothing/Shirts",
        ("machine wash", "short sleeve", "cotton blend", "relaxed fit"),
        {"color": ("navy", "white", "heather grey", "olive"), "size": ("small", "medium", "large", "x-large")},
        (10.0, 45.0),
    ),
    "sneakers": (
        "fashion",
        "Women/Shoes/Athletic",
        ("rubber sole", "memory foam", "non slip", "lace up"),
        {"color": ("white", "black", "pink"), "size": ("6", "7", "8", "9", "10")},
        (30.0, 150.0),
    ),
    "dress": (
        "fashion",
        "Women/Clothing/Dresses",
        ("hand wash", "long sleeve", "polyester spandex", "elastic waist"),
        {"color": ("black", "floral", "red", "beige"), "size": ("x-small", "small", "medium", "large")},
        (20.0, 90.0),
    ),
    "granola": (
        "food",
        "Breakfast Foods/Cereals",
        ("gluten free", "non gmo", "high protein", "low sugar"),
        {"flavor": ("honey almond", "dark chocolate", "blueberry"), "pack": ("12 ounce", "24 ounce")},
        (4.0, 25.0),
    ),
    "coffee beans": (
        "food",
        "Beverages/Coffee",
        ("whole bean", "fair trade", "medium roast", "usda organic"),
        {"size": ("12 ounce", "2 pound", "5 pound")},
        (8.0, 70.0),
    ),
    "beef jerky": (
        "food",
        "Snack Foods/Jerky",
        ("high protein", "keto friendly", "individually wrapped"),
        {"flavor": ("teriyaki", "original", "peppered", "sweet & hot"), "pack": ("3 count", "8 count")},
        (6.0, 40.0),
    ),
    "frying pan": (
        "home",
        "Kitchen & Dining/Cookware",
        ("easy to clean", "dishwasher safe", "non stick", "oven safe"),
        {"size": ("8 inch", "10 inch", "12 inch")},
        (15.0, 120.0),
    ),
    "bed sheets": (
        "home",
        "Bedding/Sheets",
        ("deep pocket", "wrinkle free", "breathable microfiber"),
        {"color": ("white", "grey", "sage green", "navy"), "size": ("twin", "queen", "king")},
        (20.0, 100.0),
    ),
    "desk lamp": (
        "home",
        "Lighting/Lamps",
        ("energy saving", "adjustable brightness", "usb port"),
        {"color": ("black", "white", "gold")},
        (15.0, 80.0),
    ),
}

# WebShop's ``product_category`` joins levels with " \u203a " (a single right-pointing angle quote).
CATEGORY_SEP = " \u203a "
REVIEW_TEMPLATES = ("Works as described, would buy again.", "Good value for the price.", "Not what I expected.")


@dataclass(frozen=True)
class Product:
    """One catalogue item, with WebShop's product fields (paper §3.1, ``engine.load_products``)."""

    asin: str
    title: str
    category: str
    query: str
    product_category: str
    attributes: tuple[str, ...]
    options: dict[str, tuple[str, ...]]
    description: str
    bullet_points: tuple[str, ...]
    price: float
    reviews: tuple[str, ...] = field(default_factory=tuple)


def make_asin(rng: random.Random) -> str:
    """An Amazon-style id: "B0" and eight upper-case letters or digits."""
    return "B0" + "".join(rng.choices(string.ascii_uppercase + string.digits, k=8))


def make_product(rng: random.Random, product_type: str, asin: str) -> Product:
    """Draw one product of ``product_type``: brand, a subset of attributes and option values, price and texts."""
    category, sub_path, attr_pool, option_groups, (low, high) = PRODUCT_TYPES[product_type]
    root, syllables, modifiers = CATEGORIES[category]
    brand = "".join(rng.sample(syllables, 2)).capitalize() + rng.choice(syllables)
    attributes = tuple(rng.sample(attr_pool, rng.randint(2, len(attr_pool))))
    options = {
        name: tuple(rng.sample(values, rng.randint(min(2, len(values)), len(values))))
        for name, values in option_groups.items()
    }
    modifier = rng.choice(modifiers)
    title = f"{brand} {attributes[0].title()} {modifier.title()} {product_type.title()}"
    description = f"This {modifier} {product_type} by {brand} is {', '.join(attributes)}."
    bullets = tuple(f"{a.capitalize()} {product_type} for everyday use" for a in attributes)
    reviews = tuple(rng.sample(REVIEW_TEMPLATES, rng.randint(0, 2)))
    return Product(
        asin=asin,
        title=title,
        category=category,
        query=product_type,
        product_category=CATEGORY_SEP.join([root, *sub_path.split("/"), product_type.title()]),
        attributes=attributes,
        options=options,
        description=description,
        bullet_points=bullets,
        price=round(rng.uniform(low, high), 2),
        reviews=reviews,
    )


def generate_catalog(seed: int = 0, num_products: int = 1000) -> list[Product]:
    """``num_products`` products spread evenly over the product types; the same seed gives the same catalogue."""
    rng = random.Random(seed)
    types = sorted(PRODUCT_TYPES)
    asins: set[str] = set()
    products = []
    for i in range(num_products):
        asin = make_asin(rng)
        while asin in asins:
            asin = make_asin(rng)
        asins.add(asin)
        products.append(make_product(rng, types[i % len(types)], asin))
    return products
