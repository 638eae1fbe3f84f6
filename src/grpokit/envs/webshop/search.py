"""BM25 product search, standing in for WebShop's Pyserini (Lucene) index (arXiv 2207.01206, §3.1).

Each document is what WebShop indexes (``convert_product_file_format.py``): title, description, the first bullet
point and "name: v1, v2" option text, lower-cased. Scoring is ``bm25s`` with Lucene's defaults k1=0.9, b=0.4, which
Pyserini uses; a search returns at most 50 products with a positive score, best first (WebShop asks for 50 hits).
"""

from __future__ import annotations

import os
import re

# bm25s tries JAX's top_k when JAX is installed, and that first JAX call takes 75% of the GPU's memory by default:
# a 1.5B WebShop run then ran out of memory on an 80 GB H100. We only score with numpy; JAX may allocate on demand.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import bm25s
import numpy as np

from grpokit.envs.webshop.catalog import Product

TOP_K = 50
# English function words plus the boilerplate of WebShop instructions ("i need ..., and price lower than ...").
STOPWORDS = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "i", "if", "in", "into", "is", "it",
    "its", "me", "my", "of", "on", "or", "so", "such", "that", "the", "their", "then", "there", "these", "they",
    "this", "to", "was", "will", "with", "want", "need", "looking", "find", "am", "searching", "dollars",
    "price", "lower", "than",
))  # fmt: skip


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens without stop words (and without the instruction boilerplate of a goal)."""
    return [t for t in re.findall(r"[a-z0-9]+", text.lower()) if t not in STOPWORDS]


def document_text(product: Product) -> str:
    """The text WebShop indexes for a product."""
    option_text = ", and ".join(f"{name}: {', '.join(values)}" for name, values in product.options.items())
    first_bullet = product.bullet_points[0] if product.bullet_points else ""
    return " ".join([product.title, product.description, first_bullet, option_text]).lower()


class SearchEngine:
    """Ranks the catalogue for a free-text query."""

    def __init__(self, products: list[Product]) -> None:
        self.asins = [p.asin for p in products]
        self.bm25 = bm25s.BM25(k1=0.9, b=0.4)
        self.bm25.index([tokenize(document_text(p)) for p in products], show_progress=False)

    def search(self, query: str, k: int = TOP_K) -> tuple[str, ...]:
        """The ids of up to ``k`` products matching ``query``, best first (ties by catalogue order)."""
        tokens = tokenize(query)
        if not tokens:
            return ()
        scores = self.bm25.get_scores(tokens)
        order = np.argsort(-scores, kind="stable")[:k]
        return tuple(self.asins[i] for i in order if scores[i] > 0)
