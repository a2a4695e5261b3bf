"""Data distillation for the keep / drop classifier (our own code), with word labels from an LLM in
one of two ways:

- extractive (LLMLingua-2's recipe): the LLM compresses a text keeping only words from the
  original, in order (`distill_label`), and the kept words are aligned back to the original words
  (`align_kept`);
- surprisal (LLMLingua's self-information): the LLM reads the text once, and the words it finds
  least predictable from the text before them are kept (`surprisal_labels`).

Then:
A keep / drop head (linear, or one hidden layer) is fitted on the frozen encoder's word-piece
states, each piece labelled with its word's label (`fit_head`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from indexers.compress.lingua import KeepHead, WordReader, word_probability
from indexers.compress.words import normalise, split_words
from indexers.models.causal_lm import CausalLM
from indexers.models.llm import LLM, ChatMessage

__all__ = [
    "LabeledText",
    "align_kept",
    "compression_prompt",
    "distill_label",
    "fit_head",
    "held_out_split",
    "surprisal_labels",
    "word_surprisal",
]

SYSTEM = (
    "You compress text for another model. Delete unimportant words everywhere in the text: articles, "
    "filler words, redundant phrases. Keep names, numbers and key facts. Use only words from the "
    "original text, in their original order; never add, reorder or change a word. Reply with the "
    "compressed text only."
)
EXAMPLE = (
    "The results of the study showed that patients who were treated with the new drug had a "
    "significantly lower risk of stroke than those who received a placebo over the two years.",
    "patients treated new drug significantly lower risk stroke than placebo two years.",
)


@dataclass(frozen=True, slots=True)
class LabeledText:
    """A text's words and, per word, whether the LLM kept it."""

    words: list[str]
    keep: list[bool]


def compression_prompt(text: str) -> list[ChatMessage]:
    """The chat asking an LLM to compress `text` extractively (one worked example first)."""
    ask = "Compress this text to about half of its words:\n\n"
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": ask + EXAMPLE[0]},
        {"role": "assistant", "content": EXAMPLE[1]},
        {"role": "user", "content": ask + text},
    ]


def align_kept(words: Sequence[str], compressed: str, lookahead: int = 24) -> tuple[list[bool], float]:
    """Word labels for `words` from an extractive compression, and the fraction of the compressed
    words found in the original (low values mean the LLM paraphrased).

    Each compressed word is matched to the next original word with the same normal form within
    `lookahead` words of the last match, or else to its first occurrence not yet kept anywhere (the
    LLM reordered); compressed words with no match are skipped.
    """
    normal = [normalise(w) for w in words]
    keep = [False] * len(words)
    position, found, total = 0, 0, 0
    for word in split_words(compressed)[0]:
        total += 1
        target = normalise(word)
        ahead = range(position, min(len(words), position + lookahead))
        match = next((i for i in ahead if normal[i] == target and not keep[i]), None)
        if match is not None:
            position = match + 1
        else:
            match = next((i for i in range(len(words)) if normal[i] == target and not keep[i]), None)
        if match is not None:
            keep[match] = True
            found += 1
    return keep, found / max(total, 1)


def _one_run(keep: Sequence[bool]) -> bool:
    """Whether the kept words form a single contiguous run (the LLM copied a span, not compressed)."""
    starts = sum(1 for i, k in enumerate(keep) if k and (i == 0 or not keep[i - 1]))
    return starts <= 1


def distill_label(
    llm: LLM, text: str, *, min_matched: float = 0.8, keep_range: tuple[float, float] = (0.1, 0.9)
) -> LabeledText | None:
    """Labels for `text` from one LLM compression, or None when the reply is not usable: under
    `min_matched` of its words found, a kept fraction outside `keep_range`, or one copied span."""
    words, _ = split_words(text)
    if not words:
        return None
    budget = llm.count_tokens(text)
    reply = llm.chat(compression_prompt(text), max_tokens=max(16, int(budget * 0.7)))
    keep, matched = align_kept(words, reply.text)
    kept = sum(keep) / len(words)
    if matched < min_matched or not keep_range[0] <= kept <= keep_range[1] or _one_run(keep):
        return None
    return LabeledText(words, keep)


def word_surprisal(lm: CausalLM, texts: Sequence[str]) -> list[tuple[list[str], np.ndarray]]:
    """Each text's words and, per word, the LM's surprisal of its tokens (the sum of their negative
    log-probabilities given the text before them, in nats); the texts are read as one padded batch,
    each after the LM's end-of-text token so that its first word has a context too. Tokens past the
    LM's window are not read (their words get 0)."""
    import torch

    tokenizer = lm.tokenizer
    start = tokenizer.eos_token_id
    read = lm.context_window - 1  # tokens after the start token
    rows, spans, owners = [], [], []
    for text in texts:
        words, _ = split_words(text)
        joined = " ".join(words)
        encoded = tokenizer(joined, add_special_tokens=False, return_offsets_mapping=True)
        ends = np.cumsum([len(w) + 1 for w in words]) - 1  # end offset of each word in `joined`
        offsets = encoded["offset_mapping"][:read]
        first = [a + len(joined[a:b]) - len(joined[a:b].lstrip()) for a, b in offsets]
        owners.append(np.searchsorted(ends, first, side="right").clip(0, max(len(words) - 1, 0)))
        rows.append([start, *encoded["input_ids"][:read]])
        spans.append(words)
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), start, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    with torch.inference_mode():
        logits = lm.model(input_ids=ids, attention_mask=mask).logits.float()
    surprise = -torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None])[..., 0].numpy()
    out = []
    for i, (words, owner) in enumerate(zip(spans, owners, strict=True)):
        per_word = np.bincount(owner, weights=surprise[i, : len(owner)], minlength=len(words))
        out.append((words, per_word))
    return out


def surprisal_labels(words: Sequence[str], surprisal: np.ndarray, keep: float = 0.5) -> LabeledText:
    """Keep the `keep` fraction of words the LM found most surprising (ties: the earlier word)."""
    count = max(1, round(keep * len(words))) if len(words) else 0
    order = np.lexsort((np.arange(len(words)), -surprisal))
    kept = np.zeros(len(words), dtype=bool)
    kept[order[:count]] = True
    return LabeledText(list(words), kept.tolist())


def _auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve: the chance a kept word outscores a dropped one (ties count half)."""
    from scipy.stats import rankdata

    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def held_out_split(count: int, validation: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`fit_head`'s split of `count` texts: (training positions, held-out positions)."""
    order = np.random.default_rng(seed).permutation(count)
    held = max(1, int(count * validation)) if count > 1 else 0
    return order[held:], order[:held]


def fit_head(
    reader: WordReader,
    samples: Sequence[LabeledText],
    *,
    epochs: int = 50,
    hidden: int = 0,
    lr: float = 1e-2,
    validation: float = 0.2,
    seed: int = 0,
) -> tuple[KeepHead, dict[str, Any]]:
    """Fit a keep / drop head on frozen word-piece states (class-balanced cross-entropy, AdamW, full
    batch): linear, or with one ReLU layer of `hidden` units; hold out `validation` of the texts
    and report word-level scores on them."""
    import torch

    train_ids, val_ids = held_out_split(len(samples), validation, seed)

    def pieces(ids: np.ndarray) -> tuple[list[Any], np.ndarray, np.ndarray]:
        reads = reader.read_many([samples[i].words for i in ids])
        states = np.concatenate([r.states for r in reads])
        labels = np.concatenate(
            [np.asarray(samples[i].keep)[r.word_of] for i, r in zip(ids, reads, strict=True)]
        )
        return reads, states, labels.astype(np.int64)

    _, x_train, y_train = pieces(train_ids)
    torch.manual_seed(seed)
    dim = x_train.shape[1]
    layers: list[torch.nn.Module] = [torch.nn.Linear(dim, hidden), torch.nn.ReLU()] if hidden else []
    model = torch.nn.Sequential(*layers, torch.nn.Linear(hidden or dim, 2))
    counts = np.bincount(y_train, minlength=2).astype(np.float32)
    weights = torch.tensor(counts.sum() / np.maximum(2 * counts, 1.0))
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-3)
    inputs, targets = torch.from_numpy(x_train), torch.from_numpy(y_train)
    for _ in range(epochs):
        optimiser.zero_grad()
        logits: torch.Tensor = model(inputs)
        loss = torch.nn.functional.cross_entropy(logits, targets, weight=weights)
        loss.backward()  # type: ignore[no-untyped-call]
        optimiser.step()
    linear = [m for m in model if isinstance(m, torch.nn.Linear)]
    arrays = [
        (m.weight.detach().numpy().astype(np.float32), m.bias.detach().numpy().astype(np.float32))
        for m in linear
    ]
    head = KeepHead(*arrays[-1], reader.encoder.config.model, tuple(arrays[:-1]))
    report: dict[str, Any] = {
        "hidden": hidden,
        "lr": lr,
        "train_texts": int(len(train_ids)),
        "validation_texts": int(len(val_ids)),
        "train_pieces": int(len(y_train)),
        "train_keep_fraction": float(y_train.mean()),
        "train_loss": float(loss.item()),
    }
    if len(val_ids):
        reads, _, _ = pieces(val_ids)
        scores, gold = [], []
        for i, read in zip(val_ids, reads, strict=True):
            scores.append(word_probability(head, read))
            gold.append(np.asarray(samples[i].keep, dtype=bool))
        s, g = np.concatenate(scores), np.concatenate(gold)
        p = s >= 0.5
        tp = float((p & g).sum())
        report.update(
            validation_keep_auc=_auc(s, g),
            validation_word_accuracy=float((p == g).mean()),
            validation_keep_precision=tp / max(float(p.sum()), 1.0),
            validation_keep_recall=tp / max(float(g.sum()), 1.0),
            validation_keep_fraction=float(g.mean()),
        )
    return head, report
