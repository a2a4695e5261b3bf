"""What the console and its explanations cost, against a running Tessera server: sequential
latency (p50/p95) and response size of the same search through the JSON API and through the
console's fragment, with and without token explanations, and of one hit's heat map.

    tessera serve &
    python -m benchmarks.http.console --corpus ../shared/data/scifact/corpus.jsonl \
        --queries ../shared/data/scifact/queries.jsonl --kind exact --kind colbert_pooled --limit 500

Creates the collection (unless --reuse), ingests the corpus through the API, warms every kind up,
then times `--requests` queries per row, one at a time. Writes JSON and Markdown with --out.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from benchmarks.http.load import ingest, percentile, server_arguments
from evals.datasets import read_queries
from evals.report import markdown_table, write_report
from indexers.cli_args import parse_args


def timed(requests: int, call: Callable[[int], httpx.Response]) -> dict[str, Any]:
    """Latency percentiles and mean response size of `requests` sequential calls."""
    latencies, sizes, errors = [], [], 0
    for i in range(requests):
        start = time.perf_counter()
        response = call(i)
        latencies.append((time.perf_counter() - start) * 1000)
        sizes.append(len(response.content))
        errors += response.status_code != 200
    return {
        "requests": requests,
        "errors": errors,
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "response_kb": round(sum(sizes) / len(sizes) / 1024, 1),
    }


def rows_for_kind(
    client: httpx.Client, name: str, kind: str, queries: list[str], n: int, k: int
) -> list[dict[str, Any]]:
    """Timed rows of one kind: API search (plain, explained), console search, heat map (API, console)."""
    search = f"/v1/collections/{name}/search"

    def api(explain: bool) -> Callable[[int], httpx.Response]:
        body = {"kind": kind, "k": k, "explain": explain, "with_text": True}
        return lambda i: client.post(search, json={"query": queries[i % len(queries)], **body})

    def console(i: int) -> httpx.Response:
        form = {"collection": name, "query": queries[i % len(queries)], "kinds": kind, "k": str(k)}
        return client.post("/console/fragments/search", data=form)

    tops = [
        client.post(search, json={"query": q, "kind": kind, "k": 1}).json()["hits"][0]["id"] for q in queries
    ]

    def explain_api(i: int) -> httpx.Response:
        body = {"query": queries[i % len(queries)], "id": tops[i % len(queries)], "kind": kind}
        return client.post(f"/v1/collections/{name}/explain", json=body)

    def explain_console(i: int) -> httpx.Response:
        form = {
            "collection": name,
            "query": queries[i % len(queries)],
            "id": tops[i % len(queries)],
            "kind": kind,
        }
        return client.post("/console/fragments/explain", data=form)

    plan = [
        ("API search", api(False)),
        ("API search, explain=true", api(True)),
        ("console search (explain=true)", console),
        ("API explain (heat map of the top hit)", explain_api),
        ("console explain (heat map of the top hit)", explain_console),
    ]
    return [{"kind": kind, "route": label, **timed(n, call)} for label, call in plan]


_COLUMNS = ("kind", "route", "requests", "errors", "p50_ms", "p95_ms", "response_kb")


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Console cost: {report['collection']} ({report['documents']} documents, k={report['k']})",
        "",
        f"Command: `{report['command']}`. Sequential requests over HTTP to `tessera serve` on the same "
        "2-core machine, shared with other jobs: latencies include contention.",
        "",
        markdown_table(
            ["kind", "route", "requests", "errors", "p50 ms", "p95 ms", "response KB"],
            [
                [
                    r["kind"],
                    r["route"],
                    r["requests"],
                    r["errors"],
                    r["p50_ms"],
                    r["p95_ms"],
                    r["response_kb"],
                ]
                for r in report["rows"]
            ],
            text_columns=2,
        ),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = server_arguments(__doc__, collection="console-bench")
    parser.add_argument("--kind", action="append", required=True, help="late-interaction kind (repeat)")
    parser.add_argument("--config", default="{}", help="JSON config fields for every kind")
    parser.add_argument("--limit", type=int, help="index only the first N documents")
    parser.add_argument("--requests", type=int, default=50, help="requests per row")
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--reuse", action="store_true", help="use an existing collection, skip ingest")
    parser.add_argument("--out", type=Path, help="write OUT.json and OUT.md")
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args

    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    queries = list(read_queries(args.queries).values())[: args.requests]
    report: dict[str, Any] = {"collection": args.collection, "k": args.k, "command": shlex.join(sys.argv)}
    with httpx.Client(base_url=args.url, headers=headers, timeout=600) as client:
        if not args.reuse:
            configs = [{"kind": kind, **json.loads(args.config)} for kind in args.kind]
            client.post(
                "/v1/collections", json={"name": args.collection, "indexes": configs}
            ).raise_for_status()
            report["ingest"] = ingest(client, args.collection, args.corpus, 500, args.limit)
        report["documents"] = client.get(f"/v1/collections/{args.collection}").json()["documents"]
        for kind in args.kind:  # warm up: load the index and the encoder before timing
            client.post(f"/v1/collections/{args.collection}/search", json={"query": queries[0], "kind": kind})
        report["rows"] = [
            row
            for kind in args.kind
            for row in rows_for_kind(client, args.collection, kind, queries, args.requests, args.k)
        ]
    sys.stdout.write(markdown(report))
    if args.out:
        write_report(args.out.with_suffix(""), markdown(report), report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
