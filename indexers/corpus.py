"""Reading documents from JSONL (BEIR layout: `_id` or `id`, `title`, `text`, optional `metadata`), and
the rest of a BEIR-layout folder: `queries.jsonl` and `qrels/{split}.tsv`.

These are the only readers of these files: evaluation (`evals.datasets`) and training
(`indexers.train`) build on them, so a bad row is always an `InvalidInput` naming the file and line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from indexers.base import Doc
from indexers.errors import InvalidInput

__all__ = [
    "BeirFiles",
    "beir_files",
    "doc_from_record",
    "iter_json_lines",
    "iter_qrels",
    "read_corpus",
    "read_documents",
    "read_qrels",
    "read_queries",
]


def _record_id(record: Any, where: str, noun: str) -> str:
    """The `_id` (or `id`) of one JSON object record, as a string.

    Raises:
        InvalidInput: the record is not an object, or its id is missing or blank.
    """
    if not isinstance(record, dict):
        raise InvalidInput(f"{where}: expected a JSON object, got {type(record).__name__}")
    value = record.get("_id", record.get("id"))
    if value is None or not str(value).strip():
        raise InvalidInput(f"{where}: missing {noun} id ('_id' or 'id')")
    return str(value)


def doc_from_record(record: dict[str, Any], where: str = "record") -> Doc:
    """Build a Doc from one JSON object.

    Raises:
        InvalidInput: the record has no id, no string text, or a non-object metadata.
    """
    doc_id = _record_id(record, where, "document")
    text = record.get("text", "")
    title = record.get("title") or None
    metadata = record.get("metadata") or {}
    if not isinstance(text, str) or (title is not None and not isinstance(title, str)):
        raise InvalidInput(f"{where}: 'text' and 'title' must be strings")
    if not isinstance(metadata, dict):
        raise InvalidInput(f"{where}: 'metadata' must be an object")
    return Doc(id=doc_id, text=text, title=title, metadata=metadata)


def iter_json_lines(lines: Iterable[str], where: str = "line ") -> Iterator[tuple[str, Any]]:
    """Parse JSON lines, skipping blank ones; yields `(f"{where}{line number}", value)`.

    Raises:
        InvalidInput: a line is not valid JSON (its location is named).
    """
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield f"{where}{number}", json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{where}{number}: invalid JSON ({exc.msg})") from exc


def read_corpus(path: Path, limit: int | None = None) -> Iterator[Doc]:
    """Stream documents from a JSONL file, skipping blank lines.

    Raises:
        InvalidInput: a line is not valid JSON or not a document (the line number is named).
    """
    with open(path, encoding="utf-8") as handle:
        for count, (location, record) in enumerate(iter_json_lines(handle, f"{path}:")):
            if limit is not None and count >= limit:
                return
            yield doc_from_record(record, location)


def read_documents(path: Path, limit: int | None = None, *, require_text: bool = False) -> dict[str, Doc]:
    """Documents by id, in file order (the first `limit` when given).

    Args:
        path: a JSONL corpus.
        limit: keep only the first N documents.
        require_text: also reject a document whose title and text are both empty (training data).

    Raises:
        InvalidInput: a line is not JSON or not a document, an id appears twice, a text is empty
            under `require_text`, or the file holds no document (the file and line are named).
    """
    docs: dict[str, Doc] = {}
    with open(path, encoding="utf-8") as handle:
        for location, record in iter_json_lines(handle, f"{path}:"):
            if limit is not None and len(docs) >= limit:
                break
            doc = doc_from_record(record, location)
            if require_text and not doc.full_text.strip():
                raise InvalidInput(f"{location}: document {doc.id!r} has empty text")
            if doc.id in docs:
                raise InvalidInput(f"{location}: document id {doc.id!r} appears twice")
            docs[doc.id] = doc
    if not docs:
        raise InvalidInput(f"{path}: no documents")
    return docs


def read_queries(path: Path) -> dict[str, str]:
    """Queries (`{"_id" or "id", "text"}` JSON lines) by id, in file order.

    Raises:
        InvalidInput: a line is not a JSON object, lacks an id, has no (or blank) string text, or
            repeats an id (the file and line are named).
    """
    queries: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for location, record in iter_json_lines(handle, f"{path}:"):
            query_id = _record_id(record, location, "query")
            text = record.get("text")
            if not isinstance(text, str) or not text.strip():
                raise InvalidInput(f"{location}: query {query_id!r} has empty text")
            if query_id in queries:
                raise InvalidInput(f"{location}: query id {query_id!r} appears twice")
            queries[query_id] = text
    return queries


def iter_qrels(path: Path) -> Iterator[tuple[str, str, str, int]]:
    """Rows of a BEIR qrels TSV: an optional header line, then `query-id  corpus-id  score`.

    Yields:
        `(f"{path}:{line}", query id, document id, relevance)` per row; blank lines are skipped.

    Raises:
        InvalidInput: a row does not have three tab-separated fields, an id is empty, or the score
            is not an integer (the file and line are named).
    """
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            location = f"{path}:{number}"
            fields = line.rstrip("\n\r").split("\t")
            if len(fields) != 3:
                raise InvalidInput(f"{location}: expected 3 tab-separated fields, got {len(fields)}")
            query_id, doc_id, score = (field.strip() for field in fields)
            try:
                relevance = int(score)
            except ValueError as exc:
                if number == 1:  # header line ("query-id  corpus-id  score")
                    continue
                raise InvalidInput(f"{location}: score {score!r} is not an integer") from exc
            if not query_id or not doc_id:
                raise InvalidInput(f"{location}: missing query id or document id")
            yield location, query_id, doc_id, relevance


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """Judgments of a qrels TSV: query id -> document id -> graded relevance (0 = judged not relevant).

    Raises:
        InvalidInput: as `iter_qrels`.
    """
    qrels: dict[str, dict[str, int]] = {}
    for _, query_id, doc_id, relevance in iter_qrels(path):
        qrels.setdefault(query_id, {})[doc_id] = relevance
    return qrels


@dataclass(frozen=True, slots=True)
class BeirFiles:
    """The three files of one split of a BEIR-layout folder."""

    corpus: Path
    queries: Path
    qrels: Path


def _present(path: Path, what: str) -> Path:
    if not path.is_file():
        present = sorted(p.name for p in path.parent.iterdir()) if path.parent.is_dir() else []
        raise InvalidInput(f"{what} not found: {path} (the folder holds: {', '.join(present) or 'nothing'})")
    return path


def beir_files(folder: Path, split: str) -> BeirFiles:
    """The corpus, queries and `qrels/{split}.tsv` of a BEIR-layout folder, checked to exist.

    Raises:
        InvalidInput: the folder, the split (the available ones are named) or a file is missing.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidInput(f"dataset folder not found: {folder}")
    qrels_dir = folder / "qrels"
    qrels = qrels_dir / f"{split}.tsv"
    if not qrels.is_file():
        splits = sorted(p.stem for p in qrels_dir.glob("*.tsv")) if qrels_dir.is_dir() else []
        raise InvalidInput(
            f"split {split!r} not found: no {qrels}; available splits: {', '.join(splits) or 'none'}"
        )
    return BeirFiles(
        corpus=_present(folder / "corpus.jsonl", "corpus file"),
        queries=_present(folder / "queries.jsonl", "queries file"),
        qrels=qrels,
    )
