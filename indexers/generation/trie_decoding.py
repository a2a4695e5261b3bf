"""Constrained beam search over a `NameTrie` with a causal LM: only names in the trie can come out.

Our own loop rather than transformers' `prefix_allowed_tokens_fn`: the prompt is encoded once and its
KV cache is shared by every beam (reordered, not recomputed); the part of the prompt that every query
shares (system turn, instruction) is encoded once per process (`PromptPrefix`) and copied per search;
several prompts are decoded together, and each step runs all live beams of all of them in one batched
forward pass of one token each, computing logits for the last position only; only the trie's allowed
tokens are scored.

Scores are sums of token log-probabilities (the end token included), divided by
`length ** length_penalty`. With `length_penalty = 0` the search stops as soon as no live beam can
beat the `num_beams`-th finished name (log-probabilities only fall as a beam grows), which is exact
for the beams kept; with a penalty that test is a heuristic, as in transformers.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from indexers.generation.name_trie import NameTrie, TrieState

__all__ = ["DecodeStats", "Generated", "PromptPrefix", "constrained_beam_search"]


@dataclass(frozen=True, slots=True)
class Generated:
    """One generated name: its id in the trie, its score and its length in tokens (end included)."""

    name_id: int
    score: float
    logprob: float
    length: int


@dataclass(slots=True)
class DecodeStats:
    """Work done by searches: forward passes and beam-steps (rows run through the model)."""

    forwards: int = 0
    beam_steps: int = 0


class PromptPrefix:
    """The KV cache of prompt tokens that every query starts with, computed once, copied per search."""

    def __init__(self, model: Any, ids: list[int]) -> None:
        import torch

        self.ids = list(ids)
        with torch.inference_mode():
            out = model(
                input_ids=torch.tensor([self.ids], device=model.device), use_cache=True, logits_to_keep=1
            )
        self._cache = out.past_key_values

    def start(self, prompts: Sequence[list[int]]) -> tuple[Any, int, list[list[int]]]:
        """A private copy of the cache, one row per prompt, its length, and each prompt's tokens left
        to run; no cache and the whole prompts unless every prompt begins with the prefix."""
        import torch

        n = len(self.ids)
        if not all(len(ids) > n and ids[:n] == self.ids for ids in prompts):
            return None, 0, list(prompts)
        cache = copy.deepcopy(self._cache)
        cache.reorder_cache(torch.zeros(len(prompts), dtype=torch.long))
        return cache, n, [ids[n:] for ids in prompts]


@dataclass(frozen=True, slots=True)
class _Beam:
    state: TrieState
    logprob: float


def constrained_beam_search(
    model: Any,
    prompts: Sequence[list[int]],
    trie: NameTrie,
    *,
    num_beams: int,
    length_penalty: float = 0.0,
    stats: DecodeStats | None = None,
    prefix: PromptPrefix | None = None,
) -> list[list[Generated]]:
    """Per prompt, the best names in `trie` as its continuations, best first (at most `num_beams`).

    Every prompt's beams run together: one forward pass per step for all live beams of all prompts.
    Prompts of different lengths are padded between the shared prefix and the rest, masked out, with
    explicit positions, so each prompt sees what it would see alone.

    Args:
        model: a transformers causal LM (eval mode) whose outputs carry `logits` and `past_key_values`.
        prompts: each prompt's token ids.
        trie: the names that may be generated.
        num_beams: beams kept per step and prompt, and the most names returned per prompt.
        length_penalty: see the module docstring.
        stats: counters to add this search's work to.
        prefix: the encoded start shared by prompts, reused when every prompt begins with it.
    """
    import torch

    if trie.num_live == 0 or not prompts:
        return [[] for _ in prompts]
    device = model.device
    searches = [_Search(num_beams, length_penalty) for _ in prompts]
    with torch.inference_mode():
        cache, start, rests = prefix.start(prompts) if prefix is not None else (None, 0, list(prompts))
        width = max(map(len, rests))
        ids = torch.zeros((len(rests), width), dtype=torch.long)
        mask = torch.zeros((len(rests), start + width), dtype=torch.long)
        mask[:, :start] = 1
        positions = torch.zeros((len(rests), width), dtype=torch.long)
        for row, rest in enumerate(rests):
            pad = width - len(rest)
            ids[row, pad:] = torch.tensor(rest)
            mask[row, start + pad :] = 1
            positions[row, pad:] = torch.arange(start, start + len(rest))
        base = torch.tensor([start + len(rest) for rest in rests])  # position of the first name token
        out = model(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            position_ids=positions.to(device),
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        if stats is not None:
            stats.forwards += 1
            stats.beam_steps += len(rests)
        # each row of the batch: (prompt, beam); the prefill has one row per prompt, at the root
        owners = list(range(len(prompts)))
        beams = [_Beam(trie.root(), 0.0) for _ in prompts]
        for step in range(1, trie.max_length + 1):
            logprobs = torch.log_softmax(out.logits[:, -1].float(), dim=-1).cpu().numpy()
            keep: list[int] = []
            next_tokens: list[int] = []
            next_owners: list[int] = []
            next_beams: list[_Beam] = []
            for prompt, rows in _group(owners):
                survivors = searches[prompt].step(trie, [beams[r] for r in rows], logprobs[rows], step)
                for local, beam, token in survivors:
                    keep.append(rows[local])
                    next_tokens.append(token)
                    next_owners.append(prompt)
                    next_beams.append(beam)
            if not keep:
                break
            rows_kept = torch.tensor(keep)
            cache = out.past_key_values
            cache.reorder_cache(rows_kept.to(device))
            mask = torch.cat([mask[rows_kept], torch.ones((len(keep), 1), dtype=torch.long)], dim=1)
            base = base[rows_kept]
            out = model(
                input_ids=torch.tensor(next_tokens, device=device)[:, None],
                attention_mask=mask.to(device),
                position_ids=(base + step - 1)[:, None].to(device),
                past_key_values=cache,
                use_cache=True,
                logits_to_keep=1,
            )
            owners, beams = next_owners, next_beams
            if stats is not None:
                stats.forwards += 1
                stats.beam_steps += len(keep)
    return [search.finished for search in searches]


def _group(owners: list[int]) -> list[tuple[int, np.ndarray]]:
    """The rows of each prompt, in order (rows of one prompt are consecutive)."""
    groups: list[tuple[int, np.ndarray]] = []
    start = 0
    for row in range(1, len(owners) + 1):
        if row == len(owners) or owners[row] != owners[start]:
            groups.append((owners[start], np.arange(start, row)))
            start = row
    return groups


class _Search:
    """One prompt's beam search state: the finished names, best first, and whether it is over."""

    def __init__(self, num_beams: int, length_penalty: float) -> None:
        self.num_beams = num_beams
        self.length_penalty = length_penalty
        self.finished: list[Generated] = []

    def step(
        self, trie: NameTrie, beams: list[_Beam], logprobs: np.ndarray, step: int
    ) -> list[tuple[int, _Beam, int]]:
        """Extend `beams` (their next-token log-probabilities `(beams, vocab)`) by one token; returns the
        surviving beams as (row among `beams`, new beam, token fed next), none once the search is over."""
        rows, tokens, scores = _candidates(trie, beams, logprobs)
        survivors: list[tuple[int, _Beam, int]] = []
        for at in np.argsort(-scores, kind="stable")[: 2 * self.num_beams]:
            row, token = int(rows[at]), int(tokens[at])
            state = trie.advance(beams[row].state, token)
            logprob = float(scores[at])
            if token == trie.end_token:
                penalty = step**self.length_penalty if self.length_penalty else 1.0
                self.finished.append(Generated(trie.name_at(state), logprob / penalty, logprob, step))
            elif len(survivors) < self.num_beams:
                survivors.append((row, _Beam(state, logprob), token))
        self.finished.sort(key=lambda g: -g.score)
        del self.finished[self.num_beams :]
        if (
            survivors
            and len(self.finished) == self.num_beams
            and _cannot_improve([beam for _, beam, _ in survivors], self.finished, step, self.length_penalty)
        ):
            return []
        return survivors


def _candidates(
    trie: NameTrie, beams: list[_Beam], logprobs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every allowed continuation of every beam: beam rows, tokens and summed log-probabilities."""
    rows, tokens, scores = [], [], []
    for row, beam in enumerate(beams):
        allowed = trie.next_tokens(beam.state)
        if len(allowed):
            rows.append(np.full(len(allowed), row))
            tokens.append(allowed)
            scores.append(beam.logprob + logprobs[row, allowed])
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    return np.concatenate(rows), np.concatenate(tokens), np.concatenate(scores)


def _cannot_improve(
    survivors: list[_Beam], finished: list[Generated], step: int, length_penalty: float
) -> bool:
    """True when no live beam can beat the worst kept finished name (see the module docstring)."""
    best = max(beam.logprob for beam in survivors)
    if length_penalty:
        best /= (step + 1) ** length_penalty
    return best <= finished[-1].score
