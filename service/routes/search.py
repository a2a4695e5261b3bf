"""Search: one query or a batch, one kind or several fused, with filters and explanations."""

from __future__ import annotations

from fastapi import APIRouter

from service.deps import CollectionName, ServicesDep, TenantDep
from service.errors import PayloadTooLarge
from service.schemas import ERRORS, BatchSearchRequest, BatchSearchResponse, SearchRequest, SearchResponse

router = APIRouter(prefix="/v1/collections/{name}", tags=["search"], responses=ERRORS)


@router.post("/search")
def search(
    name: CollectionName, body: SearchRequest, tenant: TenantDep, services: ServicesDep
) -> SearchResponse:
    """The k best documents for one query."""
    spec = services.catalog.get(tenant, name)
    plan = services.searcher.plan(
        spec,
        k=body.k,
        kind=body.kind,
        hybrid=body.hybrid,
        flt=body.filter,
        explain=body.explain,
        with_text=body.with_text,
    )
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
    plan = services.searcher.plan(
        spec,
        k=body.k,
        kind=body.kind,
        hybrid=body.hybrid,
        flt=body.filter,
        explain=body.explain,
        with_text=body.with_text,
    )
    return BatchSearchResponse(kinds=plan.kinds, results=services.searcher.search(spec, body.queries, plan))
