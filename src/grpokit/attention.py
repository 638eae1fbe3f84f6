"""Grouped-query attention on the CPU without copying the key/value cache (``grouped_sdpa``).

With an attention mask (left padding, an agent's whole-episode cache with masked holes), transformers' ``sdpa``
attention repeats every key and value head for the query heads that share it (``repeat_kv``): a copy of the whole
cache in every layer at every decoding step, which took about half of an episode's generation time on the CPU
(SmolLM2: 9 query heads share 3 key/value heads). ``grouped_sdpa_attention`` instead stacks the query heads of a
group as extra query rows, ``(batch, kv_heads, groups × queries, dim)``, so that one SDPA call with the mask
repeated per group attends each group's rows to its keys and values in place. The result equals ``sdpa``'s
(tested); without a mask, or with one key/value head per query head, ``sdpa`` itself runs.
"""

from __future__ import annotations

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

GROUPED_SDPA = "grouped_sdpa"


def grouped_sdpa_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """transformers' attention-function signature; returns ``(batch, queries, heads, dim)`` as ``sdpa`` does."""
    groups = getattr(module, "num_key_value_groups", 1)
    if attention_mask is None or groups == 1 or kwargs.get("output_attentions", False):
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, is_causal=is_causal, **kwargs
        )
    batch, heads, queries, dim = query.shape
    kv_heads = key.shape[1]
    stacked = query.reshape(batch, kv_heads, groups * queries, dim)  # head h = kv_head * groups + g
    mask = attention_mask.repeat(1, 1, groups, 1) if attention_mask.shape[2] > 1 else attention_mask
    output = torch.nn.functional.scaled_dot_product_attention(
        stacked, key, value, attn_mask=mask, dropout_p=dropout, scale=scaling
    )
    return output.reshape(batch, heads, queries, dim).transpose(1, 2).contiguous(), None


AttentionInterface.register(GROUPED_SDPA, grouped_sdpa_attention)
AttentionMaskInterface.register(GROUPED_SDPA, sdpa_mask)


def use_grouped_sdpa(model) -> None:
    """Switch ``model`` from ``sdpa`` to ``grouped_sdpa`` attention (another implementation is left as it is)."""
    if getattr(model.config, "_attn_implementation", None) == "sdpa":
        model.set_attn_implementation(GROUPED_SDPA)
