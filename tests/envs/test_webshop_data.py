"""Loading WebShop's own JSON files (``items_shuffle_1000.json`` / ``items_ins_v2_1000.json``) from a folder."""

import json

import pytest

import grpokit.envs.webshop  # noqa: F401  (registers "webshop")
from grpokit.envs import make
from grpokit.envs.webshop.catalog import CATEGORY_SEP
from grpokit.envs.webshop.data import load_webshop


def raw_product(asin, name, query, pricing, options):
    return {
        "asin": asin,
        "name": name,
        "category": "beauty",
        "query": f" {query.upper()} ",
        "product_category": CATEGORY_SEP.join(["Beauty & Personal Care", "Makeup", "Lips"]),
        "full_description": f"A {query}.",
        "small_description": [f"Nice {query}"],
        "pricing": pricing,
        "customization_options": options,
        "images": [],
    }


@pytest.fixture
def data_dir(tmp_path):
    products = [
        raw_product(
            "B0LIPSTICK",
            "Rouge Long Lasting Lipstick",
            "lipstick",
            "$12.00",
            {"Color": [{"value": "Red"}, {"value": "Pink/Rose"}], "Size": None},
        ),
        raw_product("B0LIPGLOSS", "Shine Lip Gloss", "lip gloss", "$5.00$9.00", {}),
        raw_product("B0LIPGLOSS", "duplicate id is skipped", "x", "", {}),
        raw_product("nan", "no id", "x", "", {}),
    ]
    attributes = {
        "B0LIPSTICK": {
            "attributes": ["long lasting"],
            "instruction": "i need a long lasting lipstick",
            "instruction_attributes": ["long lasting"],
        },
        "B0LIPGLOSS": {"attributes": ["shiny"], "instruction": "", "instruction_attributes": []},
    }
    (tmp_path / "items_shuffle_1000.json").write_text(json.dumps(products))
    (tmp_path / "items_ins_v2_1000.json").write_text(json.dumps(attributes))
    return tmp_path


def test_loader_cleans_products_and_builds_synthetic_goals(data_dir):
    products, goals = load_webshop(data_dir)
    assert [p.asin for p in products] == ["B0LIPSTICK", "B0LIPGLOSS"]
    lipstick, gloss = products
    assert lipstick.options == {"color": ("red", "pink | rose")} and lipstick.query == "lipstick"
    assert lipstick.price == 12.0 and 5.0 <= gloss.price <= 9.0
    assert {g.instruction.split(", and price")[0] for g in goals} == {
        "i need a long lasting lipstick with color: red",
        "i need a long lasting lipstick with color: pink | rose",
    }
    for goal in goals:
        assert goal.price_upper in (30.0, 40.0, 50.0)  # the larger of two of the next four multiples of ten
        assert goal.instruction.endswith(f", and price lower than {goal.price_upper:.2f} dollars")
        assert goal.attributes == ("long lasting",) and goal.name == lipstick.title


def test_env_plays_real_data_from_the_environment_variable(data_dir, monkeypatch):
    monkeypatch.setenv("WEBSHOP_DATA", str(data_dir))
    env = make("webshop", split="test", num_test_goals=1)
    _, info = env.reset(0)
    assert info["task"].startswith("i need a long lasting lipstick with color: ")
    done = False
    while not done:
        _, reward, done, info = env.step(info["expert_action"])
    assert reward == 1.0 and info["won"]


def test_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"items_shuffle_1000\.json, items_ins_v2_1000\.json"):
        make("webshop", data_dir=str(tmp_path))
