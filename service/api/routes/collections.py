"""Collections: create (one or several index kinds), list, get with stats, delete, rebuild."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service.api.deps import CollectionName, ServicesDep, TenantDep
from service.core.documents import rebuild
from service.core.services import Services
from service.jobs import CollectionSpec
from service.schemas.collections import CollectionCreate, CollectionPublic, CollectionsPublic, KindPublic
from service.schemas.common import ERRORS
from service.schemas.jobs import JobPublic

__all__ = ["build", "create", "delete", "get", "list_all", "public", "router"]

router = APIRouter(prefix="/v1/collections", tags=["collections"], responses=ERRORS)


def public(services: Services, spec: CollectionSpec) -> CollectionPublic:
    """The collection as the API shows it, with its document count and each kind's version and size."""
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
    return rebuild(services, tenant, name)
