"""The LoCoMo evaluation on a two-session conversation in LoCoMo format, with a scripted LLM and the
fake encoder: loading, question selection, all three methods, metrics and the written tables."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from evals import locomo
from indexers.configs import EncoderConfig
from indexers.memory import MemoryConfig
from indexers.models.llm import ChatMessage, Completion
from indexers.models.prompts import CONVERSATION_ANSWER_SYSTEM
from tests.scripted_llm import ScriptedLLM
from tests.unit.memory.test_memory import facts_reply

SAMPLE = {
    "sample_id": "conv-x",
    "conversation": {
        "speaker_a": "Ada",
        "speaker_b": "Ben",
        "session_1_date_time": "1:56 pm on 8 May, 2023",
        "session_1": [
            {"speaker": "Ada", "dia_id": "D1:1", "text": "I went to the chess club yesterday."},
            {
                "speaker": "Ben",
                "dia_id": "D1:2",
                "text": "I painted a lighthouse last year.",
                "blip_caption": "a painting of a lighthouse",
            },
        ],
        "session_2_date_time": "10:00 am on 1 June, 2023",
        "session_2": [{"speaker": "Ada", "dia_id": "D2:1", "text": "I adopted a dog called Max."}],
    },
    "qa": [
        {
            "question": "When did Ada go to the chess club?",
            "answer": "7 May 2023",
            "evidence": ["D1:1"],
            "category": 2,
        },
        {"question": "What did Ben paint?", "answer": "a lighthouse", "evidence": ["D1:2"], "category": 4},
        {
            "question": "What did Ada regret?",
            "adversarial_answer": "nothing",
            "evidence": ["D1:1"],
            "category": 5,
        },
        {"question": "What is the dog called?", "answer": "Max", "evidence": ["D2:1"], "category": 4},
    ],
}


def answer(messages: Sequence[ChatMessage], json_mode: bool) -> str:
    """Answers a question only when the context holds what it needs."""
    if not messages[0]["content"].startswith("Answer the question"):
        return facts_reply(messages, json_mode)
    context, question = messages[-1]["content"].split("Question:")
    if "paint" in question and "lighthouse" in context:
        return "a lighthouse"
    if "chess club" in question and "chess club" in context:
        return "7 May 2023"
    return "Not mentioned"


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    path = tmp_path / "locomo.json"
    path.write_text(json.dumps([SAMPLE]))
    return path


def test_loading_keeps_the_selected_sessions_and_their_questions(data: Path) -> None:
    (conv,) = locomo.load_locomo(data, sessions=1)
    assert [t.id for t in conv.turns] == ["D1:1", "D1:2"]
    assert "[shares a photo of a painting of a lighthouse]" in conv.turns[1].text
    assert conv.turns[0].timestamp.isoformat() == "2023-05-08T13:56:00+00:00"
    assert [q.category for q in conv.questions] == [2, 4, 5]  # the D2 question needs session 2
    assert conv.questions[2].answer == "nothing"


class TogetherLLM(ScriptedLLM):
    """Answers a question only once every method has asked (a barrier): sequential answers time out."""

    def __init__(self) -> None:
        super().__init__(answer)
        self.barrier = threading.Barrier(len(locomo.METHODS), timeout=10)

    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> Completion:
        if messages[0]["content"] == CONVERSATION_ANSWER_SYSTEM:
            self.barrier.wait()
        return super().chat(messages, **kwargs)


def test_run_scores_every_method(data: Path, tmp_path: Path) -> None:
    conversations = locomo.load_locomo(data, sessions=1)
    config = MemoryConfig(encoder=EncoderConfig(model="fake:hash"), window=2, filter_threshold=0.0)
    seen: list[int] = []
    result = locomo.run(
        conversations,
        TogetherLLM(),  # the methods' answers to a question are asked at once
        config,
        questions=None,
        seed=0,
        token_budget=64,
        rag_k=5,
        consolidate=True,
        work_dir=tmp_path / "work",
        checkpoint=lambda partial: seen.append(len(partial["records"]["memory"])),
    )
    assert seen == [1, 2, 3]
    for method in locomo.METHODS:
        summary = result["summary"][method]
        assert summary["f1_c2"] == 1.0 and summary["f1_c4"] == 1.0 and summary["c5_abstain"] == 1.0
        assert summary["evidence_recall"] == 1.0  # each answerable question's evidence turn was shown
        assert summary["prompt_tokens"] > 0
    build = result["builds"][0]
    assert build["turns"] == 2 and build["units"] >= 2 and build["memory_build_s"] > 0
    table = locomo.markdown(result)
    assert table.count("\n| memory |") == 1 and "| conv-x | 2 | 3 |" in table
    assert set(result["paired_f1"]) == {"memory vs rag", "memory vs full"}
    assert result["paired_f1"]["memory vs rag"]["ties"] == 2  # both answerable questions, both right
    assert "memory vs rag, F1 1-4 per question: mean difference +0.000, 0 better / 0 worse / 2 tied" in table


def test_full_context_alone_builds_no_memory_and_shows_every_question_one_cut(
    data: Path, tmp_path: Path
) -> None:
    llm = ScriptedLLM(answer)
    result = locomo.run(
        locomo.load_locomo(data),
        llm,
        MemoryConfig(encoder=EncoderConfig(model="fake:hash")),
        questions=None,
        seed=0,
        token_budget=64,
        rag_k=5,
        consolidate=False,
        work_dir=tmp_path / "work",
        methods=["full"],
    )
    assert not (tmp_path / "work").exists() and result["builds"] == []  # no extraction call either:
    assert all(call[0]["content"] == CONVERSATION_ANSWER_SYSTEM for call in llm.calls)
    contexts = {call[-1]["content"].split("Question:")[0] for call in llm.calls}
    assert len(llm.calls) == 4 and len(contexts) == 1  # one prefix for the prompt cache
    assert result["summary"]["full"]["f1_c4"] == 0.5  # the scripted answerer knows the painting only
    assert "memory build s" not in locomo.markdown(result)


def test_stratified_sample_takes_each_category_in_turn() -> None:
    pool = [locomo.Question(f"q{i}", "a", 1 + i % 3, ["D1:1"]) for i in range(12)]  # 4 per category
    sample = locomo.sample_questions(pool, random.Random(0), None, 2)
    assert [q.category for q in sample] == [1, 2, 3, 1, 2, 3]
    assert len({q.question for q in sample}) == 6
    assert len(locomo.sample_questions(pool, random.Random(0), None, 9)) == 12  # all a category holds


def test_a_finished_build_is_reused_and_a_mismatched_or_unfinished_one_refused(
    data: Path, tmp_path: Path
) -> None:
    conversations = locomo.load_locomo(data, sessions=1)
    config = MemoryConfig(encoder=EncoderConfig(model="fake:hash"), window=2, filter_threshold=0.0)
    store = tmp_path / "store"

    def run(
        llm: ScriptedLLM,
        memory_config: MemoryConfig,
        methods: Sequence[str] = locomo.METHODS,
        retrieval_only: bool = False,
    ) -> dict[str, Any]:
        return locomo.run(
            conversations,
            llm,
            memory_config,
            questions=None,
            seed=0,
            token_budget=64,
            rag_k=5,
            consolidate=False,
            work_dir=store,
            methods=methods,
            retrieval_only=retrieval_only,
        )

    first_llm, again_llm = ScriptedLLM(answer), ScriptedLLM(answer)
    first = run(first_llm, config)
    looked = ScriptedLLM(answer)
    retrieval = run(looked, config, retrieval_only=True)
    assert not looked.calls  # a reused store and no answers: the LLM is never asked
    for summary in retrieval["summary"].values():
        assert summary["evidence_recall"] == 1.0 and summary["context_tokens"] > 0
        assert "f1" not in summary and "prompt_tokens" not in summary
    assert "| memory | — |" in locomo.markdown(retrieval)
    again = run(again_llm, config, ("memory",))
    assert not first["builds"][0]["reused"] and again["builds"][0]["reused"]
    assert again["builds"][0]["units"] == first["builds"][0]["units"]
    assert any(map(is_extraction, first_llm.calls)) and not any(map(is_extraction, again_llm.calls))
    assert again["summary"]["memory"]["f1_c4"] == first["summary"]["memory"]["f1_c4"] == 1.0
    assert list(again["summary"]) == ["memory"]  # only the asked methods run
    read_only = config.model_copy(update={"k": {"simple": 1, "moderate": 1, "complex": 1}, "rrf_k": 5})
    assert run(ScriptedLLM(answer), read_only, ("memory",))["builds"][0]["reused"]

    with pytest.raises(locomo.StoreConflict, match="other settings"):
        run(ScriptedLLM(answer), config.model_copy(update={"window": 3}))
    (store / "conv-x" / locomo.BUILT_FILE).unlink()  # as if the first build had stopped half-way
    with pytest.raises(locomo.StoreConflict, match="unfinished"):
        run(ScriptedLLM(answer), config)


def is_extraction(messages: list[ChatMessage]) -> bool:
    """Whether a recorded chat was an extraction rather than an answer (answers end with the question)."""
    return "Question:" not in messages[-1]["content"]


def test_an_out_of_range_setting_is_a_cli_error(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = locomo.main(["--data", str(data), "--raw-coverage", "2", "--out", str(tmp_path / "out")])
    assert code == 2
    assert "raw_coverage" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing loaded, nothing written


@pytest.mark.parametrize(
    ("item", "message"), [("rrf_k=0", "rrf_k"), ("no_such=1", "no_such"), ("k", "key=value")]
)
def test_a_bad_memory_setting_is_a_cli_error(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], item: str, message: str
) -> None:
    code = locomo.main(["--data", str(data), "--memory-set", item, "--out", str(tmp_path / "out")])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_several_conversations_get_a_row_each() -> None:
    def record(qid: str, shown: bool) -> dict[str, Any]:
        return {
            "qid": qid,
            "category": 4,
            "evidence_in_context": shown,
            "context_tokens": 9,
            "retrieval_ms": 1.0,
        }

    scores = locomo.MethodScores([record("conv-a#0", True), record("conv-b#3", False)])
    result = locomo._result({"rag": scores}, [])
    assert result["by_conversation"]["conv-a"]["rag"]["evidence_recall"] == 1.0
    assert result["by_conversation"]["conv-b"]["rag"]["evidence_recall"] == 0.0
    table = locomo.markdown(result)
    assert "| conv-a | rag | — | 1.000 |" in table and "| conv-b | rag | — | 0.000 |" in table


def test_a_conversations_sample_does_not_depend_on_the_others_in_the_run(tmp_path: Path) -> None:
    other = {**SAMPLE, "sample_id": "conv-y"}
    path = tmp_path / "two.json"
    path.write_text(json.dumps([other, SAMPLE]))
    config = MemoryConfig(encoder=EncoderConfig(model="fake:hash"), window=2, filter_threshold=0.0)

    def asked(conversations: list[locomo.Conversation], folder: str) -> list[str]:
        result = locomo.run(
            conversations,
            ScriptedLLM(answer),
            config,
            questions=2,
            seed=3,
            token_budget=64,
            rag_k=5,
            consolidate=False,
            work_dir=tmp_path / folder,
            methods=("rag",),
            retrieval_only=True,
        )
        return [r["qid"] for r in result["records"]["rag"] if r["qid"].startswith("conv-x")]

    both = locomo.load_locomo(path)
    assert asked(both, "both") == asked(both[1:], "alone")


class Interrupted(Exception):
    """Stands for a run killed between two questions."""


def test_an_interrupted_run_carries_on_without_asking_again(tmp_path: Path) -> None:
    path = tmp_path / "two.json"
    path.write_text(json.dumps([{**SAMPLE, "sample_id": "conv-y"}, SAMPLE]))
    conversations = locomo.load_locomo(path, sessions=1)
    config = MemoryConfig(encoder=EncoderConfig(model="fake:hash"), window=2, filter_threshold=0.0)
    methods = ("memory", "rag")

    def run(llm: ScriptedLLM, folder: str, **kwargs: Any) -> dict[str, Any]:
        return locomo.run(
            conversations,
            llm,
            config,
            questions=None,
            seed=0,
            token_budget=64,
            rag_k=5,
            consolidate=False,
            work_dir=tmp_path / folder,
            methods=methods,
            **kwargs,
        )

    whole_llm = ScriptedLLM(answer)
    whole = run(whole_llm, "whole")
    saved: list[dict[str, Any]] = []

    def stop_after_four(partial: dict[str, Any]) -> None:
        saved.append(json.loads(json.dumps(partial)))  # what the result file holds
        if len(partial["records"]["memory"]) == 4:  # conv-y's three questions and one of conv-x's
            raise Interrupted

    with pytest.raises(Interrupted):
        run(ScriptedLLM(answer), "first", checkpoint=stop_after_four)
    earlier = saved[-1]
    earlier["records"]["rag"].pop()  # the last question answered by one method only is asked again
    resumed_llm = ScriptedLLM(answer)
    resumed = run(resumed_llm, "second", earlier=earlier)

    asked = [m for m in resumed_llm.calls if not is_extraction(m)]
    assert len(asked) == 3 * len(methods)  # conv-x's three questions: one lacked an answer of rag
    extractions = sum(map(is_extraction, resumed_llm.calls))
    assert 0 < extractions == sum(map(is_extraction, whole_llm.calls)) // 2  # conv-x ingested, conv-y not
    for method in methods:
        assert [r["qid"] for r in resumed["records"][method]] == [r["qid"] for r in whole["records"][method]]
        assert [r["f1"] for r in resumed["records"][method]] == [r["f1"] for r in whole["records"][method]]
    assert [b["sample_id"] for b in resumed["builds"]] == ["conv-y", "conv-x"]
    assert [b["questions"] for b in resumed["builds"]] == [3, 3]


def test_resuming_a_run_made_with_other_settings_is_a_cli_error(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    earlier = {"setup": {"data": str(data), "token_budget": "128"}, "records": {}, "builds": []}
    (out / "run.json").write_text(json.dumps(earlier))
    code = locomo.main(["--data", str(data), "--out", str(out), "--name", "run", "--resume"])
    assert code == 2
    err = capsys.readouterr().err
    assert "other settings" in err and "token_budget" in err
    assert "llm_requantize" in err  # a result from before the setting ran on the weights as packaged
    assert json.loads((out / "run.json").read_text()) == earlier  # the earlier result is left as it was
