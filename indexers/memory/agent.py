"""`AgentMemory`: the one interface of agent memory (write turns, recall, answer, consolidate, manage
units) over a `MemoryStore`, an LLM and a dense encoder.

Slow work (encoding, LLM calls) runs outside the agent's lock; each result is committed in a short
locked step that first checks what it read is still current. Writers and a concurrent consolidation
therefore never block each other for long, and neither overwrites the other's work.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from qdrant_client import models

from indexers.base import Progress
from indexers.errors import DocumentNotFound, IndexNotFound, InvalidInput
from indexers.memory.consolidate import abstract_unit, duplicates, group_units, merge_into
from indexers.memory.retrieve import (
    Complexity,
    level_filter,
    lexical_query,
    pack_context,
    plan_for,
    symbolic_filter,
)
from indexers.memory.store import DENSE, LEXICAL, MemoryStore, StoreSession
from indexers.memory.text import candidate_entities, lexical_vector, symbols
from indexers.memory.units import MemoryConfig, MemoryUnit, Turn, UnitPatch
from indexers.memory.write import Extraction, extract_units, information_score, window_key, windows
from indexers.models.encoders import TokenEncoder, load_token_encoder
from indexers.models.llm import LLM, Completion
from indexers.models.prompts import CONVERSATION_ANSWER_SYSTEM, answer_messages
from indexers.scoring.fusion import rrf

__all__ = ["AgentMemory", "Answer", "ConsolidationReport", "Recall", "WriteReport"]

logger = logging.getLogger(__name__)
SYMBOLIC_SCAN = 1000


@dataclass(frozen=True, slots=True)
class WriteReport:
    """What a write did: turns processed, windows extracted or skipped, LLM fallbacks, units written,
    and the extraction's LLM cost (calls, prompt and generated tokens, seconds summed over calls,
    which overlap when windows are extracted together)."""

    turns: int = 0
    windows: int = 0
    skipped: int = 0
    fallbacks: int = 0
    units: int = 0
    consolidation_due: bool = False
    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_s: float = 0.0


@dataclass(frozen=True, slots=True)
class ConsolidationReport:
    """Groups found, abstract units written, units retired as redundant, groups left for later."""

    groups: int = 0
    abstracts: int = 0
    retired: int = 0
    skipped: int = 0


@dataclass(frozen=True, slots=True)
class Recall:
    """A query's context within its token budget, the units behind it and their source turns."""

    context: str
    tokens: int
    units: list[MemoryUnit]
    complexity: Complexity
    level: str
    k: int
    sources: list[Turn] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Answer:
    """The LLM's answer from a recalled context, with the prompt's cost."""

    answer: str
    recall: Recall
    prompt_tokens: int
    completion_tokens: int
    seconds: float


class AgentMemory:
    """Long-term memory of one agent (see the module docstring)."""

    def __init__(self, store: MemoryStore, llm: LLM, config: MemoryConfig | None = None) -> None:
        self.store = store
        self.llm = llm
        self.config = config or MemoryConfig()

    @functools.cached_property
    def encoder(self) -> TokenEncoder:
        return load_token_encoder(self.config.encoder)

    def _embed(self, texts: Sequence[str], *, is_query: bool) -> np.ndarray:
        return self.encoder.encode_dense(list(texts), is_query=is_query)

    def _lexical(self, text: str) -> tuple[list[int], list[float]]:
        c = self.config
        return lexical_vector(text, k1=c.bm25_k1, b=c.bm25_b, avgdl=c.bm25_avgdl)

    def _write_units(self, session: StoreSession, units: Sequence[MemoryUnit]) -> None:
        vectors = self._embed([u.text for u in units], is_query=False)
        session.upsert_units(units, vectors, [self._lexical(u.text) for u in units])

    def exists(self) -> bool:
        return self.store.exists()

    def _require(self) -> None:
        if not self.store.exists():
            raise IndexNotFound("this agent has no memory yet: add turns first")

    # write path
    def stage_turns(self, turns: Sequence[Turn]) -> int:
        """Store turns durably as pending (extraction comes later: `process_pending`). A turn id sent
        again (in this batch or later) replaces the earlier turn.

        Raises:
            InvalidInput: no turns.
        """
        if not turns:
            raise InvalidInput("no turns given")
        turns = list({t.id: t for t in turns}.values())
        with self.store.open() as session:
            session.ensure(self.encoder.dim)
            session.add_turns(turns)
        return len(turns)

    def add_turns(self, turns: Sequence[Turn], progress: Progress | None = None) -> WriteReport:
        """Stage `turns`, then extract memory units from every pending turn."""
        self.stage_turns(turns)
        return self.process_pending(progress)

    def process_pending(self, progress: Progress | None = None) -> WriteReport:
        """Window the pending turns (per session, in arrival order), filter, extract and index units.

        `extract_concurrency` windows at a time are scored against the units stored before them (and
        the batch's windows ahead of them, by their own vectors) and extracted together (the LLM's
        parallel slots decode them at once); each window is then committed on its own, in order, and
        its turns are marked done only if they were not re-added meanwhile. Re-running after a crash
        redoes only the pending windows, with the same unit ids.
        """
        self._require()
        with self.store.open() as session:
            pending = session.pending_turns()
            seen = set(session.meta()["entities_seen"])
        by_session: dict[str, list[tuple[Turn, int]]] = {}
        for turn, seq in pending:
            by_session.setdefault(turn.session, []).append((turn, seq))
        stride = self.config.stride or self.config.window
        plan = [w for group in by_session.values() for w in windows(group, self.config.window, stride)]
        counts = dict.fromkeys(("windows", "skipped", "fallbacks", "units", "llm_calls"), 0)
        counts |= dict.fromkeys(("prompt_tokens", "completion_tokens"), 0)
        llm_s = 0.0
        vectors = self._embed([" ".join(t.text for t, _ in pairs) for pairs in plan], is_query=False)
        due = False
        size = self.config.extract_concurrency
        with ThreadPoolExecutor(size, thread_name_prefix="memory-extract") as pool:
            for first in range(0, len(plan), size):
                batch = plan[first : first + size]
                with self.store.open() as session:  # novelty against the units stored so far
                    best = [
                        max([s for _, s in session.search(DENSE, vector.tolist(), None, 1)] + [0.0])
                        for vector in vectors[first : first + len(batch)]
                    ]
                jobs: list[Future[Extraction] | None] = []
                seen_after: list[set[str]] = []
                extracted: list[np.ndarray] = []  # this batch's windows ahead, not stored yet
                for pairs, similarity, vector in zip(batch, best, vectors[first:], strict=False):
                    window = [t for t, _ in pairs]
                    similarity = max([similarity] + [float(vector @ v) for v in extracted])
                    score = information_score(window, seen, similarity, self.config.filter_alpha)
                    extract = score >= self.config.filter_threshold
                    if extract:
                        extracted.append(vector)
                    jobs.append(
                        pool.submit(extract_units, self.llm, window, self.config) if extract else None
                    )
                    seen = seen | {e.lower() for t in window for e in candidate_entities(t.text)}
                    seen_after.append(seen)
                    logger.info("window %d/%d: score %.2f", first + len(jobs), len(plan), score)
                for pairs, job, known in zip(batch, jobs, seen_after, strict=True):
                    extraction = job.result() if job else None
                    units = extraction.units if extraction else []
                    counts["windows" if extraction else "skipped"] += 1
                    counts["fallbacks"] += bool(extraction and extraction.fallback)
                    counts["units"] += len(units)
                    for reply in extraction.replies if extraction else ():
                        counts["llm_calls"] += 1
                        counts["prompt_tokens"] += reply.prompt_tokens
                        counts["completion_tokens"] += reply.completion_tokens
                        llm_s += reply.seconds
                    due = self._commit_window(pairs, units, known)
                    if progress:
                        progress(counts["windows"] + counts["skipped"], len(plan))
        return WriteReport(turns=len(pending), consolidation_due=due, llm_s=llm_s, **counts)

    def _commit_window(
        self, pairs: Sequence[tuple[Turn, int]], units: Sequence[MemoryUnit], seen: set[str]
    ) -> bool:
        """Replace the window's units, mark its turns done, record the entities seen; whether a
        consolidation is due."""
        with self.store.open() as session:
            if units:
                key = window_key([t for t, _ in pairs])
                stale = session.scan_units(_window_filter(key))
                session.delete_units([u.id for u, _ in stale if u.id not in {n.id for n in units}])
                self._write_units(session, units)
            session.mark_done(pairs)
            meta = session.meta()
            meta["entities_seen"] = sorted(seen | set(meta["entities_seen"]))
            meta["units_since_consolidation"] += len(units)
            session.write_meta(meta)
            return bool(meta["units_since_consolidation"] >= self.config.consolidate_after)

    # consolidation
    def consolidate(self, progress: Progress | None = None) -> ConsolidationReport:
        """Group related live units level by level, write abstracts, retire near-duplicates."""
        self._require()
        totals = {"groups": 0, "abstracts": 0, "retired": 0, "skipped": 0}
        with self.store.open() as session:
            started_with = session.meta()["units_since_consolidation"]
        for level in range(self.config.max_level):
            with self.store.open() as session:
                live = session.scan_units(_consolidation_filter(level), with_vectors=True)
            groups = group_units([(u, v) for u, v in live if v is not None], self.config)
            totals["groups"] += len(groups)
            for position, group in enumerate(groups):
                abstract = abstract_unit(self.llm, group.units, self.config)
                retired = duplicates(group, self.config.duplicate_similarity)
                with self.store.open() as session:
                    written = self._commit_group(session, group.units, abstract, retired)
                totals["abstracts"] += written[0]
                totals["retired"] += written[1]
                totals["skipped"] += not written[0] and not written[1]
                if progress:
                    progress(position + 1, len(groups))
            if not groups:
                break
        with self.store.open() as session:
            meta = session.meta()
            meta["units_since_consolidation"] = max(0, meta["units_since_consolidation"] - started_with)
            session.write_meta(meta)
        return ConsolidationReport(**totals)

    def _commit_group(
        self,
        session: StoreSession,
        group: Sequence[MemoryUnit],
        abstract: MemoryUnit | None,
        retired: dict[str, str],
    ) -> tuple[int, int]:
        """Write one group's outcome if none of its units changed since they were read."""
        current = {u.id: u for u, _ in session.get_units([u.id for u in group])}
        for unit in group:
            now = current.get(unit.id)
            if now is None or now.retired or now.parent_id is not None or now.text != unit.text:
                return 0, 0  # a writer changed the group meanwhile; the next run sees the new state
        written = 0
        if abstract is not None and not session.get_units([abstract.id]):
            self._write_units(session, [abstract])
            session.set_fields([u.id for u in group], {"parent_id": abstract.id})
            written = 1
        keepers: dict[str, list[MemoryUnit]] = {}
        for redundant, keeper in retired.items():
            keepers.setdefault(keeper, []).append(current[redundant])
        for keeper_id, redundant_units in keepers.items():
            merged = merge_into(current[keeper_id], redundant_units)
            if abstract is not None and written:
                merged = merged.model_copy(update={"parent_id": abstract.id})
            session.set_fields([keeper_id], _mergeable(merged))
            for unit in redundant_units:
                session.set_fields([unit.id], {"retired": True, "superseded_by": keeper_id})
        return written, len(retired)

    # retrieval
    def recall(
        self, query: str, token_budget: int | None = None, k: int | None = None, with_sources: bool = False
    ) -> Recall:
        """The context for `query`: plan, hybrid search over three views, packing within the budget.

        Raises:
            InvalidInput: an empty query.
            IndexNotFound: the agent has no memory.
        """
        if not query.strip():
            raise InvalidInput("the query is empty")
        self._require()
        started = time.perf_counter()
        plan = plan_for(query, self.config, k)
        vector = self._embed([query], is_query=True)[0]
        base = level_filter(plan)
        wanted = sorted(symbols(candidate_entities(query[:1].lower() + query[1:])))
        n = max(self.config.candidates, plan.k)
        with self.store.open() as session:
            ranked = {"dense": [i for i, _ in session.search(DENSE, vector.tolist(), base, n)]}
            sparse = lexical_query(query)
            if sparse is not None:
                ranked["lexical"] = [i for i, _ in session.search(LEXICAL, sparse, base, n)]
            if wanted:
                matches = session.scan_units(symbolic_filter(base, wanted))[:SYMBOLIC_SCAN]
                overlap = sorted(
                    matches,
                    key=lambda pair: (
                        -len(symbols([*pair[0].entities, *pair[0].persons]) & set(wanted)),
                        pair[0].time or "",
                    ),
                )
                ranked["symbolic"] = [u.id for u, _ in overlap[:n]]
            weights = {view: self.config.weights.get(view, 0.0) for view in ranked}  # unweighted: unused
            top = [i for i, _ in rrf(ranked, weights, self.config.rrf_k)[: plan.k]]
            by_id = {u.id: u for u, _ in session.get_units(top)}
            units = [by_id[i] for i in top if i in by_id]
            budget = token_budget or self.config.token_budget
            shown = self._sources_to_show(session, units)
            context, chosen, tokens = pack_context(
                units, budget, self.llm.count_tokens, shown, self.config.context_order
            )
            sources = (
                session.get_turns(sorted({t for u in chosen for t in u.source_turn_ids}))
                if with_sources
                else []
            )
        return Recall(
            context,
            tokens,
            chosen,
            plan.complexity,
            plan.level,
            plan.k,
            sources,
            time.perf_counter() - started,
        )

    def _sources_to_show(self, session: StoreSession, units: Sequence[MemoryUnit]) -> dict[str, list[Turn]]:
        """Per LLM fact, the first `expand_sources` of its source turns (shown with it when packing)."""
        n = self.config.expand_sources
        wanted = {u.id: u.source_turn_ids[:n] for u in units if n and u.origin != "raw" and u.level == 0}
        if not any(wanted.values()):
            return {}
        turns = {t.id: t for t in session.get_turns(sorted({t for ids in wanted.values() for t in ids}))}
        return {unit: [turns[t] for t in ids if t in turns] for unit, ids in wanted.items()}

    def answer(self, query: str, token_budget: int | None = None) -> Answer:
        """Recall, then ask the LLM to answer from the recalled context only."""
        recall = self.recall(query, token_budget, with_sources=True)
        reply: Completion = self.llm.chat(
            answer_messages(question=query, context=recall.context, system=CONVERSATION_ANSWER_SYSTEM),
            max_tokens=self.config.answer_max_tokens,
            stop=["\n"],
        )
        return Answer(reply.text, recall, reply.prompt_tokens, reply.completion_tokens, reply.seconds)

    # management
    def list_units(self, limit: int, offset: int) -> tuple[list[MemoryUnit], int]:
        """A page of units (retired ones included) and the total count."""
        self._require()
        with self.store.open() as session:
            return session.page_units(limit, offset), session.count_units()

    def get_unit(self, unit_id: str) -> MemoryUnit:
        """Raises: DocumentNotFound: no such unit."""
        self._require()
        with self.store.open() as session:
            found = session.get_units([unit_id])
        if not found:
            raise DocumentNotFound(f"memory unit {unit_id!r} does not exist")
        return found[0][0]

    def update_unit(self, unit_id: str, patch: UnitPatch) -> MemoryUnit:
        """Change a unit's fields (re-indexing it). Raises: DocumentNotFound: no such unit."""
        self._require()
        with self.store.open() as session:
            found = session.get_units([unit_id])
            if not found:
                raise DocumentNotFound(f"memory unit {unit_id!r} does not exist")
            nullable = {"time", "location"}  # the other fields keep their value when sent as null
            changes = {
                k: v
                for k, v in patch.model_dump(exclude_unset=True).items()
                if v is not None or k in nullable
            }
            unit = found[0][0].model_copy(update={**changes, "origin": "edited"})
            unit = MemoryUnit.model_validate(unit.model_dump())
            self._write_units(session, [unit])
        return unit

    def delete_unit(self, unit_id: str) -> None:
        """Raises: DocumentNotFound: no such unit."""
        self._require()
        with self.store.open() as session:
            if not session.get_units([unit_id]):
                raise DocumentNotFound(f"memory unit {unit_id!r} does not exist")
            session.delete_units([unit_id])

    def stats(self) -> dict[str, int]:
        """Turns, units, live units and units added since the last consolidation."""
        self._require()
        with self.store.open() as session:
            live = models.Filter(
                must=[models.FieldCondition(key="retired", match=models.MatchValue(value=False))]
            )
            return {
                "turns": session.count_turns(),
                "units": session.count_units(),
                "live_units": session.count_units(live),
                "units_since_consolidation": int(session.meta()["units_since_consolidation"]),
            }

    def drop(self) -> None:
        """Delete everything of this agent. Raises: IndexNotFound: nothing stored."""
        self._require()
        self.store.drop()


def _window_filter(key: str) -> models.Filter:
    return models.Filter(must=[models.FieldCondition(key="window", match=models.MatchValue(value=key))])


def _consolidation_filter(level: int) -> models.Filter:
    """Live units of `level` that no abstract covers yet."""
    return models.Filter(
        must=[
            models.FieldCondition(key="level", match=models.MatchValue(value=level)),
            models.FieldCondition(key="retired", match=models.MatchValue(value=False)),
            models.IsNullCondition(is_null=models.PayloadField(key="parent_id")),
        ]
    )


def _mergeable(unit: MemoryUnit) -> dict[str, object]:
    fields = unit.model_dump(
        mode="json", include={"source_turn_ids", "entities", "persons", "keywords", "parent_id"}
    )
    fields["symbols"] = sorted(symbols([*unit.entities, *unit.persons]))
    return fields
