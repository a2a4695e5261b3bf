"""Search: one query or a batch, one kind or several fused, with filters and explanations."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import CollectionName, ServicesDep, TenantDep
from service.core.errors import PayloadTooLarge
from service.core.search import Plan
from service.core.services import Services
from service.jobs import CollectionSpec
from service.schemas.common import ERRORS
from service.schemas.search import (
    BatchSearchRequest,
    BatchSearchResponse,
    ExplainRequest,
    ExplainResponse,
    SearchOptions,
    SearchRequest,
    SearchResponse,
)

__all__ = ["explain", "router", "search", "search_batch"]

router = APIRouter(prefix="/v1/collections/{name}", tags=["search"], responses=ERRORS)


def _plan(services: Services, spec: CollectionSpec, body: SearchOptions) -> Plan:
    """The search plan for a request's options (k, kind or hybrid, filter, explain, text)."""
    return services.searcher.plan(
        spec,
        k=body.k,
        kind=body.kind,
        hybrid=body.hybrid,
        flt=body.filter,
        explain=body.explain,
        with_text=body.with_text,
    )


@router.post("/search")
def search(
    name: CollectionName, body: SearchRequest, tenant: TenantDep, services: ServicesDep
) -> SearchResponse:
    """The k best documents for one query."""
    spec = services.catalog.get(tenant, name)
    plan = _plan(services, spec, body)
    return SearchResponse(kinds=plan.kinds, hits=services.searcher.search(spec, [body.query], plan)[0])


@router.post("/search/batch")
def search_batch(
    name: CollectionName, body: BatchSearchRequest, tenant: TenantDep, services: ServicesDep
) -> BatchSearchResponse:
    """The k best documents for each of several queries (one encoder pass for the batch)."""
    if len(body.queries) > services.settings.max_batch_queries:
        raise PayloadTooLarge(
            f"{len(body.queries)} queries in one batch; the limit is {services.settings.max_batch_queries}"
        )
    spec = services.catalog.get(tenant, name)
    plan = _plan(services, spec, body)
    return BatchSearchResponse(kinds=plan.kinds, results=services.searcher.search(spec, body.queries, plan))


@router.post("/explain")
def explain(
    name: CollectionName, body: ExplainRequest, tenant: TenantDep, services: ServicesDep
) -> ExplainResponse:
    """Why one document matched a query under a late-interaction kind: each query token's best
    document token, and each document token's best similarity with character offsets (a heat map)."""
    spec = services.catalog.get(tenant, name)
    return services.searcher.explain(spec, body.query, body.id, body.kind)
