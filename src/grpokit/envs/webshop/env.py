"""The WebShop environment in text mode (Yao et al. 2022, arXiv 2207.01206), offline, behind grpokit's env protocol.

``make("webshop", split="train" | "test")``. ``reset(seed)`` plays goal ``seed mod len(split goals)`` and shows the
search page; ``step`` accepts WebShop's two action forms:

* ``search[query]``: as in WebShop's text env, any non-empty query searches from any page (the search bar is only
  shown, and ``search[<your query>]`` only listed as admissible, on the search page);
* ``click[name]``: ``name`` (lower-cased, as WebShop does) must be a clickable of the current page.

Anything else (unknown or malformed action, an unknown clickable, ``click[search]``) is WebShop's no-op: the same page
observation, reward 0, done False. ``click[buy now]`` ends the episode; the reward is WebShop's score ∈ [0, 1]
(``grpokit.envs.webshop.reward``), also in ``info["score"]``, and ``info["won"]`` is score == 1. Every other step
gives reward 0. Steps after the purchase return the final page, reward 0, done True. The 15-turn limit
(``max_turns``) is the caller's to enforce, as in verl-agent.

Products and goals come from WebShop's data files when ``data_dir`` (or the ``WEBSHOP_DATA`` variable) names a folder
holding them, else from the seeded generated catalogue.
"""

from __future__ import annotations

import functools
import os
import re
from typing import Any

from grpokit.envs.base import ENVS
from grpokit.envs.webshop.catalog import Product, generate_catalog
from grpokit.envs.webshop.data import load_webshop
from grpokit.envs.webshop.instructions import Goal, generate_goals, split_goals
from grpokit.envs.webshop.pages import BUY_NOW, NEXT_PAGE, PAGE_SIZE, PREV_PAGE, Page, click, page_hits, render
from grpokit.envs.webshop.reward import get_reward
from grpokit.envs.webshop.search import SearchEngine

ACTION = re.compile(r"(.+)\[(.+)\]")  # WebShop's ``parse_action``


class WebShopEnv:
    """One WebShop session at a time; see the module docstring for the rules."""

    name = "webshop"
    max_turns = 15

    def __init__(self, products: list[Product], goals: list[Goal], engine: SearchEngine | None = None) -> None:
        if not goals:
            raise ValueError("WebShop split has no goals")
        self.catalog = {p.asin: p for p in products}
        self.goals = goals
        self.engine = engine or SearchEngine(products)
        self.goal = goals[0]
        self.page = Page()
        self.score = 0.0
        self._expert_query: dict[str, str] = {}

    def reset(self, seed: int) -> tuple[str, dict[str, Any]]:
        """Start goal ``seed`` mod the number of goals on the search page."""
        self.goal = self.goals[seed % len(self.goals)]
        self.page = Page()
        self.score = 0.0
        observation, clickables = render(self.page, self.goal.instruction, self.catalog)
        return observation, self._info(clickables)

    def step(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        """Apply one ``search[...]`` or ``click[...]``; invalid actions leave the page as it is."""
        reward = 0.0
        if self.page.kind != "done":
            _, clickables = render(self.page, self.goal.instruction, self.catalog)
            match = ACTION.match(action.strip())
            verb, arg = (match.group(1), match.group(2).lower()) if match else (action, "")
            if verb == "search" and arg.strip():
                self.page = Page(kind="results", query=arg, results=self.engine.search(arg))
            elif verb == "click" and arg == BUY_NOW.lower() and arg in clickables:
                self.score = get_reward(self.catalog[self.page.asin], self.goal, self.page.options).score
                self.page = Page(kind="done", asin=self.page.asin, options=self.page.options)
                reward = self.score
            elif verb == "click" and arg in clickables and arg != "search":
                self.page = click(self.page, arg, self.catalog)
        observation, clickables = render(self.page, self.goal.instruction, self.catalog, self.score)
        return observation, reward, self.page.kind == "done", self._info(clickables)

    def _info(self, clickables: list[str]) -> dict[str, Any]:
        actions = ["search[<your query>]"] if self.page.kind == "search" else []
        return {
            "admissible_actions": actions + [f"click[{c}]" for c in clickables],
            "won": self.score == 1.0,
            "task": self.goal.instruction,
            "expert_action": self.expert_action(),
            "score": self.score,
        }

    def expert_query(self) -> str:
        """The query that shows the target on the earliest results page: the instruction itself, else (when the title
        does better) the target's title."""
        key = self.goal.instruction
        if key not in self._expert_query:
            candidates = [key, self.catalog[self.goal.asin].title.lower()]
            self._expert_query[key] = min(candidates, key=lambda q: self._rank(self.engine.search(q)))
        return self._expert_query[key]

    def _rank(self, results: tuple[str, ...]) -> int:
        """The results page (from 0) holding the target; past the last page when it is missing."""
        return results.index(self.goal.asin) // PAGE_SIZE if self.goal.asin in results else len(results)

    def expert_action(self) -> str | None:
        """An admissible action on a shortest known path to score 1: search → page to the target → click it → pick
        each goal option → buy now; a wrong product or search is left by "< prev" or "back to search"."""
        page, target = self.page, self.goal.asin
        on_path = target in page.results
        if page.kind == "done":
            return None
        if page.kind == "search":
            return f"search[{self.expert_query()}]"
        if page.kind == "results" and on_path:
            target_page = page.results.index(target) // PAGE_SIZE + 1
            if target in page_hits(page):
                return f"click[{target.lower()}]"
            return f"click[{(NEXT_PAGE if target_page > page.page_no else PREV_PAGE).lower()}]"
        if page.kind == "item" and page.asin == target:
            missing = [v for n, v in self.goal.options.items() if page.options.get(n) != v]
            return f"click[{missing[0].lower()}]" if missing else f"click[{BUY_NOW.lower()}]"
        if page.kind in ("item", "sub") and (on_path or page.asin == target):
            return f"click[{PREV_PAGE.lower()}]"
        return "click[back to search]"


@ENVS.register("webshop")
def make_webshop(
    *,
    split: str = "train",
    data_dir: str | None = None,
    catalog_seed: int = 0,
    num_products: int = 1000,
    num_test_goals: int = 500,
) -> WebShopEnv:
    """WebShop on ``split`` ("train": goals[num_test_goals:], "test": goals[:num_test_goals], as WebShop/verl-agent).

    ``data_dir`` (default: the ``WEBSHOP_DATA`` variable) names a folder with WebShop's ``items_shuffle_1000.json``
    and ``items_ins_v2_1000.json``; without one, a catalogue of ``num_products`` products and its goals are generated
    from ``catalog_seed`` (which also seeds the prices of loaded data).
    """
    products, goals, engine = _shop(data_dir or os.environ.get("WEBSHOP_DATA"), catalog_seed, num_products)
    return WebShopEnv(products, split_goals(goals, split, num_test_goals), engine)


@functools.lru_cache(maxsize=4)
def _shop(data_dir: str | None, catalog_seed: int, num_products: int) -> tuple[list[Product], list[Goal], SearchEngine]:
    """Catalogue, goals and search index, built once per setting and shared by every environment of a batch
    (environments only read them)."""
    if data_dir:
        products, goals = load_webshop(data_dir, seed=catalog_seed)
    else:
        products = generate_catalog(catalog_seed, num_products)
        goals = generate_goals(products, catalog_seed)
    return products, goals, SearchEngine(products)
