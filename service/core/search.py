"""Search over a collection: one kind or several fused with reciprocal rank fusion, then joined
with the document store, which applies metadata filters and drops deleted documents.

Filtering strategy (over-fetch, then filter in Qdrant): each kind's index ranks candidates
(`Index.search`); the candidates' ids go to Qdrant with the filter (`HasIdCondition` AND filter),
which keeps those that still exist and match. If fewer than k survive and the index had more to
give, the depth doubles and the round repeats. This works for every kind, keeps filters in one
language (Qdrant's), and makes deletions visible at once: a document deleted from the store stops
appearing even before the delete job rewrites the index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qdrant_client import models

from indexers.base import Explainable, ExplainsTerms, Highlightable, Index, SharesNames, validate_queries
from indexers.errors import DocumentNotFound, InvalidInput
from indexers.scoring.fusion import normalised_sum, rrf
from service.core.catalog import Catalog
from service.core.docstore import DocumentStore, StoredDoc
from service.core.filters import to_qdrant
from service.core.store import IndexStore
from service.jobs import CollectionSpec
from service.schemas.filters import Filter
from service.schemas.search import (
    ExplainResponse,
    HitPublic,
    Hybrid,
    SharedNamePublic,
    TermWeightPublic,
    TokenHeatPublic,
    TokenMatchPublic,
)
from service.settings import FusionMethod, Settings

__all__ = ["Plan", "Searcher"]

Ranked = list[tuple[str, float]]


@dataclass(frozen=True)
class Plan:
    """What to search: the kinds (one, or several fused, each with its weight, by `fusion`: `rrf`,
    or a sum of `minmax` or `zscore` normalised scores), k and the filter."""

    kinds: list[str]
    weights: dict[str, float]
    rrf_k: int
    k: int
    flt: models.Filter | None
    explain: bool
    with_text: bool
    fusion: FusionMethod = "rrf"


class Searcher:
    """Runs searches for the API (thread-safe; indexes are loaded through the IndexStore)."""

    def __init__(
        self, settings: Settings, catalog: Catalog, indexes: IndexStore, docs: DocumentStore
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.indexes = indexes
        self.docs = docs

    def plan(
        self,
        spec: CollectionSpec,
        *,
        k: int | None,
        kind: str | None,
        hybrid: Hybrid | None,
        flt: Filter | None,
        explain: bool,
        with_text: bool,
    ) -> Plan:
        """Resolve defaults and check kinds against the collection.

        Raises:
            InvalidConfig: a kind is not one of the collection's.
            InvalidInput: k exceeds the limit.
        """
        k = self.settings.default_k if k is None else k
        if k > self.settings.max_k:
            raise InvalidInput(f"k={k} exceeds the limit of {self.settings.max_k}")
        if hybrid is not None:
            kinds = list(hybrid.kinds or spec.kinds)
            given = hybrid.weights or {}
            if unused := sorted(set(given) - set(kinds)):
                raise InvalidInput(f"weight given for {unused[0]!r}, which is not among the fused kinds")
            weights = {kind: given.get(kind, 1.0) for kind in kinds} if given else self.default_weights(kinds)
            rrf_k = hybrid.rrf_k or self.settings.rrf_k
            fusion: FusionMethod = "rrf" if hybrid.rrf_k is not None else self.settings.fusion
        else:
            kinds = [kind or spec.kinds[0]]
            weights, rrf_k, fusion = {}, self.settings.rrf_k, "rrf"
        self.catalog.require_kinds(spec, [*kinds, *weights])
        return Plan(kinds, weights, rrf_k, k, to_qdrant(flt) if flt else None, explain, with_text, fusion)

    def default_weights(self, kinds: Sequence[str]) -> dict[str, float]:
        """The fusion weights of `kinds` when a hybrid request gives none: `fusion_weights` from the
        settings, 1.0 for a kind it does not list; 1.0 each if that would weigh every kind 0."""
        weights = {kind: self.settings.fusion_weights.get(kind, 1.0) for kind in kinds}
        return weights if any(weights.values()) else dict.fromkeys(kinds, 1.0)

    def search(self, spec: CollectionSpec, queries: Sequence[str], plan: Plan) -> list[list[HitPublic]]:
        """Up to `plan.k` hits per query, best first."""
        validate_queries(queries, plan.k)
        indexes = self.indexes.get_all(spec.tenant, spec.name, plan.kinds)
        live = {kind: index for kind, index in indexes.items() if index is not None and index.num_docs}
        if not live:
            return [[] for _ in queries]
        depth = plan.k * (self.settings.overfetch if plan.flt is not None else 1)
        if len(plan.kinds) > 1:
            depth = max(depth, self.settings.fusion_depth)
        results: list[list[HitPublic] | None] = [None] * len(queries)
        pending = list(range(len(queries)))
        while pending:
            ranked = self._rank(live, [queries[i] for i in pending], depth, plan)
            still: list[int] = []
            for position, (candidates, exhausted) in zip(pending, ranked, strict=True):
                stored = self.docs.select(
                    spec.tenant, spec.name, [doc_id for doc_id, _ in candidates], plan.flt
                )
                kept = [(doc_id, score) for doc_id, score in candidates if doc_id in stored][: plan.k]
                if len(kept) < plan.k and not exhausted:
                    still.append(position)
                else:
                    results[position] = self._hits(queries[position], kept, stored, live, plan)
            pending, depth = still, depth * 2
        return [hits or [] for hits in results]

    def _rank(
        self, live: dict[str, Index], queries: list[str], depth: int, plan: Plan
    ) -> list[tuple[Ranked, bool]]:
        """Per query: candidates, and whether every index gave all it had (no point going deeper)."""
        per_kind: dict[str, list[Ranked]] = {}
        exhausted = [True] * len(queries)
        for kind, index in live.items():
            rows = [[(hit.doc_id, hit.score) for hit in row] for row in index.search(queries, k=depth)]
            per_kind[kind] = rows
            for i, row in enumerate(rows):
                if depth < index.num_docs and len(row) >= depth:
                    exhausted[i] = False
        if len(plan.kinds) == 1:
            return list(zip(next(iter(per_kind.values())), exhausted, strict=True))
        if plan.fusion != "rrf":
            return [
                (
                    normalised_sum(
                        {kind: rows[i] for kind, rows in per_kind.items()}, plan.weights, plan.fusion
                    ),
                    done,
                )
                for i, done in enumerate(exhausted)
            ]
        ids = {kind: [[doc_id for doc_id, _ in row] for row in rows] for kind, rows in per_kind.items()}
        return [
            (rrf({kind: rows[i] for kind, rows in ids.items()}, plan.weights, plan.rrf_k), exhausted[i])
            for i in range(len(queries))
        ]

    def _hits(
        self,
        query: str,
        kept: Ranked,
        stored: dict[str, StoredDoc],
        live: dict[str, Index],
        plan: Plan,
    ) -> list[HitPublic]:
        explainer = next((index for index in live.values() if isinstance(index, Explainable)), None)
        term_explainer = next((index for index in live.values() if isinstance(index, ExplainsTerms)), None)
        namer = next((index for index in live.values() if isinstance(index, SharesNames)), None)
        hits = []
        for doc_id, score in kept:
            doc = stored[doc_id]
            matches = terms = None
            if plan.explain and explainer is not None:
                try:
                    matches = [
                        TokenMatchPublic(query_token=m.query_token, doc_token=m.doc_token, score=m.score)
                        for m in explainer.explain(query, doc_id)
                    ]
                except DocumentNotFound:
                    matches = None
            if plan.explain and term_explainer is not None:
                try:
                    terms = [
                        TermWeightPublic(term=t.term, score=t.score)
                        for t in term_explainer.explain_terms(query, doc_id)
                    ]
                except DocumentNotFound:
                    terms = None
            shared = None
            if namer is not None:
                try:
                    names = namer.shared_names(doc_id)
                except DocumentNotFound:
                    names = []
                shared = [SharedNamePublic(name=s.name, shared_with=s.shared_with) for s in names] or None
            hits.append(
                HitPublic(
                    id=doc_id,
                    score=score,
                    metadata=doc.metadata,
                    text=doc.text if plan.with_text else None,
                    title=doc.title if plan.with_text else None,
                    matches=matches,
                    terms=terms,
                    shared_names=shared,
                )
            )
        return hits

    def explain(self, spec: CollectionSpec, query: str, doc_id: str, kind: str | None) -> ExplainResponse:
        """Why `doc_id` scores for `query` under a late-interaction kind: the best document token of
        every query token, and a similarity for every document token (a heat map over its text).

        Raises:
            InvalidConfig: the kind is not one of the collection's.
            InvalidInput: the kind cannot explain token matches (the request asked the wrong kind).
            DocumentNotFound: the document is not stored or not indexed yet.
        """
        if kind is None:
            loaded = self.indexes.get_all(spec.tenant, spec.name, spec.kinds)
            kind = next((k for k, i in loaded.items() if isinstance(i, Highlightable)), spec.kinds[0])
        self.catalog.require_kinds(spec, [kind])
        index = self.indexes.get(spec.tenant, spec.name, kind)
        if not isinstance(index, Explainable) or not isinstance(index, Highlightable):
            if index is None:
                raise DocumentNotFound(f"kind {kind!r} of {spec.name!r} has no documents indexed yet")
            raise InvalidInput(
                f"kind {kind!r} cannot explain scores token by token; late-interaction kinds can"
            )
        stored = self.docs.get(spec.tenant, spec.name, [doc_id]).get(doc_id)
        if stored is None:
            raise DocumentNotFound(f"document {doc_id!r} does not exist in {spec.name!r}")
        text = stored.to_doc().full_text
        matches = [
            TokenMatchPublic(query_token=m.query_token, doc_token=m.doc_token, score=m.score)
            for m in index.explain(query, doc_id)
        ]
        tokens = [
            TokenHeatPublic(
                start=t.start, end=t.end, score=t.score, query_token=t.query_token, matched=t.matched
            )
            for t in index.highlight(query, text)
        ]
        return ExplainResponse(
            kind=kind,
            id=doc_id,
            text=text,
            score=sum(m.score for m in matches),
            matches=matches,
            tokens=tokens,
        )
