"""Whole-episode conversations sampled with the key/value cache kept between turns: the sampler's log-probabilities
are those of one forward pass over the finished conversation, whatever the rows' lengths, ends and drop-outs."""

import copy

import pytest
import torch

from grpokit.agent.conversation import EpisodeTokens
from grpokit.models import tiny_policy
from grpokit.rollout import ConversationCache, SamplingParams, token_log_probs


@pytest.fixture(scope="module")
def policy():
    model, tokenizer = tiny_policy(seed=2)
    return model.eval(), tokenizer


def play(model, tokenizer, params, turns=3, generator_seed=0, prefill_rows=8):
    """Four conversations of different lengths, asked in another order than their lengths'; the third leaves after
    the first turn. ``prefill_rows`` 1: every row is prefilled alone, and the shorter rows skip cache positions."""
    episodes = {key: EpisodeTokens.start(tokenizer, "say hi " * (3 * key + 1)) for key in range(4)}
    cache = ConversationCache(model, tokenizer, torch.Generator().manual_seed(generator_seed))
    cache.prefill_rows = prefill_rows
    ended = []
    for turn in range(turns):
        keys = [k for k in episodes if turn == 0 or k != 2]
        new = [
            episodes[k].ids if turn == 0 else episodes[k].next_user(tokenizer, "room " * (turn + (6, 1, 0, 3)[k]))
            for k in keys
        ]
        for key, (ids, log_probs, end) in zip(keys, cache.answer(keys, new, params), strict=True):
            episodes[key].add_answer(ids, log_probs, end)
            ended.append(end)
    return episodes, ended


@pytest.mark.parametrize("prefill_rows", [8, 1])
def test_cached_turns_score_as_one_forward_pass_over_the_whole_conversation(policy, monkeypatch, prefill_rows):
    model, tokenizer = policy
    # Many end tokens, so that some answers end early (and wait on masked padding) and others hit the limit.
    monkeypatch.setattr(model.generation_config, "eos_token_id", list(range(0, 512, 6)))
    episodes, ended = play(model, tokenizer, SamplingParams(1.0, 1.0, 8), prefill_rows=prefill_rows)
    assert any(ended) and not all(ended)
    for episode in episodes.values():
        ids = torch.tensor([episode.ids])
        full, _ = token_log_probs(model, ids, torch.ones_like(ids), len(episode.ids) - episode.prompt_length)
        answer_positions = [p - episode.prompt_length for a, b in episode.answers for p in range(a, b)]
        torch.testing.assert_close(full[0, answer_positions], torch.tensor(episode.log_probs), atol=2e-5, rtol=0)


@pytest.mark.parametrize("prefill_rows", [8, 1])
def test_greedy_answers_equal_generating_from_the_whole_conversation_each_turn(policy, prefill_rows):
    model, tokenizer = policy
    episodes, _ = play(model, tokenizer, SamplingParams(0.0, 1.0, 5), prefill_rows=prefill_rows)
    for episode in episodes.values():
        for start, end in episode.answers:
            prefix = torch.tensor([episode.ids[:start]])
            out = model.generate(
                input_ids=prefix, attention_mask=torch.ones_like(prefix), max_new_tokens=end - start, do_sample=False
            )
            assert out[0, start:].tolist() == episode.ids[start:end]


def test_a_conversation_cannot_join_after_the_first_turn(policy):
    model, tokenizer = policy
    cache = ConversationCache(model, tokenizer)
    cache.answer(["a"], [[1, 2, 3]], SamplingParams(0.0, 1.0, 2))
    with pytest.raises(ValueError, match="first turn"):
        cache.answer(["a", "b"], [[4], [5]], SamplingParams(0.0, 1.0, 2))


def test_the_next_turn_closes_an_answer_once(policy):
    _, tokenizer = policy
    episode = EpisodeTokens.start(tokenizer, "hello")
    answer = tokenizer("<action>look</action>", add_special_tokens=False)["input_ids"]
    episode.add_answer([*answer, tokenizer.eos_token_id], [0.0] * (len(answer) + 1), ended=True)
    episode.next_user(tokenizer, "You see a desk.")
    whole = tokenizer.apply_chat_template(
        [
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": "<action>look</action>"},
            {"role": "user", "content": "You see a desk."},
        ],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert tokenizer.decode(episode.ids) == whole


def test_a_template_that_rewrites_answers_is_refused_by_name(policy):
    _, tokenizer = policy
    episode = EpisodeTokens.start(tokenizer, "hello")
    dropping = copy.deepcopy(tokenizer)  # a template that leaves assistant messages out
    dropping.chat_template = "{% for m in messages %}{% if m.role == 'user' %}{{ m.content }}{% endif %}{% endfor %}"
    with pytest.raises(ValueError, match="rewrites assistant messages"):
        episode.next_user(dropping, "You see a desk.")


def test_a_group_of_rows_appends_into_the_cache_past_positions_it_skips():
    """``GrowingCache.rows``: rows 1-2 append 2 positions after skipping 2; the skipped positions hold zeros (finite
    keys and values under the mask) and the other row's positions are untouched."""
    from grpokit.rollout import GrowingCache

    first, later = torch.randn(2, 3, 2, 5, 4), torch.randn(2, 3, 2, 1, 4)
    group = torch.randn(2, 2, 2, 2, 4)
    cache = GrowingCache()
    cache.update(first[0], first[1], 0)
    cache.reserve(9)
    rows = cache.rows(1, 3, length=7)
    rows.update(group[0], group[1], 0)
    cache.set_length(9)
    for kept, start, new in zip(cache.layers[0].buffers, first, group, strict=True):
        assert torch.equal(kept[:, :, :5], start)
        assert torch.equal(kept[1:3, :, 7:9], new)
        assert not kept[:, :, 5:7].any() and not kept[0, :, 7:9].any()
    assert cache.get_seq_length() == 9
    cache.update(later[0], later[1], 0)  # the next append goes after the group's positions, for every row
    assert torch.equal(cache.layers[0].keys[:, :, 9:], later[0])
