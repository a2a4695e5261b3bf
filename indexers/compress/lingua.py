"""LLMLingua-2-style compression: a bidirectional encoder labels every token keep / drop.

The encoder (the packaged MiniLM by default) reads the text in chunks that fit its window; a small
2-label head turns each word piece's state into a keep probability; a word's probability is the mean
of its pieces' (never half a word). The most probable words are kept until the token budget is spent;
forced words are kept first, whatever their probability. Without a question, a short first line of a
multi-line passage that is no sentence (its title, a session date) comes before any other word while
the budget lasts. Given a question, a coarse stage first gives the budget to the segments most relevant to it
(`indexers.compress.question`), each with its passage's title.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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
from indexers.compress.question import SENTENCE_END, Segments, coarse_stage, segment_words
from indexers.compress.words import join_words, normalise, split_words
from indexers.configs import EncoderConfig
from indexers.errors import CorruptIndex, InvalidConfig, InvalidInput
from indexers.models.encoders import HFTokenEncoder, TokenEncoder, load_token_encoder

__all__ = [
    "DEFAULT_HEAD",
    "KeepHead",
    "LinguaCompressor",
    "LinguaConfig",
    "WordPieces",
    "WordReader",
    "forced_mask",
    "load_lingua",
    "select_words",
    "word_probability",
]

DEFAULT_HEAD = Path(__file__).parent / "heads" / "minilm-keep.npz"
"""The packaged head: trained by `python -m indexers.compress.train` (see heads/CARD.md)."""


class LinguaConfig(BaseModel):
    """The encoder that reads the text and the keep / drop head on top of it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    encoder: EncoderConfig = EncoderConfig(batch_size=8)
    head: Path | None = Field(None, description="a head saved by the training CLI; default: the packaged one")
    chunk_tokens: int = Field(510, ge=16, description="word pieces per encoder window (chunks beyond)")
    segment_tokens: int = Field(
        96, ge=8, description="with a question: a line longer than this is also cut at sentence ends"
    )
    title_tokens: int = Field(
        24,
        ge=0,
        description="without a question: the first line of a multi-line passage, when it has at most "
        "this many tokens and does not end like a sentence (a title, a date), is kept before other "
        "words, within the budget; 0: never",
    )
    # spread and rank_weight: the best of a small grid (spread 1-3, weight 0-10) on answer-word survival
    # at 3x and 5x, 30 LoCoMo questions disjoint from the evals.longqa sample
    spread: float = Field(
        1.5, ge=1.0, description="with a question: the most relevant segments worth spread x budget are kept"
    )
    rank_weight: float = Field(
        10.0, ge=0.0, description="with a question: keep-score bonus of the most relevant kept segment"
    )


@dataclass(frozen=True, slots=True)
class KeepHead:
    """A keep / drop classifier over token states: optional `hidden` layers (each a `(out, in)` weight
    and `(out,)` bias, ReLU after each), then the output layer `weight` (2, in) and `bias` (2,);
    label 1 = keep. With no hidden layer it is a linear head."""

    weight: np.ndarray
    bias: np.ndarray
    encoder_model: str
    hidden: tuple[tuple[np.ndarray, np.ndarray], ...] = ()

    @property
    def input_dim(self) -> int:
        """The state dimension the head reads."""
        return int((self.hidden[0][0] if self.hidden else self.weight).shape[1])

    def keep_probability(self, states: np.ndarray) -> np.ndarray:
        """P(keep) per row of `states` (n, dim)."""
        x = states
        for weight, bias in self.hidden:
            x = np.maximum(x @ weight.T + bias, 0.0)
        logits = x @ self.weight.T + self.bias
        probability: np.ndarray = 1.0 / (1.0 + np.exp(logits[:, 0] - logits[:, 1]))
        return probability

    def save(self, path: Path) -> None:
        """Write the head as an `.npz` file (atomically)."""
        import io

        from indexers.storage.versions import atomic_write

        arrays = {"weight": self.weight, "bias": self.bias, "encoder_model": np.asarray(self.encoder_model)}
        for number, (weight, bias) in enumerate(self.hidden):
            arrays |= {f"hidden_weight_{number}": weight, f"hidden_bias_{number}": bias}
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        atomic_write(path, buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> KeepHead:
        """Read a head written by `save`.

        Raises:
            InvalidConfig: no file at `path`.
            CorruptIndex: the file is not a head.
        """
        if not path.is_file():
            raise InvalidConfig(
                f"no compression head at {path}; train one with `python -m indexers.compress.train`"
            )
        try:
            with np.load(path) as data:
                layers = sum(1 for key in data.files if key.startswith("hidden_weight_"))
                head = cls(
                    data["weight"].astype(np.float32),
                    data["bias"].astype(np.float32),
                    str(data["encoder_model"]),
                    tuple(
                        (
                            data[f"hidden_weight_{n}"].astype(np.float32),
                            data[f"hidden_bias_{n}"].astype(np.float32),
                        )
                        for n in range(layers)
                    ),
                )
        except (OSError, KeyError, ValueError) as exc:
            raise CorruptIndex(f"{path} is not a compression head: {exc}") from exc
        widths = [w.shape[0] for w, _ in head.hidden]
        inputs = [w.shape[1] for w, _ in head.hidden] + [head.weight.shape[1]]
        shapes_ok = all(w.ndim == 2 and b.shape == (w.shape[0],) for w, b in head.hidden)
        if (
            head.weight.ndim != 2
            or head.weight.shape[0] != 2
            or head.bias.shape != (2,)
            or not shapes_ok
            or widths != inputs[1:]
        ):
            raise CorruptIndex(f"{path}: the head's layers do not chain to a (2, in) output layer")
        return head


@dataclass(frozen=True, slots=True)
class WordPieces:
    """Words with their encoder states: `states` (n_pieces, dim), `word_of` (n_pieces,) the word each
    piece belongs to, and `cost` (n_words,) the pieces per word (the unit of token budgets)."""

    states: np.ndarray
    word_of: np.ndarray
    cost: np.ndarray


class WordReader:
    """Encoder states of word pieces, reading a word list in window-sized chunks (never splitting a
    word across chunks)."""

    def __init__(self, encoder: EncoderConfig, chunk_tokens: int = 510) -> None:
        loaded = load_token_encoder(encoder)
        if not isinstance(loaded, HFTokenEncoder):
            raise InvalidConfig("compression needs a Hugging Face encoder (it tokenises words)")
        self.encoder: TokenEncoder = loaded
        self.batch_size = encoder.batch_size
        self.tokenizer = loaded.tokenizer
        bare = self.tokenizer("a", add_special_tokens=False)["input_ids"]
        full = self.tokenizer("a")["input_ids"]
        lead = next(i for i in range(len(full)) if full[i : i + len(bare)] == bare)
        self._prefix, self._suffix = full[:lead], full[lead + len(bare) :]
        self._chunk = min(chunk_tokens, loaded.window - len(self._prefix) - len(self._suffix))

    @property
    def dim(self) -> int:
        return self.encoder.dim

    def pieces(self, words: Sequence[str]) -> list[list[int]]:
        """Word-piece ids per word."""
        ids: list[list[int]] = (
            self.tokenizer(list(words), add_special_tokens=False)["input_ids"] if words else []
        )
        return ids

    def read(self, words: Sequence[str], deadline: Deadline | None = None) -> WordPieces:
        """Encoder states of every word piece of `words`."""
        return self.read_many([words], deadline)[0]

    def read_many(self, texts: Sequence[Sequence[str]], deadline: Deadline | None = None) -> list[WordPieces]:
        """`read` for several word lists, their chunks encoded in shared batches.

        Raises:
            DeadlineExceeded: `deadline` passed between two batches.
        """
        chunks: list[tuple[int, list[int], list[int]]] = []  # (text, piece ids, word index per piece)
        costs = []
        for text, words in enumerate(texts):
            pieces = self.pieces(words)
            costs.append(np.asarray([len(p) for p in pieces], dtype=np.int64))
            ids_now: list[int] = []
            owners: list[int] = []
            for index, ids in enumerate(pieces):
                ids = ids[: self._chunk]  # a single over-long "word" (a URL, a hash) is read in part
                if len(ids_now) + len(ids) > self._chunk:
                    chunks.append((text, ids_now, owners))
                    ids_now, owners = [], []
                ids_now.extend(ids)
                owners.extend([index] * len(ids))
            if ids_now:
                chunks.append((text, ids_now, owners))
        states: list[list[np.ndarray]] = [[] for _ in texts]
        word_of: list[list[np.ndarray]] = [[] for _ in texts]
        order = sorted(range(len(chunks)), key=lambda i: len(chunks[i][1]))  # less padding
        for start in range(0, len(order), self.batch_size):
            check_deadline(deadline)
            batch = [chunks[i] for i in order[start : start + self.batch_size]]
            hidden, _ = self.encoder.hidden_states([self._prefix + ids + self._suffix for _, ids, _ in batch])
            for row, (text, ids, owners) in enumerate(batch):
                states[text].append(hidden[row, len(self._prefix) : len(self._prefix) + len(ids)])
                word_of[text].append(np.asarray(owners, dtype=np.int64))
        out = []
        for text in range(len(texts)):
            # chunks of one text were encoded out of order; put its pieces back in word order
            owners_all = np.concatenate(word_of[text]) if word_of[text] else np.zeros(0, np.int64)
            rows = np.concatenate(states[text]) if states[text] else np.zeros((0, self.dim), np.float32)
            back = np.argsort(owners_all, kind="stable")
            out.append(WordPieces(states=rows[back], word_of=owners_all[back], cost=costs[text]))
        return out


class LinguaCompressor(Compressor):
    """Token-classification prompt compression (LLMLingua-2 style) over a frozen encoder and a head."""

    def __init__(self, config: LinguaConfig, head: KeepHead | None = None) -> None:
        self.config = config
        self.reader = WordReader(config.encoder, config.chunk_tokens)
        self.head = head or KeepHead.load(config.head or DEFAULT_HEAD)
        if self.head.encoder_model != config.encoder.model:
            raise InvalidConfig(
                f"the head was trained on encoder {self.head.encoder_model!r}, not {config.encoder.model!r}"
            )
        if self.head.input_dim != self.reader.dim:
            raise InvalidConfig(
                f"head expects {self.head.input_dim}-d states, the encoder gives {self.reader.dim}"
            )

    def count_tokens(self, text: str) -> int:
        return sum(len(p) for p in self.reader.pieces(split_words(text)[0]))

    def word_probabilities(
        self, words: Sequence[str], deadline: Deadline | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """P(keep) per word and each word's cost in pieces."""
        read = self.reader.read(words, deadline)
        return word_probability(self.head, read), read.cost

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
        words: list[str] = []
        breaks: list[bool] = []
        passage_of: list[int] = []
        for number, passage in enumerate(items):
            passage_words, passage_breaks = split_words(passage)
            if number and passage_breaks:
                passage_breaks[0] = True  # passages stay on their own lines
            words += passage_words
            breaks += passage_breaks
            passage_of += [number] * len(passage_words)
        forced = forced_mask(words, force_tokens)
        probability, cost = self.word_probabilities(words, deadline)
        budget = token_budget(int(cost.sum()), rate, target_tokens)
        allowed = None
        segments = segment_words(words, breaks, np.asarray(passage_of), cost, self.config.segment_tokens)
        if question is None:
            probability = probability + self._short_titles(words, segments, cost)  # above every other word
        else:
            coarse = coarse_stage(
                self.reader.encoder, question, words, segments, cost, budget, self.config.spread
            )
            check_deadline(deadline)
            allowed = coarse.kept[segments.of_word]
            forced = forced | (allowed & segments.title[segments.of_word])
            probability = probability + self.config.rank_weight * coarse.weight[segments.of_word]
        kept = select_words(probability, cost, forced, budget, allowed)
        before, after = int(cost.sum()), int(cost[kept].sum())
        return CompressResult(
            text=join_words(words, breaks, kept.tolist()),
            rate=after / max(before, 1),
            tokens_before=before,
            tokens_after=after,
            words=words,
            kept=kept.tolist(),
            seconds=time.perf_counter() - started,
        )

    def _short_titles(self, words: Sequence[str], segments: Segments, cost: np.ndarray) -> np.ndarray:
        """Per word: whether it is in a title, a passage's first line of at most `title_tokens`
        tokens that does not end like a sentence."""
        count = len(segments.title)
        size = np.bincount(segments.of_word, weights=cost, minlength=count)
        last = np.flatnonzero(np.diff(segments.of_word, append=count))  # each segment's last word
        prose = np.asarray([words[int(i)].endswith(SENTENCE_END) for i in last], dtype=np.bool_)
        short = segments.title & (size <= self.config.title_tokens) & np.logical_not(prose)
        flags: np.ndarray = short[segments.of_word]
        return flags


def word_probability(head: KeepHead, read: WordPieces) -> np.ndarray:
    """P(keep) per word: the mean over its pieces (0 for a word with no pieces)."""
    piece = head.keep_probability(read.states)
    sums = np.bincount(read.word_of, weights=piece, minlength=len(read.cost))
    return sums / np.maximum(np.bincount(read.word_of, minlength=len(read.cost)), 1)


def forced_mask(words: Sequence[str], force_tokens: Sequence[str]) -> np.ndarray:
    """Which words belong to an occurrence of a forced word or phrase.

    Raises:
        InvalidInput: a forced token is blank or occurs nowhere in `words`.
    """
    mask = np.zeros(len(words), dtype=bool)
    normal = [normalise(w) for w in words]
    missing = []
    for token in force_tokens:
        phrase = [normalise(w) for w in split_words(token)[0]]
        if not phrase:
            raise InvalidInput("forced tokens must not be blank")
        width = len(phrase)
        hits = [i for i in range(len(normal) - width + 1) if normal[i : i + width] == phrase]
        if not hits:
            missing.append(token)
        for i in hits:
            mask[i : i + width] = True
    if missing:
        raise InvalidInput(f"forced tokens not found in the text: {missing}")
    return mask


def select_words(
    score: np.ndarray, cost: np.ndarray, forced: np.ndarray, budget: int, allowed: np.ndarray | None = None
) -> np.ndarray:
    """Keep forced words, then the best-scored words (of `allowed`, default all) that still fit
    `budget` tokens (ties: earlier first). Forced words are kept even past the budget."""
    allowed = np.ones(len(score), dtype=bool) if allowed is None else allowed
    kept = forced.copy()
    spent = int(cost[kept].sum())
    for index in np.lexsort((np.arange(len(score)), -score)):
        if kept[index] or not allowed[index]:
            continue
        if spent + cost[index] <= budget:
            kept[index] = True
            spent += int(cost[index])
        if spent >= budget:
            break
    return kept


@functools.cache
def load_lingua(config: LinguaConfig | None = None) -> LinguaCompressor:
    """The compressor for `config` (default: MiniLM and the packaged head), once per process."""
    return LinguaCompressor(config or LinguaConfig())
