"""Cost of a write to a token index against its size: add a batch of documents to an index of N
documents and commit it as a new version, as an index job does.

    nice -n 5 python -m benchmarks.segments --sizes 0 10000 50000 --out docs/results/segments

For each codec (`colbert_pooled` with `vector_codec` float16, residual) and each N: a base index of N
documents is built and committed (not timed), then the timed steps run as an index job runs them:
open the live version, `add` the batch, commit it (`--repeats` writes in a row, each a new segment;
the median is shown). Token vectors are synthetic (unit-normal,
`--tokens` per document, `--dim` wide) and come from an encoder that hands out vectors computed
before the timing, so encoding is excluded. N = 0 is the batch added to an empty index (a first
build, which also trains the IVF quantiser or fits the residual codec), the baseline of the first
ratio column; the second is to the smallest N above 0 (an add to a trained index). The table also
shows the bytes the new version wrote (files not linked from the previous version) and the time of
merging the resulting segments into one (`TokenIndex.compact` and `save_version`), the cost a merge
job pays every `merge_segments` writes.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evals.report import cell, markdown_table, write_report
from indexers import Doc, Index, create_index, parse_config
from indexers.kinds.late_interaction import TokenIndex
from indexers.models.encoders import TokenEmbeddings
from indexers.storage.versions import commit, open_current, save_version

CODECS: dict[str, dict[str, Any]] = {
    "float16": {"vector_codec": "float16"},
    "residual": {"vector_codec": "residual", "num_centroids": 1024},
}


class SyntheticEncoder:
    """Token vectors drawn from a generator seeded by the document number (`doc<i>`); those in
    `ready` are handed out as computed beforehand."""

    def __init__(self, dim: int, tokens: int) -> None:
        self.dim, self.tokens = dim, tokens
        self.ready: dict[str, TokenEmbeddings] = {}

    def embed(self, text: str) -> TokenEmbeddings:
        rng = np.random.default_rng(int(text[3:]))
        vectors = rng.standard_normal((self.tokens, self.dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return TokenEmbeddings(vectors, rng.integers(0, 30_000, self.tokens).astype(np.int32))

    def encode(
        self, texts: Sequence[str], is_query: bool = False, progress: Callable[[int, int], None] | None = None
    ) -> list[TokenEmbeddings]:
        return [self.ready.get(text) or self.embed(text) for text in texts]


def docs(start: int, count: int) -> list[Doc]:
    return [Doc(id=f"doc{i}", text=f"doc{i}") for i in range(start, start + count)]


def new_bytes(folder: Path) -> int:
    """Bytes of the files in `folder` not linked from another version folder."""
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file() and p.stat().st_nlink == 1)


def measure(
    codec: str, size: int, batch: int, repeats: int, encoder: SyntheticEncoder, work: Path
) -> dict[str, Any]:
    """Build and commit `size` documents, then `repeats` times: open the live version, add `batch`
    more and commit them (each write a new segment); the median write and the last merge."""
    config = parse_config(
        {"kind": "colbert_pooled", "encoder": {"model": "fake:hash"}, "pool_factor": 1, **CODECS[codec]}
    )
    root = work / f"{codec}-{size}"
    if size:
        base = create_index(config)
        base.use_encoder(encoder)  # type: ignore[attr-defined]
        base.build(docs(0, size))
        commit(base, root, "kind")
        del base
    opens, writes, written = [], [], []
    for repeat in range(repeats):
        added = docs(size + repeat * batch if size else 0, batch)
        encoder.ready = {d.text: encoder.embed(d.text) for d in added}
        name = "kind" if size else f"empty-{repeat}"  # N = 0: every write goes to an empty index
        start = time.perf_counter()
        index: Index = open_current(root, name) if size else create_index(config)
        index.use_encoder(encoder)  # type: ignore[attr-defined]
        opened = time.perf_counter()
        index.add(added)
        version = commit(index, root, name)
        opens.append(opened - start)
        writes.append(time.perf_counter() - start)
        written.append(new_bytes(root / name / version) / 2**20)
    assert isinstance(index, TokenIndex)
    segments = index.num_segments
    start = time.perf_counter()
    index.compact()
    save_version(index, root, name)
    return {
        "codec": codec,
        "docs": size,
        "vectors": index.num_vectors,
        "open_s": float(np.median(opens)),
        "write_s": float(np.median(writes)),
        "writes_s": writes,
        "written_mb": float(np.median(written)),
        "segments": segments,
        "merge_s": time.perf_counter() - start,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[0, 10_000, 50_000])
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3, help="timed writes per size (median shown)")
    parser.add_argument("--tokens", type=int, default=32, help="token vectors per document")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--codecs", nargs="+", default=list(CODECS), choices=list(CODECS))
    parser.add_argument("--out", type=Path, help="write <out>.md and <out>.json (evals.report)")
    args = parser.parse_args(argv)
    encoder = SyntheticEncoder(args.dim, args.tokens)
    load_before = os.getloadavg()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as work:
        for codec in args.codecs:  # warm-up: imports and first-use costs stay out of the timings
            measure(codec, 0, 64, 1, encoder, Path(work) / "warm-up")
            for size in sorted(args.sizes):
                row = measure(codec, size, args.batch, args.repeats, encoder, Path(work))
                same = [r for r in rows if r["codec"] == codec]
                empty = next((r["write_s"] for r in same if r["docs"] == 0), None)
                smallest = next((r["write_s"] for r in same if r["docs"] > 0), None)
                row["ratio"] = row["write_s"] / empty if empty else None
                row["ratio_smallest"] = row["write_s"] / smallest if smallest else None
                rows.append(row)
                print({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    table = markdown_table(
        [
            "codec",
            "index docs",
            "vectors after",
            "write s",
            "of which open s",
            "ratio to empty",
            "ratio to smallest",
            "written MB",
            "merge s",
        ],
        [
            [
                r["codec"],
                cell(r["docs"], ","),
                cell(r["vectors"], ","),
                cell(r["write_s"], ".2f"),
                cell(r["open_s"], ".2f"),
                cell(r["ratio"], ".2f"),
                cell(r["ratio_smallest"], ".2f"),
                cell(r["written_mb"], ".1f"),
                cell(r["merge_s"], ".2f"),
            ]
            for r in rows
        ],
    )
    settings = (
        f"{args.batch} documents added per write, {args.tokens} synthetic token vectors of dimension "
        f"{args.dim} per document, pool_factor 1, encoding excluded; load average {load_before[0]:.1f} "
        f"before, {os.getloadavg()[0]:.1f} after; median of {args.repeats} writes per size"
    )
    print(table)
    if args.out is not None:
        markdown = f"# Writes in segments\n\n`python -m benchmarks.segments`: {settings}.\n\n{table}\n"
        write_report(
            args.out,
            markdown,
            {
                "settings": vars(args) | {"out": str(args.out)},
                "load": [load_before, os.getloadavg()],
                "rows": rows,
            },
        )


if __name__ == "__main__":
    main()
