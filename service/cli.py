"""The `tessera` command: serve, worker, create, ingest, search, job, eval, train.

`serve` runs the API in this process; in embedded mode it also starts a real Celery worker
(solo pool, SQLite broker) as a child process that dies with it. The API process is the only one
that opens the document store (Qdrant local mode locks its folder to one process); the worker
reads documents from staging files. The client commands talk to a running server over HTTP.
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
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from service.schemas.all import TERMINAL_STATES
from service.settings import Settings, get_settings

__all__ = ["main", "worker_command"]

logger = logging.getLogger("tessera")


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
        if settings.memory_consolidate_every_s > 0:  # the only worker also runs the schedule
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
    return 0


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


class Client:
    """A small HTTP client for the CLI commands."""

    def __init__(self, args: argparse.Namespace) -> None:
        settings = get_settings()
        url = args.url or settings.api_url or f"http://{settings.host}:{settings.port}"
        key = args.api_key or settings.api_key
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.http = httpx.Client(base_url=url, headers=headers, timeout=120)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise SystemExit(f"error {response.status_code}: {response.text}")
        return response.json() if response.content else None

    def wait(self, job_ids: Sequence[str], total_docs: int | None = None) -> list[dict[str, Any]]:
        """Poll jobs until they end, showing a progress bar; returns their final states."""
        from tqdm import tqdm

        jobs: dict[str, dict[str, Any]] = {}
        with tqdm(total=len(job_ids), unit="job", desc="indexing", file=sys.stderr) as bar:
            while True:
                for job_id in job_ids:
                    if jobs.get(job_id, {}).get("state") not in TERMINAL_STATES:
                        jobs[job_id] = self.call("GET", f"/v1/jobs/{job_id}")
                done = sum(job["state"] in TERMINAL_STATES for job in jobs.values())
                bar.update(done - bar.n)
                if done == len(job_ids):
                    return [jobs[job_id] for job_id in job_ids]
                time.sleep(0.5)


def _out(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2) + "\n")


def cmd_create(args: argparse.Namespace) -> int:
    configs = [{"kind": kind, **json.loads(args.config or "{}")} for kind in args.kind]
    _out(Client(args).call("POST", "/v1/collections", json={"name": args.name, "indexes": configs}))
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    client = Client(args)
    path = Path(args.file)
    job_ids = []
    with (
        open(path, "rb") as handle,
        tqdm(total=path.stat().st_size, unit="B", unit_scale=True, desc="uploading", file=sys.stderr) as bar,
    ):
        while True:
            lines = [line for _, line in zip(range(args.batch), handle, strict=False)]
            if not lines:
                break
            body = b"".join(lines)
            job = client.call(
                "POST",
                f"/v1/collections/{args.name}/documents/jsonl",
                content=body,
                params={"mode": args.mode},
                headers={"Content-Type": "application/x-ndjson"},
            )
            job_ids.append(job["id"])
            bar.update(len(body))
    results = client.wait(job_ids) if args.wait else [{"id": job_id, "state": "queued"} for job_id in job_ids]
    _out({"jobs": results})
    return 0 if all(job["state"] in {"succeeded", "queued"} for job in results) else 1


def cmd_search(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"query": args.query, "k": args.k, "with_text": args.text, "explain": args.explain}
    if args.hybrid:
        body["hybrid"] = {}
    elif args.kind:
        body["kind"] = args.kind
    _out(Client(args).call("POST", f"/v1/collections/{args.name}/search", json=body))
    return 0


def cmd_job(args: argparse.Namespace) -> int:
    client = Client(args)
    _out(client.wait([args.id])[0] if args.wait else client.call("GET", f"/v1/jobs/{args.id}"))
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="tessera", description=__doc__.splitlines()[0] if __doc__ else None)
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
        help="fine-tune an encoder (`tessera train xtr ...`: python -m indexers.train.xtr)",
        add_help=False,
    )
    train.add_argument("trainer", choices=["xtr"])
    train.set_defaults(run=cmd_train)
    return root


def main(argv: list[str] | None = None) -> int:
    """Entry point of `tessera`."""
    args, rest = parser().parse_known_args(argv)
    if args.command == "eval":
        args.eval_args = rest
    elif args.command == "train":
        args.train_args = rest
    elif rest:
        parser().error(f"unrecognized arguments: {' '.join(rest)}")
    logging.basicConfig(
        level=get_settings().log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
