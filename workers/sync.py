"""Bring every index kind of a collection up to date with its write log, in one commit.

The pending entries (those after the manifest's sequence number) are folded into their net effect
(the latest build's snapshot, if a build is pending, then the documents added and the ids deleted
after it, the last write of an id winning) and applied to each kind; the new versions of all kinds
become live together with the last entry's number (`indexers.storage.versions.commit_group`). A
crash before that commit leaves the previous state serving and the entries in the log for the next
run; a run that finds nothing pending does nothing.

Token kinds write each add as a new store segment; a merge (`merge_collection`) compacts a kind's
segments into one, dropping deleted documents, and commits it the same way with the sequence number
unchanged (it applies no write). Both run under the collection's write lock, so neither loses the
other's work, and a merge that crashes leaves the previous version serving.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from indexers.base import Doc, Index, Progress
from indexers.configs import IndexConfig
from indexers.errors import IndexNotFound
from indexers.kinds.late_interaction import TokenIndex
from indexers.models.encoding_cache import shared_encodings
from indexers.registry import create_index
from indexers.storage.versions import (
    Manifest,
    commit_group,
    current_version,
    open_version,
    read_manifest,
    save_version,
)
from service.jobs import CollectionSpec
from service.writelog import WriteLog

__all__ = ["Pending", "fold", "live_manifest", "merge_collection", "sync_collection"]


@dataclass
class Pending:
    """The net effect of the log entries after `after`, up to `seq`."""

    after: int
    seq: int
    snapshot: dict[str, Doc] | None = None
    upserts: dict[str, Doc] = field(default_factory=dict)
    deletes: set[str] = field(default_factory=set)
    entries: int = 0

    @property
    def size(self) -> int:
        """Documents to index per kind."""
        return len(self.snapshot) if self.snapshot is not None else len(self.upserts)


def fold(log: WriteLog, after: int, cancelled: Callable[[str], bool]) -> Pending | None:
    """The net effect of the entries after `after` (None: nothing pending); builds whose job was
    cancelled count for nothing (a build changes no content)."""
    entries = log.entries(after=after)
    if not entries:
        return None
    pending = Pending(after=after, seq=entries[-1].seq, entries=len(entries))
    for entry in entries:
        if entry.op == "build" and not cancelled(entry.job_id):
            pending.snapshot = {doc.id: doc for doc in log.documents(entry)}
            pending.upserts.clear()
            pending.deletes.clear()
        elif entry.op == "add":
            for doc in log.documents(entry):
                if pending.snapshot is not None:
                    pending.snapshot[doc.id] = doc
                else:
                    pending.upserts[doc.id] = doc
                    pending.deletes.discard(doc.id)
        elif entry.op == "delete":
            for doc_id in log.ids(entry):
                if pending.snapshot is not None:
                    pending.snapshot.pop(doc_id, None)
                else:
                    pending.upserts.pop(doc_id, None)
                    pending.deletes.add(doc_id)
    return pending


def live_manifest(root: Path, kinds: list[str]) -> Manifest:
    """The collection's manifest; for indexes committed one by one before manifests existed, their
    `CURRENT` versions at sequence number 0."""
    manifest = read_manifest(root)
    if manifest is not None:
        return manifest
    versions = {}
    for kind in kinds:
        try:
            versions[kind] = current_version(root, kind)
        except IndexNotFound:
            continue
    return Manifest(versions=versions, seq=0)


def _apply(
    config: IndexConfig, root: Path, live: str | None, pending: Pending, progress: Progress
) -> tuple[Index, bool] | None:
    """The kind's index with `pending` applied, and whether it changed (None: it would hold no
    documents and has no live version)."""
    if pending.snapshot is not None or live is None:
        docs = list(pending.snapshot.values() if pending.snapshot is not None else pending.upserts.values())
        if not docs:
            return None
        index = create_index(config)
        index.build(docs, progress=progress)
        return index, True
    index = open_version(root, config.kind, live)
    doomed = [doc_id for doc_id in pending.deletes if doc_id in index.docs.by_ext]
    if doomed:
        index.delete(doomed)
    if pending.upserts:
        index.add(list(pending.upserts.values()), progress=progress)
    return index, bool(doomed or pending.upserts)


def sync_collection(
    spec: CollectionSpec,
    root: Path,
    log: WriteLog,
    *,
    keep: int,
    cancelled: Callable[[str], bool],
    progress: Callable[[int, int], None],
    check: Callable[[], None],
    cache_bytes: int = 0,
    merge_segments: int = 0,
    job_seq: int | None = None,
) -> dict[str, Any]:
    """Apply the pending log entries to every kind and commit them together (call with the
    collection's write lock held). Returns the applied sequence number, the entries applied, the
    documents indexed per kind, each kind's live version and document count, (`merged`) the
    kinds merged after the commit, if any, and `applied_by_another_job` when the indexes held
    `job_seq` before this run (an earlier job applies every entry it finds, later writes included).

    Args:
        spec: the collection.
        root: its index root.
        log: its write log.
        keep: versions kept per kind.
        cancelled: whether a job id was cancelled.
        progress: called with (done, total) documents over all kinds.
        check: called before the commit; raises to abandon the run (cancellation).
        cache_bytes: memory for document encodings shared by the kinds that use one encoder
            model (`indexers.models.encoding_cache`); 0 encodes per kind.
        merge_segments: after the commit, merge the token kinds left with more segments than
            this (`merge_collection`); 0 never merges.
        job_seq: the write of the job running this, if any.
    """
    manifest = live_manifest(root, spec.kinds)
    earlier = {"applied_by_another_job": True} if job_seq is not None and job_seq <= manifest.seq else {}
    pending = fold(log, manifest.seq, cancelled)
    if pending is None:
        return {"seq": manifest.seq, "entries": 0, "documents": 0, **earlier}
    total = pending.size * len(spec.configs)
    versions: dict[str, str] = {}
    num_docs: dict[str, int] = {}
    with shared_encodings(cache_bytes) if cache_bytes else nullcontext():
        for position, config in enumerate(spec.configs):
            offset = position * pending.size

            def report(done: int, _total: int, offset: int = offset) -> None:
                progress(offset + min(done, pending.size), total)

            live = manifest.versions.get(config.kind)
            applied = _apply(config, root, live, pending, report)
            if applied is None:
                continue
            index, changed = applied
            if changed or live is None:
                live = save_version(index, root, config.kind)
            versions[config.kind] = live
            num_docs[config.kind] = index.num_docs
            progress(offset + pending.size, total)
    check()
    commit_group(root, versions, pending.seq, keep=keep)
    log.truncate(min(pending.seq, log.stored()))
    result = {
        "seq": pending.seq,
        "entries": pending.entries,
        "documents": pending.size,
        "versions": versions,
        "num_docs": num_docs,
        **earlier,
    }
    if merge_segments:
        merged = merge_collection(spec, root, keep=keep, max_segments=merge_segments)["merged"]
        if merged:
            result |= {"merged": merged, "versions": {**versions, **merged}}
    return result


def merge_collection(
    spec: CollectionSpec,
    root: Path,
    *,
    keep: int,
    max_segments: int = 1,
    deleted: bool = False,
    check: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Compact every token kind whose store has more than `max_segments` segments (or, with `deleted`,
    holds deleted documents, or whose residual codec is due a refit) into one segment
    of its live documents (`TokenIndex.compact`) and commit them with the other kinds' live versions,
    the sequence number unchanged (call with the collection's write lock held). Returns the sequence
    number and the new version of each merged kind.

    Args:
        spec: the collection.
        root: its index root.
        keep: versions kept per kind.
        max_segments: kinds with more segments than this are merged.
        deleted: merge kinds holding deleted documents too, however many segments they have.
        check: called before the commit; raises to abandon the run (cancellation).
    """
    manifest = live_manifest(root, spec.kinds)
    versions = dict(manifest.versions)
    merged: dict[str, str] = {}
    for config in spec.configs:
        live = versions.get(config.kind)
        if live is None:
            continue
        index = open_version(root, config.kind, live)
        if isinstance(index, TokenIndex) and (
            index.num_segments > max_segments
            or (deleted and index.docs.size > index.num_docs)
            or index.refit_due
        ):
            index.compact()
            merged[config.kind] = versions[config.kind] = save_version(index, root, config.kind)
    if merged:
        if check is not None:
            check()
        commit_group(root, versions, manifest.seq, keep=keep)
    return {"seq": manifest.seq, "merged": merged}
