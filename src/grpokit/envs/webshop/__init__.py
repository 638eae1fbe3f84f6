"""WebShop (Yao et al. 2022, arXiv 2207.01206) as an offline text environment; importing it registers "webshop"."""

from grpokit.envs.webshop.env import WebShopEnv, make_webshop

__all__ = ["WebShopEnv", "make_webshop"]
