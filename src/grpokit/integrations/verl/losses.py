"""grpokit's DGPO, GPPO and CE-GPPO as verl policy losses (``actor_rollout_ref.actor.policy_loss.loss_mode``).

Each function has the signature of verl's registered losses (``verl.trainer.ppo.core_algos.PolicyLossFn``)::

    loss_fn(old_log_prob, log_prob, advantages, response_mask, loss_agg_mode, config, rollout_is_weights)
        -> (scalar loss, {"actor/pg_clipfrac", "actor/ppo_kl", "actor/pg_clipfrac_lower"})

The per-token loss is grpokit's (``grpokit.core.losses``); it is multiplied by verl's rollout-correction weights when
given and reduced by verl's own ``agg_loss`` with ``config.global_batch_info`` (data-parallel size, global token and
sequence counts), so the loss is the global mini-batch's whatever the data-parallel split. The metrics are the three
verl's built-in losses return, as floats: ``pg_clipfrac`` the fraction of valid tokens on a clipped or decayed side
(``r < 1−ε_low, A < 0`` or ``r > 1+ε_high, A > 0``), ``ppo_kl`` the mean of ``log π_old − log π_θ``,
``pg_clipfrac_lower`` the fraction hit by the dual clip (always 0 for DGPO, which has none).

Hyperparameters: ε from ``clip_ratio_low`` / ``clip_ratio_high`` (``clip_ratio`` where one is None), the dual clip of
GPPO / CE-GPPO from ``clip_ratio_c`` (verl's default 3, as in the GPPO authors' runs; DGPO ignores it, as the official
code does), and ``dgpo_n``, ``dgpo_m``, ``gppo_beta_low``, ``gppo_beta_high`` from ``config.policy_loss`` (see
``grpokit.integrations.verl.settings.PolicyLossConfig``; absent or None: the loss's own default).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from verl.trainer.ppo.core_algos import agg_loss, register_policy_loss

from grpokit.core.losses import LOG_RATIO_CLAMP, POLICY_LOSSES, masked_mean, prepare_loss_inputs
from grpokit.integrations.verl.names import POLICY_LOSSES as NAMES

# grpokit loss keyword  ←  field of verl's ``config.policy_loss`` section
_POLICY_LOSS_FIELDS = {
    "dgpo": {"n": "dgpo_n", "m": "dgpo_m"},
    "gppo": {"beta_low": "gppo_beta_low", "beta_high": "gppo_beta_high"},
    "cegppo": {"beta_low": "gppo_beta_low", "beta_high": "gppo_beta_high"},
}
_DUAL_CLIP = {"gppo", "cegppo"}


def _get(section: Any, key: str) -> Any:
    if section is None:
        return None
    getter = getattr(section, "get", None)
    return getter(key, None) if getter is not None else getattr(section, key, None)


def loss_params(name: str, config: Any) -> dict[str, float]:
    """The keyword parameters of grpokit's loss ``name`` taken from verl's actor ``config``."""
    if config is None:
        raise ValueError(f"grpokit's {name!r} loss needs verl's actor config (for clip_ratio_low/high)")
    clip = _get(config, "clip_ratio")
    low, high = _get(config, "clip_ratio_low"), _get(config, "clip_ratio_high")
    params: dict[str, float] = {
        "eps_low": float(clip if low is None else low),
        "eps_high": float(clip if high is None else high),
    }
    section = _get(config, "policy_loss")
    for keyword, field_name in _POLICY_LOSS_FIELDS[name].items():
        value = _get(section, field_name)
        if value is not None:
            params[keyword] = float(value)
    if name in _DUAL_CLIP:
        clip_c = _get(config, "clip_ratio_c")
        params["clip_c"] = float(3.0 if clip_c is None else clip_c)
    return params


def token_losses(
    name: str,
    old_log_prob: Tensor,
    log_prob: Tensor,
    advantages: Tensor,
    response_mask: Tensor,
    params: dict[str, float],
) -> tuple[Tensor, dict[str, Tensor], Tensor]:
    """``(loss_mat, regions, mask)``: grpokit's per-token loss ``name`` and its boolean region masks.

    Inputs are prepared as ``grpokit.core.losses.compute_policy_loss`` prepares them (``prepare_loss_inputs``).
    """
    log_prob, old_log_prob, advantages, mask = prepare_loss_inputs(log_prob, old_log_prob, advantages, response_mask)
    loss_mat, regions = POLICY_LOSSES.call(name, log_prob, old_log_prob, advantages, mask, **params)
    return loss_mat, regions, mask


def verl_policy_loss(
    name: str,
    old_log_prob: Tensor,
    log_prob: Tensor,
    advantages: Tensor,
    response_mask: Tensor,
    loss_agg_mode: str = "token-mean",
    config: Any = None,
    rollout_is_weights: Tensor | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """grpokit's loss ``name`` in verl's calling convention (see the module docstring)."""
    loss_mat, regions, mask = token_losses(
        name, old_log_prob, log_prob, advantages, response_mask, loss_params(name, config)
    )
    valid = mask.bool()
    if rollout_is_weights is not None:  # verl's rollout correction: per-token importance weights (constants)
        loss_mat = loss_mat * torch.where(valid, rollout_is_weights.detach().to(loss_mat.dtype), 0.0)
    batch_info = dict(_get(config, "global_batch_info") or {})
    loss = agg_loss(loss_mat=loss_mat, loss_mask=mask, loss_agg_mode=loss_agg_mode, **batch_info)
    with torch.no_grad():
        clipped = regions["clipfrac_low"] | regions["clipfrac_high"]
        dual = regions.get("dualclip_frac", torch.zeros_like(clipped))
        log_ratio = torch.where(valid, (log_prob.detach() - old_log_prob.detach()).to(mask.dtype), 0.0)
        log_ratio = log_ratio.clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
        metrics = {
            "actor/pg_clipfrac": masked_mean(clipped.to(mask.dtype), mask).item(),
            "actor/ppo_kl": masked_mean(-log_ratio, mask).item(),
            "actor/pg_clipfrac_lower": masked_mean(dual.to(mask.dtype), mask).item(),
        }
    return loss, metrics


def _verl_loss(name: str):
    def loss_fn(
        old_log_prob: Tensor,
        log_prob: Tensor,
        advantages: Tensor,
        response_mask: Tensor,
        loss_agg_mode: str = "token-mean",
        config: Any = None,
        rollout_is_weights: Tensor | None = None,
    ) -> tuple[Tensor, dict[str, float]]:
        return verl_policy_loss(
            name, old_log_prob, log_prob, advantages, response_mask, loss_agg_mode, config, rollout_is_weights
        )

    loss_fn.__name__ = f"compute_policy_loss_{name}"
    loss_fn.__qualname__ = loss_fn.__name__
    loss_fn.__doc__ = f"grpokit's {name!r} policy loss in verl's convention.\n\n{POLICY_LOSSES.get(name).__doc__}"
    return loss_fn


LOSS_FUNCTIONS = {name: _verl_loss(name) for name in NAMES}


def register() -> None:
    """Add ``dgpo``, ``gppo`` and ``cegppo`` to verl's ``POLICY_LOSS_REGISTRY``."""
    for name, fn in LOSS_FUNCTIONS.items():
        register_policy_loss(name)(fn)
