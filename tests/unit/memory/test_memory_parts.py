"""Pure parts of agent memory: relative times, entities, lexical weights, windows, the information
score, complexity, context packing, grouping; and the answer metrics of the evaluation."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from evals.qa_metrics import abstained, bleu1, token_f1
from indexers.memory import MemoryConfig, MemoryUnit, Turn
from indexers.memory.consolidate import duplicates, group_units
from indexers.memory.retrieve import classify, pack_context, render, render_turn
from indexers.memory.text import (
    absolute_times,
    candidate_entities,
    format_time,
    lexical_vector,
    query_vector,
    symbols,
)
from indexers.memory.write import (
    fact_strings,
    information_score,
    parse_facts,
    raw_units,
    uncovered,
    windows,
)

ANCHOR = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)  # a Monday


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I went yesterday.", "I went yesterday (7 May 2023)."),
        ("We met last week", "We met last week (the week before 8 May 2023)"),
        ("It was last year", "It was last year (2022)"),
        ("Two days ago I ran", "Two days ago (6 May 2023) I ran"),
        ("I moved 3 months ago", "I moved 3 months ago (February 2023)"),
        ("see you next month", "see you next month (June 2023)"),
        ("last Friday was fun", "last Friday (5 May 2023) was fun"),
        ("nothing relative here", "nothing relative here"),
    ],
)
def test_relative_times_become_absolute(text: str, expected: str) -> None:
    assert absolute_times(text, ANCHOR)[0] == expected


def test_entities_skip_sentence_openers_and_pronouns() -> None:
    assert candidate_entities("Hey Ben! I went to the UN chess club in New York.") == [
        "Ben",
        "UN",
        "New York",
    ]
    assert symbols(["New York", "Mel"]) == {"new york", "new", "york", "mel"}


def test_lexical_weights_saturate_and_normalise_length() -> None:
    ids, weights = lexical_vector("paris paris paris museum", k1=1.2, b=0.75, avgdl=4)
    by_id = dict(zip(ids, weights, strict=True))
    museum, paris = query_vector("paris museum")[0]  # sorted terms
    assert by_id[paris] > by_id[museum] and by_id[paris] < 3 * by_id[museum]  # tf saturates
    short = dict(zip(*lexical_vector("museum", k1=1.2, b=0.75, avgdl=4), strict=True))
    assert short[museum] > by_id[museum]  # shorter unit, higher weight
    assert query_vector("the and of") == ([], [])


def test_windows_cover_every_item() -> None:
    assert windows(list(range(5)), 2, 2) == [[0, 1], [2, 3], [4]]
    assert windows(list(range(5)), 3, 2) == [[0, 1, 2], [2, 3, 4]]
    assert windows([], 3, 3) == []
    assert [len(w) for w in windows(list(range(25)), 24, 24)] == [13, 12]  # split evenly, no stub
    assert [len(w) for w in windows(list(range(39)), 24, 24)] == [20, 19]
    assert windows(list(range(24)), 24, 24) == [list(range(24))]


def test_information_score_rewards_new_entities_and_novelty() -> None:
    window = [Turn(id="a", speaker="A", text="I met Alice in Rome.", timestamp=ANCHOR)]
    fresh = information_score(window, set(), best_similarity=0.2, alpha=0.5)
    known = information_score(window, {"alice", "rome"}, best_similarity=0.95, alpha=0.5)
    assert fresh == pytest.approx(0.5 + 0.5 * 0.8) and known == pytest.approx(0.5 * 0.05)


@pytest.mark.parametrize(
    ("query", "complexity"),
    [
        ("What is Ada's job?", "simple"),
        ("When did Ada go to the chess club?", "moderate"),
        ("What activities does Ben enjoy?", "complex"),
        ("Would Ada likely move abroad?", "complex"),
    ],
)
def test_complexity_classes(query: str, complexity: str) -> None:
    assert classify(query) == complexity


def _unit(uid: str, text: str, time: str | None = "2023-05-08", **fields: object) -> MemoryUnit:
    return MemoryUnit(id=uid, text=text, time=time, **fields)


def test_turns_and_units_show_dates_as_the_conversation_writes_them() -> None:
    turn = Turn(id="t1", speaker="Ann", text="I adopted a cat", timestamp=ANCHOR)
    assert render_turn(turn) == "[8 May 2023] Ann: I adopted a cat"
    (kept,) = raw_units([turn])  # the turn as memory keeps it: the same date on its line
    assert render(kept) == "- [8 May 2023] Ann said on 8 May 2023: I adopted a cat"
    assert render(_unit("f", "Ann adopted a cat", "2023-05-07")) == "- [7 May 2023] Ann adopted a cat"
    assert render(_unit("f", "Ann adopted a cat", None)) == "- Ann adopted a cat"
    assert format_time("2023-05-07T18:30:00+00:00") == "7 May 2023"
    assert format_time("spring 2023") == "spring 2023"  # an edited unit's free text stays as it is


def test_context_respects_the_budget_in_relevance_or_time_order() -> None:
    units = [_unit("b", "two three", "2023-06-01"), _unit("a", "one", "2023-05-01"), _unit("c", "x " * 50)]
    words = lambda t: len(t.split())  # noqa: E731
    context, chosen, tokens = pack_context(units, budget=12, count_tokens=words)
    assert [u.id for u in chosen] == ["b", "a"]
    assert context.splitlines() == ["- [1 June 2023] two three", "- [1 May 2023] one"]
    assert tokens == 11
    context, chosen, _ = pack_context(units, budget=12, count_tokens=words, order="time")
    assert [u.id for u in chosen] == ["b", "a"]
    assert context.splitlines() == ["- [1 May 2023] one", "- [1 June 2023] two three"]


def test_packing_shows_source_turns_under_facts_and_skips_raw_units_already_shown() -> None:
    turn = Turn(id="t1", speaker="Ann", text="I adopted a cat", timestamp=ANCHOR)
    fact = _unit("f", "Ann adopted a cat", source_turn_ids=["t1"])
    raw = _unit("r", "adopted a cat", origin="raw", source_turn_ids=["t1"])
    other = _unit("o", "Ann likes tea", "2023-05-09", source_turn_ids=["t9"])
    words = lambda t: len(t.split())  # noqa: E731
    context, chosen, _ = pack_context([fact, raw, other], 32, words, {"f": [turn], "o": []}, "time")
    assert [u.id for u in chosen] == ["f", "o"]
    assert context.splitlines() == [
        "- [8 May 2023] Ann adopted a cat",
        "  [8 May 2023] Ann: I adopted a cat",
        "- [9 May 2023] Ann likes tea",
    ]
    # too tight for the turn: the fact alone, and the raw unit still brings the turn's words
    context, chosen, _ = pack_context([fact, raw], 15, words, {"f": [turn]})
    assert [u.id for u in chosen] == ["f", "r"]
    assert "Ann: I adopted" not in context


def test_grouping_needs_similarity_and_a_shared_symbol() -> None:
    e1, e2 = np.eye(2, dtype=np.float32)
    units = [
        (_unit("a", "Alice ran", entities=["Alice"]), e1),
        (_unit("b", "Alice ran again", entities=["Alice"]), e1),
        (_unit("c", "Bob swam", entities=["Bob"], time="2024-01-01"), e1),
        (_unit("d", "Alice sang", entities=["Alice"]), e2),
    ]
    config = MemoryConfig(group_similarity=0.5)
    groups = group_units(units, config)
    assert [[u.id for u in g.units] for g in groups] == [["a", "b"]]
    assert duplicates(groups[0], 0.99) == {"a": "b"}  # the longer text keeps the content


def test_answer_metrics() -> None:
    assert token_f1("7 May 2023", "7 May 2023") == 1.0
    assert token_f1("Paris", "London") == 0.0
    assert token_f1("the museum in Paris", "Paris") == pytest.approx(0.5)  # precision 1/3, recall 1
    assert bleu1("Paris", "Paris France") == pytest.approx(np.exp(1 - 2))
    assert abstained("Not mentioned.") and not abstained("Paris")


def test_facts_are_salvaged_from_malformed_or_cut_off_replies() -> None:
    assert fact_strings('{"facts": ["Ada swims.", {"text": "Ben runs."}]}') == ["Ada swims.", "Ben runs."]
    assert fact_strings('{facts: ["Ada \\"swims\\".", "Ben ru') == ['Ada "swims".']  # keys, cut string out
    assert fact_strings('{"facts": []}') == [] and fact_strings("Not mentioned") == []
    cut_inside = '{"facts": ["Ada swims.", "Ben\'s dog \\"Toby\\" is new. Ben ran home! He also sa'
    assert fact_strings(cut_inside) == ["Ada swims.", 'Ben\'s dog "Toby" is new. Ben ran home!']
    assert fact_strings('{"facts": ["Ben went to Paris on 7 May 2023. He ') == [
        "Ben went to Paris on 7 May 2023."
    ]


def test_parsed_facts_drop_repeats_inventions_and_fragments() -> None:
    said = [
        Turn(id="t0", speaker="Ada", text="I adopted a puppy named Rex.", timestamp=ANCHOR),
        Turn(id="t1", speaker="Ben", text="Rex is cute! I paint lighthouses.", timestamp=ANCHOR),
    ]
    reply = (
        '{"facts": ["Ada adopted a puppy named Rex.", "Ada  adopted a puppy named Rex.", "Ben paints '
        'lighthouses.", "Cal flies to Lisbon.", "Rex", "Ada has Rex."]}'
    )
    facts = [(text, [t.id for t in sources]) for text, sources in parse_facts(reply, said)]
    assert facts == [
        ("Ada adopted a puppy named Rex.", ["t0"]),
        ("Ben paints lighthouses.", ["t1"]),
        ("Ada has Rex.", ["t0", "t1"]),  # as many shared words with each: both are sources
    ]


def test_turns_the_facts_leave_out_are_kept() -> None:
    said = [
        Turn(id=f"t{i}", speaker="Ada", text=text, timestamp=ANCHOR)
        for i, text in enumerate(
            [
                "My grandma gave me this necklace in Sweden when I was young.",
                "I also keep a hand-painted bowl a friend made for my birthday.",
                "Hi there!",
            ]
        )
    ]
    fact = MemoryUnit(
        id="f", text="Ada's grandma gave her a necklace in Sweden.", source_turn_ids=["t0", "t1"]
    )
    assert [t.id for t in uncovered(said, [fact], 0.5)] == ["t1"]  # t2 has no content to keep
    assert [t.id for t in uncovered(said, [fact], 0.0)] == []
    assert [t.id for t in uncovered(said, [], 0.5)] == ["t0", "t1"]
