"""Answer metrics: SQuAD-style token F1 and BLEU-1 over normalised answers, and abstention."""

from __future__ import annotations

import math
import re
import string
from collections import Counter

__all__ = ["abstained", "bleu1", "normalize_answer", "token_f1"]

_ARTICLES = re.compile(r"\b(a|an|the|and)\b")
_ABSTAIN = re.compile(
    r"not mentioned|no information|not (?:stated|specified|provided|available|known)|unknown"
)


def normalize_answer(text: str) -> list[str]:
    """Lower case, no punctuation, no articles, split on white space."""
    text = str(text).lower()
    text = "".join(" " if ch in string.punctuation else ch for ch in text)
    return _ARTICLES.sub(" ", text).split()


def token_f1(prediction: str, truth: str) -> float:
    """Harmonic mean of token precision and recall between normalised answers.

    >>> round(token_f1("7 May 2023", "on 7 May, 2023"), 3)
    0.857
    """
    pred, gold = normalize_answer(prediction), normalize_answer(truth)
    common = sum((Counter(pred) & Counter(gold)).values())
    if not pred or not gold or not common:
        return float(pred == gold)
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def bleu1(prediction: str, truth: str) -> float:
    """Clipped unigram precision times the brevity penalty (one reference).

    >>> bleu1("7 May 2023", "7 May 2023")
    1.0
    """
    pred, gold = normalize_answer(prediction), normalize_answer(truth)
    if not pred or not gold:
        return float(pred == gold)
    precision = sum((Counter(pred) & Counter(gold)).values()) / len(pred)
    penalty = 1.0 if len(pred) > len(gold) else math.exp(1 - len(gold) / len(pred))
    return precision * penalty


def abstained(prediction: str) -> bool:
    """Whether an answer says the information is not there (the right reply to an adversarial question)."""
    return bool(_ABSTAIN.search(prediction.lower()))
