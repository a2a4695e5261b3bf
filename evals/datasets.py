"""Evaluation data: BEIR-layout folders (corpus, queries, qrels), samplers, and LoCoMo.

BEIR files are read by `indexers.corpus` (shared with training), so a bad row is one error naming
the file and line everywhere; here they become a `DatasetError`. LoCoMo conversations are read
once, with one treatment of sessions (every `session_N`, in number order) and of shared photos (the
caption is part of the turn's text).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from indexers.base import Doc
from indexers.corpus import beir_files, read_documents
from indexers.corpus import read_qrels as _read_qrels
from indexers.corpus import read_queries as _read_queries
from indexers.errors import InvalidInput

__all__ = [
    "BeirDataset",
    "DatasetError",
    "LocomoQA",
    "LocomoSample",
    "LocomoSession",
    "LocomoTurn",
    "Qrels",
    "load_beir",
    "read_locomo",
    "read_qrels",
    "read_queries",
    "sample_docs",
    "sample_queries",
    "title_queries",
]

Qrels = dict[str, dict[str, int]]
"""Relevance judgments: query id -> document id -> graded relevance (0 = judged not relevant)."""


class DatasetError(InvalidInput):
    """An evaluation folder is missing a file or split, or a file in it is malformed."""


@contextmanager
def _dataset_errors() -> Iterator[None]:
    try:
        yield
    except DatasetError:
        raise
    except InvalidInput as exc:
        raise DatasetError(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class BeirDataset:
    """One split of a BEIR-layout folder, ready to evaluate.

    Attributes:
        name: the folder name (e.g. `scifact`).
        split: the qrels split (e.g. `dev`).
        docs: the corpus, in file order.
        queries: query id -> text, only for queries judged in this split.
        qrels: query id -> document id -> relevance, for the same queries.
        limit_docs: the size of a cut or subsampled corpus, or None for the whole corpus.
    """

    name: str
    split: str
    docs: list[Doc]
    queries: dict[str, str]
    qrels: Qrels
    limit_docs: int | None = None


def read_queries(path: Path) -> dict[str, str]:
    """Query id -> text from a queries JSONL file (see `indexers.corpus.read_queries`).

    Raises:
        DatasetError: a line is malformed (file and line named) or an id repeats.
    """
    with _dataset_errors():
        return _read_queries(path)


def read_qrels(path: Path) -> Qrels:
    """Judgments from a BEIR qrels TSV (see `indexers.corpus.read_qrels`).

    Raises:
        DatasetError: a row is malformed (file and line named).
    """
    with _dataset_errors():
        return _read_qrels(path)


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
    if limit_docs is not None and limit_docs < 1:
        raise DatasetError(f"limit_docs must be at least 1, got {limit_docs}")
    with _dataset_errors():
        files = beir_files(folder, split)
        qrels = _read_qrels(files.qrels)
        all_queries = _read_queries(files.queries)
        docs = list(read_documents(files.corpus, limit=limit_docs).values())

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
    return BeirDataset(
        name=Path(folder).resolve().name,
        split=split,
        docs=docs,
        queries={qid: all_queries[qid] for qid in qrels},
        qrels=qrels,
        limit_docs=limit_docs,
    )


def sample_docs(dataset: BeirDataset, size: int) -> BeirDataset:
    """The dataset over a corpus cut to `size` documents: every document judged for one of its
    queries, then the others in file order. Every query keeps its judgments; scores are higher
    than on the whole corpus and only comparable to runs on the same subsample.

    Raises:
        DatasetError: `size` is below 1.
    """
    if size < 1:
        raise DatasetError(f"sample size must be at least 1, got {size}")
    judged = {doc_id for judgments in dataset.qrels.values() for doc_id in judgments}
    keep = {d.id for d in dataset.docs if d.id in judged}
    for doc in dataset.docs:
        if len(keep) >= size:
            break
        keep.add(doc.id)
    docs = [d for d in dataset.docs if d.id in keep]
    return replace(dataset, docs=docs, limit_docs=len(docs))


def sample_queries(dataset: BeirDataset, size: int, seed: int = 0) -> BeirDataset:
    """The dataset with a seeded sample of `size` of its judged queries (all of them when fewer).

    Raises:
        DatasetError: `size` is below 1.
    """
    if size < 1:
        raise DatasetError(f"sample size must be at least 1, got {size}")
    chosen = sorted(random.Random(seed).sample(sorted(dataset.queries), min(size, len(dataset.queries))))
    return replace(
        dataset,
        queries={q: dataset.queries[q] for q in chosen},
        qrels={q: dataset.qrels[q] for q in chosen},
    )


def title_queries(dataset: BeirDataset, size: int, seed: int = 0) -> BeirDataset:
    """A known-item task over the same corpus: for a seeded sample of `size` titled documents, the
    first sentence of the text is the query and the document its one relevant answer (split `titles`).

    Raises:
        DatasetError: `size` is below 1, or no document has both a title and a sentence of text.
    """
    from indexers.train.genre import sentences  # the pseudo-query splitter GENRE training uses

    if size < 1:
        raise DatasetError(f"sample size must be at least 1, got {size}")
    usable = [d for d in dataset.docs if d.title and sentences(d.text)]
    if not usable:
        raise DatasetError(f"no document of {dataset.name} has a title and text to make a query from")
    sample = random.Random(seed).sample(usable, min(size, len(usable)))
    return replace(
        dataset,
        split="titles",
        queries={f"t{d.id}": sentences(d.text)[0] for d in sample},
        qrels={f"t{d.id}": {d.id: 1} for d in sample},
    )


# --- LoCoMo ----------------------------------------------------------------------------------------

_SESSION = re.compile(r"session_(\d+)")


@dataclass(frozen=True, slots=True)
class LocomoTurn:
    """One dialogue turn; a shared photo's caption ends the text as `[shares a photo of ...]`."""

    dia_id: str
    speaker: str
    text: str


@dataclass(frozen=True, slots=True)
class LocomoSession:
    """One session: its number, its date line as written (e.g. `1:56 pm on 8 May, 2023`), its turns."""

    number: int
    date_time: str | None
    turns: list[LocomoTurn]


@dataclass(frozen=True, slots=True)
class LocomoQA:
    """One question: the gold `answer` (None for adversarial ones, which carry `adversarial_answer`),
    its category (5 = adversarial), evidence turn ids, and its position in the sample's list."""

    position: int
    question: str
    answer: str | None
    adversarial_answer: str | None
    category: int
    evidence: list[str]


@dataclass(frozen=True, slots=True)
class LocomoSample:
    """One conversation with its sessions in number order and its questions."""

    sample_id: str
    sessions: list[LocomoSession]
    qa: list[LocomoQA]


def _turn(record: dict[str, Any]) -> LocomoTurn:
    text = record["text"]
    if record.get("blip_caption"):
        text = f"{text} [shares a photo of {record['blip_caption']}]"
    return LocomoTurn(dia_id=record["dia_id"], speaker=record["speaker"], text=text)


def _sample(record: dict[str, Any]) -> LocomoSample:
    conversation = record["conversation"]
    numbers = sorted(int(m.group(1)) for key in conversation if (m := _SESSION.fullmatch(key)))
    sessions = [
        LocomoSession(
            number=n,
            date_time=conversation.get(f"session_{n}_date_time"),
            turns=[_turn(turn) for turn in conversation[f"session_{n}"]],
        )
        for n in numbers
    ]
    qa = [
        LocomoQA(
            position=position,
            question=q["question"],
            answer=str(q["answer"]) if "answer" in q else None,
            adversarial_answer=str(q["adversarial_answer"]) if "adversarial_answer" in q else None,
            category=int(q["category"]),
            evidence=list(q.get("evidence", [])),
        )
        for position, q in enumerate(record["qa"])
    ]
    return LocomoSample(sample_id=record["sample_id"], sessions=sessions, qa=qa)


def read_locomo(path: Path) -> list[LocomoSample]:
    """Every conversation of a LoCoMo JSON file (e.g. `locomo10.json`), in file order.

    Raises:
        DatasetError: the file is not JSON or a conversation lacks a field (the sample is named).
    """
    try:
        records = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"cannot read LoCoMo file {path}: {exc}") from exc
    samples = []
    for number, record in enumerate(records):
        try:
            samples.append(_sample(record))
        except (KeyError, TypeError, ValueError) as exc:
            name = record.get("sample_id", number) if isinstance(record, dict) else number
            raise DatasetError(f"{path}: conversation {name!r} is malformed ({exc!r})") from exc
    return samples
