"""Reading documents from JSONL (BEIR layout: `_id` or `id`, `title`, `text`, optional `metadata`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from indexers.base import Doc
from indexers.errors import InvalidInput

__all__ = ["doc_from_record", "iter_json_lines", "read_corpus"]


def doc_from_record(record: dict[str, Any], where: str = "record") -> Doc:
    """Build a Doc from one JSON object.

    Raises:
        InvalidInput: the record has no id, no string text, or a non-object metadata.
    """
    if not isinstance(record, dict):
        raise InvalidInput(f"{where}: expected a JSON object, got {type(record).__name__}")
    doc_id = record.get("_id", record.get("id"))
    if doc_id is None or (isinstance(doc_id, str) and not doc_id.strip()):
        raise InvalidInput(f"{where}: missing document id ('_id' or 'id')")
    text = record.get("text", "")
    title = record.get("title") or None
    metadata = record.get("metadata") or {}
    if not isinstance(text, str) or (title is not None and not isinstance(title, str)):
        raise InvalidInput(f"{where}: 'text' and 'title' must be strings")
    if not isinstance(metadata, dict):
        raise InvalidInput(f"{where}: 'metadata' must be an object")
    return Doc(id=str(doc_id), text=text, title=title, metadata=metadata)


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
