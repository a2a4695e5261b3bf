"""Fault injection: kill -9 the API, a worker or both while a client writes, then check that no
acknowledged write was lost and every index kind holds the same documents.

    python -m benchmarks.faults --mode embedded --mode distributed --rounds 20 --out docs/results/faults

For each mode, a fresh data folder and real processes: `tessera serve` (embedded: the API and its
worker child), or `tessera serve --no-worker` and two `tessera worker` processes on the local Redis
(distributed; the database given by --redis is flushed first). A client thread keeps adding small
batches, rebuilding and deleting earlier acknowledged documents, and notes which writes were answered
2xx. Each round waits until a worker has applied a write (so that kills find the workers started),
then a random moment (seeded), kills the next target of api / worker / both with SIGKILL and
restarts it. After the last round everything is stopped and started cleanly, jobs are
given `--settle-s` to end, the service is stopped, and the document store and each kind's live
version are opened from disk and compared with what the client was told. Writes with no 2xx answer
may or may not have happened; they count for nothing either way. Exits 1 if a loss column is not 0.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import redis

from evals.report import markdown_table, write_report
from indexers.cli_args import parse_args
from indexers.storage.versions import read_manifest
from service.schemas.jobs import TERMINAL_STATES
from service.writelog import WriteLog

__all__ = [
    "CHECKS",
    "Cluster",
    "DistributedCluster",
    "EmbeddedCluster",
    "Ledger",
    "Writer",
    "inspect_store",
    "main",
    "markdown",
    "run_mode",
    "service_env",
]

TARGETS = ("api", "worker", "both")
TENANT = "default"
"""The tenant of a service without API keys."""
INDEXES: list[dict[str, Any]] = [
    {"kind": "bm25"},
    {"kind": "exact", "encoder": {"model": "fake:hash:64", "batch_size": 32}},
]
"""The collection's kinds: BM25 (Lucene) and exact MaxSim over a fake hashing encoder."""
SERVICE_SETTINGS = {
    "TESSERA_READY_MODELS": "[]",
    "TESSERA_HEARTBEAT_S": "1",
    "TESSERA_JOB_STALE_S": "10",
    "TESSERA_RECOVERY_EVERY_S": "2",
    "TESSERA_VISIBILITY_TIMEOUT_S": "30",
    "TESSERA_MEMORY_CONSOLIDATE_EVERY_S": "0",
    "TESSERA_LOG_LEVEL": "WARNING",
}
"""Settings of every process: short stale and recovery periods so that a run settles in seconds,
no beat (the worker is then a single process)."""
CHECKS = {
    "missing_from_store": "acknowledged docs missing from the store",
    "missing_from_kind": "acknowledged docs missing from a kind",
    "partial_kinds": "docs in some kinds only",
    "store_vs_indexes": "docs in the store xor the indexes",
    "deleted_present": "acknowledged deletes still present",
    "jobs_stuck": "jobs stuck",
    "jobs_lost": "acknowledged jobs lost",
    "log_unapplied": "log entries unapplied",
}
"""The loss columns (target 0 each) and their headers."""
WORDS = [f"w{i}" for i in range(500)]


def service_env(data_dir: Path, port: int, redis_url: str | None) -> dict[str, str]:
    """The environment of every process of one run (distributed when `redis_url` is given)."""
    env = {**os.environ, **SERVICE_SETTINGS, "TESSERA_DATA_DIR": str(data_dir), "TESSERA_PORT": str(port)}
    env["TESSERA_HOST"] = "127.0.0.1"
    if redis_url is None:
        env["TESSERA_MODE"] = "embedded"
    else:
        env.update(TESSERA_MODE="distributed", TESSERA_BROKER_URL=redis_url, TESSERA_TASK_QUEUE="faults")
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _children(pid: int) -> list[int]:
    """The direct children of a process (from /proc)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(child) for child in task.read_text().split()]
        except OSError:
            continue
    return found


def _descendants(pid: int) -> list[int]:
    children = _children(pid)
    return children + [grandchild for child in children for grandchild in _descendants(child)]


def _members(group: int) -> list[int]:
    """The live (not zombie) processes of a process group (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _kill(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue


class Cluster:
    """The processes of one run; subclasses start them and say what a kill target is."""

    api: subprocess.Popen[bytes]
    """The API process (set by `start`)."""

    def __init__(self, env: dict[str, str], url: str, logs: Path) -> None:
        self.env = env
        self.url = url
        self.logs = logs
        self.started: list[subprocess.Popen[bytes]] = []

    def spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """Start `python -m service.cli ARGS` in a session of its own, logging to `logs/name.log`."""
        self.logs.mkdir(parents=True, exist_ok=True)
        with open(self.logs / f"{name}.log", "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "service.cli", *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append(process)
        return process

    def wait_ready(self, api: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
        """Wait until the API answers /v1/ready with 200.

        Raises:
            RuntimeError: the API exited or did not get ready in time.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if api.poll() is not None:
                raise RuntimeError(f"the API exited with {api.returncode}; see {self.logs}")
            try:
                if httpx.get(f"{self.url}/v1/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the API was not ready after {timeout:.0f}s; see {self.logs}")

    def start(self) -> None:
        raise NotImplementedError

    def kill(self, target: str, rng: random.Random) -> None:
        """SIGKILL `target` (api, worker or both) and start what was killed again."""
        raise NotImplementedError

    def stop(self, timeout: float = 60.0) -> None:
        """Stop every process started and whatever they started (SIGTERM: a worker finishes its job
        first), SIGKILL those still alive after `timeout`."""
        groups = [process.pid for process in self.started]
        for pid in (pid for group in groups for pid in _members(group)):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        deadline = time.monotonic() + timeout
        while any(_members(group) for group in groups) and time.monotonic() < deadline:
            time.sleep(0.2)
        _kill([pid for group in groups for pid in _members(group)])
        for process in self.started:
            process.wait()
        self.started.clear()


class EmbeddedCluster(Cluster):
    """`tessera serve`: the API and the worker child it supervises (and restarts)."""

    def start(self) -> None:
        self.api = self.spawn("serve", "serve")
        self.wait_ready(self.api)
        self._wait_worker(exclude=None)

    def _worker(self) -> int | None:
        for pid in _children(self.api.pid):
            try:
                if b"celery" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return pid
            except OSError:
                continue
        return None

    def _wait_worker(self, exclude: int | None, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = self._worker()
            if pid is not None and pid != exclude:
                return pid
            time.sleep(0.1)
        raise RuntimeError(f"no embedded worker after {timeout:.0f}s; see {self.logs}")

    def kill(self, target: str, rng: random.Random) -> None:
        worker = self._wait_worker(exclude=None)
        if target in ("worker", "both"):
            _kill([worker, *_descendants(worker)])
        if target in ("api", "both"):
            _kill([self.api.pid])  # a worker still alive gets SIGTERM from the kernel and finishes its job
            self.api.wait()
            self.start()
        else:
            self._wait_worker(exclude=worker)  # restarted by `serve`


class DistributedCluster(Cluster):
    """`tessera serve --no-worker` and `workers` separate `tessera worker` processes on Redis."""

    def __init__(self, env: dict[str, str], url: str, logs: Path, workers: int = 2) -> None:
        super().__init__(env, url, logs)
        self.count = workers
        self.workers: list[subprocess.Popen[bytes]] = []
        self.spawned = 0

    def _spawn_worker(self) -> subprocess.Popen[bytes]:
        self.spawned += 1
        return self.spawn(f"worker-{self.spawned}", "worker")

    def start(self) -> None:
        self.api = self.spawn("serve", "serve", "--no-worker")
        self.workers = [self._spawn_worker() for _ in range(self.count)]
        self.wait_ready(self.api)

    def kill(self, target: str, rng: random.Random) -> None:
        if target in ("worker", "both"):
            slot = rng.randrange(len(self.workers))
            victim = self.workers[slot]
            _kill([*reversed(_descendants(victim.pid)), victim.pid])  # Celery, then `tessera worker`
            victim.wait()
            self.workers[slot] = self._spawn_worker()
        if target in ("api", "both"):
            _kill([self.api.pid])
            self.api.wait()
            self.api = self.spawn("serve", "serve", "--no-worker")
            self.wait_ready(self.api)


@dataclass
class Ledger:
    """What the client was told: writes answered 2xx, and those with no 2xx answer (outcome unknown)."""

    added: set[str] = field(default_factory=set)
    added_unknown: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    deleted_unknown: set[str] = field(default_factory=set)
    jobs: list[str] = field(default_factory=list)
    requests: Counter[str] = field(default_factory=Counter)

    def expected(self) -> set[str]:
        """Documents that must be in the store and every kind."""
        return self.added - self.deleted - self.deleted_unknown


class Writer:
    """A client thread: adds batches of new documents, with a rebuild every `build_every` requests and
    a deletion of two earlier acknowledged documents every `delete_every`, until stopped. A refused
    connection (the API is down) is retried after `pause_s` and counts for nothing."""

    def __init__(
        self,
        url: str,
        collection: str,
        seed: int,
        *,
        batch: int = 5,
        build_every: int = 7,
        delete_every: int = 4,
        pause_s: float = 0.05,
    ) -> None:
        self.url = url
        self.collection = collection
        self.rng = random.Random(seed)
        self.batch = batch
        self.build_every = build_every
        self.delete_every = delete_every
        self.pause_s = pause_s
        self.ledger = Ledger()
        self.halt = threading.Event()
        self.failed: Exception | None = None
        self._deletable: list[str] = []
        self.thread = threading.Thread(target=self._run, name="faults-writer", daemon=True)

    def _post(self, client: httpx.Client, kind: str, path: str, body: dict[str, Any] | None) -> str | bool:
        """The job id of a 2xx answer; False if the connection was refused (nothing sent), True if
        the outcome is unknown (no answer, or an error answer)."""
        try:
            response = client.post(f"/v1/collections/{self.collection}{path}", json=body)
        except httpx.ConnectError:
            self.ledger.requests[f"{kind} refused"] += 1
            return False
        except httpx.HTTPError:
            self.ledger.requests[f"{kind} no answer"] += 1
            return True
        if not response.is_success:
            self.ledger.requests[f"{kind} {response.status_code}"] += 1
            return True
        self.ledger.requests[f"{kind} 2xx"] += 1
        job_id = str(response.json()["id"])
        self.ledger.jobs.append(job_id)
        return job_id

    def _add(self, client: httpx.Client, step: int) -> bool:
        ids = [f"d{step}-{i}" for i in range(self.batch)]
        docs = [{"id": doc_id, "text": " ".join(self.rng.choices(WORDS, k=12))} for doc_id in ids]
        answer = self._post(client, "add", "/documents", {"documents": docs})
        if isinstance(answer, str):
            self.ledger.added.update(ids)
            self._deletable += ids
        elif answer:
            self.ledger.added_unknown.update(ids)
        return answer is not False

    def _delete(self, client: httpx.Client) -> bool:
        doomed = [self._deletable.pop(self.rng.randrange(len(self._deletable))) for _ in range(2)]
        answer = self._post(client, "delete", "/documents/delete", {"ids": doomed})
        if isinstance(answer, str):
            self.ledger.deleted.update(doomed)
        elif answer:
            self.ledger.deleted_unknown.update(doomed)
        else:
            self._deletable += doomed
        return answer is not False

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Stop after the request in flight.

        Raises:
            RuntimeError: the thread had died of an error.
        """
        self.halt.set()
        self.thread.join()
        if self.failed is not None:
            raise RuntimeError("the writer thread failed") from self.failed

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # reported by stop()
            self.failed = exc

    def _loop(self) -> None:
        step = 0
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.halt.is_set():
                step += 1
                if step % self.build_every == 0 and self.ledger.added:
                    sent = self._post(client, "build", "/build", None) is not False
                elif step % self.delete_every == 0 and len(self._deletable) >= 2:
                    sent = self._delete(client)
                else:
                    sent = self._add(client, step)
                self.halt.wait(self.pause_s if sent else 0.2)


def _index_state(data_dir: Path, collection: str) -> tuple[int, int]:
    """The last write every kind holds (the manifest's number) and the last write accepted."""
    folder = data_dir / "collections" / TENANT / collection
    manifest = read_manifest(folder / "indexes")
    return (manifest.seq if manifest else 0), WriteLog(folder / "log").head()


def _wait_indexing(data_dir: Path, collection: str, timeout: float) -> float:
    """Wait until some worker applies a write (the manifest's number moves; the client keeps writing),
    so that each kill finds the workers started; returns the seconds waited."""
    start = time.monotonic()
    before, _ = _index_state(data_dir, collection)
    while time.monotonic() - start < timeout and _index_state(data_dir, collection)[0] <= before:
        time.sleep(0.2)
    return time.monotonic() - start


def _job_running(data_dir: Path) -> bool:
    """Whether a worker is running a job now (a heartbeat within the last 1.5 periods)."""
    period = float(SERVICE_SETTINGS["TESSERA_HEARTBEAT_S"])
    now = time.time()
    for beat in (data_dir / "jobs" / TENANT).glob("*.heartbeat"):
        try:
            if now - beat.stat().st_mtime < 1.5 * period:
                record = json.loads(beat.with_suffix(".json").read_text())
                if record.get("finished_at") is None:
                    return True
        except (OSError, ValueError):
            continue
    return False


def _settle(
    client: httpx.Client, data_dir: Path, collection: str, timeout: float
) -> tuple[float, dict[str, str]]:
    """Wait until the indexes hold the whole write log and every job (each record under the data
    folder, asked one by one: a terminal state never changes) has ended, at most `timeout`.

    Returns:
        The seconds waited, and every job's last state.
    """
    start = time.monotonic()
    states: dict[str, str] = {}
    while True:
        for record in (data_dir / "jobs" / TENANT).glob("*.json"):
            if states.get(record.stem) not in TERMINAL_STATES:
                states[record.stem] = client.get(f"/v1/jobs/{record.stem}").json()["state"]
        applied, head = _index_state(data_dir, collection)
        ended = all(state in TERMINAL_STATES for state in states.values())
        if (applied >= head and ended) or time.monotonic() - start > timeout:
            return time.monotonic() - start, states
        time.sleep(1.0)


def _job_counts(client: httpx.Client, states: dict[str, str], acknowledged: list[str]) -> dict[str, Any]:
    """Jobs left unfinished or failed (all of them), and acknowledged jobs the API does not know."""
    lost = [job_id for job_id in acknowledged if client.get(f"/v1/jobs/{job_id}").status_code == 404]
    return {
        "stuck": sorted(job_id for job_id, state in states.items() if state not in TERMINAL_STATES),
        "failed": sorted(job_id for job_id, state in states.items() if state == "failed"),
        "lost": lost,
    }


def inspect_store(data_dir: Path, collection: str) -> dict[str, Any]:
    """Open the stopped service's data folder: the ids in the document store and in each kind's live
    version, and the write-log entries after the manifest's sequence number."""
    from indexers.storage.versions import open_version
    from service.core.docstore import DocumentStore
    from service.jobs import Layout

    layout = Layout(data_dir)
    store = DocumentStore(path=data_dir / "qdrant")
    try:
        stored = {doc.id for doc in store.scan(TENANT, collection, with_payload=False)}
    finally:
        store.close()
    spec = layout.read_spec(TENANT, collection)
    root = layout.index_root(TENANT, collection)
    manifest = read_manifest(root)
    live = manifest.versions if manifest else {}
    kinds = {
        kind: set(open_version(root, kind, live[kind]).docs.by_ext) if kind in live else set()
        for kind in (spec.kinds if spec else [])
    }
    log = layout.write_log(TENANT, collection)
    applied = manifest.seq if manifest else 0
    return {
        "stored": stored,
        "kinds": kinds,
        "seq": applied,
        "head": log.head(),
        "unapplied": [entry.seq for entry in log.entries(after=applied)],
    }


def _compare(ledger: Ledger, found: dict[str, Any]) -> dict[str, list[str]]:
    """The ids (or job ids, log numbers) behind each loss column."""
    stored: set[str] = found["stored"]
    kinds: list[set[str]] = list(found["kinds"].values())
    indexed = set().union(*kinds)
    everywhere = set.intersection(*kinds) if kinds else set()
    expected = ledger.expected()
    return {
        "missing_from_store": sorted(expected - stored),
        "missing_from_kind": sorted(expected - everywhere),
        "partial_kinds": sorted(indexed - everywhere),
        "store_vs_indexes": sorted((stored - indexed) | (everywhere - stored)),
        "deleted_present": sorted(ledger.deleted & (stored | indexed)),
        "log_unapplied": [str(seq) for seq in found["unapplied"]],
    }


def run_mode(
    mode: str,
    rounds: int,
    seed: int,
    *,
    redis_url: str,
    work: Path,
    window: tuple[float, float],
    settle_s: float,
) -> dict[str, Any]:
    """One mode: `rounds` kills while the writer runs, a clean restart, settling, and the checks."""
    data_dir = work / mode
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    if mode == "distributed":
        redis.Redis.from_url(redis_url).flushdb()
        env = service_env(data_dir, port, redis_url)
        cluster: Cluster = DistributedCluster(env, url, work / f"{mode}-logs")
    else:
        env = service_env(data_dir, port, None)
        cluster = EmbeddedCluster(env, url, work / f"{mode}-logs")
    rng = random.Random(seed)
    collection = "faults"
    kills: Counter[str] = Counter()
    during_job = 0
    waits: list[float] = []
    started = time.monotonic()
    try:
        cluster.start()
        httpx.post(f"{url}/v1/collections", json={"name": collection, "indexes": INDEXES}).raise_for_status()
        writer = Writer(url, collection, seed + 1)
        writer.start()
        for number in range(rounds):
            waits.append(_wait_indexing(data_dir, collection, settle_s))
            time.sleep(rng.uniform(*window))
            target = TARGETS[number % len(TARGETS)]
            busy = _job_running(data_dir)
            cluster.kill(target, rng)
            kills[target] += 1
            during_job += busy
            note = " during a job" if busy else ""
            print(f"{mode}: round {number + 1}/{rounds}: killed {target}{note}", file=sys.stderr, flush=True)
        writer.stop()
        cluster.stop()
        cluster.start()
        with httpx.Client(base_url=url, timeout=120) as client:
            settled, states = _settle(client, data_dir, collection, settle_s)
            jobs = _job_counts(client, states, writer.ledger.jobs)
    finally:
        cluster.stop()
    found = inspect_store(data_dir, collection)
    failures = _compare(writer.ledger, found)
    failures["jobs_stuck"] = jobs["stuck"]
    failures["jobs_lost"] = jobs["lost"]
    ledger = writer.ledger
    return {
        "mode": mode,
        "rounds": rounds,
        "kills": {target: kills[target] for target in TARGETS},
        "kills_during_job": during_job,
        "worker_wait_s": {
            "mean": round(sum(waits) / max(len(waits), 1), 1),
            "max": round(max(waits, default=0), 1),
        },
        "acknowledged_docs": len(ledger.added),
        "acknowledged_deletes": len(ledger.deleted),
        "unknown_docs": len(ledger.added_unknown),
        "unknown_deletes": len(ledger.deleted_unknown),
        "acknowledged_jobs": len(ledger.jobs),
        "requests": dict(sorted(ledger.requests.items())),
        "expected_docs": len(ledger.expected()),
        "stored_docs": len(found["stored"]),
        "kind_docs": {kind: len(ids) for kind, ids in found["kinds"].items()},
        "log": {"applied_seq": found["seq"], "head": found["head"]},
        "jobs": len(states),
        "jobs_failed": jobs["failed"],
        "settle_s": round(settled, 1),
        "wall_s": round(time.monotonic() - started, 1),
        **{column: len(ids) for column, ids in failures.items()},
        "examples": {column: ids[:10] for column, ids in failures.items() if ids},
    }


def markdown(report: dict[str, Any]) -> str:
    """The report: one row per mode, the loss columns last."""
    header = [
        "mode",
        "rounds",
        "kills api / worker / both",
        "kills during a job",
        "acknowledged docs (deletes)",
        "unknown outcome docs",
        *CHECKS.values(),
        "failed jobs",
        "settle s",
    ]
    rows = [
        [
            row["mode"],
            row["rounds"],
            " / ".join(str(row["kills"][target]) for target in TARGETS),
            row["kills_during_job"],
            f"{row['acknowledged_docs']} ({row['acknowledged_deletes']})",
            row["unknown_docs"],
            *(row[column] for column in CHECKS),
            len(row["jobs_failed"]),
            row["settle_s"],
        ]
        for row in report["modes"]
    ]
    kinds = ", ".join(json.dumps(config) for config in report["indexes"])
    return "\n\n".join(
        [
            f"# Fault injection ({report['date']})",
            f"`{report['command']}`",
            markdown_table(header, rows),
            f"Kinds: {kinds}. Seed {report['seed']}; kill after {report['window_s'][0]}-"
            f"{report['window_s'][1]} s of writes per round. Loss columns: target 0.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--mode", action="append", choices=["embedded", "distributed"], help="repeat; default both"
    )
    parser.add_argument("--rounds", type=int, default=20, help="kills per mode")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--window", type=float, nargs=2, default=[1.5, 4.0], help="min and max seconds of writes per round"
    )
    parser.add_argument("--settle-s", type=float, default=120.0, help="most seconds to wait for jobs to end")
    parser.add_argument("--redis", default="redis://localhost:6379/12", help="distributed mode (flushed)")
    parser.add_argument("--out", type=Path, help="write OUT.md and OUT.json")
    parser.add_argument("--keep", action="store_true", help="keep the data folders and logs")
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
    modes = args.mode or ["embedded", "distributed"]
    work = Path(tempfile.mkdtemp(prefix="tessera-faults-"))
    report: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m benchmarks.faults " + " ".join(sys.argv[1:] if argv is None else argv),
        "seed": args.seed,
        "window_s": args.window,
        "indexes": INDEXES,
        "settings": SERVICE_SETTINGS,
        "load_before": os.getloadavg(),
        "modes": [],
    }
    try:
        for number, mode in enumerate(modes):
            report["modes"].append(
                run_mode(
                    mode,
                    args.rounds,
                    args.seed + number,
                    redis_url=args.redis,
                    work=work,
                    window=tuple(args.window),
                    settle_s=args.settle_s,
                )
            )
    finally:
        if args.keep:
            print(f"data folders and logs kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    report["load_after"] = os.getloadavg()
    text = markdown(report)
    print(text)
    if args.out:
        write_report(args.out, text, report)
    lossy = [row["mode"] for row in report["modes"] if any(row[column] for column in CHECKS)]
    return 1 if lossy else 0


if __name__ == "__main__":
    raise SystemExit(main())
