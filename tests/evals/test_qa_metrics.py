"""LoCoMo's per-category F1 and SimpleMem's BLEU-1 and F1, on cases from their evaluation code's rules."""

from __future__ import annotations

import math

import pytest

from evals.qa_metrics import (
    SIMPLEMEM_ADVERSARIAL_REFERENCE,
    abstained,
    bleu1,
    locomo_abstained,
    locomo_f1,
    locomo_multi_f1,
    locomo_token_f1,
    locomo_tokens,
    simplemem_f1,
    simplemem_reference,
    token_f1,
)


def test_locomo_normalisation_deletes_punctuation_and_stems() -> None:
    # commas and punctuation are deleted, not replaced by a space; 'and' goes with the articles
    tokens = locomo_tokens("The well-known painter, and a dog's toys!")
    assert tokens == ["wellknown", "painter", "dog", "toy"]
    assert locomo_tokens("7 May, 2023") == ["7", "may", "2023"]


def test_stemming_matches_word_forms_squad_f1_does_not() -> None:
    assert locomo_token_f1("paintings", "painting") == 1.0
    assert token_f1("paintings", "painting") == 0.0
    assert locomo_token_f1("She went hiking", "hikes") == pytest.approx(0.5)  # precision 1/3, recall 1


def test_no_shared_token_scores_zero_even_when_both_are_empty() -> None:
    assert locomo_token_f1("", "") == 0.0
    assert locomo_token_f1("the", "a") == 0.0  # only articles: nothing left to share
    assert locomo_token_f1("Paris", "London") == 0.0


def test_multi_hop_answers_split_on_commas_with_partial_credit() -> None:
    gold = "painting, swimming"
    assert locomo_f1("painting", gold, 1) == pytest.approx(0.5)  # one of two gold parts
    assert locomo_f1("swimming, painting", gold, 1) == 1.0  # order does not matter
    assert locomo_f1("painting, running, camping", "painting", 1) == 1.0  # extra reply parts cost nothing
    assert locomo_multi_f1("pottery and painting", gold) == pytest.approx(0.5 * 2 / 3)
    # the other answerable categories score the whole strings: commas are just deleted
    assert locomo_f1("painting", gold, 4) == pytest.approx(2 / 3)


def test_category_3_gold_is_cut_at_the_first_semicolon() -> None:
    gold = "Likely yes; she loves dogs"
    assert locomo_f1("likely yes", gold, 3) == 1.0
    assert locomo_f1("likely yes", gold, 4) < 1.0


def test_category_5_scores_whether_the_reply_says_it_is_not_there() -> None:
    for reply in ("Not mentioned.", "It is not mentioned in the conversation", "No information available"):
        assert locomo_abstained(reply) and locomo_f1(reply, "a red car", 5) == 1.0
    assert locomo_f1("a red car", "a red car", 5) == 0.0  # the adversarial answer is a trap, not the gold
    # LoCoMo's two phrases only: other wordings our broader check accepts score 0
    assert abstained("Unknown") and locomo_f1("Unknown", "a red car", 5) == 0.0


def test_unknown_category_is_refused() -> None:
    with pytest.raises(ValueError, match="category 6"):
        locomo_f1("x", "x", 6)


def test_simplemem_f1_is_set_overlap_without_stemming_or_articles() -> None:
    assert simplemem_f1("Paris, Paris!", "paris") == 1.0  # sets: repeats count once
    assert simplemem_f1("paintings", "painting") == 0.0
    assert simplemem_f1("the lighthouse", "a lighthouse") == pytest.approx(0.5)
    assert simplemem_f1("", "Paris") == 0.0
    assert simplemem_reference("a red car", 5) == SIMPLEMEM_ADVERSARIAL_REFERENCE
    assert simplemem_reference("Paris", 4) == "Paris"


def test_bleu1_is_simplemems_nltk_sentence_bleu() -> None:
    assert bleu1("7 May 2023", "7 may 2023") == 1.0  # lower-cased
    assert bleu1("Paris", "Paris France") == pytest.approx(math.exp(1 - 2))  # brevity penalty
    assert bleu1("Paris Paris", "Paris") == pytest.approx(0.5)  # clipped counts
    assert bleu1("7 May 2023.", "7 May 2023") == pytest.approx(0.75)  # the full stop is a token
    assert bleu1("Not mentioned", "Paris") == 0.0  # nothing shared: 0 despite the smoothing
    assert bleu1("", "Paris") == bleu1("Paris", "") == 0.0


def test_bleu1_splits_sentences_like_word_tokenize() -> None:
    # each sentence's final full stop is its own token; a known abbreviation keeps its full stop
    assert bleu1("Went home. Slept.", "went home") == pytest.approx(2 / 5)  # went home . slept .
    assert bleu1("Dr. Smith", "dr. smith") == 1.0
