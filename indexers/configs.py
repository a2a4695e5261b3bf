"""Pydantic configuration per index kind, and the discriminated `IndexConfig` union.

Import-light on purpose (pydantic only): the API validates configs without importing torch.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from indexers.errors import InvalidConfig

__all__ = [
    "BM25Config",
    "DenseConfig",
    "EncoderConfig",
    "ExactConfig",
    "GENRE_ENTITY_PROMPT",
    "GENRE_RETRIEVAL_PROMPT",
    "GenreConfig",
    "IndexConfig",
    "LensConfig",
    "PooledColBERTConfig",
    "XTRConfig",
    "SlimConfig",
    "parse_config",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EncoderConfig(_Frozen):
    """Which model encodes text, and how.

    `model` is a packaged alias (`minilm`, `mpnet`, `splade-tiny`), a local folder, a Hugging Face hub
    name, or `fake:hash` / `fake:hash:<dim>` for the deterministic test encoder.
    """

    model: str = "minilm"
    batch_size: int = Field(16, ge=1, le=4096)
    doc_max_length: int = Field(256, ge=8, le=8192, description="documents are cut to this many tokens")
    query_max_length: int = Field(
        128, ge=4, le=8192, description="longer queries are rejected with InvalidInput"
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    quantize: Literal["none", "int8"] = Field(
        "none", description="int8 dynamic quantisation of linear layers (CPU only)"
    )
    query_prefix: str = ""
    document_prefix: str = ""


_ResidualBits = Annotated[Literal[2, 4], Field(description="residual codec: bits per dimension")]
_ResidualPQM = Annotated[
    Annotated[int, Field(ge=0)] | Literal["auto"] | None,
    Field(
        description="residual codec: product-quantise each residual into this many one-byte codes "
        "(must divide the dimension; auto: about one byte per 6 dimensions, 64 for 384); "
        "0 or None: residual_bits per dimension instead",
    ),
]
_NumCentroids = Annotated[
    int | None,
    Field(
        ge=16,
        description="residual codec: k-means centroids; default about 16 * sqrt(n_vectors), "
        "4 * sqrt(n_vectors) with residual_pq_m",
    ),
]
_ReduceDim = Annotated[
    int | None,
    Field(ge=8, description="residual codec: PCA dimension for documents and queries; None keeps it"),
]
_ResidualMinVectors = Annotated[
    int,
    Field(
        ge=0,
        description="residual codec: vectors stored as float16 before the codec is fitted on all of "
        "them (and the store re-encoded once)",
    ),
]
_ResidualRefitGrowth = Annotated[
    float,
    Field(
        ge=0,
        description="residual codec: once the store holds this many times the vectors the codec was "
        "fitted for, the next merge refits it on the decoded vectors and re-encodes the store (0: never)",
    ),
]
_ResidualAssignGroups = Annotated[
    int,
    Field(
        ge=0,
        description="residual codec: centroid groups searched to give each vector its centroid (from "
        "8,192 centroids on, the centroids are grouped by k-means; more groups: closer to exact, slower "
        "writes); 0: compare every vector with every centroid",
    ),
]
"""The residual codec's settings (`indexers.storage.residual`), shared by the kinds that offer it."""


class ExactConfig(_Frozen):
    """Brute-force MaxSim over every stored token vector: the reference oracle."""

    kind: Literal["exact"] = "exact"
    encoder: EncoderConfig = EncoderConfig()


class PooledColBERTConfig(_Frozen):
    """Token-pooled ColBERT: pooled token vectors, ANN candidates, exact MaxSim re-scoring."""

    kind: Literal["colbert_pooled"] = "colbert_pooled"
    encoder: EncoderConfig = EncoderConfig()
    pool_factor: int = Field(2, ge=1, le=8, description="about n_tokens / pool_factor vectors per document")
    ann: Literal["auto", "flat", "ivf", "hnsw"] = Field(
        "auto", description="token ANN structure; auto = flat below 20k vectors, else IVF"
    )
    nlist: int | None = Field(None, ge=1, description="IVF lists; default sqrt(n_vectors)")
    nprobe: int = Field(8, ge=1)
    hnsw_m: int = Field(32, ge=4, le=128)
    ef_search: int = Field(128, ge=8)
    candidate_tokens: int = Field(64, ge=1, le=4096, description="token neighbours per query token")
    rerank_docs: int | None = Field(
        None,
        ge=1,
        description="candidate documents re-scored with exact MaxSim (at least k are); default 32 with "
        "residual codes (centroid interaction chose them), 128 otherwise",
    )
    centroid_docs: int = Field(
        256,
        ge=0,
        description="residual codec: candidate documents scored by centroid interaction (every vector "
        "replaced by its centroid) to choose those re-scored exactly; at most rerank_docs: skipped",
    )
    vector_codec: Literal["float16", "pq", "residual"] = Field(
        "residual",
        description="how token vectors are stored; residual = centroid id plus residual codes, candidates "
        "from centroid posting lists (no ANN copy); float16 = vectors plus a FAISS ANN copy",
    )
    pq_m: int = Field(48, ge=1, description="PQ sub-quantisers (must divide the dimension)")
    residual_bits: _ResidualBits = 4
    residual_pq_m: _ResidualPQM = "auto"
    num_centroids: _NumCentroids = None
    reduce_dim: _ReduceDim = None
    residual_min_vectors: _ResidualMinVectors = 32_768
    residual_refit_growth: _ResidualRefitGrowth = 4.0
    residual_assign_groups: _ResidualAssignGroups = 8
    use_gpu: bool = Field(False, description="FAISS on the GPU (needs faiss-gpu and a CUDA device)")


class BM25Config(_Frozen):
    """BM25 over a real Lucene index built through pyserini."""

    kind: Literal["bm25"] = "bm25"
    k1: float = Field(0.9, gt=0)
    b: float = Field(0.4, ge=0, le=1)
    threads: int = Field(2, ge=1, le=64)


class DenseConfig(_Frozen):
    """Single-vector dense retrieval (mean-pooled encoder output) in FAISS."""

    kind: Literal["dense"] = "dense"
    encoder: EncoderConfig = EncoderConfig()
    ann: Literal["flat", "hnsw"] = "flat"
    hnsw_m: int = Field(32, ge=4, le=128)
    ef_search: int = Field(128, ge=8)


GENRE_RETRIEVAL_PROMPT = "Which document answers this query? Reply with its exact title.\nQuery: {query}"
GENRE_ENTITY_PROMPT = (
    "Which entity does the mention between [START_ENT] and [END_ENT] refer to? "
    "Reply with the entity's exact name.\n{query}"
)


class GenreConfig(_Frozen):
    """GENRE-style generative retrieval: a causal LM writes a document's name, constrained to a trie.

    Names: `metadata[name_key]` if set, else the title, else the text's start; plus the strings in
    `metadata[aliases_key]`. Names are cut to `max_name_tokens` tokens.
    """

    kind: Literal["genre"] = "genre"
    model: str = Field(
        "smollm2-135m",
        description="smollm2-135m, qwen2.5-0.5b, a .gguf path, a folder (e.g. fine-tuned) or hub name",
    )
    cache_dir: str | None = Field(None, description="where packaged GGUF models are converted (once)")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    prompt: str = Field(
        GENRE_RETRIEVAL_PROMPT,
        description="user message with one {query}; for entity linking mark the mention in the query "
        "with [START_ENT] ... [END_ENT] and use the entity prompt",
    )
    chat: bool = Field(True, description="wrap the prompt in the tokenizer's chat template when it has one")
    num_beams: int = Field(10, ge=1, le=256, description="beam width: at most this many names per query")
    length_penalty: float = Field(
        1.0,
        ge=0.0,
        le=2.0,
        description="score = log-probability / name_tokens ** length_penalty (0: raw sum)",
    )
    max_name_tokens: int = Field(64, ge=1, le=512, description="longer names are cut to this many tokens")
    query_batch: int = Field(
        8, ge=1, le=256, description="queries of one search call decoded together (one forward pass per step)"
    )
    query_max_tokens: int = Field(
        256, ge=1, le=32768, description="longer queries are cut (also to fit the model's context window)"
    )
    name_key: str = "name"
    aliases_key: str = "aliases"

    @field_validator("prompt")
    @classmethod
    def _one_query_slot(cls, prompt: str) -> str:
        if prompt.count("{query}") != 1:
            raise ValueError("the prompt must contain '{query}' exactly once")
        return prompt


class XTRConfig(_Frozen):
    """XTR: token retrieval (a token ANN, or residual codes probed through centroid posting lists);
    documents scored from retrieved tokens only, missing similarities imputed."""

    kind: Literal["xtr"] = "xtr"
    encoder: EncoderConfig = EncoderConfig()
    candidate_tokens: int = Field(
        256, ge=1, le=8192, description="k': document tokens retrieved per query token"
    )
    vector_codec: Literal["ann", "residual"] = Field(
        "ann",
        description="where token vectors live; ann = only as the token ANN's codes, residual = centroid "
        "id plus residual codes, tokens retrieved from the query tokens' nprobe nearest centroids' "
        "posting lists (no ANN)",
    )
    ann: Literal["auto", "flat", "ivf", "ivf_pq", "hnsw"] = Field(
        "auto", description="token ANN; auto = flat below 20k vectors, else IVF with 8-bit codes"
    )
    nlist: int | None = Field(None, ge=1, description="IVF lists; default sqrt(n_vectors)")
    nprobe: int = Field(8, ge=1, description="IVF lists, or residual centroids, probed per query token")
    pq_m: int = Field(48, ge=1, description="ivf_pq: bytes per vector (must divide the dimension)")
    hnsw_m: int = Field(32, ge=4, le=128)
    ef_search: int = Field(128, ge=8)
    residual_bits: _ResidualBits = 4
    residual_pq_m: _ResidualPQM = None
    num_centroids: _NumCentroids = None
    reduce_dim: _ReduceDim = None
    residual_min_vectors: _ResidualMinVectors = 32_768
    residual_refit_growth: _ResidualRefitGrowth = 4.0
    residual_assign_groups: _ResidualAssignGroups = 8
    use_gpu: bool = Field(False, description="FAISS on the GPU (needs faiss-gpu and a CUDA device)")


class SlimConfig(_Frozen):
    """SLIM: sparse token vectors through an MLM head; a Lucene impact index, then sparse late interaction."""

    kind: Literal["slim"] = "slim"
    encoder: EncoderConfig = Field(
        EncoderConfig(model="splade-tiny", doc_max_length=512),
        description="the MLM; documents up to 512 tokens (SPLADE-tiny's window) by default",
    )
    token_top_k: int = Field(16, ge=1, le=1024, description="vocabulary entries kept per token")
    impact_scale: float = Field(
        100.0, gt=0, le=1e6, description="weights are rounded to integers weight * impact_scale for Lucene"
    )
    refine: bool = Field(True, description="re-score first-stage candidates with sparse late interaction")
    candidates: int = Field(
        100, ge=1, le=100_000, description="first-stage documents refined per query (at least k are)"
    )
    threads: int = Field(2, ge=1, le=64, description="Lucene indexing threads")


class LensConfig(_Frozen):
    """LENS: max-pooled MLM logits aggregated over clusters of the vocabulary; FAISS and Qdrant sparse."""

    kind: Literal["lens"] = "lens"
    encoder: EncoderConfig = Field(
        EncoderConfig(model="splade-tiny", doc_max_length=512),
        description="the MLM; documents up to 512 tokens (SPLADE-tiny's window) by default",
    )
    n_clusters: int = Field(16384, ge=2, description="k-means clusters of the vocabulary (at most its size)")
    aggregate: Literal["max", "logsumexp"] = Field("max", description="how a cluster's logits combine")
    sparse_top_k: int = Field(256, ge=1, description="largest entries per document kept in Qdrant sparse")
    backend: Literal["faiss", "qdrant"] = Field(
        "faiss", description="faiss: exact inner product on full vectors; qdrant: sparse vectors (local mode)"
    )
    dense: EncoderConfig | None = Field(
        None, description="fuse with this dense encoder (e.g. {'model': 'minilm'}); needs backend faiss"
    )
    dense_weight: float = Field(1.0, gt=0, le=100, description="weight of the dense cosine in the sum")
    ann: Literal["flat", "hnsw"] = "flat"
    hnsw_m: int = Field(32, ge=4, le=128)
    ef_search: int = Field(128, ge=8)
    kmeans_iterations: int = Field(20, ge=1, le=200)
    seed: int = 0

    @model_validator(mode="after")
    def _dense_needs_faiss(self) -> LensConfig:
        if self.dense is not None and self.backend != "faiss":
            raise ValueError("dense fusion is scored in FAISS: use backend 'faiss' with 'dense'")
        return self


IndexConfig = Annotated[
    ExactConfig
    | PooledColBERTConfig
    | BM25Config
    | DenseConfig
    | GenreConfig
    | XTRConfig
    | SlimConfig
    | LensConfig,
    Field(discriminator="kind"),
]

_ADAPTER: TypeAdapter[Any] = TypeAdapter(IndexConfig)


def parse_config(data: dict[str, Any]) -> IndexConfig:
    """Validate a plain dict (e.g. from JSON or a manifest) into the config of its kind.

    Raises:
        InvalidConfig: the kind is unknown or a field is invalid; the message lists every problem.
    """
    try:
        return _ADAPTER.validate_python(data)  # type: ignore[no-any-return]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidConfig(f"invalid index config: {problems}") from exc
