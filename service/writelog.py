"""A collection's write log: every accepted write, numbered in the order it was accepted, durable
before the API acknowledges it (shared by the API and the workers; pydantic and stdlib only).

The API appends a write (the commit point: an entry file appears whole or not at all), applies it
to the document store and notes that in `STORED`; workers apply every entry after the indexes'
sequence number, in order, and commit all kinds at once with the new number
(`indexers.storage.versions.commit_group`). Any job of a collection therefore brings it up to date,
a job run twice or late finds nothing left to do, and an entry whose job was lost is applied by the
next one. Entries go once both the store and the indexes have them.

Layout of `collections/{tenant}/{name}/log/`:
    {seq:012d}.jsonl   one write: a header line (seq, op, job id, time), then one JSON line per
                       document (add, build: the build's snapshot of the store) or per id (delete)
    HEAD               the highest sequence number given so far
    STORED             the highest sequence number applied to the document store
    .lock              held by whoever appends (and applies to the store)
"""

from __future__ import annotations

import fcntl
import json
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from indexers.base import Doc
from indexers.corpus import doc_from_record, iter_json_lines
from indexers.storage.versions import atomic_write

__all__ = ["Entry", "WriteLog", "WriteOp", "doc_line"]

WriteOp = Literal["add", "delete", "build"]
_ENTRY = re.compile(r"^(\d{12})\.jsonl$")
STALE_TMP_S = 3600.0


class Entry(BaseModel):
    """The header of one accepted write."""

    seq: int
    op: WriteOp
    job_id: str
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


def doc_line(doc: Doc) -> str:
    """One document as a JSON line of the log (the corpus record shape)."""
    record = {"_id": doc.id, "title": doc.title, "text": doc.text, "metadata": doc.metadata}
    return json.dumps(record, ensure_ascii=False)


class WriteLog:
    """The write log in `folder` (created on first append)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @contextmanager
    def appending(self) -> Iterator[None]:
        """Hold the log's append lock (one appender at a time, across processes)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _path(self, seq: int) -> Path:
        return self.folder / f"{seq:012d}.jsonl"

    def _counter(self, name: str) -> int:
        try:
            return int((self.folder / name).read_text().strip() or 0)
        except FileNotFoundError:
            return 0

    def _seqs(self) -> list[int]:
        if not self.folder.is_dir():
            return []
        return sorted(int(m.group(1)) for p in self.folder.iterdir() if (m := _ENTRY.match(p.name)))

    def head(self) -> int:
        """The highest sequence number given so far (0: none). `STORED` counts too: an append that
        died after its entry's rename left `HEAD` behind, and once the entry is truncated (never
        beyond `STORED`) its number must not be given again."""
        return max([self._counter("HEAD"), self.stored(), *self._seqs()])

    def stored(self) -> int:
        """The highest sequence number the document store has applied."""
        return self._counter("STORED")

    def append(self, op: WriteOp, job_id: str, lines: Iterable[str]) -> Entry:
        """Durably add one write after the last (call with `appending()` held). Returns its header."""
        entry = Entry(seq=self.head() + 1, op=op, job_id=job_id)
        body = "\n".join([entry.model_dump_json(), *lines]) + "\n"
        atomic_write(self._path(entry.seq), body)
        atomic_write(self.folder / "HEAD", str(entry.seq))
        self._sweep_tmp()
        return entry

    def mark_stored(self, seq: int) -> None:
        """Note that the document store has applied every entry up to `seq`."""
        atomic_write(self.folder / "STORED", str(seq))

    def entries(self, after: int = 0) -> list[Entry]:
        """Headers of the entries after `after`, oldest first."""
        found = []
        for seq in self._seqs():
            if seq > after:
                with open(self._path(seq), encoding="utf-8") as handle:
                    found.append(Entry.model_validate_json(handle.readline()))
        return found

    def _body(self, entry: Entry) -> Iterator[tuple[str, object]]:
        with open(self._path(entry.seq), encoding="utf-8") as handle:
            values = iter_json_lines(handle, f"{self._path(entry.seq)} line ")
            next(values)  # the header
            yield from values

    def documents(self, entry: Entry) -> Iterator[Doc]:
        """The documents of an add or build entry."""
        for where, record in self._body(entry):
            yield doc_from_record(record, where)  # type: ignore[arg-type]

    def ids(self, entry: Entry) -> list[str]:
        """The document ids of a delete entry."""
        return [str(value) for _, value in self._body(entry)]

    def truncate(self, upto: int) -> None:
        """Remove the entries up to `upto` (both the store and the indexes have applied them)."""
        for seq in self._seqs():
            if seq <= upto:
                self._path(seq).unlink(missing_ok=True)

    def _sweep_tmp(self) -> None:
        """Remove temporary files that crashed appends left (older than an hour)."""
        now = time.time()
        for leftover in self.folder.glob(".*.jsonl.*"):
            try:
                if now - leftover.stat().st_mtime > STALE_TMP_S:
                    leftover.unlink(missing_ok=True)
            except FileNotFoundError:
                continue
