"""Collections: create (one or several index kinds), list, get with stats, delete, rebuild."""

from __future__ import annotations

from fastapi import APIRouter, Response

from indexers.errors import InvalidInput
from service.api.deps import CollectionName, Services, ServicesDep, TenantDep
from service.core.ingest import stage
from service.core.queue import new_job_id
from service.jobs import TASK_BUILD, BuildJob, CollectionSpec
from service.schemas.all import (
    ERRORS,
    CollectionCreate,
    CollectionPublic,
    CollectionsPublic,
    JobPublic,
    KindPublic,
)

router = APIRouter(prefix="/v1/collections", tags=["collections"], responses=ERRORS)


def public(services: Services, spec: CollectionSpec) -> CollectionPublic:
    kinds = []
    for config in spec.configs:
        version, size = services.catalog.kind_size(spec, config.kind)
        kinds.append(
            KindPublic(
                kind=config.kind, config=config.model_dump(mode="json"), version=version, size_bytes=size
            )
        )
    return CollectionPublic(
        name=spec.name,
        documents=services.docs.count(spec.tenant, spec.name),
        size_bytes=sum(kind.size_bytes for kind in kinds),
        kinds=kinds,
        created_at=spec.created_at,
    )


@router.post("", status_code=201)
def create(body: CollectionCreate, tenant: TenantDep, services: ServicesDep) -> CollectionPublic:
    """Create an empty collection; each entry of `indexes` adds one index kind."""
    configs = [services.settings.index_config(config) for config in body.indexes]
    return public(services, services.catalog.create(tenant, body.name, configs))


@router.get("")
def list_all(tenant: TenantDep, services: ServicesDep) -> CollectionsPublic:
    """The tenant's collections with their stats."""
    data = [public(services, spec) for spec in services.catalog.list(tenant)]
    return CollectionsPublic(data=data, count=len(data))


@router.get("/{name}")
def get(name: CollectionName, tenant: TenantDep, services: ServicesDep) -> CollectionPublic:
    """One collection: documents, size, kinds with their current versions."""
    return public(services, services.catalog.get(tenant, name))


@router.delete("/{name}", status_code=204)
def delete(name: CollectionName, tenant: TenantDep, services: ServicesDep) -> Response:
    """Delete the collection, its documents and every index version (409 while a job writes it)."""
    services.catalog.delete(tenant, name)
    return Response(status_code=204)


@router.post("/{name}/build", status_code=202)
def build(name: CollectionName, tenant: TenantDep, services: ServicesDep) -> JobPublic:
    """Rebuild every kind from the documents in the store (a new version; searches keep the old one
    until it is committed)."""
    spec = services.catalog.get(tenant, name)
    docs = [doc.to_doc() for doc in services.docs.scan(tenant, spec.name)]
    if not docs:
        raise InvalidInput(f"collection {name!r} has no documents to build from")
    job_id = new_job_id()
    payload = BuildJob(
        job_id=job_id, tenant=tenant, collection=spec.name, staging=stage(services, job_id, docs)
    )
    services.metrics.jobs.labels(TASK_BUILD).inc()
    return services.queue.submit(TASK_BUILD, payload)
