"""Helpers shared by the API tests: configs with the fake encoder, settings, inline jobs, and the app
served by uvicorn on a loopback port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from celery.exceptions import Ignore
from fastapi.testclient import TestClient

from service.api.main import create_app
from service.settings import Settings

EXACT = {"kind": "exact", "encoder": {"model": "fake:hash", "batch_size": 8}}
DENSE = {"kind": "dense", "encoder": {"model": "fake:hash", "batch_size": 8}}
KEYS = {"key-alpha-0001": "alpha", "key-beta-00002": "beta"}
ALPHA = {"Authorization": "Bearer key-alpha-0001"}
BETA = {"Authorization": "Bearer key-beta-00002"}


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    return Settings(mode="embedded", data_dir=data_dir, ready_models=[], **overrides)


class InlineJobs:
    """Stands in for the broker: runs each sent task at once through the worker's task function."""

    def __init__(self, app: Any, run: bool = True) -> None:
        self.run = run
        self.sent: list[tuple[str, dict[str, Any]]] = []
        services = app.state.services
        self.backend = services.queue.celery.backend
        services.queue.celery.send_task = self.send_task

    @classmethod
    def attach(cls, app: Any, run: bool = True) -> InlineJobs:
        """Replace the running app's send_task; returns the stand-in."""
        return cls(app, run)

    def send_task(self, name: str, kwargs: dict[str, Any], task_id: str, **_: Any) -> None:
        self.sent.append((name, kwargs))
        if self.run:
            self.execute(name, kwargs, task_id)

    def run_pending(self) -> None:
        """Run every job sent while `run` was False, in order."""
        for name, kwargs in self.sent:
            task_id = kwargs["payload"]["job_id"]
            if self.backend.get_task_meta(task_id)["status"] == "PENDING":
                self.execute(name, kwargs, task_id)

    def execute(self, name: str, kwargs: dict[str, Any], task_id: str) -> None:
        from workers.tasks import app as worker_app

        try:
            result = worker_app.tasks[name](**kwargs)
        except Ignore:
            return  # the task stored its own final state (cancelled), as under a worker
        except Exception as exc:
            self.backend.mark_as_failure(task_id, exc)
        else:
            self.backend.mark_as_done(task_id, result)


def open_client(settings: Settings, run_jobs: bool = True) -> Iterator[tuple[TestClient, InlineJobs]]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client, InlineJobs(client.app, run=run_jobs)


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn in a thread on a free loopback port; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the API did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
