"""The `tessera` command: serve, worker, create, ingest, search, job, eval, train.

`serve` runs the API in this process; in embedded mode it also starts a real Celery worker
(solo pool, SQLite broker) as a child process that dies with it. The API process is the only one
that opens the document store (Qdrant local mode locks its folder to one process); the worker
reads documents from the collections' write logs.

The client commands (create, ingest, search, job) talk to a running server over HTTP and print a
human summary on stdout. `--json` prints one JSON object per result on stdout instead; `--quiet`
prints nothing but errors (on stderr). `ingest` shows one progress bar on stderr: documents indexed
across all of the collection's kinds, their rate and the time left, from the jobs' reported progress.

Exit status (`ExitCode`):
    0    success
    1    the server answered an error, or a job failed or was cancelled
    2    usage error: bad arguments, an unreadable or empty input file
    3    the server could not be reached (connection refused, unknown host, timeout)
    130  interrupted (Ctrl-C); jobs already queued keep running on the server
`worker`, `eval` and `train` exit with the status of the program they run.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from enum import IntEnum
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

from service.schemas.jobs import TERMINAL_STATES
from service.settings import Settings, get_settings

__all__ = [
    "EXIT_MEANINGS",
    "Client",
    "CommandError",
    "ExitCode",
    "JobTracker",
    "Output",
    "WorkerSupervisor",
    "cmd_create",
    "cmd_eval",
    "cmd_ingest",
    "cmd_job",
    "cmd_search",
    "cmd_serve",
    "cmd_train",
    "cmd_worker",
    "main",
    "parser",
    "worker_command",
]

logger = logging.getLogger("tessera")

POLL_S = 1.0
"""Seconds between two rounds of job polling."""
POLL_WINDOW = 16
"""Most unfinished jobs polled per round (the oldest first): bounds the request rate of many batches."""
CLIENT_LOGGERS = ("httpx", "httpcore")
"""Libraries that log every request at INFO; the client commands show them from WARNING only."""


class ExitCode(IntEnum):
    """Exit statuses of `tessera` (meanings in `EXIT_MEANINGS`, listed by `tessera --help`)."""

    OK = 0
    FAILED = 1
    USAGE = 2
    UNREACHABLE = 3
    INTERRUPTED = 130


EXIT_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.FAILED: "the server answered an error, or a job failed or was cancelled",
    ExitCode.USAGE: "usage error: bad arguments, an unreadable or empty input file",
    ExitCode.UNREACHABLE: "the server could not be reached (connection refused, unknown host, timeout)",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C); jobs already queued keep running on the server",
}


class CommandError(Exception):
    """Ends a command: the message goes to stderr and `code` becomes the exit status."""

    def __init__(self, message: str, code: ExitCode) -> None:
        super().__init__(message)
        self.code = code


def worker_command(settings: Settings, pool: str = "solo", concurrency: int = 1) -> list[str]:
    """The command line of a Celery worker for `settings`."""
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers.celery_app",
        "worker",
        "--pool",
        pool,
        "--concurrency",
        str(concurrency),
        "-Q",
        settings.task_queue,
        "--loglevel",
        settings.log_level,
        "--hostname",
        f"tessera-{os.getpid()}@%h",
    ]
    if settings.mode == "embedded":
        command += ["--without-mingle", "--without-gossip", "--without-heartbeat"]
        from service.jobs import beat_needed  # loads the library: only when a worker is started

        if beat_needed(settings):  # the only worker also runs the schedule
            command.append("--beat")
    return command


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the parent dies (Linux), so no worker outlives `serve`."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class WorkerSupervisor:
    """Runs the embedded worker as a child process and restarts it if it dies."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.command = command
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def start(self) -> None:
        self._spawn()
        self._thread.start()

    def _spawn(self) -> None:
        self.process = subprocess.Popen(self.command, env=self.env, preexec_fn=_die_with_parent)
        logger.info("embedded worker started (pid %d)", self.process.pid)

    def _watch(self) -> None:
        delay = 1.0
        while not self._stop.wait(delay):
            if self.process is not None and self.process.poll() is not None:
                logger.warning("embedded worker exited with %s; restarting", self.process.returncode)
                self._spawn()
                delay = min(delay * 2, 30.0)
            else:
                delay = 1.0

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        key: value for key in ("data_dir", "host", "port", "mode") if (value := getattr(args, key, None))
    }
    base = get_settings()
    return base.model_copy(update=overrides) if overrides else base


def _child_env(settings: Settings) -> dict[str, str]:
    return {**os.environ, "TESSERA_MODE": settings.mode, "TESSERA_DATA_DIR": str(settings.data_dir.resolve())}


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.api.main import create_app

    settings = _settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    supervisor = None
    if settings.mode == "embedded" and not args.no_worker:
        supervisor = WorkerSupervisor(worker_command(settings), _child_env(settings))
        supervisor.start()
    try:
        uvicorn.run(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            access_log=False,
        )
    finally:
        if supervisor is not None:
            supervisor.stop()
    return ExitCode.OK


def cmd_worker(args: argparse.Namespace) -> int:
    settings = _settings(args)
    command = worker_command(settings, pool=args.pool, concurrency=args.concurrency)
    return subprocess.call(command, env=_child_env(settings))


def cmd_eval(args: argparse.Namespace) -> int:
    """Run `python -m evals.beir` with the remaining arguments (a subprocess: the service layer
    does not import the evaluation package)."""
    return subprocess.call([sys.executable, "-m", "evals.beir", *args.eval_args])


def cmd_train(args: argparse.Namespace) -> int:
    """Run `python -m indexers.train.<model kind>` with the remaining arguments (a subprocess, like eval)."""
    return subprocess.call([sys.executable, "-m", f"indexers.train.{args.trainer}", *args.train_args])


FAILED_STATES = frozenset({"failed", "cancelled"})
INDENT = " " * 6


class Output:
    """Where a client command's results go: human text (default), one JSON object per result
    (`--json`), or nothing but errors (`--quiet`; with `--json` too, the JSON still prints)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.as_json: bool = args.json
        self.quiet: bool = args.quiet

    def result(self, value: Any, human: str) -> None:
        """Print one command result: `value` as a JSON line with --json, else `human` unless --quiet."""
        if self.as_json:
            sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")
        elif not self.quiet:
            sys.stdout.write(human + "\n")

    @staticmethod
    def error(message: str) -> None:
        """An error line on stderr (printed even with --quiet)."""
        sys.stderr.write(f"tessera: error: {message}\n")

    def bar(self, total: int | None, unit: str, desc: str) -> Any:
        """One progress bar on stderr (none with --quiet)."""
        return tqdm(
            total=total, unit=unit, desc=desc, file=sys.stderr, disable=self.quiet, dynamic_ncols=True
        )


def _server_error(response: httpx.Response) -> str:
    """The server's error message (`detail`) with the status and request id, else the raw body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        request = body.get("request_id")
        where = f", request {request}" if request and request != "-" else ""
        return f"{body['detail']} (HTTP {response.status_code}{where})"
    return f"HTTP {response.status_code}: {response.text.strip() or response.reason_phrase}"


class Client:
    """A small HTTP client for the CLI commands (a context manager); failures become `CommandError`s."""

    def __init__(self, args: argparse.Namespace) -> None:
        settings = get_settings()
        self.url: str = args.url or settings.api_url or f"http://{settings.host}:{settings.port}"
        key = args.api_key or settings.api_key
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        try:
            self.http = httpx.Client(base_url=self.url, headers=headers, timeout=120)
        except httpx.InvalidURL as exc:
            raise CommandError(f"invalid server URL {self.url!r}: {exc}", ExitCode.USAGE) from exc

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.http.close()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The decoded JSON answer of one request.

        Raises:
            CommandError: a bad URL (USAGE), no answer (UNREACHABLE), or an error answer (FAILED).
        """
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.UnsupportedProtocol as exc:
            raise CommandError(f"invalid server URL {self.url!r}: {exc}", ExitCode.USAGE) from exc
        except httpx.TransportError as exc:
            raise CommandError(
                f"cannot reach the server at {self.url} ({exc or type(exc).__name__}); "
                "start it with `tessera serve`, or give its address with --url or TESSERA_API_URL",
                ExitCode.UNREACHABLE,
            ) from exc
        if response.status_code >= 400:
            raise CommandError(_server_error(response), ExitCode.FAILED)
        return response.json() if response.content else None


class JobTracker:
    """Polls jobs (`GET /v1/jobs/{id}`) and drives one progress bar from the progress they report.

    A job's progress counts its own steps (an index job: its documents times the collection's
    kinds). A job tracked with a size (its documents) moves the bar by size x done / steps, one
    without a size by its steps; a job that succeeded counts in full.
    """

    def __init__(self, client: Client, bar: Any) -> None:
        self.client = client
        self.bar = bar
        self.jobs: dict[str, dict[str, Any]] = {}
        self.sizes: dict[str, int | None] = {}
        self.steps: dict[str, int] = {}
        self.last_poll = 0.0

    def add(self, job_id: str, size: int | None = None, job: dict[str, Any] | None = None) -> None:
        """Track a job; `job` is its state as last seen (e.g. the answer that queued it)."""
        self.jobs[job_id] = job or {"id": job_id, "state": "queued"}
        self.sizes[job_id] = size
        self._show()

    def unfinished(self) -> list[str]:
        """Ids of the jobs not yet in a terminal state, oldest first."""
        return [job_id for job_id, job in self.jobs.items() if job["state"] not in TERMINAL_STATES]

    def poll(self) -> None:
        """Refresh the oldest unfinished jobs (at most `POLL_WINDOW`), then the bar."""
        for job_id in self.unfinished()[:POLL_WINDOW]:
            self.jobs[job_id] = self.client.call("GET", f"/v1/jobs/{job_id}")
        self.last_poll = time.monotonic()
        self._show()

    def poll_if_due(self) -> None:
        """Poll if the last round is at least `POLL_S` seconds old."""
        if time.monotonic() - self.last_poll >= POLL_S:
            self.poll()

    def wait(self) -> list[dict[str, Any]]:
        """Poll every `POLL_S` seconds until every job ended; returns their final states in order."""
        while self.unfinished():
            time.sleep(max(0.0, self.last_poll + POLL_S - time.monotonic()))
            self.poll()
        return list(self.jobs.values())

    def _show(self) -> None:
        done = total = 0.0
        for job_id, job in self.jobs.items():
            progress = job.get("progress")
            if progress and progress["total"]:
                self.steps[job_id] = progress["total"]
            size = self.sizes[job_id]
            weight = size if size is not None else self.steps.get(job_id, 1)
            total += weight
            if job["state"] == "succeeded":
                done += weight
            elif progress and progress["total"]:
                done += weight * min(progress["done"], progress["total"]) / progress["total"]
        if None in self.sizes.values():
            self.bar.total = int(total)
        self.bar.update(max(0, int(done) - self.bar.n))
        if len(self.jobs) > 1:
            failed = sum(job["state"] in FAILED_STATES for job in self.jobs.values())
            ended = len(self.jobs) - len(self.unfinished())
            note = f", {failed} failed" if failed else ""
            self.bar.set_postfix_str(f"jobs {ended}/{len(self.jobs)}{note}")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}{'es' if noun.endswith('ch') else 's'}"


def _job_failure(job: dict[str, Any]) -> str:
    return f"job {job['id']} {job['state']}" + (f": {job['error']}" if job.get("error") else "")


def _human_job(job: dict[str, Any]) -> str:
    line = f"job {job['id']}: {job['state']} ({job['type']} on {job['collection']})"
    progress = job.get("progress")
    if progress and job["state"] not in TERMINAL_STATES:
        line += f", {progress['done']}/{progress['total']} steps"
    if job.get("result"):
        line += f"\n  result: {json.dumps(job['result'], ensure_ascii=False)}"
    return line


def _human_hits(found: dict[str, Any]) -> str:
    kinds = " + ".join(found["kinds"])
    if not found["hits"]:
        return f"no hits ({kinds})"
    lines = [f"{len(found['hits'])} hits ({kinds})"]
    for rank, hit in enumerate(found["hits"], start=1):
        title = f"  {hit['title']}" if hit.get("title") else ""
        lines.append(f"{rank:>3}. {hit['score']:10.4f}  {hit['id']}{title}")
        if hit.get("text"):
            lines.append(
                textwrap.fill(hit["text"], width=100, initial_indent=INDENT, subsequent_indent=INDENT)
            )
        if hit.get("matches"):
            pairs = (f"{m['query_token']}->{m['doc_token']} {m['score']:.2f}" for m in hit["matches"])
            lines.append(f"{INDENT}matches: {', '.join(pairs)}")
        if hit.get("terms"):
            terms = (f"{term['term']} {term['score']:.2f}" for term in hit["terms"])
            lines.append(f"{INDENT}terms: {', '.join(terms)}")
        for shared in hit.get("shared_names") or []:
            lines.append(f"{INDENT}name {shared['name']!r} shared with {', '.join(shared['shared_with'])}")
    return "\n".join(lines)


def cmd_create(args: argparse.Namespace) -> int:
    try:
        config = json.loads(args.config or "{}")
    except json.JSONDecodeError as exc:
        raise CommandError(f"--config is not valid JSON ({exc.msg})", ExitCode.USAGE) from exc
    if not isinstance(config, dict):
        raise CommandError("--config must be a JSON object", ExitCode.USAGE)
    body = {"name": args.name, "indexes": [{"kind": kind, **config} for kind in args.kind]}
    with Client(args) as client:
        collection = client.call("POST", "/v1/collections", json=body)
    kinds = ", ".join(index["kind"] for index in collection["kinds"])
    Output(args).result(collection, f"created collection {collection['name']} (kinds: {kinds})")
    return ExitCode.OK


def _count_documents(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


def _batches(path: Path, size: int) -> Iterator[tuple[int, int, bytes, int]]:
    """Batches of `size` documents of a JSONL file: (first line, last line, body, documents).
    Blank lines travel in their batch (the server skips them)."""
    with open(path, "rb") as handle:
        first, lines, documents = 1, [], 0
        for number, line in enumerate(handle, start=1):
            lines.append(line)
            documents += bool(line.strip())
            if documents == size:
                yield first, number, b"".join(lines), documents
                first, lines, documents = number + 1, [], 0
        if documents:
            yield first, first + len(lines) - 1, b"".join(lines), documents


def cmd_ingest(args: argparse.Namespace) -> int:
    out = Output(args)
    path = Path(args.file)
    try:
        total = _count_documents(path)
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}", ExitCode.USAGE) from exc
    if total == 0:
        raise CommandError(f"{path} has no documents", ExitCode.USAGE)
    with Client(args) as client:
        kinds = [index["kind"] for index in client.call("GET", f"/v1/collections/{args.name}")["kinds"]]
        started = time.monotonic()
        with out.bar(total, "doc", "indexing" if args.wait else "uploading") as bar:
            tracker = JobTracker(client, bar)
            submitted: list[dict[str, Any]] = []
            for first, last, body, documents in _batches(path, args.batch):
                try:
                    job = client.call(
                        "POST",
                        f"/v1/collections/{args.name}/documents/jsonl",
                        content=body,
                        params={"mode": args.mode},
                        headers={"Content-Type": "application/x-ndjson"},
                    )
                except CommandError as exc:
                    queued = f"; queued before it: {_plural(len(submitted), 'batch')}" if submitted else ""
                    raise CommandError(f"{path}, lines {first}-{last}: {exc}{queued}", exc.code) from exc
                submitted.append(job)
                if args.wait:
                    tracker.add(job["id"], documents, job)
                    tracker.poll_if_due()
                else:
                    bar.update(documents)
            jobs = tracker.wait() if args.wait else submitted
    seconds = time.monotonic() - started
    failed = [job for job in jobs if job["state"] in FAILED_STATES]
    for job in failed:
        out.error(_job_failure(job))
    indexed = None
    if args.wait:
        indexed = sum(tracker.sizes[job["id"]] or 0 for job in jobs if job["state"] == "succeeded")
    summary = {
        "collection": args.name,
        "kinds": kinds,
        "documents": total,
        "indexed": indexed,
        "seconds": round(seconds, 3),
        "jobs": jobs,
    }
    if args.wait:
        human = (
            f"indexed {indexed} of {total} documents into {args.name} ({', '.join(kinds)}) "
            f"with {_plural(len(jobs), 'job')} in {seconds:.1f}s"
        )
    else:
        ids = "\n".join(f"  {job['id']}" for job in jobs)
        human = (
            f"submitted {total} documents to {args.name} in {_plural(len(jobs), 'job')} "
            f"(follow one with `tessera job ID --wait`):\n{ids}"
        )
    out.result(summary, human)
    return ExitCode.FAILED if failed else ExitCode.OK


def cmd_search(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"query": args.query, "k": args.k, "with_text": args.text, "explain": args.explain}
    if args.hybrid:
        body["hybrid"] = {}
    elif args.kind:
        body["kind"] = args.kind
    with Client(args) as client:
        found = client.call("POST", f"/v1/collections/{args.name}/search", json=body)
    Output(args).result(found, _human_hits(found))
    return ExitCode.OK


def cmd_job(args: argparse.Namespace) -> int:
    out = Output(args)
    with Client(args) as client:
        if args.wait:
            with out.bar(None, "step", "waiting") as bar:
                tracker = JobTracker(client, bar)
                tracker.add(args.id)
                job = tracker.wait()[0]
        else:
            job = client.call("GET", f"/v1/jobs/{args.id}")
    if job["state"] in FAILED_STATES:
        out.error(_job_failure(job))
    out.result(job, _human_job(job))
    return ExitCode.FAILED if job["state"] in FAILED_STATES else ExitCode.OK


def _epilog() -> str:
    codes = "\n".join(f"  {code.value:<4} {meaning}" for code, meaning in EXIT_MEANINGS.items())
    return (
        "client commands (create, ingest, search, job) take --json (one JSON object per result on\n"
        "stdout) and --quiet (no progress bar, nothing on success; errors still go to stderr).\n\n"
        f"exit status:\n{codes}\n  worker, eval and train exit with the status of the program they run."
    )


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="tessera",
        description=__doc__.splitlines()[0] if __doc__ else None,
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = root.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API (and, in embedded mode, a worker)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--data-dir", type=Path)
    serve.add_argument("--mode", choices=["embedded", "distributed"])
    serve.add_argument("--no-worker", action="store_true", help="embedded mode without the worker child")
    serve.set_defaults(run=cmd_serve)

    worker = commands.add_parser("worker", help="run a Celery index worker")
    worker.add_argument("--data-dir", type=Path)
    worker.add_argument("--mode", choices=["embedded", "distributed"])
    worker.add_argument("--pool", default="solo", choices=["solo", "prefork", "threads"])
    worker.add_argument("--concurrency", type=int, default=1)
    worker.set_defaults(run=cmd_worker)

    def client_options(command: argparse.ArgumentParser) -> None:
        command.add_argument("--url", help="server URL (default: TESSERA_API_URL or http://host:port)")
        command.add_argument("--api-key", help="API key (default: TESSERA_API_KEY)")
        command.add_argument("--json", action="store_true", help="print one JSON object per result on stdout")
        command.add_argument(
            "-q",
            "--quiet",
            action="store_true",
            help="no progress bar, no output on success; errors on stderr",
        )

    create = commands.add_parser("create", help="create a collection")
    create.add_argument("name")
    create.add_argument("--kind", action="append", required=True, help="index kind (repeat for hybrid)")
    create.add_argument("--config", help="JSON config fields applied to every kind")
    client_options(create)
    create.set_defaults(run=cmd_create)

    ingest = commands.add_parser("ingest", help="upload a JSONL file of documents")
    ingest.add_argument("name")
    ingest.add_argument("file")
    ingest.add_argument("--batch", type=int, default=1000, help="documents per request")
    ingest.add_argument("--mode", default="upsert", choices=["upsert", "add"])
    ingest.add_argument("--no-wait", dest="wait", action="store_false", help="do not wait for the jobs")
    client_options(ingest)
    ingest.set_defaults(run=cmd_ingest)

    search = commands.add_parser("search", help="search a collection")
    search.add_argument("name")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=10)
    search.add_argument("--kind")
    search.add_argument("--hybrid", action="store_true", help="fuse every kind of the collection")
    search.add_argument("--text", action="store_true", help="include document texts")
    search.add_argument("--explain", action="store_true", help="include token matches")
    client_options(search)
    search.set_defaults(run=cmd_search)

    job = commands.add_parser("job", help="show a job")
    job.add_argument("id")
    job.add_argument("--wait", action="store_true", help="wait until it ends")
    client_options(job)
    job.set_defaults(run=cmd_job)

    evaluate = commands.add_parser(
        "eval", help="BEIR evaluation of one index kind (arguments of python -m evals.beir)", add_help=False
    )
    evaluate.set_defaults(run=cmd_eval)

    train = commands.add_parser(
        "train",
        help="fine-tune an encoder (`tessera train xtr|projection ...`: python -m indexers.train.<trainer>)",
        add_help=False,
    )
    train.add_argument("trainer", choices=["xtr", "projection"])
    train.set_defaults(run=cmd_train)
    return root


def main(argv: list[str] | None = None) -> int:
    """Entry point of `tessera`; returns the exit status (an `ExitCode`, or that of a child program)."""
    root = parser()
    args, rest = root.parse_known_args(argv)
    if args.command == "eval":
        args.eval_args = rest
    elif args.command == "train":
        args.train_args = rest
    elif rest:
        root.error(f"unrecognized arguments: {' '.join(rest)}")
    client = hasattr(args, "quiet")  # the client commands have --quiet and --json
    logging.basicConfig(
        level="ERROR" if client and args.quiet else get_settings().log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if client:
        for name in CLIENT_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        return int(args.run(args))
    except CommandError as exc:
        Output.error(str(exc))
        return exc.code
    except KeyboardInterrupt:
        sys.stderr.write(f"tessera: {EXIT_MEANINGS[ExitCode.INTERRUPTED]}\n")
        return ExitCode.INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
