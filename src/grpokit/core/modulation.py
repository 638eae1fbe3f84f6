"""Token-level advantage modulation of DynaMO (Fang et al., arXiv 2602.19208, §3.2 of the spec).

Two detached, positive factors multiply each token's advantage, so its sign never changes:

* ``β_comp`` (gradient compensation) boosts confident tokens of positive-advantage responses: for a softmax
  policy ``‖∇_z log π_a‖`` vanishes as ``π_a → 1``, and low entropy stands in for high confidence;
* ``β_stab`` (entropy stabilisation) damps the tokens whose first-order predicted entropy change
  ``ΔH = −ξ·(πΛ − E[πΛ])`` is close to the largest in the batch (the paper's Eq. 29).
"""

from __future__ import annotations

import torch
from torch import Tensor


@torch.no_grad()
def dynamo_modulate(
    advantages: Tensor,
    log_prob: Tensor,
    old_log_prob: Tensor,
    entropy: Tensor,
    response_mask: Tensor,
    *,
    eps_low: float = 0.2,
    eps_high: float = 0.28,
    lambda_min: float = 0.6,
    mu_max: float = 1.2,
    gamma: float = 50.0,
    tau: float = 0.99,
) -> Tensor:
    """DynaMO's modulated advantage ``A · β_stab · β_comp`` (official code, HEAD ``decay6_linearnorm``).

    All inputs are ``(batch, tokens)`` (``advantages`` may be ``(batch, 1)``); ``log_prob`` and ``entropy``
    come from the current policy's forward pass (entropy of the full next-token distribution).

    * ``r = exp(log π_θ − log π_old)``; ``I = 1[A>0, r ≤ 1+ε_high] + 1[A<0, r ≥ 1−ε_low]`` (the tokens whose
      gradient the PPO clip keeps); ``ξ = I·r·A``.
    * ``Λ = log π + H``; ``E_i[πΛ]`` = mean of ``πΛ`` over the valid tokens of sequence ``i`` (a stand-in for
      the vocabulary expectation); ``ΔH = −ξ·(πΛ − E_i[πΛ])``; ``x = |ΔH| / (max |ΔH| + 1e-8)``.
    * ``β_stab = λ_min + (1 − λ_min) / (1 + exp(γ(x − τ)))``: ≈1 below ``x ≈ 0.9``, 0.8 at ``x = τ``.
    * ``β_comp = 1 + (μ_max − 1)·(H_max − H)/(H_max − H_min + 1e-8)`` for ``A > 0``, else 1.

    The maximum and ``H_min``/``H_max`` are taken over the valid tokens of the tensors given; the official
    code takes them per micro-batch, so pass one micro-batch to match it. The defaults are the released
    code's, including its effective ``ε_high = 0.28`` (a hidden clip-higher). Padding keeps its advantage
    unchanged. Factors are detached; ``|result| ≤ μ_max·|A|`` and the sign of every advantage is kept.
    """
    if not 0 < lambda_min <= 1:
        raise ValueError(f"lambda_min must be in (0, 1], got {lambda_min}")
    if mu_max < 1:
        raise ValueError(f"mu_max must be >= 1, got {mu_max}")
    if not 0 < eps_low < 1 or eps_high <= 0:
        raise ValueError(f"eps_low must be in (0, 1) and eps_high > 0 (as for the losses), got {eps_low}, {eps_high}")
    for label, tensor in (
        ("old_log_prob", old_log_prob),
        ("entropy", entropy),
        ("response_mask", response_mask),
    ):
        if tensor.shape != log_prob.shape:
            raise ValueError(f"{label} has shape {tuple(tensor.shape)}, log_prob has {tuple(log_prob.shape)}")
    advantages_in = advantages
    dtype = torch.promote_types(log_prob.dtype, torch.float32)
    valid = response_mask.bool()
    if not valid.any():
        return advantages_in.expand_as(log_prob).clone()
    zero = torch.zeros((), dtype=dtype, device=log_prob.device)
    adv = torch.where(valid, advantages.expand_as(log_prob).to(dtype), zero)
    log_prob = torch.where(valid, log_prob.to(dtype), zero)
    log_ratio = torch.where(valid, log_prob - old_log_prob.to(dtype), zero)
    entropy = torch.where(valid, entropy.to(dtype), zero)
    mask = valid.to(dtype)

    ratio = torch.exp(log_ratio.clamp(-20.0, 20.0))
    unclipped = ((adv > 0) & (ratio <= 1 + eps_high)) | ((adv < 0) & (ratio >= 1 - eps_low))
    xi = unclipped.to(dtype) * ratio * adv
    prob_lambda = torch.exp(log_prob) * (log_prob + entropy)
    seq_mean = (prob_lambda * mask).sum(-1, keepdim=True) / mask.sum(-1, keepdim=True).clamp(min=1)
    entropy_change = (-xi * (prob_lambda - seq_mean)).abs() * mask
    x = entropy_change / (entropy_change.max() + 1e-8)
    beta_stab = lambda_min + (1 - lambda_min) * torch.sigmoid(-gamma * (x - tau))

    h_max = torch.where(valid, entropy, entropy.new_full((), -torch.inf)).max()
    h_min = torch.where(valid, entropy, entropy.new_full((), torch.inf)).min()
    compensation = 1 + (mu_max - 1) * (h_max - entropy) / (h_max - h_min + 1e-8)
    beta_comp = torch.where(adv > 0, compensation, torch.ones_like(compensation))

    factor = torch.where(valid, beta_stab * beta_comp, torch.ones_like(beta_stab))
    return (advantages_in.expand_as(log_prob) * factor).to(advantages_in.dtype)
