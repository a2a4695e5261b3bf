"""Answer metrics for question answering over passages and conversations.

- `token_f1` (with `normalize_answer`): SQuAD-style token F1, no stemming (`evals.longqa`), and
  `answer_recall`: how much of the gold answer a context holds.
- `locomo_f1`: LoCoMo's own per-category score, as its `task_eval/evaluation.py` computes it
  (`eval_question_answering`): Porter-stemmed token F1; category 1 (multi-hop) splits reply and gold
  on commas and averages, over the gold parts, the best F1 of any reply part; category 3 keeps the
  gold answer up to its first ';'; category 5 (adversarial) scores 1 when the reply says
  "not mentioned" or "no information available", else 0.
- `bleu1`: BLEU-1 as SimpleMem's LoCoMo evaluation (`test_locomo10.py`) computes it: nltk's
  `sentence_bleu` with weights (1, 0, 0, 0) and smoothing method 1 over nltk word tokens of the
  lower-cased texts.
- `simplemem_f1`: the F1 that SimpleMem's evaluation reports: overlap of the sets of lower-cased
  white-space tokens (after '.', ',', '!', '?' become spaces); category 5 is scored against
  `SIMPLEMEM_ADVERSARIAL_REFERENCE` (see `simplemem_reference`).
"""

from __future__ import annotations

import re
import statistics
import string
from collections import Counter
from collections.abc import Callable
from functools import cache

__all__ = [
    "SIMPLEMEM_ADVERSARIAL_REFERENCE",
    "abstained",
    "answer_recall",
    "bleu1",
    "locomo_abstained",
    "locomo_f1",
    "locomo_multi_f1",
    "locomo_token_f1",
    "locomo_tokens",
    "normalize_answer",
    "simplemem_f1",
    "simplemem_reference",
    "token_f1",
]

_ARTICLES = re.compile(r"\b(a|an|the|and)\b")
_ABSTAIN = re.compile(
    r"not mentioned|no information|not (?:stated|specified|provided|available|known)|unknown"
)
_DELETE_PUNCTUATION = str.maketrans("", "", string.punctuation)
_SIMPLE_SPACES = str.maketrans(".,!?", "    ")
# Sentence splitting for `bleu1`: nltk's word_tokenize splits sentences with its trained English
# Punkt model (the punkt_tab data, a separate download); an untrained Punkt splitter that knows these
# abbreviations stands in for it.
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st jr sr vs etc e.g i.e inc ltd co corp mt ft a.m p.m u.s "
    "jan feb apr jun jul aug sep sept oct nov dec".split()
)
SIMPLEMEM_ADVERSARIAL_REFERENCE = "Not mentioned in the conversation"


def normalize_answer(text: str) -> list[str]:
    """Lower case, no punctuation, no articles, split on white space."""
    text = str(text).lower()
    text = "".join(" " if ch in string.punctuation else ch for ch in text)
    return _ARTICLES.sub(" ", text).split()


def token_f1(prediction: str, truth: str) -> float:
    """Harmonic mean of token precision and recall between normalised answers (SQuAD-style).

    >>> round(token_f1("7 May 2023", "on 7 May, 2023"), 3)
    0.857
    """
    pred, gold = normalize_answer(prediction), normalize_answer(truth)
    common = sum((Counter(pred) & Counter(gold)).values())
    if not pred or not gold or not common:
        return float(pred == gold)
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def answer_recall(context: str, truth: str) -> float:
    """The share of the gold answer's normalised words that occur anywhere in `context`: an upper
    bound on what a reader of `context` can copy.

    >>> answer_recall("Ann moved to Lisbon, in May", "Lisbon, Portugal")
    0.5
    """
    gold, have = normalize_answer(truth), set(normalize_answer(context))
    return sum(word in have for word in gold) / len(gold) if gold else 1.0


def abstained(prediction: str) -> bool:
    """Whether an answer says the information is not there, in any of several phrasings."""
    return bool(_ABSTAIN.search(prediction.lower()))


@cache
def _stem() -> Callable[[str], str]:
    from nltk.stem.porter import PorterStemmer  # imported on first use: nltk takes seconds to load

    stem: Callable[[str], str] = PorterStemmer().stem
    return stem


def locomo_tokens(text: str) -> list[str]:
    """LoCoMo's normalisation, then Porter stems: commas and punctuation deleted (not replaced by a
    space), lower case, no 'a', 'an', 'the' or 'and'.

    >>> locomo_tokens("The kids' paintings, and a hike")
    ['kid', 'paint', 'hike']
    """
    text = str(text).replace(",", "").lower().translate(_DELETE_PUNCTUATION)
    stem = _stem()
    return [stem(word) for word in _ARTICLES.sub(" ", text).split()]


def locomo_token_f1(prediction: str, truth: str) -> float:
    """LoCoMo's `f1_score`: token F1 of stemmed, normalised answers; 0 when nothing is shared.

    >>> locomo_token_f1("Went hiking", "hikes")
    0.6666666666666666
    """
    pred, gold = locomo_tokens(prediction), locomo_tokens(truth)
    common = sum((Counter(pred) & Counter(gold)).values())
    if not common:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def locomo_multi_f1(prediction: str, truth: str) -> float:
    """LoCoMo's `f1` for multi-answer questions: reply and gold split on commas; the mean, over the
    gold parts, of the best `locomo_token_f1` of any reply part.

    >>> locomo_multi_f1("painting", "painting, swimming")
    0.5
    """
    preds = [part.strip() for part in str(prediction).split(",")]
    golds = [part.strip() for part in str(truth).split(",")]
    return statistics.fmean(max(locomo_token_f1(pred, gold) for pred in preds) for gold in golds)


def locomo_abstained(prediction: str) -> bool:
    """LoCoMo's category 5 rule: the reply says "no information available" or "not mentioned"."""
    lowered = prediction.lower()
    return "no information available" in lowered or "not mentioned" in lowered


def locomo_f1(prediction: str, truth: str, category: int) -> float:
    """The score LoCoMo's evaluation gives a reply to a question of `category` (1 to 5).

    >>> locomo_f1("Not mentioned.", "anything", 5)
    1.0

    Raises:
        ValueError: a category other than 1 to 5.
    """
    if category == 5:
        return float(locomo_abstained(prediction))
    if category not in (1, 2, 3, 4):
        raise ValueError(f"LoCoMo has no category {category}")
    truth = str(truth)
    if category == 3:
        truth = truth.split(";")[0].strip()
    if category == 1:
        return locomo_multi_f1(prediction, truth)
    return locomo_token_f1(prediction, truth)


def simplemem_reference(truth: str, category: int) -> str:
    """The gold answer SimpleMem scores against: its fixed abstention for category 5."""
    return SIMPLEMEM_ADVERSARIAL_REFERENCE if category == 5 else str(truth)


def _simple_tokens(text: str) -> set[str]:
    return set(str(text).strip().lower().translate(_SIMPLE_SPACES).split())


def simplemem_f1(prediction: str, truth: str) -> float:
    """SimpleMem's F1: overlap of token sets (no normalisation beyond case and . , ! ?).

    >>> simplemem_f1("Paris, Paris", "paris")
    1.0
    """
    pred, gold = _simple_tokens(prediction), _simple_tokens(truth)
    common = len(pred & gold)
    if not common:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


@cache
def _word_tokens() -> Callable[[str], list[str]]:
    """nltk's `word_tokenize`: sentences, then nltk's Treebank word tokenizer on each."""
    from nltk.tokenize.destructive import NLTKWordTokenizer
    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

    params = PunktParameters()
    params.abbrev_types = set(_ABBREVIATIONS)
    sentences, words = PunktSentenceTokenizer(params).tokenize, NLTKWordTokenizer().tokenize
    return lambda text: [word for sentence in sentences(text) for word in words(sentence)]


@cache
def _bleu1() -> Callable[[list[str], list[str]], float]:
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    smoothing = SmoothingFunction().method1

    def score(pred: list[str], gold: list[str]) -> float:
        return float(sentence_bleu([gold], pred, weights=(1, 0, 0, 0), smoothing_function=smoothing))

    return score


def bleu1(prediction: str, truth: str) -> float:
    """SimpleMem's BLEU-1: clipped unigram precision of nltk word tokens of the lower-cased texts,
    times the brevity penalty; 0 when either text is empty or no token is shared.

    >>> bleu1("7 May 2023.", "7 may 2023")
    0.75
    """
    if not prediction or not truth:
        return 0.0
    tokens = _word_tokens()
    pred, gold = tokens(str(prediction).strip().lower()), tokens(str(truth).strip().lower())
    return _bleu1()(pred, gold)
