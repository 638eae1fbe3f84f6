"""Batched sampling with a KV cache, and per-token log-probabilities for training.

``generate`` samples responses to a list of chat prompts (repeat a prompt to get a group; groups may differ in
size) and returns a ``Rollout``: left-padded prompt ids, right-padded response ids, masks and the sampling
policy's log-probabilities. Finished sequences are dropped from the batch and its cache as soon as they end, so a
batch costs what its unfinished sequences cost.

Log-probabilities follow verl's convention: ``log_softmax(logits / temperature)`` of the sampled token, before any
top-p truncation, so that the trainer's recomputation (``token_log_probs`` with the same temperature) matches.

``ConversationCache`` samples the answers of conversations that grow turn by turn (an agent's whole episode): each
row's key/value cache is kept between turns, so a turn prefills only its new tokens. Both samplers keep their caches
in ``GrowingCache``, which appends without copying the cache (for sampling, not for autograd).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import Tensor
from transformers import DynamicCache
from transformers.cache_utils import Cache, DynamicLayer


class GrowingLayer(DynamicLayer):
    """A key/value cache layer that appends into a buffer with room to spare, so that a decoding step copies only
    its new token's keys and values (``DynamicLayer`` concatenates: a copy of the whole cache at every step, in every
    layer). ``keys``/``values`` are views of the buffer's filled part; a full buffer grows by half (at least 64
    positions). Every method that changes the rows acts on the buffers."""

    def update(self, key_states: Tensor, value_states: Tensor, *args, **kwargs) -> tuple[Tensor, Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
            self.buffers = (key_states[..., :0, :], value_states[..., :0, :])
        length = self.get_seq_length()
        end = length + key_states.shape[-2]
        self.reserve(end)
        for buffer, new in zip(self.buffers, (key_states, value_states), strict=True):
            buffer[..., length:end, :] = new
        self.set_length(end)
        return self.keys, self.values

    def reserve(self, end: int) -> None:
        """Room for ``end`` positions: a full buffer grows by half (at least 64 positions)."""
        if end > self.buffers[0].shape[-2]:
            room = end + max(end // 2, 64)
            self.buffers = tuple(_with_room(buffer, self.get_seq_length(), room) for buffer in self.buffers)
            self.set_length(self.get_seq_length())

    def set_length(self, end: int) -> None:
        """``keys``/``values`` become the buffer's first ``end`` positions (a longer length exposes zeros)."""
        self.keys, self.values = (buffer[..., :end, :] for buffer in self.buffers)

    def rows(self, start: int, stop: int, length: int) -> GrowingLayer:
        """A layer of rows ``start:stop`` filled to ``length``, sharing this layer's buffers: what it appends (within
        the room reserved here) is written into them."""
        view = copy.copy(self)
        view.buffers = tuple(buffer[start:stop] for buffer in self.buffers)
        view.set_length(length)
        return view

    def batch_select_indices(self, indices: Tensor) -> None:
        if self.get_seq_length() > 0:
            self.buffers = tuple(buffer[indices] for buffer in self.buffers)
            self.keys, self.values = (buffer[..., : self.get_seq_length(), :] for buffer in self.buffers)

    def reorder_cache(self, beam_idx: Tensor) -> None:
        self.batch_select_indices(beam_idx)

    def batch_repeat_interleave(self, repeats: int) -> None:
        rows = torch.arange(self.keys.shape[0], device=self.keys.device)
        self.batch_select_indices(rows.repeat_interleave(repeats))


def _with_room(buffer: Tensor, length: int, room: int) -> Tensor:
    """A copy of ``buffer``'s first ``length`` positions in a buffer of ``room`` positions, the rest zeros (finite
    keys and values for the masked positions a row may skip, ``ConversationCache._prefill``)."""
    grown = buffer.new_zeros((*buffer.shape[:-2], room, buffer.shape[-1]))
    grown[..., :length, :] = buffer[..., :length, :]
    return grown


class GrowingCache(DynamicCache):
    """``DynamicCache`` whose layers are ``GrowingLayer``s."""

    def __init__(self) -> None:
        Cache.__init__(self, layer_class_to_replicate=GrowingLayer)

    def reserve(self, end: int) -> None:
        for layer in self.layers:
            layer.reserve(end)

    def rows(self, start: int, stop: int, length: int) -> GrowingCache:
        """Rows ``start:stop`` filled to ``length``, writing into this cache (within the room ``reserve`` made)."""
        view = GrowingCache()
        view.layers = [layer.rows(start, stop, length) for layer in self.layers]
        return view

    def set_length(self, end: int) -> None:
        for layer in self.layers:
            layer.set_length(end)


@dataclass
class SamplingParams:
    """How to sample: ``temperature = 0`` is greedy decoding."""

    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    stop: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")


@dataclass
class Rollout:
    """Sampled responses: ``(batch, prompt_len)`` left-padded prompts and ``(batch, response_len)`` responses."""

    prompt_ids: Tensor
    prompt_mask: Tensor
    response_ids: Tensor
    response_mask: Tensor
    log_probs: Tensor
    texts: list[str]
    truncated: Tensor  # True where the response hit max_new_tokens without ending

    def __len__(self) -> int:
        return len(self.texts)


def last_positions(count: int, width: int, device: torch.device) -> Tensor:
    """The indices of the last ``count`` of ``width`` positions, to pass as a model's ``logits_to_keep``.

    transformers slices the hidden states with an int ``logits_to_keep`` (a strided view) but gathers them with an
    index (a contiguous copy). On the strided view torch's matmul runs the lm_head as a batched product that copies
    its (vocab, hidden) weight once per row: an ALFWorld agent update took 1.4-1.6x as long, sampling 1.3-1.5x
    (``benchmarks/lm_head_slice.py``). The logits are the same; gradients through them sum in another order, so bf16
    training can round differently from then on.
    """
    return torch.arange(width - count, width, device=device)


def encode_prompts(tokenizer, conversations: list[list[dict[str, str]]]) -> tuple[Tensor, Tensor]:
    """Chat-template each conversation (with the assistant generation prompt) and left-pad to one batch."""
    texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations]
    encoded = tokenizer(texts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False)
    return encoded["input_ids"], encoded["attention_mask"]


def _sample(logits: Tensor, params: SamplingParams, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """Next tokens and their log-probabilities under ``log_softmax(logits / T)`` (greedy when ``T = 0``)."""
    logits = logits.float()
    if params.temperature == 0:
        tokens = logits.argmax(dim=-1)
        return tokens, torch.log_softmax(logits, dim=-1).gather(-1, tokens[:, None])[:, 0]
    log_probs = torch.log_softmax(logits / params.temperature, dim=-1)
    probs = log_probs.exp()
    if params.top_p < 1:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        outside = sorted_probs.cumsum(dim=-1) - sorted_probs > params.top_p  # keep the smallest nucleus
        sorted_probs = sorted_probs.masked_fill(outside, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    tokens = torch.multinomial(probs, 1, generator=generator)[:, 0]
    return tokens, log_probs.gather(-1, tokens[:, None])[:, 0]


def _ends_with_stop(tokenizer, tokens: list[int], stops: list[str]) -> bool:
    tail = tokenizer.decode(tokens[-16:], skip_special_tokens=True)
    return any(stop in tail for stop in stops)


@torch.no_grad()
def generate(
    model,
    tokenizer,
    conversations: list[list[dict[str, str]]],
    params: SamplingParams,
    *,
    generator: torch.Generator | None = None,
    batch_size: int = 64,
) -> Rollout:
    """Sample one response per conversation, ``batch_size`` conversations at a time."""
    chunks = [
        _generate_chunk(model, tokenizer, conversations[i : i + batch_size], params, generator)
        for i in range(0, len(conversations), batch_size)
    ]
    return _concatenate(chunks, tokenizer.pad_token_id)


def _generate_chunk(model, tokenizer, conversations, params: SamplingParams, generator) -> Rollout:
    device = next(model.parameters()).device
    prompt_ids, prompt_mask = encode_prompts(tokenizer, conversations)
    prompt_ids, prompt_mask = prompt_ids.to(device), prompt_mask.to(device)
    batch = len(conversations)
    eos = _end_ids(model, tokenizer)
    pad = tokenizer.pad_token_id

    # A group's rows share their prompt: prefill each distinct prompt once and copy its cache to the group's rows.
    first_rows, expand = distinct_rows(prompt_ids)
    attention = prompt_mask
    positions = (prompt_mask.cumsum(-1) - 1).clamp(min=0)
    cache = GrowingCache()
    logits = model(
        input_ids=prompt_ids[first_rows],
        attention_mask=attention[first_rows],
        position_ids=positions[first_rows],
        past_key_values=cache,
        use_cache=True,
        logits_to_keep=last_positions(1, prompt_ids.shape[1], device),  # no logits for the prompt's other positions
    ).logits[:, -1][expand]
    cache.batch_select_indices(expand)
    next_position = positions[:, -1:] + 1

    tokens_out: list[list[int]] = [[] for _ in range(batch)]
    log_probs_out: list[list[float]] = [[] for _ in range(batch)]
    ended = [False] * batch
    active = torch.arange(batch, device=device)  # rows of the original batch still generating
    for _ in range(params.max_new_tokens):
        tokens, token_log_probs = _sample(logits, params, generator)
        keep = []
        for j, (row, token, log_prob) in enumerate(
            zip(active.tolist(), tokens.tolist(), token_log_probs.tolist(), strict=True)
        ):
            tokens_out[row].append(token)
            log_probs_out[row].append(log_prob)
            if token in eos or (params.stop and _ends_with_stop(tokenizer, tokens_out[row], params.stop)):
                ended[row] = True
            else:
                keep.append(j)
        if not keep:
            break
        if len(keep) < len(active):
            index = torch.tensor(keep, device=device)
            cache.batch_select_indices(index)
            active, tokens = active[index], tokens[index]
            attention, next_position = attention[index], next_position[index]
        attention = torch.cat([attention, attention.new_ones(len(active), 1)], dim=-1)
        logits = model(
            input_ids=tokens[:, None],
            attention_mask=attention,
            position_ids=next_position,
            past_key_values=cache,
            use_cache=True,
        ).logits[:, -1]
        next_position = next_position + 1

    length = max(len(t) for t in tokens_out)
    response_ids = torch.full((batch, length), pad, dtype=torch.long)
    response_mask = torch.zeros((batch, length), dtype=torch.long)
    log_probs = torch.zeros((batch, length), dtype=torch.float32)
    for row, (ids, lps) in enumerate(zip(tokens_out, log_probs_out, strict=True)):
        response_ids[row, : len(ids)] = torch.tensor(ids)
        response_mask[row, : len(ids)] = 1
        log_probs[row, : len(lps)] = torch.tensor(lps)
    texts = tokenizer.batch_decode(response_ids.masked_fill(response_mask == 0, pad), skip_special_tokens=True)
    return Rollout(
        prompt_ids=prompt_ids.cpu(),
        prompt_mask=prompt_mask.cpu(),
        response_ids=response_ids,
        response_mask=response_mask,
        log_probs=log_probs,
        texts=texts,
        truncated=torch.tensor([not e for e in ended]),
    )


class ConversationCache:
    """Answers to conversations that grow turn by turn, every conversation's key/value cache kept between turns.

    ``answer(keys, new_tokens, params)`` appends each conversation's new tokens (the first turn: its whole prompt)
    and samples one answer per conversation; it returns ``(answer ids, log-probs, ended)`` per key. Conversations
    join only at the first call; one left out of a later call has ended and leaves the cache. New tokens of unequal
    length are left-padded (after the first turn within groups of rows of similar length, ``_prefill``), and a row
    whose answer ended waits for the others on masked padding, so the cache holds masked holes; positions count
    real tokens only, so a row's log-probabilities are those of its tokens in one unpadded forward pass (up to
    rounding). An answer's last token enters the cache with the next turn's tokens.
    """

    prefill_rows = 8  # rows prefilled together: rows sorted by their new tokens' length, the groups pad little

    def __init__(self, model, tokenizer, generator: torch.Generator | None = None):
        self.model, self.tokenizer, self.generator = model, tokenizer, generator
        self.device = next(model.parameters()).device
        self.cache = GrowingCache()
        self.keys: list = []  # the cache's rows (in groups: ordered by the length of their last new tokens)
        self.attention: Tensor | None = None  # (rows, cached positions), set at the first turn
        self.next_position: Tensor | None = None  # (rows, 1)
        self.unfed: dict = {}  # key -> the last answer token, not yet in the cache

    @torch.no_grad()
    def answer(
        self, keys: list, new_tokens: list[list[int]], params: SamplingParams
    ) -> list[tuple[list[int], list[float], bool]]:
        if self.keys and set(keys) - set(self.keys):
            raise ValueError("conversations join a ConversationCache only at its first turn")
        new = {
            k: [*([self.unfed.pop(k)] if k in self.unfed else []), *tokens]
            for k, tokens in zip(keys, new_tokens, strict=True)
        }
        # sorted by length only where the rows are prefilled in groups: reordering copies the cache
        order = sorted(keys, key=lambda k: len(new[k])) if len(keys) > self.prefill_rows else list(keys)
        if not self.keys:
            self.attention = torch.zeros((len(keys), 0), dtype=torch.long, device=self.device)
            self.next_position = torch.zeros((len(keys), 1), dtype=torch.long, device=self.device)
        elif order != self.keys:
            keep = torch.tensor([self.keys.index(k) for k in order], device=self.device)
            self.cache.batch_select_indices(keep)
            self.attention, self.next_position = self.attention[keep], self.next_position[keep]
        self.keys = order
        pad = self.tokenizer.pad_token_id
        eos = _end_ids(self.model, self.tokenizer)
        rows = [new[k] for k in order]
        width = max(len(row) for row in rows)
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        fresh = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
            fresh[i, width - len(row) :] = 1
        ids, fresh = ids.to(self.device), fresh.to(self.device)
        positions = self.next_position + (fresh.cumsum(-1) - 1).clamp(min=0)
        self.next_position = self.next_position + fresh.sum(-1, keepdim=True)
        self.attention = torch.cat([self.attention, fresh], dim=-1)
        logits = self._prefill(ids, positions, [len(row) for row in rows])

        answers: list[list[int]] = [[] for _ in rows]
        log_probs: list[list[float]] = [[] for _ in rows]
        ended = [False] * len(rows)
        for step in range(params.max_new_tokens):
            tokens, token_log_probs = _sample(logits, params, self.generator)
            for i, (token, log_prob) in enumerate(zip(tokens.tolist(), token_log_probs.tolist(), strict=True)):
                if ended[i]:
                    continue
                answers[i].append(token)
                log_probs[i].append(log_prob)
                ended[i] = token in eos or bool(
                    params.stop and _ends_with_stop(self.tokenizer, answers[i], params.stop)
                )
                if ended[i]:
                    self.unfed[order[i]] = token
            if all(ended) or step == params.max_new_tokens - 1:
                break
            going = torch.tensor([not e for e in ended], dtype=torch.long, device=self.device)[:, None]
            self.attention = torch.cat([self.attention, going], dim=-1)
            logits = self._forward(torch.where(going.bool(), tokens[:, None], pad), self.next_position)
            self.next_position = self.next_position + going
        for i, key in enumerate(order):
            if not ended[i]:  # cut at the token limit: its last token is still to enter the cache
                self.unfed[key] = answers[i][-1]
        sampled = dict(zip(order, zip(answers, log_probs, ended, strict=True), strict=True))
        return [sampled[k] for k in keys]

    def _prefill(self, ids: Tensor, positions: Tensor, lengths: list[int]) -> Tensor:
        """The last position's logits of every row's new tokens (``ids``, left-padded).

        After the first turn, more than ``prefill_rows`` rows (sorted by ascending length in ``answer``) go through
        the model ``prefill_rows`` at a time, each group padded only to its own longest row: every row's new tokens
        still end at the same cache position, and a shorter group skips the positions before its tokens, which stay
        masked zeros. Padded to the longest row of the batch, 28% of the positions an ALFWorld evaluation prefilled
        were padding (32 games of the slice's cloned model, docs/studies/alfworld-slice.md).
        """
        width = ids.shape[1]
        start = self.cache.get_seq_length()
        if start == 0 or len(lengths) <= self.prefill_rows:  # the first turn builds the cache in one pass
            return self._forward(ids, positions, logits_to_keep=last_positions(1, width, self.device))
        self.cache.reserve(start + width)
        logits = []
        for first in range(0, len(lengths), self.prefill_rows):
            rows = slice(first, min(first + self.prefill_rows, len(lengths)))
            group = lengths[rows.stop - 1]
            logits.append(
                self._forward(
                    ids[rows, width - group :],
                    positions[rows, width - group :],
                    logits_to_keep=last_positions(1, group, self.device),
                    rows=rows,
                    cache=self.cache.rows(rows.start, rows.stop, start + width - group),
                )
            )
        self.cache.set_length(start + width)
        return torch.cat(logits)

    def _forward(
        self,
        ids: Tensor,
        positions: Tensor,
        logits_to_keep: Tensor | int = 0,
        rows: slice = slice(None),
        cache: GrowingCache | None = None,
    ) -> Tensor:
        """The last position's logits of ``rows`` (all by default), through ``cache`` (the whole cache by default)."""
        return self.model(
            input_ids=ids,
            attention_mask=self.attention[rows],
            position_ids=positions,
            past_key_values=self.cache if cache is None else cache,
            use_cache=True,
            logits_to_keep=logits_to_keep,
        ).logits[:, -1]


def _end_ids(model, tokenizer) -> set[int]:
    """The tokens that end an answer: the tokenizer's end-of-sequence and the model's generation config's."""
    return {tokenizer.eos_token_id, *_as_list(getattr(model.generation_config, "eos_token_id", None))} - {None}


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _pad_to(tensor: Tensor, width: int, value: float, left: bool) -> Tensor:
    missing = width - tensor.shape[1]
    if missing == 0:
        return tensor
    filler = tensor.new_full((tensor.shape[0], missing), value)
    return torch.cat([filler, tensor] if left else [tensor, filler], dim=1)


def _concatenate(chunks: list[Rollout], pad: int) -> Rollout:
    if len(chunks) == 1:
        return chunks[0]
    prompt_width = max(c.prompt_ids.shape[1] for c in chunks)
    response_width = max(c.response_ids.shape[1] for c in chunks)
    return Rollout(
        prompt_ids=torch.cat([_pad_to(c.prompt_ids, prompt_width, pad, left=True) for c in chunks]),
        prompt_mask=torch.cat([_pad_to(c.prompt_mask, prompt_width, 0, left=True) for c in chunks]),
        response_ids=torch.cat([_pad_to(c.response_ids, response_width, pad, left=False) for c in chunks]),
        response_mask=torch.cat([_pad_to(c.response_mask, response_width, 0, left=False) for c in chunks]),
        log_probs=torch.cat([_pad_to(c.log_probs, response_width, 0.0, left=False) for c in chunks]),
        texts=[t for c in chunks for t in c.texts],
        truncated=torch.cat([c.truncated for c in chunks]),
    )


def distinct_rows(tokens: Tensor) -> tuple[Tensor, Tensor]:
    """``(first_rows, expand)``: the first row of each distinct row of ``tokens`` and, per row, its distinct index."""
    distinct: dict[tuple, int] = {}
    index_of_row = [distinct.setdefault(tuple(row.tolist()), len(distinct)) for row in tokens]
    first_rows = torch.tensor([index_of_row.index(i) for i in range(len(distinct))], device=tokens.device)
    return first_rows, torch.tensor(index_of_row, device=tokens.device)


def _response_hidden(model, input_ids: Tensor, attention_mask: Tensor, response_length: int) -> Tensor:
    """The last hidden states that predict each of the last ``response_length`` tokens, ``(batch, length, hidden)``.

    When rows share a prompt, each distinct prompt runs once and its key/value cache is indexed out to its rows
    before the responses run on top of it. Autograd flows through the cache, so values and gradients equal those of
    one forward pass per row, at a fraction of the cost (the prompt is often most of a row's tokens). The output layer
    is left to ``token_log_probs``, which applies it a chunk of tokens at a time.
    """
    decoder = model.get_decoder()
    prompt_width = input_ids.shape[1] - response_length
    positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    first_rows, expand = distinct_rows(input_ids[:, :prompt_width])
    checkpointing = getattr(model, "is_gradient_checkpointing", False)  # incompatible with a cache in training
    if len(first_rows) == len(input_ids) or prompt_width == 0 or checkpointing:
        hidden = decoder(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=positions, use_cache=False
        ).last_hidden_state
        return hidden[:, -response_length - 1 : -1]
    cache = DynamicCache()
    prompt = slice(0, prompt_width)
    first = decoder(
        input_ids=input_ids[first_rows, prompt],
        attention_mask=attention_mask[first_rows, prompt],
        position_ids=positions[first_rows, prompt],
        past_key_values=cache,
        use_cache=True,
    ).last_hidden_state[:, -1:][expand]
    cache.batch_select_indices(expand)
    response_positions = (
        positions[:, prompt_width - 1 : prompt_width] + 1 + torch.arange(response_length, device=input_ids.device)
    )
    rest = decoder(
        input_ids=input_ids[:, prompt_width:],
        attention_mask=attention_mask,
        position_ids=response_positions,
        past_key_values=cache,
        use_cache=True,
    ).last_hidden_state
    return torch.cat([first, rest[:, :-1]], dim=1)


def _logits(model, hidden: Tensor, temperature: float) -> Tensor:
    """Float32 logits of ``hidden`` (its rows contiguous) through the model's output layer, divided by
    ``temperature``, with the final soft-capping of models that have one (Gemma 2)."""
    logits = model.get_output_embeddings()(hidden).float()
    cap = getattr(model.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    if temperature > 0 and temperature != 1:  # dividing by 1 changes nothing and costs a pass over the vocabulary
        logits = logits / temperature
    return logits


def _scores(model, hidden: Tensor, targets: Tensor, temperature: float, entropy: bool, entropy_grad: bool):
    """Log-probabilities of ``targets`` and (optionally) the entropies, for rows of ``hidden``."""
    log_softmax = torch.log_softmax(_logits(model, hidden, temperature), dim=-1)
    log_probs = log_softmax.gather(-1, targets[:, None])[:, 0]
    if not entropy:
        return log_probs, None
    with torch.set_grad_enabled(entropy_grad and torch.is_grad_enabled()):
        return log_probs, -(log_softmax.exp() * log_softmax).sum(-1)


LOGIT_CHUNK_TOKENS = 1024  # tokens whose (tokens x vocabulary) logits exist at once: 201 MB in float32 for SmolLM2


def token_log_probs(
    model,
    input_ids: Tensor,
    attention_mask: Tensor,
    response_length: int,
    *,
    temperature: float = 1.0,
    with_entropy: bool = False,
    entropy_grad: bool = False,
    chunk_tokens: int = LOGIT_CHUNK_TOKENS,
    scored: Tensor | None = None,
) -> tuple[Tensor, Tensor | None]:
    """Log-probabilities (and optionally entropies) of the last ``response_length`` tokens of each row.

    ``input_ids`` is prompt + response (prompt left-padded, response right-padded); logits are divided by
    ``temperature`` as during sampling. Returns ``(batch, response_length)`` tensors; the entropy is that of the
    full next-token distribution, without gradient unless ``entropy_grad`` (for an entropy bonus). Rows that share
    a prompt (a group) share its forward pass, gradient included (``_response_hidden``).

    The output layer and the log-softmax run ``chunk_tokens`` tokens at a time, and under autograd each chunk is
    recomputed in the backward pass instead of kept (activation checkpointing), so the whole micro-batch's
    ``(tokens x vocabulary)`` logits never exist at once: the same values and gradients in a fraction of the memory.

    ``scored`` (``(batch, response_length)``, e.g. the response mask) limits the output layer to those tokens; the
    others get 0. An agent's whole-episode row scores its answers only, not the observations between them (in an
    ALFWorld episode 138 of about 1,000 response tokens).
    """
    hidden = _response_hidden(model, input_ids, attention_mask, response_length)
    rows, width = hidden.shape[:2]
    targets = input_ids[:, -response_length:]
    if scored is None:
        flat_hidden = hidden.reshape(rows * width, -1)  # a copy, contiguous: the output layer's matmul wants it
        targets = targets.reshape(-1)
    else:
        scored = scored.bool()
        flat_hidden, targets = hidden[scored], targets[scored]  # gathered: a contiguous copy
    checkpointed = torch.is_grad_enabled() and flat_hidden.requires_grad
    log_probs, entropies = [], []
    for start in range(0, len(targets), chunk_tokens):
        chunk = (model, flat_hidden[start : start + chunk_tokens], targets[start : start + chunk_tokens])
        options = (temperature, with_entropy, entropy_grad)
        if checkpointed:
            scores = torch.utils.checkpoint.checkpoint(_scores, *chunk, *options, use_reentrant=False)
        else:
            scores = _scores(*chunk, *options)
        log_probs.append(scores[0])
        entropies.append(scores[1])
    if not log_probs:  # nothing scored: zeros, still part of the graph so that a backward pass runs
        zeros = hidden.new_zeros(rows, width, dtype=torch.float32) + 0 * hidden.float().sum()
        return zeros, zeros.clone() if with_entropy else None
    log_probs = _spread(torch.cat(log_probs), scored, rows, width)
    if not with_entropy:
        return log_probs, None
    return log_probs, _spread(torch.cat(entropies), scored, rows, width)


def _spread(values: Tensor, scored: Tensor | None, rows: int, width: int) -> Tensor:
    """``(rows, width)`` from the scored tokens' ``values`` (all tokens when ``scored`` is None), 0 elsewhere."""
    if scored is None:
        return values.view(rows, width)
    return values.new_zeros(rows, width).masked_scatter(scored, values)
