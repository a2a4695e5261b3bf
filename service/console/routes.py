"""The web console: server-rendered pages (Jinja2) whose panels load as htmx fragments.

Pages carry no data and need no key. Fragments call the `/v1` API in process with the browser's
key (see `ApiClient`), so a tenant sees only its own data, and every API error becomes a sentence
in the page instead of JSON or a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from indexers.configs import parse_config
from indexers.errors import InvalidConfig
from indexers.registry import KINDS
from service.console.api import ApiClient, ApiReply, plain_words
from service.console.heatmap import heat_segments
from service.console.reports import format_value, report_view
from service.schemas.jobs import TERMINAL_STATES

__all__ = [
    "collections",
    "create_collection",
    "explain",
    "home",
    "install_console",
    "job",
    "jobs",
    "memory_query",
    "memory_units",
    "page",
    "reports",
    "router",
    "search",
    "search_fields",
    "upload",
]

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["num"] = format_value
router = APIRouter(prefix="/console", include_in_schema=False)
PAGES = {"search": "Search", "collections": "Collections & jobs", "memory": "Memory", "reports": "Reports"}


def install_console(app: FastAPI) -> None:
    """Mount the console on `app`: pages and fragments under /console, static files, and / -> /console."""
    app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.add_api_route("/", home, include_in_schema=False)


def _render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def _error(request: Request, message: str) -> HTMLResponse:
    return _render(request, "fragments/error.html", message=message)


# --- pages -----------------------------------------------------------------------------------


@router.get("")
def home() -> RedirectResponse:
    """The console opens on the search page."""
    return RedirectResponse("/console/search")


def _segment(name: str) -> str:
    """A user-typed name as one URL path segment (no '/', '?' or '..' tricks)."""
    return quote(name.strip(), safe="")


@router.get("/{page}")
def page(request: Request, page: str, collection: str | None = None) -> Response:
    """One of the console's pages (its panels load as fragments)."""
    if page not in PAGES:
        return _render(request, "missing.html", status_code=404, pages=PAGES, page="")
    return _render(request, f"{page}.html", pages=PAGES, page=page, collection=collection or "")


# --- search ----------------------------------------------------------------------------------


@router.get("/fragments/search-fields")
async def search_fields(request: Request, collection: str = "") -> HTMLResponse:
    """The collection picker and the chosen collection's kinds."""
    reply = await ApiClient(request).call("GET", "/v1/collections")
    if not reply.ok:
        return _error(request, plain_words(reply, "Cannot list collections"))
    collections = reply.body["data"]
    names = [c["name"] for c in collections]
    if not collections:
        return _error(request, "No collections for this key yet. Create one on the Collections page.")
    message = ""
    if collection and collection not in names:
        message = f"Collection {collection!r} does not exist for this key. Pick one of: {', '.join(names)}."
        collection = ""
    chosen = next(c for c in collections if c["name"] == (collection or names[0]))
    return _render(
        request, "fragments/search_fields.html", collections=collections, chosen=chosen, message=message
    )


@router.post("/fragments/search")
async def search(
    request: Request,
    collection: Annotated[str, Form()] = "",
    query: Annotated[str, Form()] = "",
    k: Annotated[int, Form(ge=1, le=100)] = 10,
    kinds: Annotated[list[str] | None, Form()] = None,
    hybrid: Annotated[bool, Form()] = False,
) -> HTMLResponse:
    """Run the query once per chosen kind (and fused, if asked), results side by side."""
    if not query.strip():
        return _error(request, "Type a query first: the search needs at least one word.")
    if not collection:
        return _error(request, "Pick a collection first (create one on the Collections page).")
    chosen = list(kinds or [])
    if not chosen and not hybrid:
        return _error(request, "Tick at least one index kind, or hybrid.")
    api = ApiClient(request)
    columns = []
    for kind in [*chosen, *(["hybrid"] if hybrid else [])]:
        target: dict[str, Any] = {"hybrid": {}} if kind == "hybrid" else {"kind": kind}
        body = {"query": query, "k": k, "explain": True, "with_text": True, **target}
        reply = await api.call("POST", f"/v1/collections/{_segment(collection)}/search", json=body)
        columns.append(_column(kind, reply))
    return _render(request, "fragments/results.html", columns=columns, collection=collection, query=query)


def _column(kind: str, reply: ApiReply) -> dict[str, Any]:
    if not reply.ok:
        return {"kind": kind, "ms": reply.ms, "error": plain_words(reply, f"Search with {kind} failed")}
    hits = reply.body["hits"]
    for hit in hits:
        hit["top_matches"] = sorted(hit.get("matches") or [], key=lambda m: -m["score"])[:4]
    explain_kind = kind if kind != "hybrid" else ""
    return {
        "kind": kind,
        "ms": reply.ms,
        "hits": hits,
        "fused": reply.body["kinds"],
        "explain_kind": explain_kind,
    }


@router.post("/fragments/explain")
async def explain(
    request: Request,
    collection: Annotated[str, Form()],
    query: Annotated[str, Form()],
    id: Annotated[str, Form()],
    kind: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """The heat map of one hit: every document token coloured by its best query-token similarity."""
    body = {"query": query, "id": id, **({"kind": kind} if kind else {})}
    reply = await ApiClient(request).call(
        "POST", f"/v1/collections/{_segment(collection)}/explain", json=body
    )
    if not reply.ok:
        return _error(request, plain_words(reply, f"Cannot explain {id!r}"))
    return _render(
        request, "fragments/explain.html", explanation=reply.body, segments=heat_segments(reply.body)
    )


# --- collections and jobs --------------------------------------------------------------------


@router.get("/fragments/collections")
async def collections(request: Request, message: str = "") -> HTMLResponse:
    """The tenant's collections with their stats, and the forms that act on them."""
    reply = await ApiClient(request).call("GET", "/v1/collections")
    if not reply.ok:
        return _error(request, plain_words(reply, "Cannot list collections"))
    return _render(
        request,
        "fragments/collections.html",
        collections=reply.body["data"],
        kinds=list(KINDS),
        message=message,
    )


def _index_config(kind: str, model: str) -> dict[str, Any]:
    """A kind's default config, with `model` as its encoder when the kind has one."""
    config = parse_config({"kind": kind}).model_dump(mode="json")
    if "encoder" in config and model:
        config["encoder"] = {**config["encoder"], "model": model}
    return config


@router.post("/fragments/collections")
async def create_collection(
    request: Request,
    name: Annotated[str, Form()] = "",
    kinds: Annotated[list[str] | None, Form()] = None,
    model: Annotated[str, Form()] = "minilm",
) -> HTMLResponse:
    """Create a collection from the form, then show the list again."""
    if not name.strip() or not kinds:
        return await collections(request, "Give the collection a name and tick at least one index kind.")
    try:
        indexes = [_index_config(kind, model.strip()) for kind in kinds]
    except InvalidConfig as exc:
        return await collections(request, f"Cannot create {name!r}: {exc}.")
    api = ApiClient(request)
    reply = await api.call("POST", "/v1/collections", json={"name": name.strip(), "indexes": indexes})
    if not reply.ok:
        return await collections(request, plain_words(reply, f"Cannot create {name!r}"))
    return await collections(request)


@router.post("/fragments/upload")
async def upload(
    request: Request,
    collection: Annotated[str, Form()] = "",
    file: Annotated[UploadFile | None, File()] = None,
    mode: Annotated[str, Form()] = "upsert",
) -> HTMLResponse:
    """Start an ingest job from an uploaded JSONL file; the answer polls the job until it ends."""
    if not collection:
        return _error(request, "Pick the collection to upload into.")
    content = await file.read() if file is not None else b""
    if not content.strip():
        return _error(request, "Choose a non-empty JSONL file: one JSON document per line.")
    reply = await ApiClient(request).call(
        "POST",
        f"/v1/collections/{_segment(collection)}/documents/jsonl",
        params={"mode": mode},
        content=content,
        headers={"content-type": "application/x-ndjson"},
    )
    if not reply.ok:
        return _error(request, plain_words(reply, f"Upload into {collection!r} refused"))
    return _job(request, reply.body)


def _job(request: Request, job: dict[str, Any]) -> HTMLResponse:
    """The job panel; once the job has ended it stops polling and tells the page (`job-finished`)
    so that the collection and job lists refresh."""
    done = job["state"] in TERMINAL_STATES
    response = _render(request, "fragments/job.html", job=job, done=done)
    if done:
        response.headers["HX-Trigger"] = "job-finished"
    return response


@router.get("/fragments/jobs/{job_id}")
async def job(request: Request, job_id: str) -> HTMLResponse:
    """One job's state and progress (the fragment polls itself until the job ends)."""
    reply = await ApiClient(request).call("GET", f"/v1/jobs/{_segment(job_id)}")
    if not reply.ok:
        return _error(request, plain_words(reply, "Cannot read the job"))
    return _job(request, reply.body)


@router.get("/fragments/jobs")
async def jobs(request: Request) -> HTMLResponse:
    """The tenant's recent jobs."""
    reply = await ApiClient(request).call("GET", "/v1/jobs", params={"limit": 20})
    if not reply.ok:
        return _error(request, plain_words(reply, "Cannot list jobs"))
    return _render(request, "fragments/jobs.html", jobs=reply.body["data"])


# --- memory ----------------------------------------------------------------------------------

NO_MEMORY_API = (
    "This server has no agent memory API yet: {path} answered 404 Not Found. The memory view "
    "lights up once the server has the /v1/memory routes; there is nothing to fix on your side."
)


def _memory_error(reply: ApiReply, path: str, what: str) -> str:
    if reply.status == 404 and reply.detail == "Not Found":
        return NO_MEMORY_API.format(path=path)
    return plain_words(reply, what)


@router.get("/fragments/memory/units")
async def memory_units(
    request: Request, agent: str = "", offset: Annotated[int, Query(ge=0)] = 0
) -> HTMLResponse:
    """An agent's memory units, 50 at a time."""
    if not agent.strip():
        return _error(request, "Type an agent id first.")
    path = f"/v1/memory/{_segment(agent)}/units"
    reply = await ApiClient(request).call("GET", path, params={"limit": 50, "offset": offset})
    if not reply.ok:
        return _error(request, _memory_error(reply, path, f"Cannot list the memory of {agent!r}"))
    return _render(
        request,
        "fragments/memory_units.html",
        agent=agent.strip(),
        units=reply.body["data"],
        count=reply.body["count"],
        offset=offset,
    )


@router.post("/fragments/memory/query")
async def memory_query(
    request: Request,
    agent: Annotated[str, Form()] = "",
    query: Annotated[str, Form()] = "",
    token_budget: Annotated[int, Form(ge=1, le=1_000_000)] = 1024,
) -> HTMLResponse:
    """The context the memory would send to the LLM for a query, and its token cost."""
    if not agent.strip() or not query.strip():
        return _error(request, "Type an agent id and a query first.")
    path = f"/v1/memory/{_segment(agent)}/query"
    body = {"query": query, "token_budget": token_budget}
    reply = await ApiClient(request).call("POST", path, json=body)
    if not reply.ok:
        return _error(request, _memory_error(reply, path, f"Cannot query the memory of {agent!r}"))
    return _render(request, "fragments/memory_context.html", answer=reply.body, budget=token_budget)


# --- reports ---------------------------------------------------------------------------------


@router.get("/fragments/reports")
async def reports(request: Request) -> HTMLResponse:
    """Every result file as tables and plots."""
    api = ApiClient(request)
    listing = await api.call("GET", "/v1/reports")
    if not listing.ok:
        return _error(request, plain_words(listing, "Cannot list the reports"))
    views, problems = [], []
    for entry in listing.body["data"]:
        reply = await api.call("GET", f"/v1/reports/{_segment(entry['name'])}")
        if reply.ok:
            view = report_view(entry["name"], reply.body)
            for table in view.tables:
                table.plots = [Markup(svg) for svg in table.plots]  # generated and escaped by plots.py
            views.append(view)
        else:
            problems.append(plain_words(reply, f"Cannot read {entry['name']}"))
    return _render(request, "fragments/reports.html", views=views, problems=problems)
