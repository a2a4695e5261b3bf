"""CRAG-style compression: cluster the retrieved passages, then condense each cluster.

Passages are embedded (mean-pooled encoder states, L2-normalised) and clustered by Ward agglomerative
clustering; the number of clusters k is the one in 2..ceil(sqrt(n)) with the best silhouette (1 for
fewer than 3 passages). Each cluster (its passages in retrieval order) is condensed to at most
`cluster_tokens` tokens, by the token classifier or by the LLM summarising it. With k <= sqrt(n) and
a bounded condensate per cluster, the prompt grows at most like sqrt(n) as more passages arrive.

Given a question, clusters are ordered by their best passage's relevance to it (MiniLM cosine)
instead of by retrieval order and get the overall budget in that order (up to `cluster_tokens` each;
clusters left without budget are dropped), and each cluster is condensed question-aware: the
classifier keeps its passages most relevant to the question (its representatives), the LLM summary
is asked for the facts that bear on the question.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from indexers.compress.base import (
    Compressor,
    CompressResult,
    Deadline,
    check_deadline,
    check_request,
    token_budget,
)
from indexers.compress.lingua import LinguaCompressor, forced_mask
from indexers.compress.question import relevance
from indexers.compress.words import split_words
from indexers.errors import InvalidInput
from indexers.models.llm import LLM

__all__ = ["CragCompressor", "CragConfig", "choose_clusters"]


class CragConfig(BaseModel):
    """How passages are grouped and how each group is condensed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    condense: Literal["lingua", "llm"] = Field("lingua", description="token classifier or LLM summary")
    cluster_tokens: int = Field(64, ge=8, le=4096, description="most tokens one cluster condenses to")
    max_clusters: int | None = Field(None, ge=1, description="cap on k; default ceil(sqrt(passages))")


def _silhouette(vectors: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette coefficient under cosine distance (vectors L2-normalised)."""
    distance = np.clip(1.0 - vectors @ vectors.T, 0.0, 2.0)
    clusters = np.unique(labels)
    mean_to = np.stack([distance[:, labels == c].mean(axis=1) for c in clusters], axis=1)
    sizes = np.asarray([(labels == c).sum() for c in clusters])
    own = np.searchsorted(clusters, labels)
    rows = np.arange(len(labels))
    # mean distance to the others in one's own cluster (exclude oneself)
    a = mean_to[rows, own] * sizes[own] / np.maximum(sizes[own] - 1, 1)
    mean_to[rows, own] = np.inf
    b = mean_to.min(axis=1)
    score = np.where(sizes[own] > 1, (b - a) / np.maximum(np.maximum(a, b), 1e-12), 0.0)
    return float(score.mean())


def choose_clusters(vectors: np.ndarray, max_clusters: int | None = None) -> np.ndarray:
    """Cluster labels 0..k-1 for L2-normalised `vectors` (n, dim), k chosen by silhouette."""
    from scipy.cluster.hierarchy import fcluster, linkage

    n = len(vectors)
    if n < 3:
        return np.zeros(n, dtype=np.int64)
    tree = linkage(vectors.astype(np.float64), method="ward")
    top = min(n - 1, max_clusters or math.ceil(math.sqrt(n)))
    best, best_score = np.zeros(n, dtype=np.int64), -np.inf
    for k in range(2, top + 1):
        labels = fcluster(tree, t=k, criterion="maxclust").astype(np.int64) - 1
        if len(np.unique(labels)) < 2:
            continue
        score = _silhouette(vectors, labels)
        if score > best_score:
            best, best_score = labels, score
    return best


class CragCompressor(Compressor):
    """Cluster, then condense each cluster; see the module docstring."""

    def __init__(
        self, lingua: LinguaCompressor, config: CragConfig | None = None, llm: LLM | None = None
    ) -> None:
        config = config or CragConfig()
        if config.condense == "llm" and llm is None:
            raise InvalidInput("CRAG with condense='llm' needs an LLM")
        self.lingua, self.config, self.llm = lingua, config, llm

    def count_tokens(self, text: str) -> int:
        return self.lingua.count_tokens(text)

    def compress(
        self,
        passages: str | Sequence[str],
        *,
        rate: float | None = None,
        target_tokens: int | None = None,
        force_tokens: Sequence[str] = (),
        question: str | None = None,
        deadline: Deadline | None = None,
    ) -> CompressResult:
        started = time.perf_counter()
        items, rate, target_tokens = check_request(passages, rate, target_tokens, question)
        all_words = [w for p in items for w in split_words(p)[0]]
        forced_mask(all_words, force_tokens)  # every forced token must occur somewhere
        vectors = self.lingua.reader.encoder.encode_dense(items, is_query=False)
        labels = choose_clusters(vectors, self.config.max_clusters)
        costs = [self.count_tokens(p) for p in items]
        total = sum(costs)
        overall = token_budget(total, rate, target_tokens)
        groups = [np.flatnonzero(labels == c) for c in np.unique(labels)]
        if question is None:
            groups.sort(key=lambda members: int(members[0]))  # the cluster of the best passage first
        else:
            scores = relevance(self.lingua.reader.encoder, question, vectors)
            groups.sort(key=lambda members: (-float(scores[members].max()), int(members[0])))
        texts: list[str] = []
        kept_words: list[list[bool] | None] = []
        after = 0
        for members in groups:
            check_deadline(deadline)
            group = [items[i] for i in members]
            group_cost = sum(costs[i] for i in members)
            if question is None:  # each cluster's share of the budget
                budget = min(self.config.cluster_tokens, max(1, round(overall * group_cost / max(total, 1))))
            else:  # the most relevant clusters first, until the budget is spent
                budget = min(self.config.cluster_tokens, group_cost, overall - after)
            group_words = [w for p in group for w in split_words(p)[0]]
            present = [t for t in force_tokens if _occurs(group_words, t)]
            if budget < 1 and not present:  # dropped whole
                kept_words.append([False] * len(group_words))
                continue
            budget = max(budget, 1)
            if self.config.condense == "llm":
                text = self._summarise(group, budget, question)
                after += self.count_tokens(text)
                kept_words.append(None)
            else:
                part = self.lingua.compress(
                    group, target_tokens=budget, force_tokens=present, question=question, deadline=deadline
                )
                text, after = part.text, after + part.tokens_after
                kept_words.append(part.kept)
            texts.append(text)
        mask = _merge_masks(groups, kept_words, [len(split_words(p)[0]) for p in items])
        return CompressResult(
            text="\n\n".join(texts),
            rate=after / max(total, 1),
            tokens_before=total,
            tokens_after=after,
            words=all_words,
            kept=mask,
            seconds=time.perf_counter() - started,
        )

    def _summarise(self, group: Sequence[str], budget: int, question: str | None) -> str:
        assert self.llm is not None
        joined = "\n\n".join(group)
        focus = "" if question is None else f" Keep the facts that bear on the question: {question}"
        reply = self.llm.chat(
            [
                {
                    "role": "system",
                    "content": "Summarise the passages into one short paragraph of facts. "
                    "Keep names, numbers and dates." + focus + " Reply with the summary only.",
                },
                {"role": "user", "content": joined},
            ],
            max_tokens=budget,
        )
        return reply.text


def _occurs(words: Sequence[str], token: str) -> bool:
    try:
        forced_mask(words, [token])
    except InvalidInput:
        return False
    return True


def _merge_masks(
    groups: Sequence[np.ndarray], masks: Sequence[list[bool] | None], words_per_passage: Sequence[int]
) -> list[bool] | None:
    """The kept-word mask over all passages in input order, from per-cluster masks (None if any
    cluster was summarised rather than selected)."""
    if any(mask is None for mask in masks):
        return None
    starts = np.concatenate([[0], np.cumsum(words_per_passage)])
    out = np.zeros(int(starts[-1]), dtype=bool)
    for members, mask in zip(groups, masks, strict=True):
        offset = 0
        for i in members:
            width = words_per_passage[i]
            out[starts[i] : starts[i] + width] = mask[offset : offset + width]  # type: ignore[index]
            offset += width
    return out.tolist()
