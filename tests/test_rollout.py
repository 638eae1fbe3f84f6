"""Batched sampling with a KV cache: equal to transformers' generate, log-probs, masks, stops, groups."""

import pytest
import torch

from grpokit.models import tiny_policy
from grpokit.rollout import SamplingParams, encode_prompts, generate, token_log_probs

CONVERSATIONS = [[{"role": "user", "content": f"What is {a} + {b}?"}] for a, b in [(1, 2), (10, 20), (7, 100), (3, 3)]]


@pytest.fixture(scope="module")
def policy():
    model, tokenizer = tiny_policy(seed=1)
    tokenizer.padding_side = "left"
    return model.eval(), tokenizer


def test_greedy_equals_transformers_generate(policy):
    model, tokenizer = policy
    ours = generate(model, tokenizer, CONVERSATIONS, SamplingParams(0.0, 1.0, 10))
    ids, mask = encode_prompts(tokenizer, CONVERSATIONS)
    theirs = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=10, do_sample=False)
    assert ours.texts == tokenizer.batch_decode(theirs[:, ids.shape[1] :], skip_special_tokens=True)


def test_sampler_log_probs_match_a_recomputation(policy):
    model, tokenizer = policy
    params = SamplingParams(0.7, 0.9, 12)
    rollout = generate(model, tokenizer, CONVERSATIONS, params, generator=torch.Generator().manual_seed(0))
    ids = torch.cat([rollout.prompt_ids, rollout.response_ids], 1)
    mask = torch.cat([rollout.prompt_mask, rollout.response_mask], 1)
    recomputed, entropy = token_log_probs(
        model, ids, mask, rollout.response_ids.shape[1], temperature=0.7, with_entropy=True
    )
    valid = rollout.response_mask.bool()
    torch.testing.assert_close(recomputed[valid], rollout.log_probs[valid], atol=1e-4, rtol=0)
    assert (entropy[valid] > 0).all() and not entropy.requires_grad


def test_masks_cover_the_response_up_to_its_end(policy):
    model, tokenizer = policy
    rollout = generate(
        model, tokenizer, CONVERSATIONS * 4, SamplingParams(1.0, 1.0, 8), generator=torch.Generator().manual_seed(2)
    )
    lengths = rollout.response_mask.sum(1)
    for row in range(len(rollout)):
        n = lengths[row].item()
        assert rollout.response_mask[row, :n].all() and not rollout.response_mask[row, n:].any()
        assert (rollout.response_ids[row, n:] == tokenizer.pad_token_id).all()
        ended = rollout.response_ids[row, n - 1].item() == tokenizer.eos_token_id
        assert bool(rollout.truncated[row]) == (not ended)
    assert lengths.max() <= 8


def test_a_stop_string_ends_the_response(policy):
    model, tokenizer = policy
    free = generate(model, tokenizer, CONVERSATIONS[:1], SamplingParams(0.0, 1.0, 10))
    stop = free.texts[0][:1]
    assert stop
    stopped = generate(model, tokenizer, CONVERSATIONS[:1], SamplingParams(0.0, 1.0, 10, stop=[stop]))
    assert stopped.response_mask.sum() < free.response_mask.sum() or free.response_mask.sum() == 1
    assert stop in stopped.texts[0]


def test_groups_of_any_size_and_chunking(policy):
    model, tokenizer = policy
    rows = [c for c, n in zip(CONVERSATIONS, [3, 1, 2, 1], strict=True) for _ in range(n)]
    whole = generate(model, tokenizer, rows, SamplingParams(0.0, 1.0, 6))
    chunked = generate(model, tokenizer, rows, SamplingParams(0.0, 1.0, 6), batch_size=3)
    assert len(whole) == 7 and whole.texts == chunked.texts
    torch.testing.assert_close(whole.log_probs, chunked.log_probs)


def test_sampling_is_reproducible_from_the_generator(policy):
    model, tokenizer = policy
    a = generate(
        model, tokenizer, CONVERSATIONS, SamplingParams(1.0, 1.0, 8), generator=torch.Generator().manual_seed(5)
    )
    b = generate(
        model, tokenizer, CONVERSATIONS, SamplingParams(1.0, 1.0, 8), generator=torch.Generator().manual_seed(5)
    )
    assert a.texts == b.texts


def test_bad_sampling_parameters_are_named():
    with pytest.raises(ValueError, match="top_p"):
        SamplingParams(top_p=0.0)
    with pytest.raises(ValueError, match="temperature"):
        SamplingParams(temperature=-1)


def test_shared_prompt_forward_equals_one_forward_per_row_in_value_and_gradient(policy):
    model, tokenizer = policy
    rows = [c for c, n in zip(CONVERSATIONS, [3, 1, 2, 2], strict=True) for _ in range(n)]
    rollout = generate(model, tokenizer, rows, SamplingParams(1.0, 1.0, 9), generator=torch.Generator().manual_seed(4))
    ids = torch.cat([rollout.prompt_ids, rollout.response_ids], 1)
    mask = torch.cat([rollout.prompt_mask, rollout.response_mask], 1)
    width = rollout.response_ids.shape[1]
    results = []
    for shared in (True, False):
        model.zero_grad()
        if shared:
            log_probs, _ = token_log_probs(model, ids, mask, width)
        else:  # one row at a time: nothing to share
            log_probs = torch.cat(
                [token_log_probs(model, ids[i : i + 1], mask[i : i + 1], width)[0] for i in range(len(ids))]
            )
        (log_probs * rollout.response_mask).sum().backward()
        results.append((log_probs.detach(), [p.grad.clone() for p in model.parameters()]))
    valid = rollout.response_mask.bool()
    torch.testing.assert_close(results[0][0][valid], results[1][0][valid], atol=1e-5, rtol=1e-4)
    for shared_grad, row_grad in zip(results[0][1], results[1][1], strict=True):
        torch.testing.assert_close(shared_grad, row_grad, atol=1e-5, rtol=1e-3)


def test_the_lm_head_sees_contiguous_hidden_states(policy):
    """On a strided slice torch copies the lm_head weight once per row (benchmarks/lm_head_slice.py)."""
    model, tokenizer = policy
    seen = []
    hook = model.get_output_embeddings().register_forward_pre_hook(lambda _, args: seen.append(args[0].is_contiguous()))
    try:
        rows = [c for c in CONVERSATIONS for _ in range(2)]  # shared prompts: the prefill keeps only its last position
        rollout = generate(
            model, tokenizer, rows, SamplingParams(1.0, 1.0, 5), generator=torch.Generator().manual_seed(0)
        )
        ids = torch.cat([rollout.prompt_ids, rollout.response_ids], 1)
        mask = torch.cat([rollout.prompt_mask, rollout.response_mask], 1)
        width = rollout.response_ids.shape[1]
        token_log_probs(model, ids, mask, width)  # a shared prompt's last position, then the responses
        token_log_probs(model, ids[::2], mask[::2], width)  # distinct prompts: the last response_length + 1 positions
    finally:
        hook.remove()
    assert len(seen) >= 4 and all(seen)


@pytest.mark.parametrize("entropy_grad", [False, True])
def test_log_probs_in_chunks_equal_one_pass_in_value_and_gradient(policy, entropy_grad):
    """The output layer and log-softmax run a few tokens at a time, recomputed in the backward pass."""
    model, tokenizer = policy
    rows = [c for c in CONVERSATIONS for _ in range(2)]
    rollout = generate(model, tokenizer, rows, SamplingParams(1.0, 1.0, 9), generator=torch.Generator().manual_seed(2))
    ids = torch.cat([rollout.prompt_ids, rollout.response_ids], 1)
    mask = torch.cat([rollout.prompt_mask, rollout.response_mask], 1)
    width, valid = rollout.response_ids.shape[1], rollout.response_mask.bool()
    results = []
    for chunk_tokens in (ids.numel(), 5):  # one chunk, then chunks of 5 tokens
        model.zero_grad()
        options = {"temperature": 0.7, "with_entropy": True, "entropy_grad": entropy_grad, "chunk_tokens": chunk_tokens}
        log_probs, entropy = token_log_probs(model, ids, mask, width, **options)
        loss = (log_probs * valid).sum() + ((entropy * valid).sum() if entropy_grad else 0)
        loss.backward()
        assert entropy.requires_grad == entropy_grad
        results.append((log_probs.detach(), entropy.detach(), [p.grad.clone() for p in model.parameters()]))
    torch.testing.assert_close(results[0][0], results[1][0], atol=1e-6, rtol=0)
    torch.testing.assert_close(results[0][1], results[1][1], atol=0, rtol=1e-6)
    for whole, chunked in zip(results[0][2], results[1][2], strict=True):
        torch.testing.assert_close(whole, chunked, atol=1e-6, rtol=1e-4)


def test_scoring_some_tokens_equals_masking_a_full_pass(policy):
    """``scored`` runs the output layer on those tokens only: the same values there, 0 elsewhere, the same gradient
    of a loss that counts only them (an episode row scores its answers, not the observations between them)."""
    model, tokenizer = policy
    rows = [c for c in CONVERSATIONS for _ in range(2)]
    rollout = generate(model, tokenizer, rows, SamplingParams(1.0, 1.0, 9), generator=torch.Generator().manual_seed(3))
    ids = torch.cat([rollout.prompt_ids, rollout.response_ids], 1)
    mask = torch.cat([rollout.prompt_mask, rollout.response_mask], 1)
    width = rollout.response_ids.shape[1]
    scored = rollout.response_mask.bool() & (torch.arange(width) % 3 != 1)  # holes inside the responses too
    results = []
    for option in (None, scored):
        model.zero_grad()
        log_probs, entropy = token_log_probs(model, ids, mask, width, with_entropy=True, chunk_tokens=4, scored=option)
        (log_probs * scored).sum().backward()
        results.append((log_probs.detach(), entropy, [p.grad.clone() for p in model.parameters()]))
    (full, full_entropy, full_grads), (part, part_entropy, part_grads) = results
    torch.testing.assert_close(part[scored], full[scored], atol=1e-6, rtol=0)
    torch.testing.assert_close(part_entropy[scored], full_entropy[scored], atol=0, rtol=1e-6)
    assert scored.sum() < scored.numel() and not part[~scored].any() and not part_entropy[~scored].any()
    for whole, some in zip(full_grads, part_grads, strict=True):
        torch.testing.assert_close(some, whole, atol=1e-6, rtol=1e-4)
    nothing, entropy = token_log_probs(model, ids, mask, width, with_entropy=True, scored=torch.zeros_like(scored))
    assert nothing.shape == entropy.shape == (len(ids), width) and not nothing.any()


def test_growing_cache_holds_what_a_dynamic_cache_holds():
    """Appends of uneven lengths past the buffer's room, and row selections, reorders and repeats between them."""
    from transformers import DynamicCache

    from grpokit.rollout import GrowingCache

    generator = torch.Generator().manual_seed(0)
    growing, dynamic = GrowingCache(), DynamicCache()
    rows = 5
    changes = [None, None, ("select", [0, 2, 3, 4]), None, ("reorder", [3, 1, 2, 0]), ("repeat", 2), ("select", [1, 3])]
    for length, change in zip([7, 1, 1, 60, 1, 2, 3], changes, strict=True):
        if change is not None:
            kind, argument = change
            for cache in (growing, dynamic):
                if kind == "repeat":
                    cache.batch_repeat_interleave(argument)
                elif kind == "reorder":
                    cache.reorder_cache(torch.tensor(argument))
                else:
                    cache.batch_select_indices(torch.tensor(argument))
            rows = rows * argument if kind == "repeat" else len(argument)
        for layer in range(2):
            keys, values = torch.randn(2, rows, 3, length, 4, generator=generator)
            got = growing.update(keys, values, layer)
            expected = dynamic.update(keys, values, layer)
            for a, b in zip(got, expected, strict=True):
                assert torch.equal(a, b)
    assert growing.get_seq_length() == dynamic.get_seq_length() == 75
