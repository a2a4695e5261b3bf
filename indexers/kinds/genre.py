"""GENRE-style generative retrieval: a causal LM writes a document's name token by token, constrained
to the names in a prefix trie, and the names map back to document ids.

Decoder-only: the query goes into a prompt (the model's chat template by default) and the name is the
model's reply. Names come from `metadata[name_key]`, else the title, else the start of the text, plus
optional aliases (`metadata[aliases_key]`, a list of strings). Adding a document only inserts its names
into the trie and deleting releases them (no retraining). Two documents may share a name: both are
returned with the same score, and their hits carry `metadata["_genre"] = {"name", "shared_with"}`;
`shared_names(doc_id)` lists every ambiguous name of a document (the API puts it on each hit).

Scores are the names' sequence log-probabilities (see `indexers.generation.trie_decoding`). A query longer
than `query_max_tokens` (or than what the model's context window leaves after the prompt and the longest
name) is cut to fit: its leading tokens are kept.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np

from indexers.base import (
    Doc,
    Hit,
    Index,
    Progress,
    SharedName,
    validate_docs,
    validate_queries,
)
from indexers.configs import GenreConfig
from indexers.errors import CorruptIndex, DocumentNotFound, InvalidConfig, InvalidInput
from indexers.generation.name_trie import NameTrie
from indexers.generation.trie_decoding import DecodeStats, Generated, PromptPrefix, constrained_beam_search
from indexers.models.causal_lm import CausalLM, default_cache_dir, load_causal_lm
from indexers.models.encoders import device_for
from indexers.storage.doc_table import DocTable
from indexers.storage.resident import array_bytes

__all__ = ["GenreIndex", "GenrePrompt", "doc_names"]

logger = logging.getLogger(__name__)

TRIE_DIR = "trie"
REFS_FILE = "name_refs.npz"
SLOT = "{query}"


def doc_names(doc: Doc, config: GenreConfig) -> list[str]:
    """The names `doc` can be retrieved by: its primary name, then its aliases (whitespace collapsed).

    Raises:
        InvalidInput: a name or alias is not a string, or is empty.
    """
    primary = doc.metadata.get(config.name_key) or doc.title or doc.text[: 16 * config.max_name_tokens]
    aliases = doc.metadata.get(config.aliases_key) or []
    if not isinstance(aliases, list):
        raise InvalidInput(f"document {doc.id!r}: metadata[{config.aliases_key!r}] must be a list of strings")
    names: list[str] = []
    for name in [primary, *aliases]:
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput(f"document {doc.id!r}: name {name!r} is empty or not a string")
        name = " ".join(name.split())
        if name not in names:
            names.append(name)
    return names


@dataclass(frozen=True)
class GenrePrompt:
    """The prompt around a query, pre-tokenised: `prefix + query + suffix`, then the name.

    Whitespace that ends the prefix (or the suffix) moves onto the query (or the names), as a
    byte-level BPE tokenizer would attach it when the text is tokenised whole.
    """

    prefix: list[int]
    suffix: list[int]
    query_space: str
    name_space: str
    query_budget: int

    @classmethod
    def for_model(cls, lm: CausalLM, config: GenreConfig) -> GenrePrompt:
        """Split the (chat-wrapped) prompt around its query slot and size the query budget.

        Raises:
            InvalidConfig: the prompt and the longest name leave no room for a query in the context window.
        """
        tokenizer = lm.tokenizer
        text = config.prompt
        if config.chat and getattr(tokenizer, "chat_template", None):
            text = tokenizer.apply_chat_template(
                [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=False
            )
        before, after = text.split(SLOT)
        stripped_before, stripped_after = before.rstrip(" "), after.rstrip(" ")
        prefix = tokenizer(stripped_before, add_special_tokens=False)["input_ids"]
        suffix = tokenizer(stripped_after, add_special_tokens=False)["input_ids"]
        budget = min(
            config.query_max_tokens,
            lm.context_window - len(prefix) - len(suffix) - config.max_name_tokens - 1,
        )
        if budget < 1:
            raise InvalidConfig(
                f"the prompt ({len(prefix) + len(suffix)} tokens) and names of up to "
                f"{config.max_name_tokens} tokens leave no room for a query in the context window "
                f"of {lm.context_window} tokens"
            )
        return cls(prefix, suffix, before[len(stripped_before) :], after[len(stripped_after) :], budget)

    def name_ids(self, tokenizer: Any, names: Sequence[str], max_tokens: int) -> list[list[int]]:
        """Token ids of names as written after the prompt (no end token), cut to `max_tokens`."""
        if not names:
            return []
        end = tokenizer.eos_token_id
        encoded = tokenizer([self.name_space + name for name in names], add_special_tokens=False)["input_ids"]
        return [[t for t in ids[:max_tokens] if t != end] for ids in encoded]

    def ids(self, tokenizer: Any, query: str) -> list[int]:
        """The prompt's token ids for `query` (cut to the query budget)."""
        tokens = tokenizer(self.query_space + query, add_special_tokens=False)["input_ids"]
        if len(tokens) > self.query_budget:
            logger.debug("query cut from %d to %d tokens", len(tokens), self.query_budget)
            tokens = tokens[: self.query_budget]
        return [*self.prefix, *tokens, *self.suffix]


class GenreIndex(Index):
    """Generative retrieval over the names of the documents; see the module docstring.

    Not safe for a mutation running concurrently with searches (single writer).
    """

    kind = "genre"
    config: GenreConfig

    def __init__(self, config: GenreConfig) -> None:
        super().__init__(config)
        self.trie: NameTrie | None = None  # created on the first build or add (needs the tokenizer)
        self._ref_doc = np.zeros(0, dtype=np.int64)  # one row per (document, name), documents ascending
        self._ref_name = np.zeros(0, dtype=np.int32)
        self._docs_of_name: tuple[np.ndarray, np.ndarray] | None = None
        self.stats = DecodeStats()

    def memory_bytes(self) -> int:
        """The document table, the name trie and the name references (the LM is shared, not counted)."""
        trie = self.trie.memory_bytes() if self.trie is not None else 0
        return (
            super().memory_bytes()
            + trie
            + array_bytes(self._ref_doc, self._ref_name, *(self._docs_of_name or ()))
        )

    @functools.cached_property
    def lm(self) -> CausalLM:
        """The tokenizer and causal LM (loaded once per process)."""
        cache = Path(self.config.cache_dir) if self.config.cache_dir else default_cache_dir()
        return load_causal_lm(self.config.model, cache, device_for(self.config.device))

    @functools.cached_property
    def prompt(self) -> GenrePrompt:
        return GenrePrompt.for_model(self.lm, self.config)

    @functools.cached_property
    def _prompt_prefix(self) -> PromptPrefix:
        return PromptPrefix(self.lm.model, self.prompt.prefix)

    # --- writing ---------------------------------------------------------------------------

    def build(self, docs: Iterable[Doc], progress: Progress | None = None) -> None:
        """Index the names of `docs` from scratch: one vectorised trie build."""
        docs = list(docs)
        validate_docs(docs)
        names = self._tokenize(docs)
        table = DocTable()
        internal = table.assign(docs)
        counts = [len(n) for n in names]
        trie, name_ids = NameTrie.from_names([s for n in names for s in n], *self._vocab())
        self.trie, self.docs = trie, table
        self._ref_doc, self._ref_name = np.repeat(internal, counts), name_ids
        self._docs_of_name = None
        if progress is not None:
            progress(len(docs), len(docs))

    def add(self, docs: Sequence[Doc], progress: Progress | None = None) -> None:
        """Insert the names of `docs` into the trie; an existing id's old names are released first."""
        validate_docs(docs)
        if not docs:
            return
        names = self._tokenize(docs)
        if self.trie is None:
            self.trie = NameTrie(*self._vocab())
        self._release([self.docs.by_ext[d.id] for d in docs if d.id in self.docs.by_ext])
        internal = self.docs.assign(docs)
        new_ids = [self.trie.insert(s) for n in names for s in n]
        self._ref_doc = np.concatenate([self._ref_doc, np.repeat(internal, [len(n) for n in names])])
        self._ref_name = np.concatenate([self._ref_name, np.asarray(new_ids, dtype=np.int32)])
        self.trie.compact_if_large()
        self._docs_of_name = None
        if progress is not None:
            progress(len(docs), len(docs))

    def delete(self, doc_ids: Sequence[str]) -> None:
        """Tombstone `doc_ids` (unknown ids are ignored) and release their names from the trie."""
        self._release(self.docs.delete(doc_ids))

    def _release(self, internal_ids: list[int]) -> None:
        if self.trie is None:
            return
        for internal in internal_ids:
            start, stop = np.searchsorted(self._ref_doc, [internal, internal + 1])
            for name in self._ref_name[start:stop]:
                self.trie.release(int(name))
        self._docs_of_name = None

    def _vocab(self) -> tuple[int, int]:
        """End token and vocabulary size of the model's tokenizer."""
        tokenizer = self.lm.tokenizer
        return int(tokenizer.eos_token_id), len(tokenizer)

    def _tokenize(self, docs: Sequence[Doc]) -> list[list[list[int]]]:
        """Token ids of every name of every document, cut to `max_name_tokens`.

        Raises:
            InvalidInput: a name is empty or tokenises to nothing (the document is named).
        """
        names = [doc_names(doc, self.config) for doc in docs]
        tokens = iter(
            self.prompt.name_ids(
                self.lm.tokenizer, [n for ns in names for n in ns], self.config.max_name_tokens
            )
        )
        out: list[list[list[int]]] = []
        for doc, doc_name_list in zip(docs, names, strict=True):
            seqs = [next(tokens) for _ in doc_name_list]
            for name, seq in zip(doc_name_list, seqs, strict=True):
                if not seq:
                    raise InvalidInput(f"document {doc.id!r}: name {name!r} tokenises to nothing")
            out.append(seqs)
        return out

    # --- searching -------------------------------------------------------------------------

    def search(self, queries: Sequence[str], k: int = 10) -> list[list[Hit]]:
        """Up to k documents per query whose names the model generates, best first (sequence log-prob).

        At most `num_beams` names come out per query, so fewer than k hits may return.

        Raises:
            InvalidInput: a query is empty, or `k` < 1.
        """
        validate_queries(queries, k)
        if self.trie is None or self.num_docs == 0:
            return [[] for _ in queries]
        self._check_model()
        tokenizer = self.lm.tokenizer
        prompts = [self.prompt.ids(tokenizer, query) for query in queries]
        results: list[list[Hit]] = []
        for start in range(0, len(prompts), self.config.query_batch):
            generated = constrained_beam_search(
                self.lm.model,
                prompts[start : start + self.config.query_batch],
                self.trie,
                num_beams=self.config.num_beams,
                length_penalty=self.config.length_penalty,
                stats=self.stats,
                prefix=self._prompt_prefix if self.prompt.prefix else None,
            )
            results.extend(self._hits(names, k) for names in generated)
        return results

    def _hits(self, generated: list[Generated], k: int) -> list[Hit]:
        """Map generated names to live documents, best first, each document once."""
        hits: list[Hit] = []
        seen: set[int] = set()
        for gen in generated:
            owners = self._owners(gen.name_id)
            for internal in owners:
                hit = self.docs.hit(internal, gen.score)
                if hit is None or internal in seen:
                    continue
                seen.add(internal)
                if len(owners) > 1:
                    shared = self._shared(gen.name_id, internal, owners)
                    ambiguity = {"name": shared.name, "shared_with": shared.shared_with}
                    hit = Hit(hit.doc_id, hit.score, {**hit.metadata, "_genre": ambiguity})
                hits.append(hit)
                if len(hits) == k:
                    return hits
        return hits

    def shared_names(self, doc_id: str) -> list[SharedName]:
        """The names of `doc_id` that other live documents go by too (see `SharesNames`).

        Raises:
            DocumentNotFound: `doc_id` is not in the index.
        """
        internal = self.docs.by_ext.get(doc_id)
        if internal is None:
            raise DocumentNotFound(f"document {doc_id!r} is not in the index")
        start, stop = np.searchsorted(self._ref_doc, [internal, internal + 1])
        shared = []
        for name_id in self._ref_name[start:stop]:
            owners = self._owners(int(name_id))
            if len(owners) > 1:
                shared.append(self._shared(int(name_id), internal, owners))
        return shared

    def _owners(self, name_id: int) -> list[int]:
        """The live documents (internal ids) that go by a name."""
        order, sorted_names = self._name_index()
        start, stop = np.searchsorted(sorted_names, [name_id, name_id + 1])
        alive = self.docs.alive()
        return [int(d) for d in self._ref_doc[order[start:stop]] if alive[d]]

    def _shared(self, name_id: int, internal: int, owners: list[int]) -> SharedName:
        assert self.trie is not None
        name = self.lm.tokenizer.decode(list(self.trie.sequence(name_id)[:-1])).strip()
        return SharedName(name, [str(self.docs.ext_ids[o]) for o in owners if o != internal])

    def _name_index(self) -> tuple[np.ndarray, np.ndarray]:
        """Reference rows sorted by name id, and those name ids (rebuilt after a change)."""
        if self._docs_of_name is None:
            order = np.argsort(self._ref_name, kind="stable")
            self._docs_of_name = (order, self._ref_name[order])
        return self._docs_of_name

    def _check_model(self) -> None:
        assert self.trie is not None
        end, vocab = self._vocab()
        if (self.trie.end_token, self.trie.vocab_size) != (end, vocab):
            raise CorruptIndex(
                f"the name trie was built for a tokenizer with end token {self.trie.end_token} and "
                f"{self.trie.vocab_size} tokens, but model {self.config.model!r} has {end} and {vocab}"
            )

    # --- files -----------------------------------------------------------------------------

    def _save_payload(self, path: Path) -> None:
        if self.trie is None:
            return
        live = self.docs.alive()[self._ref_doc] if len(self._ref_doc) else np.zeros(0, dtype=bool)
        self._ref_doc, self._ref_name, self._docs_of_name = self._ref_doc[live], self._ref_name[live], None
        self.trie.save(path / TRIE_DIR)
        np.savez(path / REFS_FILE, doc=self._ref_doc, name=self._ref_name)

    @classmethod
    def _load_payload(cls, path: Path, config: GenreConfig) -> Self:  # type: ignore[override]
        loaded = cls(config)
        if not (path / TRIE_DIR).is_dir():
            return loaded  # saved before any document was added
        loaded.trie = NameTrie.load(path / TRIE_DIR)
        try:
            with np.load(path / REFS_FILE) as refs:
                loaded._ref_doc, loaded._ref_name = refs["doc"], refs["name"]
        except (OSError, KeyError, ValueError) as exc:
            raise CorruptIndex(f"{path}: unreadable {REFS_FILE}: {exc}") from exc
        return loaded
