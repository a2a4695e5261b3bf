"""Load benchmark against a running Tessera server: ingest throughput through the API, then
concurrent searches per kind (throughput and p50/p95/p99 latency), or searches and writes at once.

    tessera serve &                      # or docker compose up
    python -m benchmarks.http.load --corpus ../shared/data/scifact/corpus.jsonl \
        --queries ../shared/data/scifact/queries.jsonl --kind exact --kind bm25 --concurrency 8

Creates the collection (unless --reuse), uploads the corpus as JSONL batches, waits for the jobs,
then runs `--requests` searches per kind from `--concurrency` threads. With `--mixed SECONDS`
(after ingesting `--limit` documents) it instead searches every kind in turn from `--concurrency`
threads for that long while one writer adds a batch of further corpus documents and deletes a few
earlier ones every `--write-every` seconds, counting responses by status class and dropped
connections, then waits for the write jobs. Prints one JSON report.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from evals.datasets import read_queries
from indexers.cli_args import parse_args
from service.schemas.jobs import TERMINAL_STATES

__all__ = ["ingest", "main", "mixed_load", "percentile", "search_load", "server_arguments"]


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def server_arguments(doc: str | None, collection: str) -> argparse.ArgumentParser:
    """A parser with the options every benchmark against a running server takes."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--api-key")
    parser.add_argument("--collection", default=collection)
    parser.add_argument("--corpus", type=Path, required=True, help="BEIR corpus.jsonl")
    parser.add_argument("--queries", type=Path, required=True, help="BEIR queries.jsonl")
    return parser


def _wait_jobs(client: httpx.Client, jobs: list[str]) -> dict[str, str]:
    """Each job's terminal state, polled every half second."""
    states: dict[str, str] = {}
    while len(states) < len(jobs):
        for job_id in jobs:
            if job_id not in states:
                job = client.get(f"/v1/jobs/{job_id}").json()
                if job["state"] in TERMINAL_STATES:
                    states[job_id] = job["state"]
        time.sleep(0.5)
    return states


def ingest(client: httpx.Client, name: str, corpus: Path, batch: int, limit: int | None) -> dict[str, Any]:
    """Upload the corpus in JSONL batches and wait for every job; returns counts and docs/s."""
    lines = [line for line in corpus.read_bytes().splitlines(keepends=True) if line.strip()][:limit]
    start = time.perf_counter()
    jobs = []
    for offset in range(0, len(lines), batch):
        response = client.post(
            f"/v1/collections/{name}/documents/jsonl",
            content=b"".join(lines[offset : offset + batch]),
            headers={"Content-Type": "application/x-ndjson"},
        )
        response.raise_for_status()
        jobs.append(response.json()["id"])
    uploaded = time.perf_counter() - start
    states = _wait_jobs(client, jobs)
    total = time.perf_counter() - start
    return {
        "documents": len(lines),
        "jobs": len(jobs),
        "failed_jobs": sum(state != "succeeded" for state in states.values()),
        "upload_s": round(uploaded, 2),
        "indexed_s": round(total, 2),
        "upload_docs_per_s": round(len(lines) / uploaded, 1),
        "indexed_docs_per_s": round(len(lines) / total, 1),
    }


def search_load(
    client: httpx.Client, name: str, kind: str, queries: list[str], requests: int, concurrency: int, k: int
) -> dict[str, Any]:
    """`requests` searches of one kind from `concurrency` threads."""

    def one(i: int) -> tuple[float, int]:
        start = time.perf_counter()
        status = client.post(
            f"/v1/collections/{name}/search", json=_search_body(kind, queries[i % len(queries)], k)
        ).status_code
        return time.perf_counter() - start, status

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, range(requests)))
    elapsed = time.perf_counter() - start
    latencies = [seconds * 1000 for seconds, status in results if status == 200]
    return {
        "kind": kind,
        "requests": requests,
        "errors": sum(status != 200 for _, status in results),
        "concurrency": concurrency,
        "throughput_qps": round(len(latencies) / elapsed, 2),
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "mean_ms": round(statistics.fmean(latencies), 1) if latencies else None,
    }


def _search_body(kind: str, query: str, k: int) -> dict[str, Any]:
    return {"query": query, "k": k, **({"hybrid": {}} if kind == "hybrid" else {"kind": kind})}


def mixed_load(
    client: httpx.Client,
    name: str,
    kinds: list[str],
    queries: list[str],
    spare: list[bytes],
    *,
    seconds: float,
    concurrency: int,
    k: int,
    batch: int,
    write_every: float,
) -> dict[str, Any]:
    """Searches of every kind in turn from `concurrency` threads for `seconds`, while one writer adds
    `batch` lines of `spare` and deletes two of its earlier documents every `write_every` seconds.
    Returns per-kind latencies, responses by status class, dropped connections and the write jobs."""
    deadline = time.monotonic() + seconds
    statuses: dict[str, int] = {}
    dropped = {"search": 0, "write": 0}
    latencies: dict[str, list[float]] = {kind: [] for kind in kinds}
    jobs: list[str] = []
    lock = threading.Lock()

    def count(status: int) -> None:
        with lock:
            statuses[f"{status // 100}xx"] = statuses.get(f"{status // 100}xx", 0) + 1

    def post(side: str, path: str, **request: Any) -> httpx.Response | None:
        """POST to the collection's `path`; None (counted as dropped on `side`) if the connection fails."""
        try:
            return client.post(f"/v1/collections/{name}/{path}", **request)
        except httpx.TransportError:
            with lock:
                dropped[side] += 1
            return None

    def searcher(worker: int) -> None:
        n = 0
        while time.monotonic() < deadline:
            kind, query = kinds[(worker + n) % len(kinds)], queries[(worker + n * concurrency) % len(queries)]
            n += 1
            start = time.perf_counter()
            response = post("search", "search", json=_search_body(kind, query, k))
            if response is None:
                continue
            count(response.status_code)
            if response.status_code == 200:
                with lock:
                    latencies[kind].append((time.perf_counter() - start) * 1000)

    def writer() -> None:
        added: list[str] = []
        for offset in range(0, len(spare), batch):
            if time.monotonic() >= deadline:
                return
            lines = spare[offset : offset + batch]
            requests = [
                ("jsonl", b"".join(lines)),
                ("delete", json.dumps({"ids": added[:2]}).encode()) if added else None,
            ]
            for route, body in filter(None, requests):
                path = "documents/jsonl" if route == "jsonl" else "documents/delete"
                content_type = "application/x-ndjson" if route == "jsonl" else "application/json"
                response = post("write", path, content=body, headers={"Content-Type": content_type})
                if response is None:
                    continue
                count(response.status_code)
                if response.status_code == 202:
                    jobs.append(response.json()["id"])
            del added[:2]
            added.extend(json.loads(line)["_id"] for line in lines)
            time.sleep(max(0.0, min(write_every, deadline - time.monotonic())))

    start = time.perf_counter()
    threads = [threading.Thread(target=searcher, args=(w,)) for w in range(concurrency)]
    threads.append(threading.Thread(target=writer))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    states = _wait_jobs(client, jobs)
    return {
        "seconds": round(elapsed, 1),
        "concurrency": concurrency,
        "responses": dict(sorted(statuses.items())),
        "dropped_connections": dropped,
        "write_jobs": len(jobs),
        "write_jobs_failed": sum(state != "succeeded" for state in states.values()),
        "search": [
            {
                "kind": kind,
                "requests": len(values),
                "throughput_qps": round(len(values) / elapsed, 2),
                "p50_ms": round(percentile(values, 50), 1),
                "p99_ms": round(percentile(values, 99), 1),
            }
            for kind, values in latencies.items()
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = server_arguments(__doc__, collection="bench")
    parser.add_argument(
        "--kind", action="append", required=True, help="index kind (repeat); 'hybrid' fuses them"
    )
    parser.add_argument("--config", default="{}", help="JSON config fields for every kind (e.g. an encoder)")
    parser.add_argument("--limit", type=int, help="index only the first N documents")
    parser.add_argument("--batch", type=int, default=500, help="documents per upload")
    parser.add_argument("--requests", type=int, default=200, help="searches per kind")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--reuse", action="store_true", help="search an existing collection, skip ingest")
    parser.add_argument("--mixed", type=float, help="search and write at once for this many seconds")
    parser.add_argument("--write-batch", type=int, default=20, help="documents per write in --mixed")
    parser.add_argument("--write-every", type=float, default=2.0, help="seconds between writes in --mixed")
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args

    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    kinds = [kind for kind in args.kind if kind != "hybrid"]
    report: dict[str, Any] = {"url": args.url, "collection": args.collection}
    limits = httpx.Limits(max_connections=args.concurrency * 2)
    with httpx.Client(base_url=args.url, headers=headers, timeout=600, limits=limits) as client:
        if not args.reuse:
            configs = [{"kind": kind, **json.loads(args.config)} for kind in kinds]
            created = client.post("/v1/collections", json={"name": args.collection, "indexes": configs})
            created.raise_for_status()
            report["ingest"] = ingest(client, args.collection, args.corpus, args.batch, args.limit)
        queries = list(read_queries(args.queries).values())
        for kind in args.kind:  # warm up: load every kind's index before timing
            client.post(
                f"/v1/collections/{args.collection}/search", json=_search_body(kind, queries[0], args.k)
            )
        if args.mixed:
            lines = [line for line in args.corpus.read_bytes().splitlines(keepends=True) if line.strip()]
            report["mixed"] = mixed_load(
                client,
                args.collection,
                args.kind,
                queries,
                lines[args.limit :] if args.limit else [],
                seconds=args.mixed,
                concurrency=args.concurrency,
                k=args.k,
                batch=args.write_batch,
                write_every=args.write_every,
            )
        else:
            report["search"] = [
                search_load(client, args.collection, kind, queries, args.requests, args.concurrency, args.k)
                for kind in args.kind
            ]
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
