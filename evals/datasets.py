"""Loading BEIR-layout evaluation folders: `corpus.jsonl`, `queries.jsonl`, `qrels/{split}.tsv`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from indexers.base import Doc
from indexers.corpus import iter_json_lines, read_corpus
from indexers.errors import InvalidInput

__all__ = ["BeirDataset", "DatasetError", "Qrels", "load_beir", "read_qrels", "read_queries"]

Qrels = dict[str, dict[str, int]]
"""Relevance judgments: query id -> document id -> graded relevance (0 = judged not relevant)."""


class DatasetError(InvalidInput):
    """An evaluation folder is missing a file or split, or a file in it is malformed."""


@dataclass(frozen=True, slots=True)
class BeirDataset:
    """One split of a BEIR-layout folder, ready to evaluate.

    Attributes:
        name: the folder name (e.g. `scifact`).
        split: the qrels split (e.g. `dev`).
        docs: the corpus, in file order.
        queries: query id -> text, only for queries judged in this split.
        qrels: query id -> document id -> relevance, for the same queries.
        limit_docs: the corpus cut used for a smoke run, or None for the whole corpus.
    """

    name: str
    split: str
    docs: list[Doc]
    queries: dict[str, str]
    qrels: Qrels
    limit_docs: int | None = None


def read_queries(path: Path) -> dict[str, str]:
    """Read `{"_id", "text"}` JSONL into a dict.

    Raises:
        DatasetError: a line is not JSON, lacks `_id` / `text`, or repeats an id.
    """
    queries: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        try:
            for location, record in iter_json_lines(handle, f"{path}:"):
                if not isinstance(record, dict):
                    raise DatasetError(f"{location}: expected a JSON object")
                query_id = record.get("_id", record.get("id"))
                text = record.get("text")
                if query_id is None or not isinstance(text, str):
                    raise DatasetError(f"{location}: a query needs '_id' and a string 'text'")
                if str(query_id) in queries:
                    raise DatasetError(f"{location}: query id {query_id!r} appears twice")
                queries[str(query_id)] = text
        except DatasetError:
            raise
        except InvalidInput as exc:
            raise DatasetError(str(exc)) from exc
    return queries


def read_qrels(path: Path) -> Qrels:
    """Read a BEIR qrels TSV: an optional header line, then `query-id  corpus-id  score` rows.

    Raises:
        DatasetError: a row does not have three tab-separated fields with an integer score.
    """
    qrels: Qrels = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            fields = line.rstrip("\n\r").split("\t")
            if len(fields) != 3:
                raise DatasetError(f"{path}:{number}: expected 3 tab-separated fields, got {len(fields)}")
            query_id, doc_id, score = fields
            try:
                relevance = int(score)
            except ValueError as exc:
                if number == 1:  # header line ("query-id  corpus-id  score")
                    continue
                raise DatasetError(f"{path}:{number}: score {score!r} is not an integer") from exc
            qrels.setdefault(query_id, {})[doc_id] = relevance
    return qrels


def _require(path: Path, what: str) -> Path:
    if not path.is_file():
        present = sorted(p.name for p in path.parent.iterdir()) if path.parent.is_dir() else []
        raise DatasetError(f"{what} not found: {path} (the folder holds: {', '.join(present) or 'nothing'})")
    return path


def load_beir(folder: Path, split: str, limit_docs: int | None = None) -> BeirDataset:
    """Load one split of a BEIR-layout folder.

    Only queries judged in `qrels/{split}.tsv` are kept. With `limit_docs` (smoke runs), the corpus
    is cut to its first `limit_docs` documents, judgments on dropped documents are removed, and
    queries left without a relevant document are dropped: scores are then not comparable to the
    full corpus.

    Args:
        folder: the dataset folder.
        split: the qrels file name without `.tsv` (e.g. `dev`, `test`).
        limit_docs: keep only the first N documents.

    Raises:
        DatasetError: the folder, a file or the split is missing, a file is malformed, a judged
            query has no text, or no query is left to evaluate.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"dataset folder not found: {folder}")
    if limit_docs is not None and limit_docs < 1:
        raise DatasetError(f"limit_docs must be at least 1, got {limit_docs}")
    qrels_dir = folder / "qrels"
    qrels_path = qrels_dir / f"{split}.tsv"
    if not qrels_path.is_file():
        splits = sorted(p.stem for p in qrels_dir.glob("*.tsv")) if qrels_dir.is_dir() else []
        raise DatasetError(
            f"split {split!r} not found: no {qrels_path}; available splits: {', '.join(splits) or 'none'}"
        )
    qrels = read_qrels(qrels_path)
    all_queries = read_queries(_require(folder / "queries.jsonl", "queries file"))
    try:
        docs = list(read_corpus(_require(folder / "corpus.jsonl", "corpus file"), limit=limit_docs))
    except InvalidInput as exc:
        raise DatasetError(str(exc)) from exc

    missing = [qid for qid in qrels if qid not in all_queries]
    if missing:
        raise DatasetError(
            f"{len(missing)} judged queries of split {split!r} have no text in queries.jsonl "
            f"(first: {missing[0]!r})"
        )
    if limit_docs is not None:
        kept = {doc.id for doc in docs}
        qrels = {
            qid: judged
            for qid, judged in ((q, {d: r for d, r in j.items() if d in kept}) for q, j in qrels.items())
            if any(r > 0 for r in judged.values())
        }
    if not qrels:
        raise DatasetError(f"split {split!r} of {folder} leaves no query to evaluate")
    queries = {qid: all_queries[qid] for qid in qrels}
    return BeirDataset(
        name=folder.resolve().name,
        split=split,
        docs=docs,
        queries=queries,
        qrels=qrels,
        limit_docs=limit_docs,
    )
