"""Training pairs for token-encoder fine-tuning: labelled (BEIR layout) or pseudo-queries, and
lexical hard negatives; the trainers' shared options and check of their output folder.

Labelled pairs come from a BEIR-layout folder (`corpus.jsonl`, `queries.jsonl` and a qrels TSV,
read by `indexers.corpus`; rows with score <= 0 are skipped). Pseudo-query
pairs need only a corpus: a document's title (or first sentence) is the query, the rest of the
document its positive. Every problem is reported with the file and line.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
from scipy import sparse

from indexers.base import Doc
from indexers.corpus import beir_files, iter_qrels, read_documents, read_queries
from indexers.errors import InvalidInput

__all__ = [
    "PieceTfidf",
    "check_output_folder",
    "PseudoQuerySource",
    "TrainingPair",
    "add_pair_options",
    "add_pseudo_query_option",
    "labelled_pairs",
    "lexical_negatives",
    "mine_hard_negatives",
    "pseudo_query_pairs",
    "read_training_corpus",
]

PseudoQuerySource = Literal["title", "first_sentence"]
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True, slots=True)
class TrainingPair:
    """A query and the text of one relevant document (`positive_id` names it in the corpus)."""

    query: str
    positive: str
    positive_id: str


def add_pair_options(parser: argparse.ArgumentParser, fields: Mapping[str, Any]) -> None:
    """The options every encoder trainer takes: `--data`, `--out`, `--split` and `--base-model`, with
    the descriptions of the trainer config's fields of those names (`output` for `--out`)."""
    parser.add_argument("--data", type=Path, required=True, help=fields["data"].description)
    parser.add_argument("--out", dest="output", type=Path, required=True, help=fields["output"].description)
    parser.add_argument("--split", default="train", help=fields["split"].description)
    parser.add_argument("--base-model", default="minilm", help=fields["base_model"].description)


def add_pseudo_query_option(parser: argparse.ArgumentParser, fields: Mapping[str, Any]) -> None:
    """`--pseudo-queries title|first_sentence`, described by the trainer config's `pseudo_queries`
    field."""
    parser.add_argument(
        "--pseudo-queries", choices=get_args(PseudoQuerySource), help=fields["pseudo_queries"].description
    )


def check_output_folder(folder: Path) -> None:
    """A trainer's output folder must be absent or empty.

    Raises:
        InvalidInput: it is a file, or a folder with something in it.
    """
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InvalidInput(f"output folder {folder} already exists and is not empty")


def read_training_corpus(path: Path) -> dict[str, Doc]:
    """Documents by id (`indexers.corpus.read_documents`, every document with some text).

    Raises:
        InvalidInput: a line is not JSON, lacks an id, repeats one, or has no text (file:line named).
    """
    return read_documents(path, require_text=True)


def labelled_pairs(folder: Path, split: str = "train") -> tuple[list[TrainingPair], dict[str, Doc]]:
    """(query, positive) pairs of `folder/qrels/{split}.tsv`, and the corpus.

    Raises:
        InvalidInput: a file is missing or malformed, a qrels row names a query or document that
            does not exist, or a text is empty; the message names the file and line.
    """
    files = beir_files(folder, split)
    docs = read_training_corpus(files.corpus)
    queries = read_queries(files.queries)
    pairs: list[TrainingPair] = []
    for location, query_id, doc_id, relevance in iter_qrels(files.qrels):
        if query_id not in queries:
            raise InvalidInput(f"{location}: query id {query_id!r} is not in {files.queries}")
        if doc_id not in docs:
            raise InvalidInput(f"{location}: document id {doc_id!r} is not in {files.corpus}")
        if relevance > 0:
            pairs.append(TrainingPair(queries[query_id], docs[doc_id].full_text, doc_id))
    if not pairs:
        raise InvalidInput(f"{files.qrels}: no pair with a positive score")
    return pairs, docs


def pseudo_query_pairs(docs: dict[str, Doc], source: PseudoQuerySource) -> list[TrainingPair]:
    """Pairs from a corpus without labels: the title (or first sentence) as the query, the rest of
    the document as its positive. Documents without a title (or with a single sentence) are skipped.

    Raises:
        InvalidInput: no document yields a pair.
    """
    pairs = []
    for doc in docs.values():
        if source == "title":
            query, rest = (doc.title or "").strip(), doc.text.strip()
        else:
            first, *tail = _SENTENCE_END.split(doc.text.strip(), maxsplit=1)
            query, rest = first.strip(), f"{doc.title or ''} {''.join(tail)}".strip() if tail else ""
        if query and rest:
            pairs.append(TrainingPair(query, rest, doc.id))
    if not pairs:
        raise InvalidInput(f"no document yields a {source} pseudo-query")
    return pairs


class PieceTfidf:
    """TF-IDF over a tokenizer's word pieces, fitted on a corpus; `vectors` are L2-normalised rows, so
    the product of two gives cosine similarities."""

    def __init__(self, texts: Sequence[str], tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.vocab = int(tokenizer.vocab_size)
        counts = self._bags(texts)
        df = np.bincount(counts.indices, minlength=self.vocab)
        self.idf = np.log((1 + counts.shape[0]) / (1 + df)) + 1.0
        self.corpus = self._weigh(counts)

    def _bags(self, texts: Sequence[str]) -> sparse.csr_matrix:
        pieces = self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        rows = np.repeat(np.arange(len(pieces)), [len(p) for p in pieces])
        empty = np.zeros(0, np.int64)
        cols = np.concatenate([np.asarray(p, dtype=np.int64) for p in pieces]) if pieces else empty
        counts = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(pieces), self.vocab))
        counts.sum_duplicates()
        return counts

    def _weigh(self, counts: sparse.csr_matrix) -> sparse.csr_matrix:
        weighted = counts.multiply(self.idf).tocsr()
        norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1))).ravel()
        return sparse.diags(1.0 / np.maximum(norms, 1e-12)) @ weighted

    def vectors(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """Normalised TF-IDF rows of `texts` under the corpus's IDF."""
        return self._weigh(self._bags(texts))


def lexical_negatives(
    pairs: list[TrainingPair], docs: dict[str, Doc], tokenizer: Any, per_query: int
) -> list[list[str]]:
    """Lexical hard negatives: per pair, the ids of the `per_query` best TF-IDF matches of the query
    (over the model's own word pieces) that are not a positive of that query, best first."""
    ids = list(docs)
    tfidf = PieceTfidf([docs[i].full_text for i in ids], tokenizer)
    scores = (tfidf.vectors([p.query for p in pairs]) @ tfidf.corpus.T).toarray()
    positives: dict[str, set[str]] = {}
    for pair in pairs:
        positives.setdefault(pair.query, set()).add(pair.positive_id)
    negatives = []
    for row, pair in enumerate(pairs):
        chosen: list[str] = []
        for column in np.argsort(-scores[row]):
            if ids[column] not in positives[pair.query]:
                chosen.append(ids[column])
                if len(chosen) == per_query:
                    break
        negatives.append(chosen)
    return negatives


def mine_hard_negatives(
    pairs: list[TrainingPair], docs: dict[str, Doc], tokenizer: Any, per_query: int
) -> list[list[str]]:
    """The texts of each pair's `lexical_negatives`."""
    return [[docs[i].full_text for i in ids] for ids in lexical_negatives(pairs, docs, tokenizer, per_query)]
