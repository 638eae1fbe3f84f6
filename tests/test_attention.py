"""grouped_sdpa: the same attention as transformers' sdpa for grouped-query heads under a mask, without repeat_kv."""

import types

import pytest
import torch
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from grpokit.attention import GROUPED_SDPA, grouped_sdpa_attention, use_grouped_sdpa
from grpokit.models import tiny_policy


@pytest.mark.parametrize("queries", [1, 5])
def test_grouped_heads_attend_as_repeated_heads_do(queries):
    generator = torch.Generator().manual_seed(0)
    batch, kv_heads, groups, length, dim = 3, 2, 3, 11, 8
    module = types.SimpleNamespace(num_key_value_groups=groups, is_causal=True)
    query = torch.randn(batch, kv_heads * groups, queries, dim, generator=generator)
    key, value = (torch.randn(batch, kv_heads, length, dim, generator=generator) for _ in range(2))
    mask = torch.rand(batch, 1, queries, length, generator=generator) > 0.3  # holes anywhere, as a padded cache has
    mask[..., -1] = True
    ours, _ = grouped_sdpa_attention(module, query, key, value, mask, scaling=0.5)
    theirs, _ = sdpa_attention_forward(module, query, key, value, mask, scaling=0.5)
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-5)
    assert ours.shape == (batch, queries, kv_heads * groups, dim)


def test_a_policy_switched_to_it_computes_the_logits_sdpa_computes():
    model, _ = tiny_policy(seed=3)
    model.set_attn_implementation("sdpa")
    ids = torch.randint(5, 500, (2, 9), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[0, :4] = 0  # a left-padded row
    before = model(input_ids=ids, attention_mask=mask).logits
    use_grouped_sdpa(model)
    assert model.config._attn_implementation == GROUPED_SDPA
    torch.testing.assert_close(model(input_ids=ids, attention_mask=mask).logits, before, atol=1e-5, rtol=1e-5)


def test_the_agent_trainer_uses_it_on_the_cpu_and_the_single_turn_trainer_keeps_sdpa(tmp_path):
    from grpokit.train.factory import build_trainer
    from tests.helpers import tiny_agent_config, tiny_config

    agent = build_trainer(tiny_agent_config(tmp_path / "agent"), quiet=True)
    single = build_trainer(tiny_config(tmp_path / "single"), quiet=True)
    assert agent.model.config._attn_implementation == GROUPED_SDPA
    assert single.model.config._attn_implementation == "sdpa"
