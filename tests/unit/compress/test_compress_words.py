"""Compression building blocks without a model: words, forced tokens, selection, budgets, alignment."""

from __future__ import annotations

import numpy as np
import pytest

from evals.qa_metrics import token_f1
from indexers.compress.base import check_request, token_budget
from indexers.compress.distill import align_kept, distill_label
from indexers.compress.lingua import forced_mask, select_words
from indexers.compress.prompt import fit_to_tokens, prepare_answer
from indexers.compress.question import segment_words
from indexers.compress.words import join_words, normalise, split_words
from indexers.errors import InvalidInput
from tests.scripted_llm import ScriptedLLM


def test_words_round_trip_keeps_line_breaks_of_dropped_gaps() -> None:
    words, breaks = split_words("Alice met Bob.\nThey  talked about\n\nParis.")
    assert words == ["Alice", "met", "Bob.", "They", "talked", "about", "Paris."]
    assert join_words(words, breaks, [True] * 7) == "Alice met Bob.\nThey talked about\nParis."
    kept = [True, False, True, False, True, False, True]
    assert join_words(words, breaks, kept) == "Alice Bob.\ntalked\nParis."
    assert normalise("“Paris,”") == "paris" and normalise("?") == "?"


def test_forced_tokens_mark_every_occurrence_of_words_and_phrases() -> None:
    words = "New York is big. I love new york, and York.".split()
    mask = forced_mask(words, ["New York"])
    assert mask.tolist() == [True, True, False, False, False, False, True, True, False, False]
    with pytest.raises(InvalidInput, match="not found"):
        forced_mask(words, ["Berlin"])
    with pytest.raises(InvalidInput, match="blank"):
        forced_mask(words, ["  "])


def test_selection_keeps_forced_then_most_probable_within_budget() -> None:
    probability = np.asarray([0.9, 0.1, 0.8, 0.7, 0.2])
    cost = np.asarray([1, 1, 2, 1, 1])
    forced = np.asarray([False, True, False, False, False])
    kept = select_words(probability, cost, forced, budget=3)
    assert kept.tolist() == [True, True, False, True, False]  # word 2 (cost 2) no longer fits
    assert select_words(probability, cost, forced, budget=1).tolist() == [False, True, False, False, False]


@pytest.mark.parametrize(
    ("rate", "target", "message"),
    [
        (0.0, None, "rate"),
        (1.5, None, "rate"),
        (-0.1, None, "rate"),
        (0.5, 10, "either"),
        (None, 0, "target"),
    ],
)
def test_bad_budgets_are_rejected(rate: float | None, target: int | None, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        check_request("some text", rate, target)


def test_segments_are_lines_long_lines_cut_at_sentences_and_titles_marked() -> None:
    passages = ["[8 May 2023]\nAnn: I moved. It rained.\nBob: Nice.", "One line. Two lines? No."]
    words: list[str] = []
    breaks: list[bool] = []
    passage_of: list[int] = []
    for number, passage in enumerate(passages):
        more, more_breaks = split_words(passage)
        words, breaks, passage_of = words + more, breaks + more_breaks, passage_of + [number] * len(more)
    cost = np.full(len(words), 2)
    segments = segment_words(words, breaks, np.asarray(passage_of), cost, segment_tokens=4)
    groups = [[w for w, s in zip(words, segments.of_word, strict=True) if s == k] for k in range(7)]
    assert groups == [
        ["[8", "May", "2023]"],
        ["Ann:", "I", "moved."],  # 6 tokens >= 4: cut after the sentence end
        ["It", "rained."],
        ["Bob:", "Nice."],
        ["One", "line."],  # a one-line passage has no title
        ["Two", "lines?"],
        ["No."],
    ]
    assert segments.title.tolist() == [True] + [False] * 6
    assert segments.passage.tolist() == [0, 0, 0, 0, 1, 1, 1]


def test_a_blank_question_is_rejected() -> None:
    with pytest.raises(InvalidInput, match="question is blank"):
        check_request("some text", 0.5, None, question=" ")


@pytest.mark.parametrize("empty", ["", "   \n", [], ["", " "]])
def test_empty_input_is_rejected(empty: str | list[str]) -> None:
    with pytest.raises(InvalidInput, match="empty"):
        check_request(empty, 0.5, None)


def test_budgets() -> None:
    assert check_request(["a", " ", "b"], None, None) == (["a", "b"], 0.5, None)
    assert token_budget(100, 1 / 3, None) == 34
    assert token_budget(100, None, 500) == 100 and token_budget(100, None, 7) == 7


def test_alignment_labels_words_kept_in_order_and_reports_paraphrase() -> None:
    words = "The patients who received insulin had lower glucose levels after a week .".split()
    keep, matched = align_kept(words, "patients received insulin lower glucose week")
    assert [w for w, k in zip(words, keep, strict=True) if k] == [
        "patients",
        "received",
        "insulin",
        "lower",
        "glucose",
        "week",
    ]
    assert matched == 1.0
    _, matched = align_kept(words, "people given hormone had reduced sugar")
    assert matched < 0.5


def test_distill_label_filters_unusable_replies() -> None:
    text = "The patients who received insulin had lower glucose levels after a week."
    sample = distill_label(ScriptedLLM(["patients received insulin lower glucose levels week."]), text)
    assert sample is not None and sum(sample.keep) == 7 and len(sample.words) == len(text.split())
    assert distill_label(ScriptedLLM(["People given a hormone had reduced sugar."]), text) is None
    assert distill_label(ScriptedLLM([text]), text) is None  # kept everything: nothing to learn


def test_answer_prompt_fits_the_window_and_counts_tokens() -> None:
    llm = ScriptedLLM(["Paris"], window=120)
    long = " ".join(f"w{i}" for i in range(500))
    assert fit_to_tokens(llm, long, 50) == " ".join(f"w{i}" for i in range(50))
    prompt = prepare_answer(llm, "Where?", [long, "Paris is here."], max_tokens=16)
    assert prompt.context_tokens_before == 503 and prompt.context_tokens_after < 120
    assert prompt.compression is None and "Where?" in prompt.messages[-1]["content"]
    with pytest.raises(InvalidInput, match="question"):
        prepare_answer(llm, " ", ["x"])
    with pytest.raises(InvalidInput, match="passage"):
        prepare_answer(llm, "Where?", [" "])


def test_token_f1_on_answers() -> None:
    assert token_f1("The Paris.", "paris") == 1.0
    assert token_f1("unknown", "7 May 2023") == 0.0
    assert round(token_f1("in May 2023", "7 May 2023"), 3) == 0.667
