"""LoCoMo evaluation of agent memory against full-context and plain RAG, on one LLM.

For each selected conversation: ingest its turns into `AgentMemory` (extraction, then one
consolidation), index the raw turns in a `dense` index (plain RAG), then answer every sampled
question three ways (each only when asked for) with the same answering prompt and LLM:

- memory: the memory's recalled context (adaptive k, token budget);
- rag: the top raw turns by dense similarity, packed into the same token budget;
- full: the whole (selected) conversation, cut from the start to fit the model window (one cut per
  conversation, so the LLM's prompt cache reads it once).

Scores (`evals.qa_metrics`): LoCoMo's own per-category F1 (`locomo_f1`: stemmed tokens, multi-hop
answers split on commas) and SimpleMem's BLEU-1 per category 1-4; category 5 (adversarial)
separately as the share of answers that say "not mentioned" or "no information available", LoCoMo's
rule. Each record also keeps SimpleMem's set-overlap F1 (`simplemem_f1`). Costs: answer-prompt
tokens per question, memory build time, retrieval latency and answer time. `--retrieval-only` skips
the answers and measures what reaches the prompt (evidence in context, context tokens, retrieval
latency): minutes instead of an hour.

    python -m evals.locomo --data ../shared/data/locomo/locomo7.json --conversations 0 --sessions 3 \
        --questions 30 --llm qwen2.5-0.5b --out docs/results
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import resource
import shlex
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from evals.beir import apply_override
from evals.datasets import DatasetError, read_locomo
from evals.paired import paired_comparison
from evals.qa_metrics import bleu1, locomo_abstained, locomo_f1, simplemem_f1, simplemem_reference
from evals.report import cell, markdown_table, write_report
from indexers.base import Doc
from indexers.cli_args import parse_args
from indexers.configs import DenseConfig
from indexers.errors import InvalidConfig
from indexers.kinds.dense import DenseIndex
from indexers.memory import AgentMemory, MemoryConfig, MemoryStore, Turn
from indexers.memory.retrieve import render_turn
from indexers.memory.units import READ_SETTINGS
from indexers.models.llm import LLM, LLMConfig, load_llm
from indexers.models.prompts import CONVERSATION_ANSWER_SYSTEM, answer_messages

__all__ = [
    "Conversation",
    "MethodScores",
    "Question",
    "StoreConflict",
    "full_context",
    "load_locomo",
    "main",
    "markdown",
    "pack_turns",
    "parse_locomo_time",
    "run",
    "sample_questions",
]

logger = logging.getLogger(__name__)
METHODS = ("memory", "rag", "full")
BUILT_FILE = "built.json"  # in a conversation's store folder once its memory is fully built


class StoreConflict(Exception):
    """A store folder holds a memory that this run must not reuse."""


ANSWER_RESERVE = 64
TITLE = "# LoCoMo: memory vs plain RAG vs full context"


@dataclass(frozen=True, slots=True)
class Question:
    """One LoCoMo question: its answer (the adversarial answer for category 5) and evidence turns."""

    question: str
    answer: str
    category: int
    evidence: list[str]
    qid: str = ""  # sample id and position in its qa list


@dataclass(frozen=True, slots=True)
class Conversation:
    sample_id: str
    turns: list[Turn]
    questions: list[Question]


def parse_locomo_time(text: str) -> datetime:
    """'1:56 pm on 8 May, 2023' -> a UTC datetime."""
    return datetime.strptime(text.strip(), "%I:%M %p on %d %B, %Y").replace(tzinfo=UTC)


def load_locomo(path: Path, sessions: int | None = None) -> list[Conversation]:
    """Conversations with their first `sessions` sessions and the questions answerable from them.

    Raises:
        DatasetError: the file is unreadable or a conversation is malformed.
    """
    out = []
    for sample in read_locomo(path):
        kept_sessions = sample.sessions[:sessions] if sessions else sample.sessions
        turns = []
        for session in kept_sessions:
            if session.date_time is None:
                raise DatasetError(f"{path}: {sample.sample_id} session {session.number} has no date")
            when = parse_locomo_time(session.date_time)
            session_id = f"s{session.number}"
            turns += [
                Turn(id=t.dia_id, speaker=t.speaker, text=t.text, timestamp=when, session=session_id)
                for t in session.turns
            ]
        kept = {f"D{session.number}" for session in kept_sessions}
        questions = [
            Question(
                q.question,
                q.answer if q.answer is not None else q.adversarial_answer or "",
                q.category,
                q.evidence,
                f"{sample.sample_id}#{q.position}",
            )
            for q in sample.qa
            if q.evidence and all(e.split(":")[0] in kept for e in q.evidence)
        ]
        out.append(Conversation(sample.sample_id, turns, questions))
    return out


def pack_turns(turns: Sequence[Turn], budget: int, count: Callable[[str], int]) -> list[Turn]:
    """The first turns (in the given order) whose lines fit `budget` tokens."""
    kept, used = [], 0
    for turn in turns:
        cost = count(render_turn(turn) + "\n")
        if used + cost <= budget:
            kept.append(turn)
            used += cost
    return kept


def full_context(turns: Sequence[Turn], llm: LLM, questions: Sequence[Question]) -> list[Turn]:
    """The conversation's latest turns that fit the model window with the prompt, the longest of
    `questions` and the answer. One cut serves every question of the conversation, so their prompts
    share the conversation as a prefix, which the LLM's prompt cache evaluates once."""
    longest = max((llm.count_tokens(q.question) for q in questions), default=0)
    overhead = llm.count_tokens(CONVERSATION_ANSWER_SYSTEM) + longest + ANSWER_RESERVE + 32
    budget = llm.context_window - overhead
    kept: list[Turn] = []
    used = 0
    for turn in reversed(turns):
        cost = llm.count_tokens(render_turn(turn) + "\n")
        if used + cost > budget:
            break
        kept.append(turn)
        used += cost
    return kept[::-1]


def sample_questions(
    questions: Sequence[Question], rng: random.Random, total: int | None, per_category: int | None
) -> list[Question]:
    """All questions, `total` drawn at random, or (stratified) `per_category` of each category, taken
    in turn from each category so that a run stopped early still covers every category."""
    if per_category is not None:
        by_category: dict[int, list[Question]] = {}
        for q in questions:
            by_category.setdefault(q.category, []).append(q)
        drawn = [rng.sample(group, min(per_category, len(group))) for _, group in sorted(by_category.items())]
        return [group[i] for i in range(per_category) for group in drawn if i < len(group)]
    if total is not None and total < len(questions):
        return rng.sample(list(questions), total)
    return list(questions)


@dataclass
class MethodScores:
    """Per-question records of one method."""

    records: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        answered = [r for r in self.records if "f1" in r]
        for category in (1, 2, 3, 4):
            rows = [r for r in answered if r["category"] == category]
            if rows:
                out[f"f1_c{category}"] = statistics.mean(r["f1"] for r in rows)
                out[f"bleu1_c{category}"] = statistics.mean(r["bleu1"] for r in rows)
                out[f"n_c{category}"] = len(rows)
        answerable = [r for r in self.records if r["category"] != 5]
        if answerable:
            out["evidence_recall"] = statistics.mean(r["evidence_in_context"] for r in answerable)
        scored = [r for r in answerable if "f1" in r]
        if scored:
            out["f1"] = statistics.mean(r["f1"] for r in scored)
            out["bleu1"] = statistics.mean(r["bleu1"] for r in scored)
        adversarial = [r for r in answered if r["category"] == 5]
        if adversarial:
            out["c5_abstain"] = statistics.mean(r["abstained"] for r in adversarial)
            out["n_c5"] = len(adversarial)
        out["context_tokens"] = statistics.mean(r["context_tokens"] for r in self.records)
        if answered:
            out["prompt_tokens"] = statistics.mean(r["prompt_tokens"] for r in answered)
            out["answer_s"] = statistics.mean(r["answer_s"] for r in answered)
        retrieval = sorted(r["retrieval_ms"] for r in self.records)
        out["retrieval_p50_ms"] = statistics.median(retrieval)
        out["retrieval_p95_ms"] = retrieval[min(len(retrieval) - 1, int(0.95 * len(retrieval)))]
        return out


def run(
    conversations: Sequence[Conversation],
    llm: LLM,
    memory_config: MemoryConfig,
    *,
    questions: int | None,
    seed: int,
    per_category: int | None = None,
    token_budget: int,
    rag_k: int,
    consolidate: bool,
    work_dir: Path,
    methods: Sequence[str] = METHODS,
    retrieval_only: bool = False,
    checkpoint: Callable[[dict[str, Any]], object] | None = None,
    earlier: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Ingest, answer and score every conversation; returns the summary and the per-question records.

    Each conversation's memory lives in `work_dir / sample_id`; a finished build there made with the
    same settings is reused. `retrieval_only` records each context without asking the LLM for an
    answer. `checkpoint` gets the result so far after every question (long runs keep what they
    measured). `earlier`, the result of an interrupted run with the same settings, is carried on: its
    questions are not asked again, and a conversation whose questions it holds is not ingested again.
    """
    carried = (earlier or {}).get("records", {})
    scores = {method: MethodScores(list(carried.get(method, []))) for method in methods}
    done = set.intersection(*({r["qid"] for r in s.records} for s in scores.values()))
    for method_scores in scores.values():  # a question some method has not answered is asked again
        method_scores.records = [r for r in method_scores.records if r["qid"] in done]
    builds: list[dict[str, Any]] = list((earlier or {}).get("builds", []))
    with ThreadPoolExecutor(len(methods), thread_name_prefix="locomo-answer") as answers:
        for conv in conversations:
            # seeded per conversation: its sample does not depend on the other conversations of the run
            rng = random.Random(f"{seed}:{conv.sample_id}")
            drawn = sample_questions(conv.questions, rng, questions, per_category)
            sample = [q for q in drawn if q.qid not in done]
            if not sample:
                continue
            memory = None
            if "memory" in methods:  # plain RAG and full context need no memory
                memory, build = _conversation_memory(
                    conv, llm, memory_config, consolidate, work_dir / conv.sample_id
                )
            rag = DenseIndex(DenseConfig(encoder=memory_config.encoder))
            rag_started = time.perf_counter()
            if "rag" in methods:
                rag.build([Doc(id=t.id, text=render_turn(t)) for t in conv.turns])
            rag_s = time.perf_counter() - rag_started
            full = full_context(conv.turns, llm, drawn) if "full" in methods else []
            by_id = {t.id: t for t in conv.turns}
            if memory is not None:
                builds = [b for b in builds if b["sample_id"] != conv.sample_id]  # this build replaces it
                builds.append({**build, "questions": len(drawn), "rag_build_s": rag_s})
                logger.info("%s built: %s", conv.sample_id, builds[-1])
            for number, q in enumerate(sample):
                contexts: list[str] = []
                for method in methods:
                    t0 = time.perf_counter()
                    if memory is not None and method == "memory":
                        recall = memory.recall(q.question, token_budget)
                        context = recall.context
                        seen = {turn for unit in recall.units for turn in unit.source_turn_ids}
                    else:
                        if method == "rag":
                            hits = rag.search([q.question], k=rag_k)[0]
                            shown = pack_turns(
                                [by_id[h.doc_id] for h in hits], token_budget, llm.count_tokens
                            )
                        else:
                            shown = full
                        context = "\n".join(render_turn(turn) for turn in shown)
                        seen = {turn.id for turn in shown}
                    contexts.append(context)
                    scores[method].records.append(
                        {
                            "qid": q.qid,  # no question or answer text: LoCoMo data stays out of results
                            "category": q.category,
                            "evidence_in_context": bool(seen & set(q.evidence)),
                            "context_tokens": llm.count_tokens(context) if context else 0,
                            "retrieval_ms": (time.perf_counter() - t0) * 1000,
                        }
                    )
                if not retrieval_only:  # the methods' answers decode together (the LLM's parallel slots)
                    replies = answers.map(partial(_answer, llm, q, memory_config), contexts)
                    for method, scored in zip(methods, replies, strict=True):
                        scores[method].records[-1] |= scored
                logger.info("%s question %d/%d done", conv.sample_id, number + 1, len(sample))
                if checkpoint:
                    checkpoint(_result(scores, builds))
    return _result(scores, builds)


def _answer(llm: LLM, q: Question, config: MemoryConfig, context: str) -> dict[str, Any]:
    """The LLM's answer to `q` from `context`, scored (LoCoMo's F1 and abstention, SimpleMem's BLEU-1)."""
    reply = llm.chat(
        answer_messages(question=q.question, context=context, system=CONVERSATION_ANSWER_SYSTEM),
        max_tokens=config.answer_max_tokens,
        stop=["\n"],
    )
    reference = simplemem_reference(q.answer, q.category)
    return {
        "prediction": reply.text,
        "f1": locomo_f1(reply.text, q.answer, q.category),
        "bleu1": bleu1(reply.text, reference),
        "simplemem_f1": simplemem_f1(reply.text, reference),
        "abstained": locomo_abstained(reply.text),
        "prompt_tokens": reply.prompt_tokens,
        "answer_s": reply.seconds,
    }


def _conversation_memory(
    conv: Conversation, llm: LLM, config: MemoryConfig, consolidate: bool, folder: Path
) -> tuple[AgentMemory, dict[str, Any]]:
    """The conversation's memory in `folder` and its build record. A finished build made with the same
    settings (`BUILT_FILE`) is reopened as it is; otherwise the turns are ingested now.

    Raises:
        StoreConflict: `folder` holds a build made with other settings, or an unfinished one.
    """
    settings = {
        "turns": [t.id for t in conv.turns],
        "llm": llm.config.model_dump(mode="json", include={"backend", "model", "base_url"}),
        "memory": config.write_settings(),
        "consolidate": consolidate,
    }
    marker = folder / BUILT_FILE
    if marker.is_file():
        saved = json.loads(marker.read_text())
        saved_memory = {k: v for k, v in saved["settings"]["memory"].items() if k not in READ_SETTINGS}
        if {**saved["settings"], "memory": saved_memory} != settings:
            raise StoreConflict(f"{folder} was built with other settings; delete it or use another")
        memory = AgentMemory(MemoryStore(folder, name=conv.sample_id), llm, config)
        return memory, {**saved["build"], "reused": True}
    if folder.exists() and any(folder.iterdir()):
        raise StoreConflict(f"{folder} holds an unfinished memory build; delete it or use another")
    memory = AgentMemory(MemoryStore(folder, name=conv.sample_id), llm, config)
    load_before = os.getloadavg()[0]
    started, cpu_started = time.perf_counter(), time.process_time()
    report = memory.add_turns(conv.turns)
    extracted, extract_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    consolidation = memory.consolidate() if consolidate else None
    build = {
        "sample_id": conv.sample_id,
        "turns": len(conv.turns),
        "memory_build_s": time.perf_counter() - started,
        "extract_s": extracted,
        "extract_cpu_s": extract_cpu,  # all threads of this process, the LLM's included
        "load_avg": [load_before, os.getloadavg()[0]],  # the machine's, before and after extraction
        "write": asdict(report),
        "consolidation": asdict(consolidation) if consolidation else None,
        "origins": dict(Counter(u.origin for u in memory.list_units(1_000_000, 0)[0])),
        **memory.stats(),
    }
    marker.write_text(json.dumps({"settings": settings, "build": build}, indent=2))
    return memory, {**build, "reused": False}


def _result(scores: dict[str, MethodScores], builds: list[dict[str, Any]]) -> dict[str, Any]:
    by_conversation: dict[str, dict[str, Any]] = {}
    for method, method_scores in scores.items():
        groups: dict[str, list[dict[str, Any]]] = {}
        for r in method_scores.records:
            groups.setdefault(r["qid"].split("#")[0], []).append(r)
        for conversation, rows in groups.items():
            by_conversation.setdefault(conversation, {})[method] = MethodScores(rows).summary()
    answered = {
        method: {r["qid"]: r["f1"] for r in s.records if "f1" in r and r["category"] != 5}
        for method, s in scores.items()
    }
    paired = {
        f"memory vs {other}": paired_comparison(answered["memory"], answered[other])
        for other in ("rag", "full")
        if answered.get("memory")
        and answered.get(other)
        and answered[other].keys() == answered["memory"].keys()
    }
    return {
        "summary": {method: s.summary() for method, s in scores.items() if s.records},
        "paired_f1": paired,
        "by_conversation": by_conversation,
        "builds": builds,
        "records": {method: s.records for method, s in scores.items()},
    }


_SUMMARY_COLUMNS = (
    "method",
    "F1 c1",
    "F1 c2",
    "F1 c3",
    "F1 c4",
    "F1 1-4",
    "BLEU-1 1-4",
    "evidence in context 1-4",
    "c5 abstain",
    "context tokens/q",
    "prompt tokens/q",
    "retrieval p50 ms",
    "retrieval p95 ms",
    "answer s/q",
)
_BUILD_COLUMNS = (
    "conversation",
    "turns",
    "questions",
    "memory build s",
    "extract s",
    "extract CPU s",
    "load avg (1 min) start / end",
    "LLM calls / prompt tok / gen tok",
    "rag build s",
    "windows",
    "skipped",
    "LLM fallbacks",
    "units",
    "live units",
    "LLM facts / raw turns / abstracts",
)


def markdown(result: dict[str, Any]) -> str:
    """The summary as a Markdown table (one row per method) and the build table."""
    summary = [
        [
            method,
            *(cell(s.get(key), ".3f") for key in ("f1_c1", "f1_c2", "f1_c3", "f1_c4", "f1", "bleu1")),
            cell(s.get("evidence_recall"), ".3f"),
            cell(s.get("c5_abstain"), ".2f"),
            cell(s["context_tokens"], ".0f"),
            cell(s.get("prompt_tokens"), ".0f"),
            cell(s["retrieval_p50_ms"], ".1f"),
            cell(s["retrieval_p95_ms"], ".1f"),
            cell(s.get("answer_s"), ".2f"),
        ]
        for method, s in result["summary"].items()
    ]
    lines = [markdown_table(_SUMMARY_COLUMNS, summary)]
    for name, c in result.get("paired_f1", {}).items():
        lines += [
            "",
            f"{name}, F1 1-4 per question: mean difference {c['mean_diff']:+.3f}, {c['wins']} better / "
            f"{c['losses']} worse / {c['ties']} tied, paired sign-flip randomization p = {c['p_value']:.3f}.",
        ]
    if len(result.get("by_conversation", {})) > 1:
        rows = [
            [conversation, method, cell(s.get("f1"), ".3f"), cell(s.get("evidence_recall", 0.0), ".3f")]
            for conversation, methods in result["by_conversation"].items()
            for method, s in methods.items()
        ]
        header = ["conversation", "method", "F1 1-4", "evidence in context 1-4"]
        lines += ["", markdown_table(header, rows, text_columns=2)]
    builds = []
    for b in result["builds"]:
        w, o = b["write"], b.get("origins", {})
        builds.append(
            [
                b["sample_id"],
                b["turns"],
                b["questions"],
                cell(b["memory_build_s"], ".1f") + (" (reused)" if b.get("reused") else ""),
                cell(b["extract_s"], ".1f"),
                cell(b.get("extract_cpu_s"), ".0f"),
                " / ".join(f"{x:.1f}" for x in b.get("load_avg", [])) or "—",
                " / ".join(str(w[k]) for k in ("llm_calls", "prompt_tokens", "completion_tokens") if k in w)
                or "—",
                cell(b["rag_build_s"], ".1f"),
                w["windows"],
                w["skipped"],
                w["fallbacks"],
                b["units"],
                b["live_units"],
                f"{o.get('llm', 0)} / {o.get('raw', 0)} / {o.get('abstract', 0)}",
            ]
        )
    if builds:  # a run without the memory method builds none
        lines += ["", markdown_table(_BUILD_COLUMNS, builds)]
    return "\n".join(lines)


def _memory_option(p: argparse.ArgumentParser, name: str, kind: type[int] | type[float]) -> None:
    """Add `--<name>` (dashes for underscores) with the default and description of `MemoryConfig.<name>`."""
    info = MemoryConfig.model_fields[name]
    p.add_argument(
        "--" + name.replace("_", "-"),
        type=kind,
        default=info.default,
        help=f"memory.{name}: {info.description}",
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m evals.locomo", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="LoCoMo JSON (e.g. locomo7.json)")
    p.add_argument("--conversations", type=int, nargs="*", help="conversation positions (default: all)")
    p.add_argument("--sessions", type=int, help="first N sessions of each conversation (default: all)")
    p.add_argument("--questions", type=int, help="questions sampled per conversation (default: all)")
    p.add_argument("--per-category", type=int, help="stratified sample: this many questions of each category")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--llm", default="qwen2.5-0.5b", help="LLM: alias, .gguf, folder, hub name, or the --base-url model"
    )
    p.add_argument("--base-url", help="an OpenAI-compatible endpoint instead of an in-process model")
    p.add_argument(
        "--backend",
        choices=["llamacpp", "local", "openai"],
        help="LLM backend (default: llamacpp for GGUF models, local transformers otherwise, openai with "
        "--base-url)",
    )
    p.add_argument("--llm-threads", type=int, help="llamacpp: CPU threads (default: cores less one)")
    p.add_argument(
        "--llm-parallel", type=int, default=2, help="llamacpp: parallel slots (calls decoded together)"
    )
    p.add_argument(
        "--llm-requantize",
        choices=["iq4_nl", "off"],
        default="iq4_nl",
        help="llamacpp: re-quantise the GGUF weights for its fastest CPU kernels (iq4_nl) or use them as is",
    )
    p.add_argument("--context-window", type=int, default=4096, help="LLM window (caps full-context prompts)")
    p.add_argument("--timeout", type=float, default=120.0, help="bound on one LLM call, seconds")
    p.add_argument("--token-budget", type=int, default=256, help="context tokens for memory and rag")
    p.add_argument("--rag-k", type=int, default=10, help="raw turns retrieved by plain RAG before packing")
    _memory_option(p, "window", int)
    _memory_option(p, "extract_max_tokens", int)
    p.add_argument("--llm-attempts", type=int, default=2, help="tries per LLM call before the fallback")
    _memory_option(p, "raw_coverage", float)
    p.add_argument(
        "--memory-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a MemoryConfig field (JSON value), repeatable, e.g. rrf_k=60 or 'weights={\"dense\": 1}'",
    )
    p.add_argument(
        "--retrieval-only", action="store_true", help="record each context without answering (no F1)"
    )
    p.add_argument("--answer-max-tokens", type=int, default=24)
    p.add_argument("--no-consolidate", action="store_true", help="skip the consolidation pass")
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS), help="rows, in order")
    p.add_argument("--out", type=Path, default=Path("docs/results"), help="folder for locomo.md/.json")
    p.add_argument("--name", default="locomo", help="output file stem")
    p.add_argument(
        "--store-dir",
        type=Path,
        help="keep each conversation's built memory here and reuse it on later runs with the same settings "
        "(default: a temporary folder)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="carry on an interrupted run: keep the answers in the result file (--out, --name) and ask "
        "only the questions it lacks; its settings must be these",
    )
    return p


_MAY_DIFFER_ON_RESUME = {
    "resume",
    "store_dir",
    "llm_threads",
    "llm_parallel",
    "peak_rss_mb",
    "complete",
    "created_at",
}
# Settings added after some results were written: an earlier result without one ran with this value.
_EARLIER_DEFAULTS = {"llm_requantize": "off"}


def _earlier_result(args: argparse.Namespace) -> dict[str, Any] | None:
    """The result file that `--resume` carries on, or None when there is none yet.

    Raises:
        DatasetError: the file is unreadable or was written with other settings.
    """
    path = args.out / f"{args.name}.json"
    if not path.is_file():
        return None
    try:
        earlier: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        setup = earlier["setup"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatasetError(f"--resume: cannot read the earlier result {path}: {exc}") from exc
    now = {k: str(v) for k, v in vars(args).items()}
    setup = {**_EARLIER_DEFAULTS, **setup}
    differ = sorted(
        k for k in (setup.keys() | now.keys()) - _MAY_DIFFER_ON_RESUME if setup.get(k) != now.get(k)
    )
    if differ:
        raise DatasetError(f"--resume: {path} was run with other settings ({', '.join(differ)})")
    return earlier


def main(argv: list[str] | None = None) -> int:
    """Run `python -m evals.locomo`; returns 0, or 2 for bad arguments, data or settings."""
    args = parse_args(_parser(), argv)
    if isinstance(args, int):
        return args
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    try:
        conversations = load_locomo(args.data, args.sessions)
        earlier = _earlier_result(args) if args.resume else None
    except DatasetError as exc:
        print(f"python -m evals.locomo: error: {exc}", file=sys.stderr)
        return 2
    if args.conversations:
        conversations = [conversations[i] for i in args.conversations]
    try:
        llm_config = LLMConfig.model_validate(
            {
                "backend": args.backend or ("openai" if args.base_url else None),
                "model": args.llm,
                "base_url": args.base_url,
                "context_window": args.context_window,
                "timeout_s": args.timeout,
                "threads": args.llm_threads,
                "parallel": args.llm_parallel,
                "requantize": args.llm_requantize,
            }
        )
        fields: dict[str, Any] = {
            "window": args.window,
            "encoder": {"model": "minilm", "query_max_length": 256},
            "extract_max_tokens": args.extract_max_tokens,
            "llm_attempts": args.llm_attempts,
            "answer_max_tokens": args.answer_max_tokens,
            "raw_coverage": args.raw_coverage,
        }
        for item in args.memory_set:
            apply_override(fields, item)
        config = MemoryConfig(**fields)
    except (ValidationError, InvalidConfig) as exc:
        print(f"python -m evals.locomo: error: {exc}", file=sys.stderr)
        return 2
    llm = load_llm(llm_config)
    command = "python -m evals.locomo " + shlex.join(sys.argv[1:] if argv is None else argv)
    args.out.mkdir(parents=True, exist_ok=True)

    def write(result: dict[str, Any], final: bool) -> str:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result["setup"] = {
            **{k: str(v) for k, v in vars(args).items()},
            "peak_rss_mb": peak_mb,
            "complete": final,
            "created_at": datetime.now(UTC).isoformat(),
        }
        table = markdown(result)
        state = "" if final else "\n\n**Partial run** (still running or stopped before the end).\n"
        report = f"{TITLE}\n\n`{command}`\n{state}\n{table}\n\npeak RSS {peak_mb:.0f} MB\n"
        write_report(args.out / args.name, report, result)
        return table

    with tempfile.TemporaryDirectory(prefix="locomo-") as scratch:
        try:
            result = run(
                conversations,
                llm,
                config,
                questions=args.questions,
                seed=args.seed,
                per_category=args.per_category,
                token_budget=args.token_budget,
                rag_k=args.rag_k,
                consolidate=not args.no_consolidate,
                work_dir=args.store_dir or Path(scratch),
                methods=args.methods,
                retrieval_only=args.retrieval_only,
                checkpoint=lambda partial: write(partial, final=False),
                earlier=earlier,
            )
        except StoreConflict as exc:
            print(f"python -m evals.locomo: error: {exc}", file=sys.stderr)
            return 2
    print(write(result, final=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
