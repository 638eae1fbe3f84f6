"""WebShop's pages in text mode and the clicks between them (arXiv 2207.01206, §3.1 and Fig. 1; code
``web_agent_site/envs/web_agent_text_env.py`` and ``engine``'s HTML templates).

A page renders as its visible texts joined by " [SEP] " (observation mode "text"), each page opening with
"WebShop [SEP] Instruction: [SEP] <instruction>". Clickables are keyed by their lower-cased text, as
``get_available_actions`` keys buttons and product links; option values are keyed lower-cased too (WebShop keys
them as written, but its loader already lower-cases every option value). As in WebShop, the search page lists its
"Search" button as clickable although clicking it does nothing, and the final page after "Buy Now" shows the score.
When two option groups share a value, clicking it sets the first group (WebShop's dict keeps the last).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from grpokit.envs.webshop.catalog import Product

PAGE_SIZE = 10
BACK_TO_SEARCH, NEXT_PAGE, PREV_PAGE, BUY_NOW = "Back to Search", "Next >", "< Prev", "Buy Now"
SUB_PAGES = ("Description", "Features", "Reviews")


@dataclass(frozen=True)
class Page:
    """Where the shopper is: ``kind`` is "search", "results", "item", "sub" (description/features/reviews) or
    "done"; results pages keep the query, its hits and the page number, which item pages remember for "< Prev"."""

    kind: str = "search"
    query: str = ""
    results: tuple[str, ...] = ()
    page_no: int = 1
    asin: str = ""
    options: dict[str, str] = field(default_factory=dict)
    sub: str = ""


def num_pages(page: Page) -> int:
    return max(1, math.ceil(len(page.results) / PAGE_SIZE))


def page_hits(page: Page) -> tuple[str, ...]:
    """The product ids shown on a results page."""
    start = (page.page_no - 1) * PAGE_SIZE
    return page.results[start : start + PAGE_SIZE]


def render(page: Page, instruction: str, catalog: dict[str, Product], score: float = 0.0) -> tuple[str, list[str]]:
    """``(observation, clickables)`` of ``page``; clickables are the lower-cased texts ``click[...]`` accepts, in
    WebShop's order (buttons, product links, then option values)."""
    parts = ["WebShop", "Instruction:", instruction]
    buttons: list[str] = []
    if page.kind == "search":
        buttons = ["Search"]
        parts += buttons
    elif page.kind == "results":
        buttons = [BACK_TO_SEARCH]
        buttons += [PREV_PAGE] if page.page_no > 1 else []
        buttons += [NEXT_PAGE] if page.page_no < num_pages(page) else []
        parts += [BACK_TO_SEARCH, f"Page {page.page_no} (Total results: {len(page.results)})", *buttons[1:]]
        for asin in page_hits(page):
            parts += [asin, catalog[asin].title, f"${catalog[asin].price:.2f}"]
        buttons += list(page_hits(page))
    elif page.kind == "item":
        product = catalog[page.asin]
        buttons = [BACK_TO_SEARCH, PREV_PAGE, *SUB_PAGES, BUY_NOW]
        parts += [BACK_TO_SEARCH, PREV_PAGE]
        for name, values in product.options.items():
            parts += [name, *values]
        parts += [product.title, f"Price: ${product.price:.2f}", "Rating: N.A.", *SUB_PAGES, BUY_NOW]
        buttons += [v for values in product.options.values() for v in values]
    elif page.kind == "sub":
        product = catalog[page.asin]
        buttons = [BACK_TO_SEARCH, PREV_PAGE]
        body = {"description": [product.description], "features": list(product.bullet_points)}
        parts += [*buttons, *body.get(page.sub, list(product.reviews))]
    else:
        parts = ["Thank you for shopping with us!", "Purchased", "asin", page.asin, "options", str(page.options)]
        parts += ["Your score (min 0.0, max 1.0)", f"{score:.4g}"]
    return " [SEP] ".join(parts), [b.lower() for b in buttons]


def click(page: Page, name: str, catalog: dict[str, Product]) -> Page:
    """The page reached by clicking clickable ``name`` (lower-cased text) on ``page`` (``SimServer.receive``)."""
    if name == BACK_TO_SEARCH.lower():
        return Page()
    if page.kind == "results":
        if name == NEXT_PAGE.lower():
            return replace(page, page_no=page.page_no + 1)
        if name == PREV_PAGE.lower():
            return replace(page, page_no=page.page_no - 1)
        asin = next(a for a in page_hits(page) if a.lower() == name)
        return replace(page, kind="item", asin=asin, options={})
    if name == PREV_PAGE.lower():
        return replace(page, kind="item" if page.kind == "sub" else "results", sub="")
    if name in (s.lower() for s in SUB_PAGES):
        return replace(page, kind="sub", sub=name)
    for option, values in catalog[page.asin].options.items():
        if name in (v.lower() for v in values):
            return replace(page, options={**page.options, option: next(v for v in values if v.lower() == name)})
    raise ValueError(f"{name!r} is not clickable on a {page.kind} page")
