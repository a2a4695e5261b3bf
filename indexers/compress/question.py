"""The question-aware coarse stage (LongLLMLingua style, on top of the keep / drop classifier).

The text is cut into segments: lines (dialogue turns, passage lines), and a line longer than
`segment_tokens` also after the sentence end that passes that length. Segments are ranked by cosine
between their MiniLM embedding and the question's. The most relevant segments worth up to `spread`
times the token budget go on to the fine stage; the others are dropped whole. The first line of a
multi-line passage (its title, a session date) is kept, whole, with any kept segment of its passage.
In the fine stage a word's keep score is its classifier probability plus `weight` times its segment's
rank weight (1 for the most relevant kept segment, falling linearly to 0 for the least), so the most
relevant segments lose the fewest words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from indexers.models.encoders import TokenEncoder

__all__ = ["SENTENCE_END", "Coarse", "Segments", "coarse_stage", "relevance", "segment_words"]

SENTENCE_END = (".", "!", "?", '."', '!"', '?"')
"""How the last word of a sentence ends."""


@dataclass(frozen=True, slots=True)
class Segments:
    """`of_word` (n_words,) the segment of each word; per segment, `passage` its passage and
    `title` whether it is the first line of a passage with more than one line."""

    of_word: np.ndarray
    passage: np.ndarray
    title: np.ndarray


def segment_words(
    words: Sequence[str],
    breaks: Sequence[bool],
    passage_of: np.ndarray,
    cost: np.ndarray,
    segment_tokens: int,
) -> Segments:
    """Cut words into segments: at line breaks, at passage starts, and after a sentence end once a
    segment holds `segment_tokens` tokens."""
    of_word = np.zeros(len(words), dtype=np.int64)
    passage: list[int] = []
    lines: list[int] = []  # the line (within its passage) each segment starts in
    size = 0
    for i in range(len(words)):
        new_passage = i == 0 or passage_of[i] != passage_of[i - 1]
        long_sentence = size >= segment_tokens and words[i - 1].endswith(SENTENCE_END)
        if new_passage or breaks[i] or long_sentence:
            line = 0 if new_passage else lines[-1] + int(breaks[i])
            passage.append(int(passage_of[i]))
            lines.append(line)
            size = 0
        of_word[i] = len(passage) - 1
        size += int(cost[i])
    passages = np.asarray(passage, dtype=np.int64)
    first_line = np.asarray(lines) == 0
    multi_line = np.bincount(
        passages, weights=np.asarray(lines) > 0, minlength=int(passages.max(initial=0)) + 1
    )
    title = first_line & (multi_line[passages] > 0)
    return Segments(of_word, passages, title)


@dataclass(frozen=True, slots=True)
class Coarse:
    """The coarse stage's verdict per segment: `kept`, and `weight` in [0, 1] (rank among the kept;
    titles 0: they are forced whole)."""

    kept: np.ndarray
    weight: np.ndarray


def coarse_stage(
    encoder: TokenEncoder,
    question: str,
    words: Sequence[str],
    segments: Segments,
    cost: np.ndarray,
    budget: int,
    spread: float,
) -> Coarse:
    """Rank the segments by relevance to `question` and keep the best worth `spread * budget` tokens
    (at least one), each with its passage's title."""
    count = len(segments.passage)
    texts = [" ".join(np.asarray(words, dtype=object)[segments.of_word == s]) for s in range(count)]
    seg_cost = np.bincount(segments.of_word, weights=cost, minlength=count)
    vectors = encoder.encode_dense(texts, is_query=False)
    order = np.argsort(-relevance(encoder, question, vectors), kind="stable")  # ties: earlier first
    ranked = [int(s) for s in order if not segments.title[s]]
    title_of = {int(segments.passage[s]): s for s in np.flatnonzero(segments.title)}
    kept = np.zeros(count, dtype=bool)
    weight = np.zeros(count)
    spent, chosen = 0.0, list[int]()
    for s in ranked:
        if chosen and spent >= spread * budget:
            break
        chosen.append(s)
        spent += seg_cost[s]
        title = title_of.get(int(segments.passage[s]))
        if title is not None and not kept[title]:
            kept[title] = True
            spent += seg_cost[title]
    kept[chosen] = True
    weight[chosen] = np.linspace(1.0, 0.0, len(chosen)) if len(chosen) > 1 else 1.0
    return Coarse(kept, weight)


def relevance(encoder: TokenEncoder, question: str, vectors: np.ndarray) -> np.ndarray:
    """Cosine between the question's embedding (mean-pooled encoder states) and each row of
    `vectors` (L2-normalised `encode_dense` output)."""
    scores: np.ndarray = vectors @ encoder.encode_dense([question], is_query=True)[0]
    return scores
