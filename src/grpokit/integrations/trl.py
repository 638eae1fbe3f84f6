"""grpokit's policy losses and DynaMO advantage modulation inside TRL's ``GRPOTrainer``.

``GRPOKitTrainer`` is TRL's trainer with one method replaced: the loss of a micro-batch (``_compute_loss``). Its
policy term is grpokit's ``compute_policy_loss`` (DGPO, Fu et al., arXiv 2603.14389, by default; any loss in
``grpokit.core.POLICY_LOSSES``, including one a user registers), optionally on advantages modulated by
``dynamo_modulate`` (DynaMO, Fang et al., arXiv 2602.19208, §3) with the per-token entropies TRL's forward pass
computes. Everything else is TRL's, unchanged: generation (transformers, vLLM colocate or server), rewards and group
advantages, the reference model and its KL term (``beta``), ``loss_type``'s aggregation, Accelerate/DeepSpeed/FSDP
launch, logging and checkpoints.

How TRL's settings reach the loss:

* ``epsilon`` / ``epsilon_high`` are the loss's ``eps_low`` / ``eps_high`` (``sapo_temperature_pos/neg`` its
  ``tau_pos/neg``) when the loss takes them; every other hyperparameter goes in ``policy_loss_params``.
* ``loss_type`` chooses only the aggregation, with TRL's normalisers exactly: ``grpo`` (mean over sequences of each
  sequence's token mean), ``bnpo`` (mean over the micro-batch's tokens), ``dr_grpo`` (sum over tokens / (sequences ×
  ``max_completion_length``)), ``dapo`` (sum over tokens / the generation batch's token count, TRL's default),
  ``luspo`` (mean over sequences of each sequence's token sum).
* TRL's per-token factors (vLLM importance-sampling correction, ``top_entropy_quantile``'s mask,
  ``off_policy_mask_threshold``'s sequence mask) multiply the advantages, not the loss. For a loss that is
  ``-A · w(r)`` with a weight depending on ``A`` only through its sign (every grpokit loss, and the contract of
  ``POLICY_LOSSES``), ``L(f·A) = f·L(A)`` for ``f ≥ 0``, so value and gradient equal TRL's ``f · per_token_loss``;
  only grpokit's clip-fraction metrics stop counting tokens whose factor is 0. With one of these options on, a loss
  that breaks this (checked numerically by ``folds_into_the_advantage``) is refused when the config is built.
* TRL's ``clip_ratio/*`` metrics are logged beside grpokit's ``grpokit/*``, reduced as TRL reduces them, from the
  loss's own clip regions (docs/trl.md lists where they differ from TRL's).

What TRL cannot do raises a ``ValueError`` when the config is built: DynaMO's rollout allocation (TRL samples a fixed
``num_generations`` per prompt; use grpokit's own trainer or the verl integration), ``use_liger_kernel`` (Liger's
fused GRPO loss, where TRL has it, replaces the trainer's loss), and the TRL options this trainer does not reproduce
(``loss_type`` cispo/sapo/vespo, which are losses: choose ``policy_loss``; ``importance_sampling_level="sequence"``:
use ``policy_loss="gspo"``; ``delta``; the entropy bonus). Written against, and tested with, TRL 1.16.0 on the CPU;
see docs/trl.md.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor

try:
    import trl
    from trl import GRPOConfig, GRPOTrainer
    from trl.trainer.utils import nanmax, nanmin
except ImportError as error:  # TRL is an optional extra
    raise ImportError("grpokit.integrations.trl needs TRL: pip install 'grpokit[trl]'") from error
from packaging.version import Version

from grpokit.core.losses import POLICY_LOSSES, aggregate_loss, compute_policy_loss, prepare_loss_inputs
from grpokit.core.modulation import dynamo_modulate
from grpokit.core.registry import keyword_params

# The aggregation below reproduces TRL 1.16's ``_compute_loss``; earlier 1.x releases normalise ``dapo`` and ``luspo``
# differently.
MIN_TRL_VERSION = "1.16.0"
if Version(trl.__version__) < Version(MIN_TRL_VERSION):
    raise ImportError(
        f"grpokit.integrations.trl reproduces the loss aggregation of TRL >= {MIN_TRL_VERSION}; "
        f"found TRL {trl.__version__}: pip install 'trl>={MIN_TRL_VERSION},<2'"
    )

ELSEWHERE = "use grpokit's own trainer (`grpokit train`) or verl with grpokit.integrations.verl (docs/verl.md)"

#: TRL ``loss_type`` → grpokit ``loss_agg_mode``; the normalisers are set per micro-batch in ``_aggregation``.
AGGREGATIONS = {
    "grpo": "seq-mean-token-mean",
    "bnpo": "token-mean",
    "dr_grpo": "seq-mean-token-sum-norm",
    "dapo": "token-mean",
    "luspo": "seq-mean-token-sum",
}

#: TRL ``loss_type`` values that are losses of their own, and the ``policy_loss`` that replaces each.
TRL_LOSSES = {"cispo": "policy_loss='cispo'", "sapo": "policy_loss='sapo'", "vespo": None}

#: Loss parameters that come from TRL's own config fields, so that there is one place to set them.
TRL_OWNED_PARAMS = {
    "eps_low": "epsilon",
    "eps_high": "epsilon_high",
    "tau_pos": "sapo_temperature_pos",
    "tau_neg": "sapo_temperature_neg",
}


def folds_into_the_advantage(loss_fn: Any, params: dict[str, Any], *, continuous: bool) -> bool:
    """Whether a policy loss has ``L(f·A) = f·L(A)`` token by token, in value and in gradient, for TRL's per-token
    factors ``f``: masks (``f`` in {0, 1}, which only needs ``L(0) = 0``) or, with ``continuous``, any ``f >= 0``
    (the vLLM importance-sampling ratio, which needs ``L`` proportional to ``A``). Then the factors may multiply the
    advantages instead of the loss. Checked numerically on a fixed random probe whose ratios reach both sides of any
    usual clip range: ``-A·w(r)`` with ``w`` depending on ``A`` only through its sign passes both; ``-tanh(A)·r``
    passes masks only; a penalty that does not vanish with ``A``, such as ``-A·r + (r-1)²``, fails both.

    Not additivity: ``L(A1+A2) = L(A1)+L(A2)`` fails for every clipped loss where the signs of ``A1`` and ``A2``
    differ, and TRL's factors never flip a sign.
    """
    g = torch.Generator().manual_seed(0)
    shape = (4, 8)
    old_log_prob = -3 * torch.rand(shape, generator=g, dtype=torch.float64)
    log_ratio = 2 * torch.rand(shape, generator=g, dtype=torch.float64) - 1  # r in [1/e, e]
    log_prob = (old_log_prob + log_ratio).requires_grad_()
    advantages = 2 * torch.randn(shape, generator=g, dtype=torch.float64)
    uniform = torch.rand(shape, generator=g, dtype=torch.float64)
    factor = 3 * uniform if continuous else (uniform < 0.5).double()
    factor[:, ::3] = 0.0  # a mask's zeros, whatever the draw
    weight = torch.rand(shape, generator=g, dtype=torch.float64)  # any aggregation's per-token weight
    mask = torch.ones(shape, dtype=torch.float64)
    scaled = loss_fn(log_prob, old_log_prob, factor * advantages, mask, **params)[0]
    folded = factor * loss_fn(log_prob, old_log_prob, advantages, mask, **params)[0]
    gradients = [torch.autograd.grad((weight * loss).sum(), log_prob)[0] for loss in (scaled, folded)]
    # loose enough for a loss that computes in float32 internally, far tighter than any non-linearity
    close = {"rtol": 1e-5, "atol": 1e-8}
    return torch.allclose(scaled, folded, **close) and torch.allclose(*gradients, **close)


def _as_dict(value: dict[str, Any] | str | None, key: str) -> dict[str, Any]:
    """A dict field as TRL's CLI may pass it: a dict, a JSON string, or None (empty)."""
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise ValueError(f"{key} must be a dict or a JSON object string, got {value!r}: {error}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{key} must be a dict, got {type(value).__name__}")
    return dict(value)


@dataclass
class GRPOKitConfig(GRPOConfig):
    """TRL's ``GRPOConfig`` plus grpokit's policy loss and DynaMO modulation (see the module docstring).

    Every TRL field keeps its meaning, except ``loss_type``, which here selects only the aggregation. Everything is
    checked when the config is built: an unknown loss or parameter, a value the loss rejects, or a TRL option this
    trainer cannot honour is a ``ValueError`` that names it.
    """

    policy_loss: str = field(
        default="dgpo",
        metadata={
            "help": "grpokit policy loss (grpokit.core.POLICY_LOSSES: dgpo, ppo, cispo, gppo, cegppo, sapo, gspo, or "
            "one you registered). DGPO: arXiv 2603.14389."
        },
    )
    policy_loss_params: dict[str, Any] | str | None = field(
        default=None,
        metadata={
            "help": "the loss's keyword parameters, e.g. {'n': 1.0, 'm': 2.0} for dgpo. eps_low/eps_high come from "
            "`epsilon`/`epsilon_high`, tau_pos/tau_neg from `sapo_temperature_pos/neg`."
        },
    )
    dynamo_modulation: bool = field(
        default=False,
        metadata={"help": "DynaMO token-level advantage modulation (arXiv 2602.19208 §3) on TRL's entropies."},
    )
    modulation_params: dict[str, Any] | str | None = field(
        default=None,
        metadata={
            "help": "dynamo_modulate's parameters (eps_low, eps_high, lambda_min, mu_max, gamma, tau); its eps are "
            "its own (defaults 0.2/0.28, the released code's), not `epsilon`."
        },
    )
    dynamo_allocation: bool = field(
        default=False,
        metadata={
            "help": "DynaMO's variance-minimising rollout allocation. Not possible in TRL, which samples a fixed "
            "num_generations per prompt: setting it raises an error that says where to run it."
        },
    )

    def __post_init__(self) -> None:
        # grpokit's checks first: they read only plain fields, and a setting this trainer cannot honour should be
        # named as such before TRL or transformers react to it in their own way.
        self.policy_loss_params = _as_dict(self.policy_loss_params, "policy_loss_params")
        self.modulation_params = _as_dict(self.modulation_params, "modulation_params")
        self._check_trl_options()
        self._check_policy_loss()
        self._check_modulation()
        super().__post_init__()

    def loss_params(self) -> dict[str, Any]:
        """The keyword parameters passed to the loss: ``policy_loss_params`` plus the TRL-owned ones it takes."""
        trl_values = {
            "eps_low": self.epsilon,
            "eps_high": self.epsilon if self.epsilon_high is None else self.epsilon_high,
            "tau_pos": self.sapo_temperature_pos,
            "tau_neg": self.sapo_temperature_neg,
        }
        accepted = keyword_params(POLICY_LOSSES.get(self.policy_loss))
        return {**self.policy_loss_params, **{k: v for k, v in trl_values.items() if k in accepted}}

    def _check_trl_options(self) -> None:
        if self.dynamo_allocation:
            raise ValueError(
                "dynamo_allocation=True: DynaMO allocates a variable number of rollouts per prompt, but TRL's "
                "GRPOTrainer samples a fixed num_generations for every prompt, so it cannot run here; "
                f"{ELSEWHERE}. DynaMO's advantage modulation (dynamo_modulation=True) does work in TRL."
            )
        if self.use_liger_kernel:
            # TRL 1.0 computes the whole GRPO loss in Liger's fused kernel when this is set; TRL 1.16 only patches
            # layers with it (and deprecates it). Neither is tested here, so it is refused rather than half-trusted.
            raise ValueError(
                "use_liger_kernel=True is not supported by GRPOKitTrainer: in TRL releases with Liger's fused GRPO "
                "loss that kernel replaces the trainer's loss, bypassing grpokit's (TRL 1.16 deprecates the flag), "
                f"and the combination is untested. Set use_liger_kernel=False, or {ELSEWHERE}."
            )
        if self.loss_type in TRL_LOSSES:
            instead = TRL_LOSSES[self.loss_type]
            hint = f"set {instead} and" if instead else "grpokit has no such loss; pick a policy_loss and"
            raise ValueError(
                f"loss_type={self.loss_type!r} is a TRL loss; in GRPOKitTrainer the loss is `policy_loss` and "
                f"loss_type only chooses the aggregation: {hint} loss_type in {', '.join(AGGREGATIONS)}"
            )
        if self.loss_type not in AGGREGATIONS:
            raise ValueError(f"unknown loss_type {self.loss_type!r}; GRPOKitTrainer knows: {', '.join(AGGREGATIONS)}")
        if self.importance_sampling_level != "token":
            raise ValueError(
                f"importance_sampling_level={self.importance_sampling_level!r}: grpokit's losses take token-level "
                "log-probs; for GSPO's sequence-level ratio set policy_loss='gspo' (with epsilon=3e-4, "
                "epsilon_high=4e-4, loss_type='grpo', as in the paper) and importance_sampling_level='token'"
            )
        if self.delta is not None:
            raise ValueError(
                f"delta={self.delta}: TRL's two-sided clipping is part of TRL's own loss, not grpokit's; for a dual "
                "clip use policy_loss in ppo/gppo/cegppo with policy_loss_params={'clip_c': ...}, or set delta=None"
            )
        if self.entropy_coef != 0.0 or self.use_adaptive_entropy:
            raise ValueError(
                "entropy_coef / use_adaptive_entropy: GRPOKitTrainer does not reproduce TRL's entropy bonus; set "
                "entropy_coef=0.0 and use_adaptive_entropy=False (grpokit's own trainer has entropy_coef)"
            )

    def _check_policy_loss(self) -> None:
        if self.policy_loss not in POLICY_LOSSES:
            raise ValueError(
                f"unknown policy_loss {self.policy_loss!r}; registered losses: {', '.join(POLICY_LOSSES.names())}"
            )
        accepted = keyword_params(POLICY_LOSSES.get(self.policy_loss))
        for key in self.policy_loss_params:
            if key in TRL_OWNED_PARAMS and key in accepted:
                raise ValueError(
                    f"policy_loss_params[{key!r}]: set TRL's `{TRL_OWNED_PARAMS[key]}` instead (it is passed to "
                    f"the loss as {key})"
                )
        own = [k for k in accepted if k not in TRL_OWNED_PARAMS]
        unknown = sorted(set(self.policy_loss_params) - set(accepted))
        if unknown:
            raise ValueError(
                f"policy_loss_params: {self.policy_loss!r} has no parameter {', '.join(map(repr, unknown))}; it "
                f"accepts: {', '.join(own) or 'none'}"
            )
        # Run the loss once on a two-token batch, so that a value it rejects fails here and not after a rollout.
        try:
            compute_policy_loss(
                self.policy_loss,
                torch.zeros(1, 2),
                torch.zeros(1, 2),
                torch.tensor([[1.0, -1.0]]),
                torch.ones(1, 2),
                **self.loss_params(),
            )
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"policy_loss={self.policy_loss!r} rejects its parameters {self.loss_params()} (eps_low/eps_high are "
                f"`epsilon`/`epsilon_high`): {error}"
            ) from error
        self._check_token_factors_fold()

    def _check_token_factors_fold(self) -> None:
        """Refuse a loss into whose advantages TRL's per-token factors cannot be folded (module docstring)."""
        masks = {
            f"top_entropy_quantile={self.top_entropy_quantile}": self.top_entropy_quantile < 1.0,
            f"off_policy_mask_threshold={self.off_policy_mask_threshold}": self.off_policy_mask_threshold is not None,
        }
        options = [name for name, on in masks.items() if on]
        continuous = self.use_vllm and self.vllm_importance_sampling_correction
        if continuous:
            options.append("use_vllm with vllm_importance_sampling_correction")
        if not options:
            return
        if not folds_into_the_advantage(POLICY_LOSSES.get(self.policy_loss), self.loss_params(), continuous=continuous):
            needs = "proportional to A (L(f·A) = f·L(A), f >= 0)" if continuous else "0 where A = 0"
            raise ValueError(
                f"policy_loss={self.policy_loss!r}: {' and '.join(options)} multiplies each token's loss by a factor "
                "that GRPOKitTrainer folds into the advantage, which is TRL's loss only if the loss's value and "
                f"gradient are {needs}, and they are not. Write the loss as -A·w(r), with w depending on A at most "
                "through its sign, or switch those options off"
            )

    def _check_modulation(self) -> None:
        accepted = keyword_params(dynamo_modulate)
        unknown = sorted(set(self.modulation_params) - set(accepted))
        if unknown:
            raise ValueError(
                f"modulation_params: dynamo_modulate has no parameter {', '.join(map(repr, unknown))}; it accepts: "
                f"{', '.join(accepted)}"
            )
        zeros = torch.zeros(1, 2)
        try:
            dynamo_modulate(torch.ones(1, 1), zeros, zeros, zeros, torch.ones(1, 2), **self.modulation_params)
        except (TypeError, ValueError) as error:
            raise ValueError(f"modulation_params {self.modulation_params}: {error}") from error


# Inputs TRL's forward helper takes from the batch (the multimodal fields vary between releases, so they are read
# from its signature rather than listed here).
_FORWARD_ARGS = {"self", "model", "input_ids", "attention_mask", "logits_to_keep", "batch_size"}
_FORWARD_INPUTS = tuple(
    name
    for name in inspect.signature(GRPOTrainer._get_per_token_logps_and_entropies).parameters
    if name not in _FORWARD_ARGS and not name.startswith("compute_")
)


def _sequence_means(values: Tensor, mask: Tensor) -> Tensor:
    """Each sequence's mean over its valid tokens; NaN for a sequence without one (TRL's ``masked_seq_mean``)."""
    return (values * mask).sum(-1) / mask.sum(-1)


class GRPOKitTrainer(GRPOTrainer):
    """TRL's ``GRPOTrainer`` whose policy loss is grpokit's (DGPO by default, arXiv 2603.14389), optionally with
    DynaMO advantage modulation (arXiv 2602.19208). Takes the same arguments as ``GRPOTrainer``; ``args`` must be a
    ``GRPOKitConfig``. Only ``_compute_loss`` differs from TRL.
    """

    _tag_names: ClassVar[list[str]] = ["trl", "grpo", "grpokit"]

    def __init__(self, model: Any, reward_funcs: Any = None, args: GRPOKitConfig | None = None, *rest, **kwargs):
        if args is None:
            name = model if isinstance(model, str) else getattr(model.config, "_name_or_path", "model")
            args = GRPOKitConfig(f"{str(name).rstrip('/').split('/')[-1]}-GRPOKit")
        if not isinstance(args, GRPOKitConfig):
            raise TypeError(
                f"GRPOKitTrainer needs a GRPOKitConfig (TRL's GRPOConfig plus policy_loss, ...), got "
                f"{type(args).__name__}"
            )
        super().__init__(model, reward_funcs, args, *rest, **kwargs)
        self._loss_params = args.loss_params()

    def _compute_loss(self, model: torch.nn.Module, inputs: dict[str, Any]) -> Tensor:
        """One micro-batch's loss: TRL 1.16's, with the policy term from ``compute_policy_loss``.

        ``loss = aggregate(L_policy(A')) + β · aggregate(KL)`` (+ a MoE router's auxiliary loss), where ``A'`` is
        TRL's advantage, DynaMO-modulated when asked, times TRL's per-token factors (see the module docstring).
        """
        args = self.args
        mode = "train" if self.model.training else "eval"
        mask = inputs["completion_mask"]
        if "tool_mask" in inputs:
            mask = mask * inputs["tool_mask"]
        log_probs, entropies, aux_loss = self._forward(model, inputs)
        old_log_probs = inputs.get("old_per_token_logps")
        # TRL skips computing π_old when the batch is used once, on-policy: then π_old = sg(π_θ).
        old_log_probs = log_probs.detach() if old_log_probs is None else old_log_probs

        advantages = inputs["advantages"]
        if advantages.dim() == 1:
            advantages = advantages.unsqueeze(1)
        factor = self._token_factor(inputs, advantages, log_probs, old_log_probs, entropies, mask)
        if args.dynamo_modulation:
            # One micro-batch per call, as in the official code (its batch maxima are per micro-batch).
            advantages = dynamo_modulate(
                advantages, log_probs.detach(), old_log_probs, entropies.detach(), mask, **args.modulation_params
            )
        self._log_trl_clip_ratios(log_probs, old_log_probs, advantages, mask, mode)
        if factor is not None:
            advantages = advantages * factor

        agg_mode, normalisers, divisor = self._aggregation(inputs, mask, mode)
        loss, metrics = compute_policy_loss(
            args.policy_loss,
            log_probs,
            old_log_probs,
            advantages,
            mask,
            loss_agg_mode=agg_mode,
            **normalisers,
            **self._loss_params,
        )
        if self.beta != 0.0:
            # TRL's k3 estimator, unclamped, with its optional importance-sampling bias correction.
            delta = inputs["ref_per_token_logps"] - log_probs
            per_token_kl = torch.exp(delta) - delta - 1
            if args.use_bias_correction_kl:
                per_token_kl = per_token_kl * torch.exp(log_probs - old_log_probs)
            loss = loss + self.beta * aggregate_loss(per_token_kl, mask, agg_mode, **normalisers)
            self._metrics[mode]["kl"].append(self._global_mean(per_token_kl, mask))
        loss = loss / divisor
        if self.aux_loss_enabled:
            loss = loss + self.router_aux_loss_coef * aux_loss / self._accumulation(mode)
            self._metrics[mode]["aux_loss"].append(self.accelerator.gather_for_metrics(aux_loss).mean().item())

        self._metrics[mode]["entropy"].append(self._global_mean(entropies, mask))
        self._log_loss_metrics(metrics, mask, mode)
        return loss

    def _forward(self, model: torch.nn.Module, inputs: dict[str, Any]) -> tuple[Tensor, Tensor, Tensor | None]:
        """Per-token log-probs and entropies of the completion (TRL's forward, at TRL's temperature)."""
        completion_ids = inputs["completion_ids"]
        return self._get_per_token_logps_and_entropies(
            model,
            torch.cat([inputs["prompt_ids"], completion_ids], dim=1),
            torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1),
            completion_ids.size(1),
            compute_entropy=True,
            compute_aux_loss=self.aux_loss_enabled,
            **{name: inputs.get(name) for name in _FORWARD_INPUTS},
        )

    def _token_factor(
        self,
        inputs: dict[str, Any],
        advantages: Tensor,
        log_probs: Tensor,
        old_log_probs: Tensor,
        entropies: Tensor,
        mask: Tensor,
    ) -> Tensor | None:
        """The product of TRL's detached per-token factors on the policy loss, or None when there are none."""
        factors = []
        if self.top_entropy_quantile < 1.0:
            factors.append(self.get_high_entropy_mask(entropies, mask, 1 - self.top_entropy_quantile))
        if self.off_policy_mask_threshold is not None:
            factors.append(
                self.get_off_policy_mask(
                    advantages=advantages,
                    per_token_logps=log_probs,
                    sampling_per_token_logps=inputs.get("sampling_per_token_logps", old_log_probs),
                    mask=mask,
                    off_policy_threshold=self.off_policy_mask_threshold,
                )
            )
        if self.use_vllm and self.vllm_importance_sampling_correction:
            factors.append(inputs["importance_sampling_ratio"])
        if not factors:
            return None
        product = factors[0].to(log_probs.dtype)
        for factor in factors[1:]:
            product = product * factor
        return product.detach()

    def _accumulation(self, mode: str) -> float:
        return self.current_gradient_accumulation_steps if mode == "train" else 1.0

    def _aggregation(self, inputs: dict[str, Any], mask: Tensor, mode: str) -> tuple[str, dict[str, Any], float]:
        """grpokit's ``loss_agg_mode`` and normalisers reproducing TRL's ``loss_type``, and the divisor after them.

        TRL divides by the number of accumulation steps in training, except for ``dapo``, whose normaliser (the
        generation batch's token count, per process and accumulation window) already accounts for it.
        """
        loss_type = self.loss_type
        num_seqs = mask.size(0)  # TRL averages over every row, including any without a valid token
        if loss_type == "dapo":
            normaliser = inputs["num_items_in_batch"].clamp(min=1.0) / self.accelerator.num_processes
            if mode == "train":
                normaliser = normaliser * self.current_gradient_accumulation_steps / self.args.steps_per_generation
            return AGGREGATIONS[loss_type], {"batch_num_tokens": normaliser}, 1.0
        normalisers: dict[str, Any] = {}
        if loss_type == "dr_grpo":
            normalisers = {"batch_num_seqs": num_seqs, "loss_scale_factor": self.max_completion_length}
        elif loss_type in ("grpo", "luspo"):
            normalisers = {"batch_num_seqs": num_seqs}
        return AGGREGATIONS[loss_type], normalisers, self._accumulation(mode)

    def _global_mean(self, values: Tensor, mask: Tensor) -> float:
        """Mean of ``values`` over the valid tokens of every process (TRL's way of logging a per-token quantity)."""
        local = torch.stack([(values.detach().float() * mask).sum(), mask.sum().float()])
        total = self.accelerator.reduce(local, reduction="sum")
        return (total[0] / total[1].clamp(min=1.0)).item()

    def _log_trl_clip_ratios(
        self, log_probs: Tensor, old_log_probs: Tensor, advantages: Tensor, mask: Tensor, mode: str
    ) -> None:
        """TRL's ``clip_ratio/*`` metrics, reduced over processes as TRL reduces them, from the loss's own clip
        regions (``clipfrac_low``/``clipfrac_high``; for ppo, dgpo, gppo and cegppo these are TRL's ``r < 1-ε, A < 0``
        and ``r > 1+ε_high, A > 0``). Called before TRL's per-token factors reach the advantages, so that every
        valid token counts, as in TRL."""
        with torch.no_grad():
            prepared = prepare_loss_inputs(log_probs, old_log_probs, advantages, mask)
            _, regions = POLICY_LOSSES.get(self.args.policy_loss)(*prepared, **self._loss_params)
        low, high = regions["clipfrac_low"].float(), regions["clipfrac_high"].float()
        logged = self._metrics[mode]
        logged["clip_ratio/low_mean"].append(self._global_mean(low, mask))
        logged["clip_ratio/high_mean"].append(self._global_mean(high, mask))
        logged["clip_ratio/region_mean"].append(self._global_mean(torch.maximum(low, high), mask))
        logged["clip_ratio/low_min"].append(nanmin(self.accelerator.gather(_sequence_means(low, mask))).item())
        logged["clip_ratio/high_max"].append(nanmax(self.accelerator.gather(_sequence_means(high, mask))).item())

    def _log_loss_metrics(self, metrics: dict[str, float], mask: Tensor, mode: str) -> None:
        """The loss's metrics (clip/decay fractions of the boundary tokens, ``ppo_kl``, ...) as ``grpokit/<key>``,
        token-weighted over every process."""
        tokens = mask.sum().float()
        weighted = torch.tensor([metrics[key] for key in metrics], device=mask.device) * tokens
        total = self.accelerator.reduce(torch.cat([weighted, tokens[None]]), reduction="sum")
        for key, value in zip(metrics, total[:-1] / total[-1].clamp(min=1.0), strict=True):
            self._metrics[mode][f"grpokit/{key}"].append(value.item())
