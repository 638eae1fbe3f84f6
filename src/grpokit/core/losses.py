"""Token-level policy-gradient losses for group-based RL of LLMs.

Every loss is a per-token surrogate over ``(batch, tokens)`` tensors. Writing ``r = π_θ/π_old`` for the
token's importance ratio and ``A`` for its advantage, the gradient of the per-token loss is
``-A · w(r) · ∇log π_θ``: the losses differ only in the weight ``w(r)``. Each loss's docstring gives its
``w``; unclipped importance sampling has ``w = r``. All surrogates here are written so that the forward
value of a token's loss is exactly ``-A · w(r)`` (for the clip losses this equals the familiar clipped
objective), which makes logged loss values comparable across losses.

Conventions shared by every loss (and by verl's ``core_algos``):

* the log-ratio is clamped to ``[-20, 20]`` before ``exp`` (a token with ``|log r| > 20`` is numerically
  degenerate; it keeps a finite value and gets no gradient through the clamp);
* computation runs in at least float32 (bfloat16 inputs are up-cast; the gradient flows back in the input
  dtype);
* padding (``response_mask == 0``) is replaced by zeros before any arithmetic, so padded positions can hold
  any value, even NaN or ±inf, and never change the loss or receive gradient;
* metrics ``clipfrac_low`` / ``clipfrac_high`` are the fractions of valid tokens whose weight the loss cuts
  or decays on the low (``r < 1-ε_low``) and high (``r > 1+ε_high``) side; ``clipfrac`` is their sum;
  ``ppo_kl`` is the mean of ``log π_old − log π_θ`` (the approximate KL of verl and TRL).
"""

from __future__ import annotations

import torch
from torch import Tensor

from grpokit.core.registry import Registry, check_params

LOG_RATIO_CLAMP = 20.0

LOSS_AGG_MODES = ("token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm")

POLICY_LOSSES = Registry("policy loss")
register_policy_loss = POLICY_LOSSES.register


# --------------------------------------------------------------------------------------------------- helpers


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values`` over positions where ``mask`` is 1 (0 when the mask is empty)."""
    return (values * mask).sum() / mask.sum().clamp(min=1)


def aggregate_loss(
    loss_mat: Tensor,
    mask: Tensor,
    mode: str = "token-mean",
    *,
    loss_scale_factor: float | None = None,
    batch_num_tokens: float | None = None,
    batch_num_seqs: float | None = None,
) -> Tensor:
    """Reduce a ``(batch, tokens)`` per-token loss to a scalar.

    * ``token-mean``: ``Σ loss·mask / Σ mask`` (DAPO; verl's default).
    * ``seq-mean-token-sum``: mean over sequences of each sequence's token sum.
    * ``seq-mean-token-mean``: mean over sequences of each sequence's token mean (original GRPO).
    * ``seq-mean-token-sum-norm``: ``seq-mean-token-sum / loss_scale_factor``, Dr. GRPO's constant
      normaliser (arXiv 2503.20783); ``loss_scale_factor`` defaults to the number of token columns, as in verl.
      Pass a constant (e.g. the maximum response length) to keep the scale fixed across batches.

    Sequences without a valid token are left out of the sequence means. When a mini-batch is split into
    micro-batches, pass the mini-batch's ``batch_num_tokens`` (token-mean) or ``batch_num_seqs`` (seq modes)
    so that summing the micro-batch losses gives the mini-batch loss.
    """
    if mode not in LOSS_AGG_MODES:
        raise ValueError(f"unknown loss_agg_mode {mode!r}; known: {', '.join(LOSS_AGG_MODES)}")
    mask = mask.to(loss_mat.dtype)
    if mode == "token-mean":
        denominator = mask.sum().clamp(min=1) if batch_num_tokens is None else batch_num_tokens
        return (loss_mat * mask).sum() / denominator
    tokens_per_seq = mask.sum(dim=-1)
    seq_losses = (loss_mat * mask).sum(dim=-1)
    if mode == "seq-mean-token-mean":
        seq_losses = seq_losses / tokens_per_seq.clamp(min=1)
    has_tokens = (tokens_per_seq > 0).to(loss_mat.dtype)
    denominator = has_tokens.sum().clamp(min=1) if batch_num_seqs is None else batch_num_seqs
    loss = (seq_losses * has_tokens).sum() / denominator
    if mode == "seq-mean-token-sum-norm":
        loss = loss / (mask.shape[-1] if loss_scale_factor is None else loss_scale_factor)
    return loss


def _grad_carrier(log_prob: Tensor) -> Tensor:
    """``exp(log π − sg(log π))``: equals 1 in value and has derivative 1 with respect to ``log π``.

    Multiplying a detached weight ``w`` by it gives a surrogate whose value is ``w`` and whose gradient is
    ``w · ∇log π`` (the ``r / sg(r)`` trick of GPPO and CISPO).
    """
    return torch.exp(log_prob - log_prob.detach())


def _bounds(eps_low: float | None, eps_high: float | None) -> tuple[float | None, float | None]:
    """``(1-ε_low, 1+ε_high)`` (``None`` where ε is). ``ε_low`` must lie in (0, 1) so that the lower bound does;
    ``ε_high`` only has to be > 0, since clip-higher and CISPO's truncation legitimately use large values."""
    if eps_low is not None and not 0 < eps_low < 1:
        raise ValueError(f"eps_low must be in (0, 1) (the lower bound 1-eps_low must lie in (0, 1)), got {eps_low}")
    if eps_high is not None and eps_high <= 0:
        raise ValueError(f"eps_high must be > 0, got {eps_high}")
    low = None if eps_low is None else 1.0 - eps_low
    high = None if eps_high is None else 1.0 + eps_high
    return low, high


def _dual_clip(loss: Tensor, ratio: Tensor, advantages: Tensor, clip_c: float | None) -> tuple[Tensor, Tensor]:
    """Dual clip (Ye et al. 2020, arXiv 1912.09729): for ``A<0`` and ``r>c`` the loss is the constant ``-A·c``."""
    if clip_c is None:
        return loss, torch.zeros_like(ratio, dtype=torch.bool)
    if clip_c <= 1:
        raise ValueError(f"clip_c must be > 1 for dual clip, got {clip_c}")
    dual = (advantages < 0) & (ratio > clip_c)
    return torch.where(dual, -advantages * clip_c, loss), dual


# ---------------------------------------------------------------------------------------------------- losses


@register_policy_loss("ppo")
def ppo_loss(
    log_prob: Tensor,
    old_log_prob: Tensor,
    advantages: Tensor,
    response_mask: Tensor,
    *,
    eps_low: float = 0.2,
    eps_high: float = 0.2,
    clip_c: float | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """PPO / GRPO hard clipping (Schulman et al. 2017, arXiv 1707.06347; GRPO, arXiv 2402.03300).

    ``L = max(-A·r, -A·clip(r, 1-ε_low, 1+ε_high))``. Clip-higher (DAPO, arXiv 2503.14476) is
    ``eps_high > eps_low`` (e.g. 0.28). ``clip_c`` turns on dual clip: ``L = -A·c`` for ``A<0, r>c``
    (verl applies it by default with c=3; here it is off unless asked for).

    Weight: ``w = r`` inside the trust region and on its reverse sides; ``w = 0`` for ``r<1-ε_low, A<0``,
    ``r>1+ε_high, A>0`` and (dual clip) ``A<0, r>c``.
    """
    low, high = _bounds(eps_low, eps_high)
    ratio = torch.exp(torch.clamp(log_prob - old_log_prob, -LOG_RATIO_CLAMP, LOG_RATIO_CLAMP))
    loss = torch.maximum(-advantages * ratio, -advantages * torch.clamp(ratio, low, high))
    loss, dual = _dual_clip(loss, ratio, advantages, clip_c)
    regions = {
        "clipfrac_low": (ratio < low) & (advantages < 0),
        "clipfrac_high": (ratio > high) & (advantages > 0),
        "dualclip_frac": dual,
    }
    return loss, regions


@register_policy_loss("dgpo")
def dgpo_loss(
    log_prob: Tensor,
    old_log_prob: Tensor,
    advantages: Tensor,
    response_mask: Tensor,
    *,
    eps_low: float = 0.2,
    eps_high: float = 0.2,
    n: float = 1.0,
    m: float = 2.0,
) -> tuple[Tensor, dict[str, Tensor]]:
    """DGPO: bilaterally decoupled decay of the probability-gradient weight (Fu et al., arXiv 2603.14389).

    With ``L = 1-ε_low`` and ``U = 1+ε_high`` the surrogate ratio is

    * LN tokens (``r < L`` and ``A < 0``): ``r · (sg(r)/L)^n``  →  ``w = r^(n+1) / L^n``,
      i.e. a weight on ``∇π`` of ``π_θ^n / (L^n π_old^(n+1))`` that decays polynomially as ``π_θ → 0``;
    * HP tokens (``r > U`` and ``A > 0``): ``r · (U/sg(r))^(1/m)``  →  ``w = U^(1/m) · r^((m-1)/m)``,
      a ``∇π`` weight ``∝ π_θ^(-1/m)`` (reciprocal-radical decay);
    * every other token: ``r``  →  ``w = r``. There is no dual clip, as in the official code.

    The weight is continuous in ``r`` (``w = L`` at ``r = L``, ``w = U`` at ``r = U``). Special cases:
    ``n = -1`` / ``m = 1`` give GPPO's left / right branch, ``n = 0`` / ``m = ∞`` remove that side's clip.
    Both masks compare strictly, as the official code does (FlyTune/DGPO-RL ``ratio_mode="dgpo"``); this is
    its ``exp(log π + n·sg(log π) − (n+1)·log π_old) / L^n`` written as ``r ·`` a detached coefficient, which
    has the same value and gradient and cannot overflow.
    """
    if n < -1:
        raise ValueError(f"n must be >= -1 (n = -1 is GPPO's low side; below it the weight grows as r -> 0), got {n}")
    if m <= 0:
        raise ValueError(f"m must be > 0 (use float('inf') to remove the high-side decay), got {m}")
    low, high = _bounds(eps_low, eps_high)
    ratio = torch.exp(torch.clamp(log_prob - old_log_prob, -LOG_RATIO_CLAMP, LOG_RATIO_CLAMP))
    ln = (ratio < low) & (advantages < 0)
    hp = (ratio > high) & (advantages > 0)
    detached = ratio.detach()
    coefficient = torch.where(
        ln, (detached / low) ** n, torch.where(hp, (high / detached) ** (1.0 / m), torch.ones_like(detached))
    )
    loss = -advantages * ratio * coefficient
    return loss, {"clipfrac_low": ln, "clipfrac_high": hp}


@register_policy_loss("cispo")
def cispo_loss(
    log_prob: Tensor,
    old_log_prob: Tensor,
    advantages: Tensor,
    response_mask: Tensor,
    *,
    eps_low: float | None = None,
    eps_high: float = 0.2,
) -> tuple[Tensor, dict[str, Tensor]]:
    """CISPO: clipped importance-sampling weight with stop-gradient (MiniMax-M1, arXiv 2506.13585).

    ``J = sg(clip(r, 1-ε_low, 1+ε_high)) · A · log π_θ``; every token keeps a gradient whatever the sign
    of ``A``: ``w = clip(r)``. ``eps_low=None`` clips from above only, as MiniMax-M1 does; verl's ``cispo``
    clips both sides (pass ``eps_low=0.2``).

    Deviation (value only): verl's surrogate ``-sg(w)·A·log π`` has the value ``-A·w·log π``; here the value
    is ``-A·w`` like every other loss. The gradient is identical.
    """
    low, high = _bounds(eps_low, eps_high)
    ratio = torch.exp(torch.clamp(log_prob - old_log_prob, -LOG_RATIO_CLAMP, LOG_RATIO_CLAMP))
    weight = torch.clamp(ratio, low, high).detach()
    loss = -advantages * weight * _grad_carrier(log_prob)
    below = ratio < low if low is not None else torch.zeros_like(ratio, dtype=torch.bool)
    return loss, {"clipfrac_low": below, "clipfrac_high": ratio > high}


@register_policy_loss("gppo")
def gppo_loss(
    log_prob: Tensor,
    old_log_prob: Tensor,
    advantages: Tensor,
    response_mask: Tensor,
    *,
    eps_low: float = 0.2,
    eps_high: float = 0.2,
    beta_low: float = 1.0,
    beta_high: float = 1.0,
    clip_c: float | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """GPPO: gradient-preserving clipping (Klear-Reasoner, arXiv 2508.07629).

    PPO clipping whose clipped tokens keep the boundary's gradient through ``δ · r / sg(r)``:
    ``w = β_low·(1-ε_low)`` for ``r < 1-ε_low, A < 0``; ``w = β_high·(1+ε_high)`` for ``r > 1+ε_high, A > 0``;
    ``w = r`` elsewhere; with ``clip_c`` the dual clip gives ``w = 0`` for ``A < 0, r > c`` (the authors'
    runs use verl's c=3). The betas default to 1 (plain GPPO); see ``cegppo``.
    As a weight on ``∇π`` the low side is ``const/π_θ``, which diverges as ``π_θ → 0`` (DGPO's motivation).
    """
    if beta_low < 0 or beta_high < 0:
        raise ValueError(f"beta_low and beta_high must be >= 0, got {beta_low}, {beta_high}")
    low, high = _bounds(eps_low, eps_high)
    ratio = torch.exp(torch.clamp(log_prob - old_log_prob, -LOG_RATIO_CLAMP, LOG_RATIO_CLAMP))
    ln = (ratio < low) & (advantages < 0)
    hp = (ratio > high) & (advantages > 0)
    carrier = _grad_carrier(log_prob)
    surrogate = torch.where(ln, beta_low * low * carrier, torch.where(hp, beta_high * high * carrier, ratio))
    loss, dual = _dual_clip(-advantages * surrogate, ratio, advantages, clip_c)
    return loss, {"clipfrac_low": ln, "clipfrac_high": hp, "dualclip_frac": dual}


@register_policy_loss("cegppo")
def cegppo_loss(
    log_prob: Tensor,
    old_log_prob: Tensor,
    advantages: Tensor,
    response_mask: Tensor,
    *,
    eps_low: float = 0.2,
    eps_high: float = 0.2,
    beta_low: float = 0.5,
    beta_high: float = 1.0,
    clip_c: float | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """CE-GPPO: GPPO with scaled boundary gradients (arXiv 2509.20712).

    Same weights as ``gppo`` with ``w = β_low·(1-ε_low)`` on the low side and ``w = β_high·(1+ε_high)`` on the
    high side. Defaults are the release scripts' 1.5B values (β_low=0.5, β_high=1); their 7B scripts use
    β_low=0.75, the repository's function default is β_low=0.25, and they run with ``clip_c=10``.
    """
    return gppo_loss(
        log_prob,
        old_log_prob,
        advantages,
        response_mask,
        eps_low=eps_low,
        eps_high=eps_high,
        beta_low=beta_low,
        beta_high=beta_high,
        clip_c=clip_c,
    )


@register_policy_loss("sapo")
def sapo_loss(
    log_prob: Tensor,
    old_log_prob: Tensor,
    advantages: Tensor,
    response_mask: Tensor,
    *,
    tau_pos: float = 1.0,
    tau_neg: float = 1.05,
) -> tuple[Tensor, dict[str, Tensor]]:
    """SAPO: soft adaptive policy optimisation (Qwen, arXiv 2511.20347).

    ``L = -A · f(r)`` with the smooth gate ``f(r) = (4/τ)·σ(τ(r−1))``, ``τ = tau_pos`` if ``A > 0`` else
    ``tau_neg``: ``w = 4·r·σ(τ(r−1))·(1−σ(τ(r−1)))``, equal to ``r`` near ``r = 1`` and fading smoothly away
    from it. verl forces ``seq-mean-token-mean`` for SAPO; here the caller's ``loss_agg_mode`` is used.
    SAPO has no hard boundary, so ``clipfrac_low/high`` count tokens whose gate has cut the weight to under
    half of the unclipped ``w = r`` (``4σ(1−σ) < 0.5``) below and above ``r = 1``.
    """
    if tau_pos <= 0 or tau_neg <= 0:
        raise ValueError(f"tau_pos and tau_neg must be > 0, got {tau_pos}, {tau_neg}")
    ratio = torch.exp(torch.clamp(log_prob - old_log_prob, -LOG_RATIO_CLAMP, LOG_RATIO_CLAMP))
    tau = torch.where(advantages > 0, torch.full_like(ratio, tau_pos), torch.full_like(ratio, tau_neg))
    gate = torch.sigmoid(tau * (ratio - 1.0))
    loss = -advantages * gate * (4.0 / tau)
    with torch.no_grad():
        faded = 4.0 * gate * (1.0 - gate) < 0.5
    return loss, {"clipfrac_low": faded & (ratio < 1), "clipfrac_high": faded & (ratio > 1)}


@register_policy_loss("gspo")
def gspo_loss(
    log_prob: Tensor,
    old_log_prob: Tensor,
    advantages: Tensor,
    response_mask: Tensor,
    *,
    eps_low: float = 3e-4,
    eps_high: float = 4e-4,
) -> tuple[Tensor, dict[str, Tensor]]:
    """GSPO: group sequence policy optimisation (Qwen, arXiv 2507.18071).

    The ratio is per sequence, ``s_i = exp(mean_t log r_{i,t})`` over the valid tokens, carried to each
    token as ``s_{i,t} = sg(s_i) · π_θ / sg(π_θ)``; then PPO clipping with the paper's small ε (3e-4, 4e-4):
    ``L = max(-A·s, -A·clip(s, 1-ε_low, 1+ε_high))``. Weight on each token's ``∇log π``: ``w = s_i`` inside
    the region, 0 on the clipped sides. The paper aggregates with ``seq-mean-token-mean``.
    """
    low, high = _bounds(eps_low, eps_high)
    lengths = response_mask.sum(dim=-1).clamp(min=1)
    seq_log_ratio = ((log_prob - old_log_prob) * response_mask).sum(dim=-1) / lengths
    log_s = log_prob - log_prob.detach() + seq_log_ratio.detach().unsqueeze(-1)
    ratio = torch.exp(torch.clamp(log_s, -LOG_RATIO_CLAMP, LOG_RATIO_CLAMP))
    loss = torch.maximum(-advantages * ratio, -advantages * torch.clamp(ratio, low, high))
    regions = {
        "clipfrac_low": (ratio < low) & (advantages < 0),
        "clipfrac_high": (ratio > high) & (advantages > 0),
    }
    return loss, regions


# ----------------------------------------------------------------------------------------------- entry point


def prepare_loss_inputs(
    log_prob: Tensor, old_log_prob: Tensor, advantages: Tensor, response_mask: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(log_prob, old_log_prob, advantages, mask)`` as every policy loss receives them: in at least float32,
    padding replaced by zeros before any arithmetic (so it may hold anything, NaN included), ``old_log_prob`` and
    ``advantages`` detached, ``advantages`` expanded to ``log_prob``'s shape, ``mask`` 1.0/0.0 in that dtype."""
    dtype = torch.promote_types(log_prob.dtype, torch.float32)
    valid = response_mask.bool()
    zero = torch.zeros((), dtype=dtype, device=log_prob.device)
    return (
        torch.where(valid, log_prob.to(dtype), zero),
        torch.where(valid, old_log_prob.detach().to(dtype), zero),
        torch.where(valid, advantages.detach().expand_as(log_prob).to(dtype), zero),
        valid.to(dtype),
    )


def compute_policy_loss(
    name: str,
    log_prob: Tensor,
    old_log_prob: Tensor,
    advantages: Tensor,
    response_mask: Tensor,
    *,
    loss_agg_mode: str = "token-mean",
    loss_scale_factor: float | None = None,
    batch_num_tokens: float | None = None,
    batch_num_seqs: float | None = None,
    **params: float | None,
) -> tuple[Tensor, dict[str, float]]:
    """Policy loss ``name`` aggregated to a scalar, and its metrics.

    Args:
        name: a registered loss (``POLICY_LOSSES.names()``): ppo, dgpo, cispo, gppo, cegppo, sapo, gspo.
        log_prob: ``(batch, tokens)`` log-probabilities of the sampled tokens under the current policy; the
            gradient flows through it.
        old_log_prob: the same under the policy that sampled them (constant).
        advantages: ``(batch, tokens)``, or anything that broadcasts to it such as ``(batch, 1)``.
        response_mask: ``(batch, tokens)``, 1 for response tokens, 0 for padding.
        loss_agg_mode, loss_scale_factor, batch_num_tokens, batch_num_seqs: see ``aggregate_loss``.
        **params: the loss's hyperparameters (its keyword-only arguments); an unknown one is a ``TypeError``.

    Returns:
        ``(loss, metrics)``: a scalar tensor and a dict of floats with at least ``clipfrac_low``,
        ``clipfrac_high``, ``clipfrac`` and ``ppo_kl``.
    """
    loss_fn = POLICY_LOSSES.get(name)
    check_params(loss_fn, params, f"policy loss {name!r}")
    if loss_agg_mode not in LOSS_AGG_MODES:
        raise ValueError(f"unknown loss_agg_mode {loss_agg_mode!r}; known: {', '.join(LOSS_AGG_MODES)}")
    if log_prob.dim() != 2:
        raise ValueError(f"log_prob must be (batch, tokens), got shape {tuple(log_prob.shape)}")
    for label, tensor in (("old_log_prob", old_log_prob), ("response_mask", response_mask)):
        if tensor.shape != log_prob.shape:
            raise ValueError(f"{label} has shape {tuple(tensor.shape)}, log_prob has {tuple(log_prob.shape)}")
    try:
        advantages = advantages.expand_as(log_prob)
    except RuntimeError:
        raise ValueError(
            f"advantages of shape {tuple(advantages.shape)} do not broadcast to {tuple(log_prob.shape)}"
        ) from None

    log_prob, old_log_prob, advantages, mask = prepare_loss_inputs(log_prob, old_log_prob, advantages, response_mask)
    dtype = mask.dtype
    loss_mat, regions = loss_fn(log_prob, old_log_prob, advantages, mask, **params)
    loss = aggregate_loss(
        loss_mat,
        mask,
        loss_agg_mode,
        loss_scale_factor=loss_scale_factor,
        batch_num_tokens=batch_num_tokens,
        batch_num_seqs=batch_num_seqs,
    )
    with torch.no_grad():
        metrics = {key: masked_mean(region.to(dtype), mask).item() for key, region in regions.items()}
        metrics["clipfrac"] = metrics["clipfrac_low"] + metrics["clipfrac_high"]
        log_ratio = torch.clamp(log_prob - old_log_prob, -LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
        metrics["ppo_kl"] = masked_mean(-log_ratio, mask).item()
    return loss, metrics


def low_var_kl(log_prob: Tensor, ref_log_prob: Tensor) -> Tensor:
    """Per-token KL(π_θ‖π_ref) estimate ``k3 = e^(ref−logp) − (ref−logp) − 1`` (Schulman 2020; verl ``low_var_kl``).

    Unbiased for the sequence KL under samples from ``π_θ``, always ≥ 0, low variance; clamped to [-10, 10] as in
    verl. The gradient flows through ``log_prob``.
    """
    delta = torch.clamp(ref_log_prob - log_prob, -LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
    return torch.clamp(torch.exp(delta) - delta - 1, -10.0, 10.0)
