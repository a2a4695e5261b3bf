"""Agent memory over a scripted LLM and the fake encoder: write path, fallbacks, consolidation,
retrieval, management, and consolidation running concurrently with writes."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from indexers.configs import EncoderConfig
from indexers.errors import DocumentNotFound, IndexNotFound, InvalidInput
from indexers.memory import AgentMemory, MemoryConfig, MemoryStore, Turn, UnitPatch
from indexers.memory.write import EXTRACT_SYSTEM
from indexers.models.llm import ChatMessage
from tests.scripted_llm import ScriptedLLM

START = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
LINE = re.compile(r"^(?P<speaker>[^:]+): (?P<text>.*)$")
CONFIG = MemoryConfig(
    encoder=EncoderConfig(model="fake:hash", batch_size=8),
    window=2,
    filter_threshold=0.0,
    consolidate_after=4,
    group_similarity=0.0,
)


def facts_reply(messages: Sequence[ChatMessage], json_mode: bool) -> str:
    """One fact per dialogue line, or an abstract for a consolidation prompt, or a short answer."""
    user = messages[-1]["content"]
    if user.startswith("Dialogue:"):
        facts = []
        for line in user.splitlines()[1:]:
            match = LINE.match(line)
            assert match, line
            if match["speaker"] != "Date":
                facts.append(f"{match['speaker']} says {match['text']}")
        return json.dumps({"facts": facts})
    if user.startswith("Facts:"):
        return json.dumps({"text": "Summary: " + " / ".join(user.splitlines()[1:]), "keywords": ["summary"]})
    return "Paris"


def turns(n: int, session: str = "s1", start: int = 0) -> list[Turn]:
    speakers = ["Ada", "Ben"]
    return [
        Turn(
            id=f"{session}:{i}",
            speaker=speakers[i % 2],
            text=f"I visited Paris museum number {i} with Bob.",
            timestamp=START + timedelta(minutes=i),
            session=session,
        )
        for i in range(start, start + n)
    ]


def memory(tmp_path: Path, reply=facts_reply, **config: object) -> AgentMemory:  # type: ignore[no-untyped-def]
    store = MemoryStore(tmp_path / "agent", name="t.agent")
    return AgentMemory(store, ScriptedLLM(reply), CONFIG.model_copy(update=config))


def test_turns_become_indexed_units_with_sources(tmp_path: Path) -> None:
    mem = memory(tmp_path)
    report = mem.add_turns(turns(4))
    assert (report.turns, report.windows, report.fallbacks, report.units) == (4, 2, 0, 4)
    assert report.llm_calls == 2 and report.prompt_tokens > 0 and report.completion_tokens > 0
    units, count = mem.list_units(100, 0)
    assert count == 4
    assert {tuple(u.source_turn_ids) for u in units} == {("s1:0",), ("s1:1",), ("s1:2",), ("s1:3",)}
    assert all(u.origin == "llm" and u.persons and u.time == "2023-05-08" for u in units)
    again = mem.process_pending()
    assert again.turns == 0 and mem.list_units(100, 0)[1] == 4  # nothing pending: nothing redone


def test_malformed_json_keeps_the_raw_turns(tmp_path: Path) -> None:
    mem = memory(tmp_path, reply=lambda messages, json_mode: "sorry, no JSON today")
    report = mem.add_turns(turns(3))
    assert report.fallbacks == 2 and report.units == 3
    units, _ = mem.list_units(100, 0)
    assert all(u.origin == "raw" for u in units)
    assert sorted(t for u in units for t in u.source_turn_ids) == ["s1:0", "s1:1", "s1:2"]
    assert any("Ada said on 8 May 2023: I visited Paris museum number 0" in u.text for u in units)
    assert len(mem.llm.calls) == 2 * CONFIG.llm_attempts  # bounded retries per window


def test_llm_timeout_keeps_the_raw_turns(tmp_path: Path) -> None:
    mem = memory(tmp_path, reply=lambda messages, json_mode: None)
    report = mem.add_turns(turns(2))
    assert report.fallbacks == 1 and report.units == 2


def test_one_fact_for_a_window_credits_its_turns_and_keeps_what_it_leaves_out(tmp_path: Path) -> None:
    said = [
        Turn(id="a", speaker="Ada", text="My grandma gave me a necklace in Sweden.", timestamp=START),
        Turn(id="b", speaker="Ben", text="I keep a painted bowl from my friend Carl.", timestamp=START),
    ]
    fact = json.dumps({"facts": ["Ada's grandma gave Ada a necklace in Sweden."]})
    mem = memory(tmp_path, reply=lambda messages, json_mode: fact)
    mem.add_turns(said)
    units = {u.origin: u for u in mem.list_units(10, 0)[0]}
    assert units["llm"].source_turn_ids == ["a"]  # the turn it shares the most words with
    assert units["raw"].source_turn_ids == ["b"] and "painted bowl" in units["raw"].text


def test_windows_extracted_together_store_what_one_at_a_time_stores(tmp_path: Path) -> None:
    said = turns(5, "s1") + turns(3, "s2")
    alone = memory(tmp_path / "alone", extract_concurrency=1)
    together = memory(tmp_path / "together", extract_concurrency=3)
    reports = [alone.add_turns(said), together.add_turns(said)]
    assert reports[0] == reports[1] and reports[0].windows == 5  # s1 split 2/2/1, s2 2/1
    ids = [sorted((u.id, u.text) for u in m.list_units(100, 0)[0]) for m in (alone, together)]
    assert ids[0] == ids[1]
    assert len(together.llm.calls) == 5  # one call per window


def test_extraction_prompt_puts_the_fixed_instruction_first(tmp_path: Path) -> None:
    mem = memory(tmp_path, window=8)
    said = turns(2) + [
        Turn(
            id="late",
            speaker="Ben",
            text="I met Bob yesterday.",
            timestamp=START + timedelta(days=1),
            session="s1",
        )
    ]
    mem.add_turns(said)
    system, user = mem.llm.calls[0]
    assert system == {"role": "system", "content": EXTRACT_SYSTEM}
    assert user["content"].splitlines() == [
        "Dialogue:",
        "Date: 8 May 2023",
        "Ada: I visited Paris museum number 0 with Bob.",
        "Ben: I visited Paris museum number 1 with Bob.",
        "Date: 9 May 2023",
        "Ben: I met Bob yesterday (8 May 2023).",
    ]


def test_a_reply_cut_short_keeps_its_complete_facts(tmp_path: Path) -> None:
    said = [
        Turn(id="a", speaker="Ada", text="I adopted a puppy named Rex in Lyon.", timestamp=START),
        Turn(id="b", speaker="Ben", text="My sister Eva paints lighthouses at the lake.", timestamp=START),
    ]
    cut = '{"facts": ["Ada adopted a puppy named Rex.", "Ada adopted a puppy named Rex.", "Ben\'s sis'
    mem = memory(tmp_path, reply=lambda messages, json_mode: cut)
    report = mem.add_turns(said)
    units = mem.list_units(10, 0)[0]
    assert report.fallbacks == 0 and len(mem.llm.calls) == 1
    assert [(u.origin, u.text) for u in units if u.origin == "llm"] == [
        ("llm", "Ada adopted a puppy named Rex.")
    ]
    assert [u.source_turn_ids for u in units if u.origin == "raw"] == [["b"]]  # what the cut lost


def test_information_filter_skips_windows_that_add_nothing(tmp_path: Path) -> None:
    mem = memory(tmp_path, filter_threshold=0.3)
    first = mem.add_turns(turns(2))
    repeat = [t.model_copy(update={"id": f"again:{t.id}"}) for t in turns(2)]
    second = mem.add_turns(repeat)
    assert first.windows == 1 and first.skipped == 0
    assert second.windows == 0 and second.skipped == 1  # same text, same entities: no new information
    assert mem.stats()["turns"] == 4  # skipped turns are still stored
    batch = memory(tmp_path / "batch", filter_threshold=0.3).add_turns(turns(2) + repeat)
    assert (batch.windows, batch.skipped) == (1, 1)  # one batch or two: the same windows are skipped


def test_recall_packs_units_within_the_budget(tmp_path: Path) -> None:
    mem = memory(tmp_path)
    mem.add_turns(turns(6))
    recall = mem.recall("Which museum did Ada visit in Paris?", token_budget=40, with_sources=True)
    assert recall.complexity in {"simple", "moderate", "complex"}
    assert recall.units and recall.tokens <= 40
    assert recall.tokens == mem.llm.count_tokens(recall.context)
    assert {t.id for t in recall.sources} == {s for u in recall.units for s in u.source_turn_ids}
    answer = mem.answer("Where did Ada go?")
    assert answer.answer == "Paris" and answer.prompt_tokens > 0


def test_consolidation_abstracts_and_retires_and_is_idempotent(tmp_path: Path) -> None:
    mem = memory(tmp_path, duplicate_similarity=0.99)
    duplicate = Turn(
        id="s1:dup",
        speaker="Ada",
        text="I visited Paris museum number 0 with Bob.",
        timestamp=START,
        session="s2",
    )
    mem.add_turns([*turns(3), duplicate])
    report = mem.consolidate()
    assert report.abstracts >= 1 and report.retired >= 1
    units, count = mem.list_units(100, 0)
    abstracts = [u for u in units if u.level >= 1]
    retired = [u for u in units if u.retired]
    assert abstracts and all(u.source_unit_ids for u in abstracts)
    live_ids = {u.id for u in units if not u.retired}
    for unit in retired:  # a retired unit stays stored and its content lives on in its keeper
        keeper = mem.get_unit(unit.superseded_by or "")
        assert keeper.id in live_ids and set(unit.source_turn_ids) <= set(keeper.source_turn_ids)
    again = mem.consolidate()
    assert (again.abstracts, again.retired) == (0, 0)
    assert mem.list_units(100, 0)[1] == count
    detailed = mem.recall("Paris museum", k=20)
    assert all(not u.retired and u.level == 0 for u in detailed.units)


def test_consolidation_concurrent_with_writes_loses_nothing(tmp_path: Path) -> None:
    mem = memory(tmp_path)
    mem.add_turns(turns(6))
    errors: list[BaseException] = []

    def run(action) -> None:  # type: ignore[no-untyped-def]
        try:
            action()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    writers = [
        threading.Thread(target=run, args=(lambda i=i: mem.add_turns(turns(2, f"w{i}")),)) for i in range(3)
    ]
    consolidator = threading.Thread(target=run, args=(mem.consolidate,))
    for thread in [consolidator, *writers]:
        thread.start()
    for thread in [consolidator, *writers]:
        thread.join()
    assert not errors
    mem.consolidate()
    units, _ = mem.list_units(1000, 0)
    sources = {t for u in units for t in u.source_turn_ids}
    expected = {t.id for t in turns(6)} | {t.id for i in range(3) for t in turns(2, f"w{i}")}
    assert expected <= sources  # every turn is still the source of a stored unit
    assert mem.stats()["turns"] == len(expected)
    ids = [u.id for u in units]
    assert len(ids) == len(set(ids))


def test_units_can_be_updated_and_deleted_and_memory_dropped(tmp_path: Path) -> None:
    mem = memory(tmp_path)
    with pytest.raises(IndexNotFound):
        mem.recall("anything")
    mem.add_turns(turns(2))
    unit = mem.list_units(1, 0)[0][0]
    changed = mem.update_unit(unit.id, UnitPatch(text="Ada moved to Lyon in 2022.", location="Lyon"))
    assert changed.origin == "edited" and mem.get_unit(unit.id).location == "Lyon"
    assert mem.recall("Who moved to Lyon?", k=1).units[0].id == unit.id
    mem.delete_unit(unit.id)
    with pytest.raises(DocumentNotFound):
        mem.get_unit(unit.id)
    mem.drop()
    assert not mem.exists()


def test_bad_input_is_rejected(tmp_path: Path) -> None:
    mem = memory(tmp_path)
    with pytest.raises(InvalidInput):
        mem.add_turns([])
    report = mem.add_turns([turns(1)[0], turns(1)[0]])  # one id twice: the last one counts
    assert report.turns == 1
    with pytest.raises(InvalidInput):
        mem.recall("   ")
