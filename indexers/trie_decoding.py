"""Constrained beam search over a `NameTrie` with a causal LM: only names in the trie can come out.

Our own loop rather than transformers' `prefix_allowed_tokens_fn`: the prompt is encoded once and its
KV cache is shared by every beam (reordered, not recomputed); the part of the prompt that every query
shares (system turn, instruction) is encoded once per process (`PromptPrefix`) and copied per query;
each step runs all live beams in one batched forward pass of one token each, computing logits for the
last position only; only the trie's allowed tokens are scored.

Scores are sums of token log-probabilities (the end token included), divided by
`length ** length_penalty`. With `length_penalty = 0` the search stops as soon as no live beam can
beat the `num_beams`-th finished name (log-probabilities only fall as a beam grows), which is exact
for the beams kept; with a penalty that test is a heuristic, as in transformers.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

from indexers.name_trie import NameTrie, TrieState

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

    def start(self, prompt_ids: list[int]) -> tuple[Any, list[int]]:
        """A private copy of the cache and the prompt tokens left to run (all, if the prefix differs)."""
        if len(prompt_ids) > len(self.ids) and prompt_ids[: len(self.ids)] == self.ids:
            return copy.deepcopy(self._cache), prompt_ids[len(self.ids) :]
        return None, prompt_ids


@dataclass(frozen=True, slots=True)
class _Beam:
    state: TrieState
    logprob: float


def constrained_beam_search(
    model: Any,
    prompt_ids: list[int],
    trie: NameTrie,
    *,
    num_beams: int,
    length_penalty: float = 0.0,
    stats: DecodeStats | None = None,
    prefix: PromptPrefix | None = None,
) -> list[Generated]:
    """The best names in `trie` as continuations of `prompt_ids`, best first (at most `num_beams`).

    Args:
        model: a transformers causal LM (eval mode) whose outputs carry `logits` and `past_key_values`.
        prompt_ids: the prompt's token ids, `(prompt_len,)`.
        trie: the names that may be generated.
        num_beams: beams kept per step, and the most names returned.
        length_penalty: see the module docstring.
        stats: counters to add this search's work to.
        prefix: the encoded start shared by prompts, reused when `prompt_ids` begins with it.
    """
    import torch

    if trie.num_live == 0:
        return []
    device = model.device
    finished: list[Generated] = []
    with torch.inference_mode():
        cache, rest = prefix.start(prompt_ids) if prefix is not None else (None, prompt_ids)
        out = model(
            input_ids=torch.tensor([rest], device=device),
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        cache = out.past_key_values
        logprobs = torch.log_softmax(out.logits[:, -1].float(), dim=-1).cpu().numpy()
        beams = [_Beam(trie.root(), 0.0)]
        if stats is not None:
            stats.forwards += 1
            stats.beam_steps += 1
        for step in range(1, trie.max_length + 1):
            rows, tokens, scores = _candidates(trie, beams, logprobs)
            if not len(scores):
                break
            keep: list[int] = []
            next_tokens: list[int] = []
            survivors: list[_Beam] = []
            for at in np.argsort(-scores, kind="stable")[: 2 * num_beams]:
                beam, token = beams[rows[at]], int(tokens[at])
                state = trie.advance(beam.state, token)
                logprob = float(scores[at])
                if token == trie.end_token:
                    score = logprob / step**length_penalty if length_penalty else logprob
                    finished.append(Generated(trie.name_at(state), score, logprob, step))
                elif len(survivors) < num_beams:
                    survivors.append(_Beam(state, logprob))
                    keep.append(int(rows[at]))
                    next_tokens.append(token)
            finished.sort(key=lambda g: -g.score)
            del finished[num_beams:]
            if not survivors or (
                len(finished) == num_beams and _cannot_improve(survivors, finished, step, length_penalty)
            ):
                break
            cache.reorder_cache(torch.tensor(keep, device=device))
            out = model(
                input_ids=torch.tensor(next_tokens, device=device)[:, None],
                past_key_values=cache,
                use_cache=True,
                logits_to_keep=1,
            )
            cache = out.past_key_values
            logprobs = torch.log_softmax(out.logits[:, -1].float(), dim=-1).cpu().numpy()
            beams = survivors
            if stats is not None:
                stats.forwards += 1
                stats.beam_steps += len(survivors)
    return finished


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
