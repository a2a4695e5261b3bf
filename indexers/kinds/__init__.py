"""Index kinds, one module per kind (file name = kind name), plus the shared token-index base.

- `bm25`: BM25 over a Lucene index, built and searched through pyserini.
- `colbert_pooled`: token-pooled ColBERT: pooling at index time, ANN candidates, exact MaxSim re-scoring.
- `dense`: one L2-normalised vector per document in FAISS (flat or HNSW).
- `exact`: brute-force MaxSim over every token vector, the reference for the approximate kinds.
- `genre`: generative retrieval, a causal LM writing a document's name under a trie constraint.
- `late_interaction`: the shared base of the token kinds (encode, store token vectors, ANN candidates).
- `lens`: lexicon-based embeddings over clusters of the vocabulary.
- `slim`: sparsified late interaction over vocabulary-space token vectors.
- `xtr`: ranking from retrieved document tokens alone, with missing-similarity imputation.
"""

from __future__ import annotations

__all__: list[str] = []
